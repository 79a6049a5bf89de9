"""The whole pipeline on the bundled sample exports, in process, with a real SMTP server."""

from __future__ import annotations

import csv
import io
import os
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dupmon import pipeline
from dupmon.mail import SmtpSettings
from tests.conftest import JANUARY, OCTOBER, SAMPLES, SECRET, received_messages

# Appendix 1 for 17.01.2025 by the counting rules: the memo's figures with
# its errors corrected (Южно-Сахалинск 100,0 %, Долинский «—», total 3 eliminated).
EXPECTED_JANUARY = [
    ["Городской округ «Город Южно-Сахалинск»", "1", "1", "1", "1", "0", "100,0", "partial"],
    ["Городской округ «Долинский»", "0", "1", "0", "1", "0", "—", "red"],
    ["Холмский городской округ", "1", "0", "1", "0", "0", "100,0", "green"],
    ["Южно-Курильский городской округ", "1", "0", "1", "0", "0", "100,0", "green"],
    ["Городской округ «Александровск-Сахалинский район»", "0", "0", "0", "0", "0", "—", "none"],
    ["Анивский городской округ", "0", "0", "0", "0", "0", "—", "none"],
    ["Корсаковский городской округ", "0", "0", "0", "0", "0", "—", "none"],
    ["Курильский городской округ", "0", "0", "0", "0", "0", "—", "none"],
    ["Макаровский городской округ", "0", "0", "0", "0", "0", "—", "none"],
    ["Невельский городской округ", "0", "0", "0", "0", "0", "—", "none"],
    ["Городской округ Ногликский", "0", "0", "0", "0", "0", "—", "none"],
    ["Городской округ «Охинский»", "0", "0", "0", "0", "0", "—", "none"],
    ["Поронайский городской округ", "0", "0", "0", "0", "0", "—", "none"],
    ["Северо-Курильский городской округ", "0", "0", "0", "0", "0", "—", "none"],
    ["Городской округ «Смирныховский»", "0", "0", "0", "0", "0", "—", "none"],
    ["Томаринский городской округ", "0", "0", "0", "0", "0", "—", "none"],
    ["Тымовский городской округ", "0", "0", "0", "0", "0", "—", "none"],
    ["Углегорский городской округ", "0", "0", "0", "0", "0", "—", "none"],
    ["ИТОГО", "3", "2", "3", "2", "0", "100,0", ""],
]
APPENDIX1_HEADER = [
    "municipality", "previous", "current", "eliminated", "new", "unresolvable",
    "percent_eliminated", "status",
]
# Personal data in the sample exports, which must reach no output.
PERSONAL_VALUES = [
    "Примеров", "Тестова", "Выдумкина", "Борис", "Алиса", "Вера", "Олегович",
    "14.03.2012", "2.11.2009", "02.11.2009", "30.06.2014", "2012-03-14", "2009-11-02",
    "2014-06-30", "s100101", "s100102", "s100201", "s100202", "s100301", "s100302",
]


def read_csv(path):
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


# The runs are shared by the module's tests: each test only reads, or reruns
# a date, which must change nothing.
@pytest.fixture(scope="module")
def smtp_sink(tmp_path_factory):
    from dupmon.smtp_sink import SmtpSink

    with SmtpSink(tmp_path_factory.mktemp("received"), host="127.0.0.1", port=0) as sink:
        yield sink


@pytest.fixture(scope="module")
def smtp(smtp_sink):
    return SmtpSettings(
        host="127.0.0.1", port=smtp_sink.port, timeout=10, from_email="monitoring@example.org"
    )


@pytest.fixture(scope="module")
def both_dates(tmp_path_factory, smtp):
    from dupmon.settings import load_settings

    root = tmp_path_factory.mktemp("pipeline")
    settings = load_settings(
        {
            "DUPMON_DATA_DIR": str(root / "data"),
            "DUPMON_INBOX": str(SAMPLES),
            "DUPMON_PAIR_KEY_SECRET": SECRET,
            "DUPMON_SECRET_FILE": str(root / "secret"),
        }
    )
    for day in (OCTOBER, JANUARY):
        pipeline.run_all(settings, day, smtp=smtp)
    return settings


def test_appendix1_header(both_dates):
    rows = read_csv(pipeline.report_dir(both_dates, JANUARY) / "appendix1.csv")
    assert rows[0] == APPENDIX1_HEADER


@pytest.mark.parametrize("index", range(len(EXPECTED_JANUARY)))
def test_appendix1_january_rows(both_dates, index):
    rows = read_csv(pipeline.report_dir(both_dates, JANUARY) / "appendix1.csv")[1:]
    assert rows[index] == EXPECTED_JANUARY[index]


def test_appendix1_january_row_count(both_dates):
    rows = read_csv(pipeline.report_dir(both_dates, JANUARY) / "appendix1.csv")[1:]
    assert len(rows) == len(EXPECTED_JANUARY)


def test_appendix2_lists_memo_pairs(both_dates):
    rows = read_csv(pipeline.report_dir(both_dates, JANUARY) / "appendix2.csv")
    header, body = rows[0], rows[1:]
    listed = [dict(zip(header, row, strict=True)) for row in body]
    shown = [
        (p["authority"], p["organisation"], p["settlement"], p["class_name"], p["intersections"],
         p["duplicate_organisation"], p["duplicate_settlement"], p["duplicate_class_name"])
        for p in listed
    ]
    assert shown == [
        ("Сахминобр", "СГКСУВОУ зт", "Костромское", "8", "24.12.2024 - 01.01.2025",
         "МАОУ СОШ №8 им. генерал-лейтенанта В.Г. Асапова города Южно-Сахалинска",
         "Южно-Сахалинск", "8В"),
        ('МКУ Управление ОКС МО ГО "Долинский"', "МБОУ СОШ №2 г.Долинск", "Долинск", "7Б",
         "09.01.2025 - 12.01.2025", "МБОУ СОШ № 1", "Долинск", "7А"),
    ]


def test_appendix2_written_past_page_cache(both_dates, monkeypatch):
    """The delta step hands appendix2.csv, and only it, to the O_DIRECT writer."""
    from dupmon import delta

    real_writer = delta.write_chunks_direct
    written = []

    def recording_writer(descriptor, chunks):
        written.append(Path(os.readlink(f"/proc/self/fd/{descriptor}")).name)
        return real_writer(descriptor, chunks)

    monkeypatch.setattr(delta, "write_chunks_direct", recording_writer)
    before = (pipeline.report_dir(both_dates, JANUARY) / "appendix2.csv").read_bytes()

    pipeline.run_delta(both_dates, JANUARY)

    assert len(written) == 1
    assert written[0].startswith(".appendix2.csv.")
    assert (pipeline.report_dir(both_dates, JANUARY) / "appendix2.csv").read_bytes() == before


def test_october_first_run_has_no_baseline(both_dates):
    rows = read_csv(pipeline.report_dir(both_dates, OCTOBER) / "appendix1.csv")
    assert rows[-1] == ["ИТОГО", "0", "3", "0", "3", "0", "—", ""]


def test_snapshot_reads_back(both_dates):
    path = both_dates.snapshots_dir / f"monitoring_date={JANUARY.isoformat()}" / "pairs.parquet"
    table = pq.read_table(path)
    assert table.num_rows == 2


def test_snapshot_class_is_string(both_dates):
    path = both_dates.snapshots_dir / f"monitoring_date={JANUARY.isoformat()}" / "pairs.parquet"
    schema = pq.read_schema(path)
    assert str(schema.field("class_name").type) == "string"


def test_no_personal_data_in_outputs(both_dates, smtp_sink):
    roots = [both_dates.snapshots_dir, both_dates.reports_dir]
    texts = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                texts.append((path, path.read_bytes()))
    texts += [(p, p.read_bytes()) for p in smtp_sink.maildir.glob("*.eml")]
    for message in received_messages(smtp_sink.maildir):
        for part in message.walk():
            payload = part.get_payload(decode=True)
            if payload:
                texts.append((message["Subject"], payload))
    leaks = [
        (str(where), value)
        for where, data in texts
        for value in PERSONAL_VALUES
        if value.encode("utf-8") in data or value.encode("cp1251") in data
    ]
    assert leaks == []


def test_docx_parts_hold_no_personal_data(both_dates):
    import zipfile

    path = pipeline.report_dir(both_dates, JANUARY) / "spravka.docx"
    with zipfile.ZipFile(path) as archive:
        content = b"".join(archive.read(name) for name in archive.namelist())
    assert [v for v in PERSONAL_VALUES if v.encode() in content] == []


def test_rerun_sends_nothing_twice(both_dates, smtp, smtp_sink):
    before = len(list(smtp_sink.maildir.glob("*.eml")))
    pipeline.run_all(both_dates, JANUARY, smtp=smtp)
    after = len(list(smtp_sink.maildir.glob("*.eml")))
    assert after == before


def test_rerun_same_appendix(both_dates, smtp):
    path = pipeline.report_dir(both_dates, JANUARY) / "appendix1.csv"
    first = path.read_bytes()
    pipeline.run_all(both_dates, JANUARY, smtp=smtp)
    assert path.read_bytes() == first


def test_ledger_one_row_per_message(both_dates, smtp_sink):
    with sqlite3.connect(both_dates.mail_dir / "ledger.sqlite") as connection:
        rows = connection.execute("select count(*) from sent_messages").fetchone()[0]
    assert rows == len(list(smtp_sink.maildir.glob("*.eml")))


# --- two regions in one data root ------------------------------------------------

EXPECTED_SEVERNAYA_JANUARY = [
    ["Городской округ «Город Северогорск»", "1", "1", "0", "0", "0", "0,0", "red"],
    ["Озёрный муниципальный округ", "1", "1", "0", "0", "0", "0,0", "red"],
    ["Прибрежный городской округ", "1", "1", "1", "1", "0", "100,0", "partial"],
    ["Тундровый муниципальный район", "1", "0", "1", "0", "0", "100,0", "green"],
    ["ИТОГО", "3", "2", "2", "1", "0", "66,7", ""],
]


@pytest.fixture(scope="module")
def two_regions(tmp_path_factory, smtp):
    """Both dates of Sakhalin and of the invented Северная, into one data root."""
    from dupmon.settings import load_settings
    from tests.two_regions import REGIONS, make_two_regions

    root = tmp_path_factory.mktemp("two_regions")
    deployment = load_settings(
        {
            "DUPMON_DATA_DIR": str(root / "data"),
            "DUPMON_PAIR_KEY_SECRET": SECRET,
            "DUPMON_SECRET_FILE": str(root / "secret"),
            **make_two_regions(root),
        }
    )
    for region in REGIONS:
        for day in (OCTOBER, JANUARY):
            pipeline.run_all(deployment.for_region(region), day, smtp=smtp)
    return {region: deployment.for_region(region) for region in REGIONS}


def test_data_root_holds_region_folders(two_regions):
    data_root = two_regions["sakhalin"].data_dir

    assert sorted(path.name for path in data_root.iterdir()) == ["sakhalin", "severnaya"]


@pytest.mark.parametrize("region", ["sakhalin", "severnaya"])
def test_region_files_stay_in_folder(two_regions, region):
    settings = two_regions[region]
    folders = [
        settings.raw_dir, settings.snapshots_dir, settings.reports_dir, settings.work_dir,
        settings.mail_dir, settings.data_docs_dir,
    ]

    assert [folder for folder in folders if not folder.is_dir()] == []
    assert (settings.region_data_dir / ".lock").exists()


def test_region_snapshots_apart(two_regions):
    municipalities = {}
    for region, settings in two_regions.items():
        path = settings.snapshots_dir / f"monitoring_date={JANUARY.isoformat()}" / "pairs.parquet"
        table = pq.read_table(path)
        municipalities[region] = set(table.column("municipality_id").to_pylist()) | set(
            table.column("duplicate_municipality_id").to_pylist()
        )

    assert municipalities["sakhalin"] == {"regional", "dolinsky", "yuzhno_sakhalinsk"}
    assert municipalities["severnaya"] == {"severogorsk", "ozyorny", "pribrezhny"}


def test_region_raw_stores_apart(two_regions):
    stored = {
        region: {path.name for path in settings.raw_dir.glob("*.json")}
        for region, settings in two_regions.items()
    }

    assert len(stored["sakhalin"]) == 2
    assert len(stored["severnaya"]) == 2
    assert stored["sakhalin"].isdisjoint(stored["severnaya"])


def test_second_region_appendix1(two_regions):
    rows = read_csv(pipeline.report_dir(two_regions["severnaya"], JANUARY) / "appendix1.csv")[1:]

    assert rows == EXPECTED_SEVERNAYA_JANUARY


def test_first_region_unchanged_by_second(two_regions):
    rows = read_csv(pipeline.report_dir(two_regions["sakhalin"], JANUARY) / "appendix1.csv")[1:]

    assert rows == EXPECTED_JANUARY


def test_region_ledgers_apart(two_regions):
    from dupmon.mail import MailLedger

    recipients = {}
    for region, settings in two_regions.items():
        ledger = MailLedger(settings.mail_dir / "ledger.sqlite")
        recipients[region] = {entry.recipient for entry in ledger.entries()}

    assert "severnaya-centre@example.org" in recipients["severnaya"]
    assert "monitoring-centre@example.org" in recipients["sakhalin"]
    assert recipients["sakhalin"].isdisjoint(recipients["severnaya"])


def test_single_region_layout_rejected(tmp_path):
    from dupmon.errors import ConfigError
    from dupmon.settings import load_settings

    data = tmp_path / "data"
    (data / "snapshots" / f"monitoring_date={OCTOBER.isoformat()}").mkdir(parents=True)
    settings = load_settings({"DUPMON_DATA_DIR": str(data), "DUPMON_INBOX": str(SAMPLES)})

    with pytest.raises(ConfigError) as caught:
        pipeline.run_ingest(settings, JANUARY)

    assert str(data / "sakhalin") in str(caught.value)
    assert not (data / "sakhalin").exists()


def test_region_names_reach_templates(two_regions):
    region = pipeline.load_region(two_regions["severnaya"])

    assert region.directory.region_name == "Северная область"
    assert region.texts["region_name"] == "Северная область"
    assert region.texts["region_name_genitive"] == "Северной области"
