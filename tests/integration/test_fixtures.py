"""Every committed export fixture, one format each, through ingest to the snapshot."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from pathlib import Path

import pytest

from dupmon import pipeline
from dupmon.settings import load_settings
from tests.conftest import ROOT, SECRET

FIXTURES = ROOT / "tests" / "fixtures" / "exports"
DAY = dt.date(2024, 10, 17)
FOURTEEN_COLUMN = sorted(FIXTURES.glob("fourteen_column*"))
TWO_ROW = sorted(FIXTURES.glob("two_row*"))
FORMATS = {
    "fourteen_column_17.10.2024.xlsx": "xlsx",
    "fourteen_column_biff_17.10.2024.xls": "xls",
    "fourteen_column_17.10.2024.ods": "ods",
    "fourteen_column_17.10.2024.html": "html",
    "fourteen_column_html_17.10.2024.xls": "html",
    "fourteen_column_xml_17.10.2024.xls": "spreadsheetml",
    "fourteen_column_mhtml_17.10.2024.xls": "mhtml",
}
# The pupils of the fixtures (all invented); none may reach an output.
PERSONAL_VALUES = [
    "Примеров", "Тестова", "Выдумкина", "Олегович", "Игоревна", "Сергеевна",
    "14.03.2012", "2.11.2009", "30.06.2014", "2012-03-14", "2009-11-02", "2014-06-30",
    "s100101", "s100102", "s100201", "s100202", "s100301", "s100302",
]


def settings_with(tmp_path: Path, *files: Path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for path in files:
        shutil.copyfile(path, inbox / path.name)
    return load_settings(
        {
            "DUPMON_DATA_DIR": str(tmp_path / "data"),
            "DUPMON_INBOX": str(inbox),
            "DUPMON_PAIR_KEY_SECRET": SECRET,
            "DUPMON_SECRET_FILE": str(tmp_path / "secret"),
        }
    )


def pairs_of(settings):
    pipeline.run_ingest(settings, DAY)
    pipeline.run_validate(settings, DAY)
    pipeline.run_normalise(settings, DAY)
    pipeline.run_snapshot(settings, DAY)
    from dupmon.snapshot import read_snapshot

    return read_snapshot(settings.snapshots_dir, DAY)


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory) -> dict:
    """Run each fixture alone through ingest to snapshot, once for the module."""
    result = {}
    for path in [*FOURTEEN_COLUMN, *TWO_ROW]:
        result[path.name] = pairs_of(settings_with(tmp_path_factory.mktemp("fixture"), path))
    return result


def test_every_format_has_a_fixture():
    assert sorted(p.name for p in FOURTEEN_COLUMN) == sorted(FORMATS)


@pytest.mark.parametrize("path", FOURTEEN_COLUMN, ids=lambda p: p.name)
def test_format_detected(tmp_path, path):
    settings = settings_with(tmp_path, path)
    (export,) = pipeline.run_ingest(settings, DAY)
    assert export["file_format"] == FORMATS[path.name]


@pytest.mark.parametrize("path", FOURTEEN_COLUMN, ids=lambda p: p.name)
def test_fourteen_column_pairs(snapshots, path):
    pairs = snapshots[path.name]
    assert sorted(pairs["municipality_id"]) == ["kholmsky", "yuzhno_kurilsky", "yuzhno_sakhalinsk"]


@pytest.mark.parametrize("path", FOURTEEN_COLUMN, ids=lambda p: p.name)
def test_fourteen_column_keys_from_accounts(snapshots, path):
    pairs = snapshots[path.name]
    assert set(pairs["key_basis"]) == {"accounts"}


@pytest.mark.parametrize("path", FOURTEEN_COLUMN, ids=lambda p: p.name)
def test_fourteen_column_classes_text(snapshots, path):
    pairs = snapshots[path.name]
    assert sorted(pairs["class_name"]) == ["4", "6А", "8А, 8Б"]


@pytest.mark.parametrize("path", FOURTEEN_COLUMN, ids=lambda p: p.name)
def test_merged_subrows_keep_both_intersections(snapshots, path):
    pairs = snapshots[path.name]
    kurilsk = pairs[pairs["municipality_id"] == "yuzhno_kurilsky"]
    assert list(kurilsk["intersections"]) == ["02.09.2024 - 10.09.2024; 16.09.2024 - 20.09.2024"]


@pytest.mark.parametrize("path", TWO_ROW, ids=lambda p: p.name)
def test_two_row_csv_pairs(snapshots, path):
    pairs = snapshots[path.name]
    shown = sorted(zip(pairs["municipality_id"], pairs["duplicate_municipality_id"], strict=True))
    assert shown == [("anivsky", "anivsky"), ("regional", "korsakovsky")]


@pytest.mark.parametrize("path", TWO_ROW, ids=lambda p: p.name)
def test_two_row_csv_class_list(snapshots, path):
    pairs = snapshots[path.name]
    assert sorted(pairs["duplicate_class_name"]) == ["5, 6", "9А"]


def test_all_fixtures_leak_nothing(tmp_path, caplog):
    settings = settings_with(tmp_path, *FOURTEEN_COLUMN, *TWO_ROW)
    with caplog.at_level(logging.DEBUG):
        pipeline.run_all(settings, DAY)
    outputs = [settings.snapshots_dir, settings.reports_dir, settings.work_dir,
               settings.data_docs_dir]
    blobs = [p.read_bytes() for root in outputs for p in root.rglob("*") if p.is_file()]
    blobs.append(caplog.text.encode("utf-8"))
    leaks = [
        value for value in PERSONAL_VALUES
        if any(value.encode("utf-8") in blob or value.encode("cp1251") in blob for blob in blobs)
    ]
    assert leaks == []


def test_data_docs_written(tmp_path):
    settings = settings_with(tmp_path, TWO_ROW[0])
    pairs_of(settings)
    assert (settings.data_docs_dir / "index.html").exists()


def test_duplicate_class_from_mirrored_row(snapshots):
    pairs = snapshots["fourteen_column_17.10.2024.xlsx"]
    sakhalinsk = pairs[pairs["municipality_id"] == "yuzhno_sakhalinsk"]
    assert list(sakhalinsk["duplicate_class_name"]) == ["6Б"]
