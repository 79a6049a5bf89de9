"""The delta, render and mail steps of dupmon.pipeline on invented snapshots and a register.

A real SMTP server on 127.0.0.1 receives the mail. LibreOffice is switched
off here, so the render step takes its no-PDF path; test_render converts
real PDFs.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import docx
import pytest

from dupmon import pdf, pipeline
from dupmon.errors import ConfigError
from dupmon.mail import MailLedger, SmtpSettings
from dupmon.settings import load_settings
from tests.unit.pair_factory import id_of, make_pair, write_dates

OCTOBER = dt.date(2024, 10, 17)
JANUARY = dt.date(2025, 1, 17)
STUCK = make_pair(
    "stuck",
    "dolinsky",
    organisation="МБОУ СОШ №2 г.Долинск",
    class_name="7Б",
    duplicate_organisation="МБОУ СОШ № 1",
    duplicate_class_name="7А",
    start=dt.date(2024, 10, 3),
)
REGISTER = (
    "pair_id;organisation;class_name;duplicate_organisation;duplicate_class_name;"
    "intersection_start;reason;reported_by;letter;reported_on\n"
    ";мбоу сош № 2 г.Долинск;7б;МБОУ СОШ №1;7А;03.10.2024;ученик переведён без отчисления;"
    "УО Долинский;№ 12-345 от 20.10.2024;21.10.2024\n"
    f"{id_of('gone')};;;;;;дубль из архива;УО Холмский;№ 9 от 18.10.2024;18.10.2024\n"
    f"{'f' * 12};;;;;;опечатка в коде;;№ 10 от 18.10.2024;18.10.2024\n"
)
MUNICIPALITIES_WITH_PAIRS = {"dolinsky", "yuzhno_sakhalinsk"}


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setattr(pdf, "find_soffice", lambda: None)
    settings = load_settings(
        {"DUPMON_DATA_DIR": str(tmp_path / "data"), "DUPMON_INBOX": str(tmp_path / "inbox")}
    )
    write_dates(
        settings.snapshots_dir,
        {
            OCTOBER: [STUCK, make_pair("gone", "kholmsky"), make_pair("city", "yuzhno_sakhalinsk")],
            JANUARY: [STUCK, make_pair("city", "yuzhno_sakhalinsk"), make_pair("new", "dolinsky")],
        },
    )
    register = settings.register_file
    register.parent.mkdir(parents=True)
    register.write_text(REGISTER, encoding="utf-8")
    return settings


@pytest.fixture
def rendered(settings):
    pipeline.run_delta(settings, OCTOBER)
    pipeline.run_delta(settings, JANUARY)
    pipeline.run_render(settings, JANUARY)
    return settings


@pytest.fixture
def smtp(smtp_sink):
    return SmtpSettings(
        host="127.0.0.1", port=smtp_sink.port, timeout=10, from_email="monitoring@example.org"
    )


def appendix1(settings) -> dict[str, dict]:
    path = pipeline.report_dir(settings, JANUARY) / "appendix1.csv"
    return {row["municipality"]: row for row in csv.DictReader(io.StringIO(path.read_text()))}


def stored_delta(settings) -> dict:
    """Return the stored delta of 17.01.2025 as a dict, its pairs read from their file."""
    return pipeline.load_delta(settings, JANUARY).to_dict()


def test_register_counts_in_appendix1(rendered):
    rows = appendix1(rendered)

    assert rows["Городской округ «Долинский»"]["unresolvable"] == "1"
    assert rows["Городской округ «Город Южно-Сахалинск»"]["unresolvable"] == "0"
    assert rows["ИТОГО"]["unresolvable"] == "1"
    assert list(rows["ИТОГО"]) == [
        "municipality",
        "previous",
        "current",
        "eliminated",
        "new",
        "unresolvable",
        "percent_eliminated",
        "status",
    ]


def test_register_statuses_stored(rendered):
    register = stored_delta(rendered)["register"]

    assert [(entry["line"], entry["status"]) for entry in register] == [
        (2, "current"),
        (3, "resolved"),
        (4, "not_found"),
    ]
    assert register[0]["numbers"] == [1]
    assert register[1]["last_seen"] == "2024-10-17"


def test_trend_and_first_seen_stored(rendered):
    delta = stored_delta(rendered)

    assert delta["trend"]["dates"] == ["2024-10-17", "2025-01-17"]
    assert delta["trend"]["total"] == [3, 3]
    assert {pair["pair_id"]: pair["first_seen"] for pair in delta["current_pairs"]} == {
        id_of("stuck"): "2024-10-17",
        id_of("city"): "2024-10-17",
        id_of("new"): "2025-01-17",
    }


def test_spravka_lists_register(rendered):
    path = pipeline.report_dir(rendered, JANUARY) / "spravka.docx"
    text = "\n".join(paragraph.text for paragraph in docx.Document(path).paragraphs)

    assert "Причина: ученик переведён без отчисления. Письмо № 12-345 от 20.10.2024" in text
    assert "дубль из архива" in text
    assert "опечатка в коде" not in text
    assert "Дольше всего, 92 дня (с 17.10.2024 г.), не устранён дубль № 1 приложения 2." in text


def test_render_without_soffice_writes_no_pdf(rendered):
    files = json.loads((pipeline.report_dir(rendered, JANUARY) / "report_files.json").read_text())

    assert files["spravka_pdf"] is None
    assert not (pipeline.report_dir(rendered, JANUARY) / "spravka.pdf").exists()


def test_invalid_register_fails_delta(settings):
    register = settings.register_file
    register.write_text(REGISTER + "abc;;;;;;причина;;№ 1;01.01.2025\n", encoding="utf-8")

    with pytest.raises(ConfigError, match="unresolvable.csv line 5: invalid pair_id"):
        pipeline.run_delta(settings, JANUARY)


def test_monthly_mail_sends_reminders_and_advice(rendered, smtp):
    summary = pipeline.run_mail(rendered, JANUARY, smtp, include_spravka=False)

    documents = {item["document"] for item in summary["sent"]}
    region = pipeline.load_region(rendered)
    expected_advice = {
        f"advice:{municipality_id}"
        for municipality_id in region.directory.ids
        if municipality_id not in MUNICIPALITIES_WITH_PAIRS
    }
    assert documents == {"reminder:dolinsky", "reminder:yuzhno_sakhalinsk"} | expected_advice
    assert summary["failed"] == []


def test_monthly_mail_reaches_each_address(rendered, smtp, smtp_sink):
    pipeline.run_mail(rendered, JANUARY, smtp, include_spravka=False)

    ledger = MailLedger(rendered.mail_dir / "ledger.sqlite")
    sent = {(entry.document, entry.recipient) for entry in ledger.entries(JANUARY.isoformat())}
    assert ("reminder:dolinsky", "uo-dolinsk@example.org") in sent
    assert ("reminder:dolinsky", "oks-dolinsk@example.org") in sent
    assert ("advice:kholmsky", "uo-kholmsk@example.org") in sent
    assert len(list(smtp_sink.maildir.glob("*.eml"))) == len(sent)


def test_monthly_mail_rerun_sends_nothing(rendered, smtp, smtp_sink):
    pipeline.run_mail(rendered, JANUARY, smtp, include_spravka=False)
    before = len(list(smtp_sink.maildir.glob("*.eml")))

    summary = pipeline.run_mail(rendered, JANUARY, smtp, include_spravka=False)

    assert summary["sent"] == []
    assert len(list(smtp_sink.maildir.glob("*.eml"))) == before


def test_quarterly_mail_sends_no_advice(rendered, smtp):
    summary = pipeline.run_mail(rendered, JANUARY, smtp, include_spravka=True)

    documents = {item["document"] for item in summary["sent"]}
    assert "spravka" in documents
    assert not [document for document in documents if document.startswith("advice:")]


def test_delta_threads_history_and_pairs(settings, monkeypatch):
    import threading

    import dupmon.trend

    threads = {"first seen": []}
    figures_of, write_pairs = pipeline.history_figures, pipeline.write_pairs_temporary
    first_seen_of = dupmon.trend.first_seen_of

    def recorded_figures(*args):
        threads["history"] = threading.current_thread().name
        return figures_of(*args)

    def recorded_pairs(*args):
        threads["pairs"] = threading.current_thread().name
        return write_pairs(*args)

    def recorded_first_seen(*args):
        threads["first seen"].append(threading.current_thread().name)
        return first_seen_of(*args)

    pipeline.run_delta(settings, OCTOBER)
    monkeypatch.setattr(pipeline, "history_figures", recorded_figures)
    monkeypatch.setattr(pipeline, "write_pairs_temporary", recorded_pairs)
    monkeypatch.setattr(dupmon.trend, "first_seen_of", recorded_first_seen)

    pipeline.run_delta(settings, JANUARY)

    assert threads["history"].startswith("dupmon-history")
    assert threads["pairs"].startswith("dupmon-pairs-file")
    # Searched once, on the history's thread, and not again for the delta.
    assert len(threads["first seen"]) == 1
    assert threads["first seen"][0].startswith("dupmon-history")
    delta = pipeline.load_delta(settings, JANUARY)
    first_seen = {pair["pair_id"]: pair["first_seen"] for pair in delta.current_pairs}
    assert first_seen == {
        id_of("stuck"): "2024-10-17",
        id_of("city"): "2024-10-17",
        id_of("new"): "2025-01-17",
    }


def test_failed_pairs_file_no_delta_json(settings, monkeypatch):
    # delta.json names the pairs file, so it must not appear without it.
    def failing(*args):
        raise OSError("disk full (test)")

    monkeypatch.setattr(pipeline, "write_pairs_temporary", failing)

    with pytest.raises(OSError, match="disk full"):
        pipeline.run_delta(settings, JANUARY)

    folder = pipeline.report_dir(settings, JANUARY)
    assert (folder / "appendix2.csv").exists()
    assert not (folder / "delta.json").exists()


def test_failed_csv_rerun_keeps_old_files(settings, monkeypatch):
    pipeline.run_delta(settings, OCTOBER)
    pipeline.run_delta(settings, JANUARY)
    folder = pipeline.report_dir(settings, JANUARY)
    names = ("delta.json", "appendix2.arrow", "appendix2.csv")
    before = {name: (folder / name).read_bytes() for name in names}
    # Without its register line the stuck pair is no longer unresolvable,
    # so a complete rerun would change the pairs file.
    settings.register_file.write_text(
        "\n".join(line for line in REGISTER.splitlines() if "Долинск" not in line) + "\n",
        encoding="utf-8",
    )
    chunks = pipeline.appendix2_csv_chunks

    def failing(delta):
        yield next(iter(chunks(delta)))
        raise OSError("disk full (test)")

    monkeypatch.setattr(pipeline, "appendix2_csv_chunks", failing)

    with pytest.raises(OSError, match="disk full"):
        pipeline.run_delta(settings, JANUARY)

    assert {name: (folder / name).read_bytes() for name in names} == before
    assert not list(folder.glob(".*.tmp"))


def _failing_thread_work(*args):
    raise OSError("thread broken (test)")


def _failing_delta(*args):
    raise ValueError("main broken (test)")


def _failing_chunks(delta):
    raise ValueError("main broken (test)")
    yield b""


@pytest.mark.parametrize(
    ("thread_work", "main_work", "main_failure", "note"),
    [
        (
            "history_figures",
            "compute_delta",
            _failing_delta,
            "The trend and first-seen dates failed on a thread at the same time: "
            "OSError: thread broken (test)",
        ),
        (
            "write_pairs_temporary",
            "appendix2_csv_chunks",
            _failing_chunks,
            "Writing appendix2.arrow failed on a thread at the same time: "
            "OSError: thread broken (test)",
        ),
    ],
)
def test_delta_thread_error_noted(settings, monkeypatch, thread_work, main_work, main_failure, note):
    monkeypatch.setattr(pipeline, thread_work, _failing_thread_work)
    monkeypatch.setattr(pipeline, main_work, main_failure)

    with pytest.raises(ValueError, match="main broken") as caught:
        pipeline.run_delta(settings, JANUARY)

    assert caught.value.__notes__ == [note]
    assert not (pipeline.report_dir(settings, JANUARY) / "delta.json").exists()
