"""Ingest and validation on real files in an inbox: good, bad and odd exports."""

from __future__ import annotations

import datetime as dt
import json
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dupmon import ingest, pipeline, validate
from dupmon.errors import RejectedFileError
from dupmon.settings import load_settings
from tests.conftest import SECRET

DAY = dt.date(2025, 1, 17)
HEADER = (
    "№ п/п;Управление;ОО;Населенный пункт;Класс/группа;Промежутки пересечения;"
    "Информация о дубле;;\n;;;;;;ОО;Населенный пункт;Класс/группа\n"
)
GOOD_ROW = (
    '1;МКУ Управление ОКС МО ГО "Долинский";МБОУ СОШ №2 г.Долинск;Долинск;7Б;'
    "9.01.2025 - 12.01.2025;МБОУ СОШ № 1;Долинск;7А\n"
)


@pytest.fixture
def inbox_settings(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    settings = load_settings(
        {
            "DUPMON_DATA_DIR": str(tmp_path / "data"),
            "DUPMON_INBOX": str(inbox),
            "DUPMON_PAIR_KEY_SECRET": SECRET,
            "DUPMON_SECRET_FILE": str(tmp_path / "secret"),
        }
    )
    return settings


def drop(settings, name: str, text: str, encoding: str = "utf-8"):
    path = settings.inbox_dir / name
    path.write_bytes(text.encode(encoding))
    return path


def ingest_and_validate(settings):
    pipeline.run_ingest(settings, DAY)
    return pipeline.run_validate(settings, DAY)


def rejection(settings) -> RejectedFileError:
    with pytest.raises(RejectedFileError) as caught:
        ingest_and_validate(settings)
    return caught.value


def test_good_csv_validates(inbox_settings):
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + GOOD_ROW)
    (outcome,) = ingest_and_validate(inbox_settings)
    assert outcome["success"]


def test_gx_imported_beside_first_rows(inbox_settings, monkeypatch):
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + GOOD_ROW)
    pipeline.run_ingest(inbox_settings, DAY)
    calls = []
    for name in ("import_great_expectations", "read_staged_frames", "run_suite"):
        original = getattr(validate, name)

        def recorded(*args, _name=name, _original=original, **kwargs):
            calls.append(("start", _name, threading.current_thread().name))
            try:
                return _original(*args, **kwargs)
            finally:
                calls.append(("end", _name, threading.current_thread().name))

        monkeypatch.setattr(validate, name, recorded)

    pipeline.run_validate(inbox_settings, DAY)

    started = [(name, thread) for event, name, thread in calls if event == "start"]
    # The import starts on its thread before the rows are read, and ends
    # before the suite runs.
    assert started[0][0] == "import_great_expectations"
    assert started[0][1].startswith("dupmon-gx-import")
    assert started[1] == ("read_staged_frames", "MainThread")
    imported = calls.index(("end", "import_great_expectations", started[0][1]))
    assert imported < calls.index(("start", "run_suite", "MainThread"))


_ROWS_FREED = """
import datetime as dt
import gc
import sys
import weakref
from pathlib import Path

from dupmon import ingest, pipeline, validate
from dupmon.settings import load_settings
from tests.integration.test_ingest_validate import GOOD_ROW, HEADER, DAY

root = Path(sys.argv[1])
(root / "inbox").mkdir()
(root / "inbox" / "dubli_17.01.2025.csv").write_text(HEADER + GOOD_ROW * 50, encoding="utf-8")
settings = load_settings(
    {
        "DUPMON_DATA_DIR": str(root / "data"),
        "DUPMON_INBOX": str(root / "inbox"),
        "DUPMON_PAIR_KEY_SECRET": "rows-freed-" + "0" * 32,
        "DUPMON_SECRET_FILE": str(root / "secret"),
    }
)
pipeline.run_ingest(settings, DAY)
frames = []
read = validate.read_staged_frames


def recorded(*args, **kwargs):
    frame = read(*args, **kwargs)
    frames.append(weakref.ref(frame))
    return frame


validate.read_staged_frames = recorded
pipeline.run_validate(settings, DAY)
gc.collect()
print("great_expectations" in sys.modules, gc.get_freeze_count() > 100_000)
print(len(frames), sum(frame() is not None for frame in frames))
"""


def test_rows_read_during_gx_import_freed(tmp_path):
    # The import freezes every object alive when it ends, among them the
    # rows read meanwhile. A frozen object in a reference cycle is never
    # collected, so the rows must be freed by their reference counts.
    result = subprocess.run(
        [sys.executable, "-c", _ROWS_FREED, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).parents[2],
    )

    assert result.returncode == 0, result.stderr[-3000:]
    imported, counts = result.stdout.splitlines()[-2:]
    assert imported == "True True"
    assert counts == "1 0"


def test_windows_1251_csv_validates(inbox_settings):
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + GOOD_ROW, encoding="cp1251")
    (outcome,) = ingest_and_validate(inbox_settings)
    assert outcome["success"]


def test_unknown_municipality_names_row_and_value(inbox_settings):
    row = "1;Управление образования;Школа А;Энск;5;1.01.2025 - 5.01.2025;Школа Б;Энск;5\n"
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + row)
    shown = [(p.row, p.column, p.value) for p in rejection(inbox_settings).problems]
    assert shown == [
        (3, "Управление", "Управление образования"),
        (3, "Информация о дубле: Населенный пункт", "Энск"),
    ]


def test_rejection_message_names_file(inbox_settings):
    row = "1;Управление образования;Школа А;Энск;5;1.01.2025 - 5.01.2025;Школа Б;Энск;5\n"
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + row)
    assert "dubli_17.01.2025.csv" in str(rejection(inbox_settings))


def test_rejection_message_names_directory_file(inbox_settings):
    row = "1;Управление образования;Школа А;Энск;5;1.01.2025 - 5.01.2025;Школа Б;Энск;5\n"
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + row)
    assert "municipalities.yaml" in str(rejection(inbox_settings))


def test_invalid_date_names_value(inbox_settings):
    row = GOOD_ROW.replace("9.01.2025 - 12.01.2025", "9.13.2025 - 12.01.2025")
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + row)
    problem = rejection(inbox_settings).problems[0]
    assert (problem.column, problem.value) == ("Промежутки пересечения", "9.13.2025 - 12.01.2025")


def test_start_after_end_rejected(inbox_settings):
    row = GOOD_ROW.replace("9.01.2025 - 12.01.2025", "12.01.2025 - 9.01.2025")
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + row)
    messages = [p.message for p in rejection(inbox_settings).problems]
    assert messages == ["the intersection ends before it starts"]


def test_blank_school_rejected(inbox_settings):
    row = GOOD_ROW.replace("МБОУ СОШ №2 г.Долинск", "")
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + row)
    problem = rejection(inbox_settings).problems[0]
    assert (problem.row, problem.column) == (3, "ОО")


def test_empty_table_rejected(inbox_settings):
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER)
    messages = [p.message for p in rejection(inbox_settings).problems]
    assert any("no rows" in m for m in messages)


def test_no_duplicates_message_is_zero(inbox_settings):
    text = (
        "Список учащихся-«дублей» (образовательные организации)\n"
        "Период: 02.09.2024 - 17.01.2025\nДубли не найдены\n"
    )
    drop(inbox_settings, "dubli.csv", text)
    (outcome,) = ingest_and_validate(inbox_settings)
    assert outcome["success"]


def test_all_pairs_gone_after_baseline(inbox_settings):
    baseline = dt.date(2024, 10, 17)
    drop(inbox_settings, "dubli_17.10.2024.csv", HEADER + GOOD_ROW.replace(".01.2025", ".10.2024"))
    drop(
        inbox_settings,
        "dubli_17.01.2025.csv",
        "Список учащихся-«дублей» (образовательные организации)\n"
        "Период: 02.09.2024 - 17.01.2025\nДубли не найдены\n",
    )
    for day in (baseline, DAY):
        for step in ("ingest", "validate", "normalise", "snapshot"):
            getattr(pipeline, f"run_{step}")(inbox_settings, day)

    summary = pipeline.run_delta(inbox_settings, DAY)

    assert (summary["previous"], summary["current"], summary["eliminated"]) == (1, 0, 1)
    assert summary["percent_eliminated"] == "100,0"


def test_damaged_staging_file_named(inbox_settings):
    from dupmon.work_files import DamagedWorkFileError

    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + GOOD_ROW)
    pipeline.run_ingest(inbox_settings, DAY)
    (staged,) = (inbox_settings.work_dir / DAY.isoformat() / "staged").glob("*.arrow")
    staged.write_bytes(staged.read_bytes()[:-40])

    with pytest.raises(DamagedWorkFileError, match="run the ingest step again") as raised:
        pipeline.run_validate(inbox_settings, DAY)

    assert staged.name in str(raised.value)


def test_snapshot_reads_earlier_parquet_pairs(inbox_settings):
    import pyarrow.parquet as pq

    from dupmon.normalise import read_pairs, work_pairs_path

    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + GOOD_ROW)
    ingest_and_validate(inbox_settings)
    pipeline.run_normalise(inbox_settings, DAY)
    path = work_pairs_path(inbox_settings, DAY)
    # The work copy as normalise wrote it before it wrote Arrow IPC files.
    pq.write_table(read_pairs(path), path.with_name("pairs.parquet"))
    path.unlink()

    assert pipeline.run_snapshot(inbox_settings, DAY)["pairs"] == 1


def test_quarantine_report_written(inbox_settings):
    row = GOOD_ROW.replace("9.01.2025 - 12.01.2025", "9.13.2025 - 12.01.2025")
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + row)
    rejection(inbox_settings)
    (report,) = (inbox_settings.quarantine_dir / DAY.isoformat()).rglob("report.txt")
    text = report.read_text(encoding="utf-8")
    assert "строка 3" in text
    assert "row 3" in text


def test_quarantine_holds_copy(inbox_settings):
    row = "1;Управление образования;Школа А;Энск;5;1.01.2025 - 5.01.2025;Школа Б;Энск;5\n"
    source = drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + row)
    rejection(inbox_settings)
    folder = inbox_settings.quarantine_dir / DAY.isoformat()
    copies = [p for p in folder.rglob(source.name) if p.is_file()]
    assert [c.read_bytes() for c in copies] == [source.read_bytes()]


def test_rejected_file_stays_in_raw_and_inbox(inbox_settings):
    row = GOOD_ROW.replace("9.01.2025 - 12.01.2025", "bad")
    source = drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + row)
    rejection(inbox_settings)
    raw = [p for p in inbox_settings.raw_dir.iterdir() if p.suffix == ".csv"]
    assert source.exists()
    assert [p.read_bytes() for p in raw] == [source.read_bytes()]


def test_raw_area_private(inbox_settings):
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + GOOD_ROW)
    pipeline.run_ingest(inbox_settings, DAY)
    modes = {stat.S_IMODE(p.stat().st_mode) for p in inbox_settings.raw_dir.iterdir()}
    folder = stat.S_IMODE(inbox_settings.raw_dir.stat().st_mode)
    assert folder == 0o700
    assert modes == {0o600}


def test_header_and_name_conflict_shows_both(inbox_settings):
    text = "Период: 02.09.2024 - 17.01.2025\n" + HEADER + GOOD_ROW
    drop(inbox_settings, "dubli_17.12.2024.csv", text)
    error = rejection(inbox_settings)
    assert "17.01.2025" in str(error)
    assert "17.12.2024" in str(error)


def test_file_of_other_date_skipped(inbox_settings):
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + GOOD_ROW)
    drop(inbox_settings, "dubli_17.10.2024.csv", HEADER + GOOD_ROW.replace("2025", "2024"))
    assert [e["original_name"] for e in pipeline.run_ingest(inbox_settings, DAY)] == [
        "dubli_17.01.2025.csv"
    ]


def test_same_bytes_twice_taken_once(inbox_settings):
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + GOOD_ROW)
    drop(inbox_settings, "copy of dubli_17.01.2025.csv", HEADER + GOOD_ROW)
    assert len(pipeline.run_ingest(inbox_settings, DAY)) == 1


def test_overlapping_files_count_pair_once(inbox_settings):
    second = (
        "1;Сахминобр;СГКСУВОУ зт;Костромское;8;24.12.2024 - 1.01.2025;"
        "МАОУ СОШ №8 города Южно-Сахалинска;Южно-Сахалинск;8В\n"
    )
    drop(inbox_settings, "dolinsky_17.01.2025.csv", HEADER + GOOD_ROW)
    drop(inbox_settings, "region_17.01.2025.csv", HEADER + GOOD_ROW + second.replace("1;", "2;", 1))
    ingest_and_validate(inbox_settings)
    assert pipeline.run_normalise(inbox_settings, DAY)["pairs"] == 2


def test_reversed_row_is_same_pair(inbox_settings):
    reverse = (
        "2;;МБОУ СОШ № 1;Долинск;7А;9.01.2025 - 12.01.2025;МБОУ СОШ №2 г.Долинск;Долинск;7Б\n"
    )
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + GOOD_ROW + reverse)
    ingest_and_validate(inbox_settings)
    assert pipeline.run_normalise(inbox_settings, DAY)["pairs"] == 1


def test_keys_made_beside_resolution(inbox_settings, monkeypatch):
    from dupmon import normalise

    threads = {}
    for module, name in (
        (validate, "_row_keys"),
        (normalise, "pair_keys"),
        (normalise, "_classes_of_duplicates"),
    ):
        original = getattr(module, name)

        def recorded(*args, _name=name, _original=original, **kwargs):
            threads[_name] = threading.current_thread().name
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, recorded)
    reverse = (
        "2;;МБОУ СОШ № 1;Долинск;7А;9.01.2025 - 12.01.2025;МБОУ СОШ №2 г.Долинск;Долинск;7Б\n"
    )
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + GOOD_ROW + reverse)

    ingest_and_validate(inbox_settings)
    summary = pipeline.run_normalise(inbox_settings, DAY)

    assert summary["pairs"] == 1
    assert threads["_row_keys"].startswith("dupmon-row-keys")
    assert threads["pair_keys"].startswith("dupmon-keys")
    assert threads["_classes_of_duplicates"].startswith("dupmon-keys")


def test_class_stays_text(inbox_settings):
    import pyarrow.parquet as pq

    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + GOOD_ROW.replace("7Б", "8"))
    ingest_and_validate(inbox_settings)
    pipeline.run_normalise(inbox_settings, DAY)
    pipeline.run_snapshot(inbox_settings, DAY)
    path = inbox_settings.snapshots_dir / f"monitoring_date={DAY}" / "pairs.parquet"
    assert pq.read_table(path)["class_name"].to_pylist() == ["8"]


def test_staging_holds_no_personal_columns(inbox_settings):
    import pyarrow as pa

    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + GOOD_ROW)
    pipeline.run_ingest(inbox_settings, DAY)
    (staged,) = (inbox_settings.work_dir / DAY.isoformat() / "staged").glob("*.arrow")
    names = set(pa.ipc.open_file(staged.read_bytes()).schema.names)
    assert names.isdisjoint({"pupil_name", "account_id", "birth_date", "sex"})


def test_staging_file_private(inbox_settings):
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + GOOD_ROW)
    pipeline.run_ingest(inbox_settings, DAY)
    (staged,) = (inbox_settings.work_dir / DAY.isoformat() / "staged").glob("*.arrow")
    assert staged.stat().st_mode & 0o777 == 0o600


def test_validation_result_kept(inbox_settings):
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + GOOD_ROW)
    ingest_and_validate(inbox_settings)
    (result,) = (inbox_settings.work_dir / DAY.isoformat() / "validation").glob("*.json")
    assert json.loads(result.read_text(encoding="utf-8"))["success"] is True


def test_date_without_export_stops(inbox_settings):
    from dupmon.ingest import NoExportsError

    drop(inbox_settings, "dubli_17.10.2024.csv", HEADER + GOOD_ROW.replace("2025", "2024"))
    with pytest.raises(NoExportsError, match="no export for 2025-01-17"):
        pipeline.run_ingest(inbox_settings, DAY)


def test_no_export_leaves_no_staging(inbox_settings):
    from dupmon.ingest import NoExportsError

    with pytest.raises(NoExportsError):
        pipeline.run_ingest(inbox_settings, DAY)
    assert not (inbox_settings.work_dir / DAY.isoformat()).exists() or not any(
        (inbox_settings.work_dir / DAY.isoformat()).iterdir()
    )


def test_other_secret_rejected_at_snapshot(inbox_settings):
    from dataclasses import replace

    from dupmon.errors import ConfigError

    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + GOOD_ROW)
    drop(inbox_settings, "dubli_17.02.2025.csv", HEADER + GOOD_ROW, encoding="cp1251")
    for day in (DAY, dt.date(2025, 2, 17)):
        settings = inbox_settings if day == DAY else replace(inbox_settings, pair_key_secret="z" * 40)
        ingest_and_validate_day(settings, day)
        pipeline.run_normalise(settings, day)
        if day == DAY:
            pipeline.run_snapshot(settings, day)
    with pytest.raises(ConfigError, match="another pair-key secret"):
        pipeline.run_snapshot(settings, dt.date(2025, 2, 17))


def ingest_and_validate_day(settings, day):
    pipeline.run_ingest(settings, day)
    pipeline.run_validate(settings, day)


def test_binary_file_rejected_as_unknown_format(inbox_settings):
    path = inbox_settings.inbox_dir / "dubli_17.01.2025.xlsx"
    path.write_bytes(b"\x89PNG\r\n\x1a\nIHDR" + bytes(range(1, 32)) * 4)
    messages = [p.message for p in rejection(inbox_settings).problems]
    assert any("format cannot be told" in m for m in messages)


def test_warning_does_not_reject(inbox_settings):
    row = GOOD_ROW.replace(";Долинск;7А", ";Быков;Седьмой")
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + row)
    (outcome,) = ingest_and_validate(inbox_settings)
    assert outcome["success"]
    assert [w["column"] for w in outcome["warnings"]] == ["Информация о дубле: Класс/группа"]


def test_unknown_settlement_is_warning(inbox_settings):
    row = GOOD_ROW.replace(";Долинск;7А", ";Невельск;7А").replace("МБОУ СОШ № 1", "МБОУ СОШ № 1 г. Долинска")
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + row)
    (outcome,) = ingest_and_validate(inbox_settings)
    assert outcome["success"]


def test_row_printed_twice_is_warning(inbox_settings):
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + GOOD_ROW + GOOD_ROW.replace("1;", "2;", 1))
    (outcome,) = ingest_and_validate(inbox_settings)
    assert outcome["success"]
    assert "more than once" in outcome["warnings"][0]["message"]


def numbered_rows(count: int, varied_class: bool = False) -> list[str]:
    """Return ``count`` rows of the two-row layout, numbered from 1.

    The duplicate's class is «7А», or with ``varied_class`` one of eleven.
    """
    rows = []
    for n in range(1, count + 1):
        duplicate_class = f"{n % 11 + 1}А" if varied_class else "7А"
        rows.append(
            f"{n};Управление;МБОУ СОШ №{n % 9 + 1} г.Долинск;Долинск;{n % 11 + 1}Б;"
            f"{1 + n % 9}.01.2025 - 12.01.2025;МБОУ СОШ № {n % 7 + 1};Долинск;{duplicate_class}\n"
        )
    return rows


def test_row_lost_to_quote_warned(inbox_settings):
    # Row 301 lacks its empty end cell, so the quote opened in the last cell
    # of row 300 and closed in row 301 takes in less than a row, and the
    # reader cannot tell the cell from one over lines. The numbers can.
    rows = numbered_rows(3000, varied_class=True)
    rows[299] = rows[299].replace(";4А\n", ';"4А\n')
    rows[300] = rows[300].replace(";Долинск;5А\n", ';Долинск"\n')
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + "".join(rows))
    (outcome,) = ingest_and_validate(inbox_settings)
    skips = [w for w in outcome["warnings"] if "skips numbers" in w["message"]]
    assert outcome["success"]
    assert [(w["row"], w["value"]) for w in skips] == [(303, "302")]


def test_rows_lost_without_numbers_warned(inbox_settings):
    # Without «№ п/п» nothing shows the rows a quote took in. The quote
    # opened in the last cell of row 300 closes in row 302, which lacks its
    # empty end cell, so the merged row is as long as the others. The cell
    # has the delimiters of a row, and the reader warns of its lines.
    header = HEADER.replace("№ п/п;", "", 1).replace("\n;", "\n", 1)
    rows = [
        f"Управление;МБОУ СОШ №{n} г.Долинск;Долинск;{n % 11 + 1}Б;"
        f"{1 + n % 9}.01.2025 - 12.01.2025;МБОУ СОШ № {n % 7 + 1};Долинск;{n % 11 + 1}А\n"
        for n in range(1, 3001)
    ]
    rows[299] = rows[299].replace(";4А\n", ';"4А\n')
    rows[301] = rows[301].replace(";Долинск;6А\n", ';Долинск"\n')
    path = drop(inbox_settings, "dubli_17.01.2025.csv", header + "".join(rows))
    (outcome,) = ingest_and_validate(inbox_settings)
    assert outcome["success"]
    (warning,) = [w for w in outcome["warnings"] if "delimiters as a whole row" in w["message"]]
    assert (warning["row"], warning["value"], warning["severity"]) == (None, None, "warning")
    assert "lines 302 to 304" in warning["message"]
    # The reader's warning names lines, not the cell's text.
    assert "Управление" not in json.dumps(warning, ensure_ascii=False)
    notes = json.loads(pipeline.validation_notes_path(inbox_settings, DAY).read_text("utf-8"))
    assert f"dubli_17.01.2025.csv: {warning['message_ru']}" in notes
    directory = pipeline.load_region(inbox_settings).directory
    facts, problems = validate.check_file(path, inbox_settings, directory)
    assert facts["rows"] == 2998
    assert warning in [problem.to_dict() for problem in problems]


def named_rows(count: int) -> list[list[str]]:
    """Return ``count`` rows of the fourteen-column layout without «№ п/п», invented pupils."""
    places = ["Долинский", "Анивский", "Холмский", "Корсаковский"]
    return [
        [
            f"УО {places[n % 4]}",
            f"Примерова{n} Анна",
            f"s{100 + n}",
            "ЖМ"[n % 2],
            f"{1 + n % 28}.03.2012",
            f"МБОУ СОШ № {n}",
            places[n % 4],
            f"пгт {places[n % 4][:4]}",
            f"{n % 9 + 1}А",
            f"{n % 5 + 1}.09.2024-30.09.2024 (s{200 + n})",
            f"МБОУ СОШ № {n + 1}",
            places[(n + 1) % 4],
            f"пгт {places[(n + 1) % 4][:4]}",
        ]
        for n in range(1, 41)
    ]


def names_joined_by_quote(period_end: str, opened_in: int = 8, closed_in: int = 8) -> str:
    """Return an export with names where a quote joins rows 21 and 22 into a cell.

    The quote opened in cell ``opened_in`` of row 21 closes in cell
    ``closed_in`` of row 22, so that cell would carry row 22's pupil, name
    and all, into a column that is not hashed. Where it closes before the
    last cell, row 22 lacks the cells after that one, as a writer leaves
    out empty end cells. Otherwise the joined row would be longer than the
    others.
    """
    header = (
        "Управление;ФИО ученика;ID;Пол;Дата рождения;ОО;Район;Населенный пункт;Класс;"
        "Промежутки пересечения;ОО;Район;Населенный пункт\n"
    )
    rows = named_rows(40)
    rows[20][opened_in] = '"' + rows[20][opened_in]
    if closed_in < opened_in:
        del rows[21][closed_in + 1 :]
    rows[21][closed_in] += '"'
    body = "".join(";".join(row) + "\n" for row in rows)
    return f"Период: 02.09.2024 - {period_end}\n" + header + body


@pytest.mark.parametrize(
    ("opened_in", "closed_in"),
    [(8, 8), (12, 11), (9, 1)],
    ids=["row-of-delimiters", "last-cell-empty", "few-cells"],
)
def test_names_joined_by_quote_rejected(inbox_settings, opened_in, closed_in):
    # In a file with pupils' names such a cell rejects the file, also
    # where it has fewer delimiters than a row, which gets no warning in a
    # file without names.
    text = names_joined_by_quote("17.01.2025", opened_in, closed_in)
    source = drop(inbox_settings, "dubli_17.01.2025.csv", text)
    error = rejection(inbox_settings)
    (problem,) = error.problems
    assert "pupils' names" in problem.message
    assert problem.row == 23
    assert "lines 23 to 24" in problem.message
    assert "Примерова" not in str(error)
    raw = [p for p in inbox_settings.raw_dir.iterdir() if p.suffix == ".csv"]
    assert [p.read_bytes() for p in raw] == [source.read_bytes()]
    directory = pipeline.load_region(inbox_settings).directory
    _, problems = validate.check_file(source, inbox_settings, directory)
    assert [p.message for p in problems] == [problem.message]


@pytest.mark.parametrize(
    ("delimiter", "column", "cell"),
    [
        (";", 9, '"2.09.2024-10.09.2024 (s900001);\n16.09.2024-20.09.2024 (s900002)"'),
        (",", 8, '"8А,\n8Б"'),
        (",", 5, '"МБОУ СОШ № 5\n, корпус 2"'),
    ],
    ids=["ranges", "classes", "school"],
)
def test_names_cell_listing_over_lines_read(delimiter, column, cell):
    # A cell of a file with names whose lines meet at the delimiter, as a
    # list of ranges or classes, is read and not taken for joined rows.
    header = (
        "Управление;ФИО ученика;ID;Пол;Дата рождения;ОО;Район;Населенный пункт;Класс;"
        "Промежутки пересечения;ОО;Район;Населенный пункт"
    )
    rows = named_rows(40)
    rows[20][column] = cell
    lines = [header.replace(";", delimiter)] + [delimiter.join(row) for row in rows]
    text = "Период: 02.09.2024 - 17.01.2025\n" + "\n".join(lines) + "\n"
    _, table = ingest.read_export(text.encode(), 1 << 30)
    assert table.fault is None
    assert table.row_count == 40


def test_joined_names_row_counts_records(inbox_settings):
    # A school's name over two lines without a delimiter, above the joined
    # cell, is read as it is. The problem's row is then the record that a
    # spreadsheet program shows, one less than the line.
    text = names_joined_by_quote("17.01.2025", 12, 11)
    text = text.replace("МБОУ СОШ № 5;", '"МБОУ СОШ № 5\nкорпус 2";', 1)
    drop(inbox_settings, "dubli_17.01.2025.csv", text)
    (problem,) = rejection(inbox_settings).problems
    assert "lines 24 to 25" in problem.message
    assert problem.row == 23


def test_joined_names_other_date_skipped(inbox_settings):
    # Such a file of another period, with no date in its name, is skipped
    # as a file of another date, and the run takes the file of its own.
    drop(inbox_settings, "dubli_old.csv", names_joined_by_quote("17.10.2024"))
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + GOOD_ROW)
    pipeline.run_ingest(inbox_settings, DAY)
    exports = ingest.load_staged(inbox_settings, DAY)
    assert [export.original_name for export in exports] == ["dubli_17.01.2025.csv"]


def test_same_quote_without_names_warned(inbox_settings):
    # The same quote in rows without the pupils' columns, whose other
    # values repeat too little to be taken for rows, gets the warning only.
    header = "Управление;ОО;Район;Населенный пункт;Класс;Промежутки пересечения;ОО;Район;Н\n"
    rows = [
        [f"УО {n}", f"МБОУ СОШ № {n}", f"Район {n}", f"пгт {n}", f"{n % 9 + 1}А",
         f"{n}.09.2024-30.09.2024", f"ООШ № {n}", f"Район {n + 1}", f"с. {n}"]
        for n in range(1, 41)
    ]
    rows[20][4] = '"' + rows[20][4]
    rows[21][4] += '"'
    text = "Период: 02.09.2024 - 17.01.2025\n" + header + "".join(";".join(r) + "\n" for r in rows)
    drop(inbox_settings, "dubli_17.01.2025.csv", text)
    pipeline.run_ingest(inbox_settings, DAY)
    (export,) = ingest.load_staged(inbox_settings, DAY)
    assert [w["message"][:34] for w in export.warnings] == ["the row on lines 23 to 24 of the f"]


def test_row_numbers_in_order_not_warned(inbox_settings):
    # Numbers repeated (cells merged down), restarting at 1 (files put
    # together) or not plain digits are no gap.
    numbers = ["1", "2", "2", "3.", "", "4", "1", "2", "№5", "3"]
    rows = [
        GOOD_ROW.replace("1;", f"{number};", 1).replace("7Б", f"{i}Б")
        for i, number in enumerate(numbers)
    ]
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + "".join(rows))
    (outcome,) = ingest_and_validate(inbox_settings)
    assert outcome["success"]
    assert not [w for w in outcome["warnings"] if "skips numbers" in w["message"]]


def test_regional_school_on_duplicate_side(inbox_settings):
    forward = (
        "1;Сахминобр;СГКСУВОУ зт;Костромское;8;24.12.2024 - 1.01.2025;"
        "МАОУ СОШ №8 города Южно-Сахалинска;Южно-Сахалинск;8В\n"
    )
    backward = (
        "2;Департамент образования г. Южно-Сахалинска;МАОУ СОШ №8 города Южно-Сахалинска;"
        "Южно-Сахалинск;8В;24.12.2024 - 1.01.2025;СГКСУВОУ зт;Костромское;8\n"
    )
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + backward + forward)
    ingest_and_validate(inbox_settings)
    pipeline.run_normalise(inbox_settings, DAY)
    pipeline.run_snapshot(inbox_settings, DAY)
    summary = pipeline.run_delta(inbox_settings, DAY)
    rows = (inbox_settings.reports_dir / DAY.isoformat() / "appendix1.csv").read_text(encoding="utf-8")
    assert summary["current"] == 1
    assert "Холмский городской округ,0,0," in rows


def test_undated_file_redated_by_new_name(inbox_settings):
    path = drop(inbox_settings, "dubli.csv", HEADER + GOOD_ROW)
    pipeline.run_ingest(inbox_settings, dt.date(2024, 12, 17))
    path.rename(path.with_name("dubli_17.01.2025.csv"))
    assert len(pipeline.run_ingest(inbox_settings, DAY)) == 1


def test_unparsable_intersection_hides_account_id(inbox_settings):
    row = GOOD_ROW.replace("9.01.2025 - 12.01.2025", "2.09.2024-31.09.2024 s900002")
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + row)
    pipeline.run_ingest(inbox_settings, DAY)
    (staged,) = (inbox_settings.work_dir / DAY.isoformat() / "staged").glob("*.arrow")
    assert b"s900002" not in staged.read_bytes()


def test_warning_reaches_spravka_notes(inbox_settings):
    row = GOOD_ROW.replace(";Долинск;7А", ";Быков;Седьмой")
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + row)
    pipeline.run_all(inbox_settings, DAY)
    page = (inbox_settings.reports_dir / DAY.isoformat() / "spravka.html").read_text(encoding="utf-8")
    assert "Замечания к данным мониторинга" in page
    assert "Седьмой" in page


def _raising(message: str):
    def raising(*args, **kwargs):
        raise OSError(message)

    return raising


@pytest.mark.parametrize(
    ("thread_work", "main_work", "main_message", "note"),
    [
        (
            "import_great_expectations",
            "read_staged_frames",
            "unreadable",
            "The import of Great Expectations failed on a thread at the same time: "
            "OSError: thread broken (test)",
        ),
        (
            "_row_keys",
            "resolve_municipalities",
            "directory broken",
            "The row keys failed on a thread at the same time: OSError: thread broken (test)",
        ),
    ],
)
def test_validate_thread_error_noted(
    inbox_settings, monkeypatch, thread_work, main_work, main_message, note
):
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + GOOD_ROW)
    pipeline.run_ingest(inbox_settings, DAY)
    monkeypatch.setattr(validate, thread_work, _raising("thread broken (test)"))
    monkeypatch.setattr(validate, main_work, _raising(f"{main_message} (test)"))

    with pytest.raises(OSError, match=main_message) as caught:
        pipeline.run_validate(inbox_settings, DAY)

    assert caught.value.__notes__ == [note]


def test_pair_key_error_noted_on_resolve_error(inbox_settings, monkeypatch):
    from dupmon import normalise

    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + GOOD_ROW)
    ingest_and_validate(inbox_settings)
    monkeypatch.setattr(normalise, "_classes_and_keys", _raising("keys broken (test)"))
    monkeypatch.setattr(normalise, "resolve_municipalities", _raising("directory broken (test)"))

    with pytest.raises(OSError, match="directory broken") as caught:
        pipeline.run_normalise(inbox_settings, DAY)

    assert caught.value.__notes__ == [
        "The classes and pair keys failed on a thread at the same time: "
        "OSError: keys broken (test)"
    ]


def test_row_key_error_noted_on_self_pair_error(inbox_settings, monkeypatch):
    # prepare_group compares the account tokens after the resolution and
    # before it reads the row keys, so that comparison runs beside the thread too.
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + GOOD_ROW)
    pipeline.run_ingest(inbox_settings, DAY)
    resolve = validate.resolve_municipalities

    def resolve_without_tokens(frame, directory, per_file=False):
        return resolve(frame, directory, per_file=per_file).drop(columns=["account_token"])

    monkeypatch.setattr(validate, "_row_keys", _raising("row keys broken (test)"))
    monkeypatch.setattr(validate, "resolve_municipalities", resolve_without_tokens)

    with pytest.raises(KeyError, match="account_token") as caught:
        pipeline.run_validate(inbox_settings, DAY)

    assert caught.value.__notes__ == [
        "The row keys failed on a thread at the same time: OSError: row keys broken (test)"
    ]


def mid_size_export(rows: int) -> str:
    """Return an export of ``rows`` pairs with quoted cells, doubled spaces and warnings."""
    lines = [HEADER]
    for number in range(1, rows + 1):
        school = f"МБОУ СОШ №{number % 9 + 1} г.Долинск"
        if number % 5:
            school = f'"{school.replace(" г.", "  г.")}"'
        duplicate_class = f"{number % 11 + 1}{'АБВ'[number % 3]}"
        if number % 97 == 0:
            duplicate_class = "Седьмой"
        lines.append(
            f'{number};"МКУ Управление ОКС; МО ГО ""Долинский""";{school};Долинск;'
            f"{number % 11 + 1}Б;{1 + number % 9}.01.2025 - 12.01.2025;"
            f"МБОУ СОШ № {number % 7 + 1};Долинск;{duplicate_class}\n"
        )
    return "".join(lines)


def pipeline_to_snapshot(settings) -> tuple[list[dict], object]:
    import pyarrow.parquet as pq

    outcomes = ingest_and_validate(settings)
    pipeline.run_normalise(settings, DAY)
    pipeline.run_snapshot(settings, DAY)
    path = settings.snapshots_dir / f"monitoring_date={DAY}" / "pairs.parquet"
    return outcomes, pq.read_table(path)


@pytest.mark.parametrize("padding", ["", ";;;;;;;;"], ids=["bare", "padded"])
def test_notes_below_table_left_out(tmp_path, monkeypatch, padding):
    # Excel pads a note typed in column A with the table's empty cells, so
    # the padded file stays on the columnar path.
    from dupmon.readers import delimited

    notes = [
        "Исполнитель: Петрова А.А., тел. 8 (4242) 00-00-00",
        "Дата формирования отчёта: 18.01.2025",
    ]
    text = mid_size_export(600) + "".join(note + padding + "\n" for note in notes)
    tables = []
    for threshold in (delimited.COLUMNAR_MIN_BYTES, 1 << 40):
        monkeypatch.setitem(delimited.read_csv.__kwdefaults__, "columnar_min_bytes", threshold)
        settings = settings_under(tmp_path / str(threshold))
        drop(settings, "dubli_17.01.2025.csv", text)
        (outcome,), table = pipeline_to_snapshot(settings)
        assert outcome["success"]
        tables.append(table)
    assert tables[0].equals(tables[1])
    without_notes = settings_under(tmp_path / "without-notes")
    drop(without_notes, "dubli_17.01.2025.csv", mid_size_export(600))
    assert tables[0].num_rows == pipeline_to_snapshot(without_notes)[1].num_rows


def settings_under(root: Path):
    """Return settings whose inbox and data folder are under ``root``."""
    inbox = root / "inbox"
    inbox.mkdir(parents=True)
    return load_settings(
        {
            "DUPMON_DATA_DIR": str(root / "data"),
            "DUPMON_INBOX": str(inbox),
            "DUPMON_PAIR_KEY_SECRET": SECRET,
        }
    )


def test_mid_size_csv_same_both_paths(tmp_path, monkeypatch):
    from dupmon.readers import delimited

    text = mid_size_export(600)
    assert len(text.encode()) > delimited.COLUMNAR_MIN_BYTES
    results = []
    for threshold in (delimited.COLUMNAR_MIN_BYTES, 1 << 40):
        monkeypatch.setitem(delimited.read_csv.__kwdefaults__, "columnar_min_bytes", threshold)
        settings = settings_under(tmp_path / str(threshold))
        drop(settings, "dubli_17.01.2025.csv", text)
        results.append(pipeline_to_snapshot(settings))
    (columnar_outcomes, columnar_table), (scalar_outcomes, scalar_table) = results
    assert columnar_outcomes[0]["success"]
    assert len(columnar_outcomes[0]["warnings"]) > 0
    assert columnar_outcomes[0]["warnings"] == scalar_outcomes[0]["warnings"]
    assert columnar_table.num_rows > 0
    assert columnar_table.equals(scalar_table)


@pytest.mark.parametrize("closed_on_row", [None, 320], ids=["never-closed", "closed-below"])
def test_stray_quote_names_its_line(inbox_settings, closed_on_row):
    rows = numbered_rows(3000)
    rows[299] = rows[299].replace(";7А", ';"7А')
    if closed_on_row:
        rows[closed_on_row - 1] = rows[closed_on_row - 1].replace(";7А", ';"7А"')
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + "".join(rows))
    (problem,) = rejection(inbox_settings).problems
    assert problem.row == 302
    assert "quote" in problem.message
    assert "строке 302" in problem.action_ru
    if closed_on_row:
        assert "runs over line breaks to line 322" in problem.message
        assert "до строки 322" in problem.message_ru
    else:
        assert "longer than 131072 characters" in problem.message


def test_stray_quote_near_end_rejected(inbox_settings):
    # A quote never closed that takes in only the last rows stays under
    # the csv module's limit, so only the rows in its cell give it away.
    rows = numbered_rows(3000)
    rows[2949] = rows[2949].replace(";7А", ';"7А')
    drop(inbox_settings, "dubli_17.01.2025.csv", HEADER + "".join(rows))
    (problem,) = rejection(inbox_settings).problems
    assert problem.row == 2952
    assert "runs over line breaks to line 3002" in problem.message
    assert "или не закрыта вовсе" in problem.message_ru
