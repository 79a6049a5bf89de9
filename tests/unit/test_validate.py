"""The failing rows dupmon.validate finds itself agree with Great Expectations' own.

GX returns at most PARTIAL_UNEXPECTED_COUNT failing rows per expectation,
and each expectation here fails on fewer, so its list is complete.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from dupmon.directory import load_directory
from dupmon.errors import ConfigError
from dupmon.ingest import STAGED_SCHEMA
from dupmon.normalise import read_staged_frames_of
from dupmon.settings import INCLUDE_DIR
from dupmon.validate import (
    FILE_COLUMN,
    PARTIAL_UNEXPECTED_COUNT,
    TEMPLATE_CACHE,
    load_suite_config,
    prepare_group,
    problems_from_result,
    run_suite,
    template_key,
    unexpected_rows,
)

from tests.unit.pair_factory import DIRECTORY_FILE

GOOD = {
    "row_number": "1",
    "authority": 'МКУ Управление ОКС МО ГО "Долинский"',
    "organisation": "МБОУ СОШ №2 г.Долинск",
    "settlement": "Долинск",
    "class_name": "7Б",
    "intersections": "09.01.2025 - 12.01.2025",
    "intersection_start": dt.date(2025, 1, 9),
    "intersection_end": dt.date(2025, 1, 12),
    "duplicate_organisation": "МБОУ СОШ № 1",
    "duplicate_settlement": "Долинск",
    "duplicate_class_name": "7А",
}
# Rows that each break one or more checks, some of them twice.
BAD = [
    {"organisation": None},
    {"duplicate_organisation": None},
    {"intersections": None, "intersection_start": None, "intersection_end": None},
    {"intersection_start": None, "intersections": "9.13.2025 - 12.01.2025"},
    {"intersection_start": dt.date(2025, 1, 14)},
    {
        "authority": "Управление образования",
        "organisation": "Школа А",
        "settlement": "Энск",
        "duplicate_organisation": "Школа Б",
        "duplicate_settlement": "Энск",
    },
    {"intersection_start": dt.date(2024, 8, 30)},
    {"intersection_end": dt.date(2025, 1, 20)},
    {"account_token": "a" * 64, "duplicate_account_token": "a" * 64},
    {"row_number": "x1"},
    {"row_number": "9."},
    {"class_name": "Седьмой"},
    {"duplicate_class_name": "восьмой"},
    {"settlement": "Невельск"},
    {"duplicate_municipality": "Холмский городской округ", "duplicate_settlement": "Долинск"},
    {"organisation": "МБОУ СОШ №2 г.Долинск", "class_name": "7В"},
    {"organisation": "МБОУ СОШ №2 г.Долинск", "class_name": "7В"},
]


@pytest.fixture(scope="module")
def directory():
    return load_directory(DIRECTORY_FILE)


@pytest.fixture(scope="module")
def frame(directory):
    return build_frame(directory)


def build_frame(directory):
    """Build the prepared staging table of two files, each with good and bad rows."""
    records = []
    for number, change in enumerate([{}, *BAD, {}, *BAD[:3]]):
        record = dict.fromkeys(STAGED_SCHEMA.names)
        record.update(
            GOOD, source_row=number + 3, source_file="file-b" if number > len(BAD) else "file-a"
        )
        record.update(change)
        records.append(record)
    staged = read_staged_frames_of(pa.Table.from_pylist(records, schema=STAGED_SCHEMA))
    period = ("2024-09-02", "2025-01-17")
    return prepare_group(
        staged,
        list(GOOD),
        directory,
        {"file-a": period, "file-b": period},
        {"file-a": "a.csv", "file-b": "b.csv"},
    )


@pytest.fixture(scope="module")
def result(frame, directory):
    config = load_suite_config(INCLUDE_DIR / "gx" / "duplicate_export_suite.json", directory)
    return run_suite(frame, config, no_duplicates=False)


def test_result_without_frame_fingerprint(result):
    markers = result.meta["batch_markers"]

    assert "ge_load_time" in markers
    assert "pandas_data_fingerprint" not in markers


def failing_rows(frame, item) -> list[tuple[str, int]]:
    config = item.expectation_config
    mask = unexpected_rows(frame, config.type, dict(config.kwargs))
    chosen = frame.loc[mask, [FILE_COLUMN, "source_row"]]
    return sorted(
        zip(chosen[FILE_COLUMN].astype(str), chosen["source_row"].astype(int), strict=True)
    )


def gx_rows(item) -> list[tuple[str, int]]:
    listed = item.result.get("partial_unexpected_index_list") or []
    return sorted((entry[FILE_COLUMN], int(entry["source_row"])) for entry in listed)


def row_level(result):
    return [item for item in result.results if unexpected_rows_apply(item.expectation_config.type)]


def unexpected_rows_apply(expectation_type: str) -> bool:
    return expectation_type.startswith(("expect_column_values", "expect_column_pair"))


def test_every_row_check_fails_somewhere(result):
    assert all(not item.success for item in row_level(result))


def test_fewer_failures_than_gx_lists(result):
    counts = [item.result["unexpected_count"] for item in row_level(result)]
    assert max(counts) < PARTIAL_UNEXPECTED_COUNT


@pytest.mark.parametrize("position", range(16))
def test_rows_agree_with_gx(frame, result, position):
    item = row_level(result)[position]
    assert failing_rows(frame, item) == gx_rows(item), item.expectation_config.type


def test_problems_of_one_file(frame, result):
    rows = {problem.row for problem in problems_from_result(result, frame, "file-b")}
    assert rows == {len(BAD) + 5, len(BAD) + 6, len(BAD) + 7}


def test_problem_names_file_column_value(frame, result):
    problems = problems_from_result(result, frame, "file-a")
    unknown = [
        p for p in problems if p.message == "the municipality of the pupil's school is unknown"
    ]
    assert [(p.row, p.column, p.value) for p in unknown] == [
        (9, "Управление", "Управление образования")
    ]


# Cleaned cells as the suite's regular expressions meet them, among them
# ones that only some class patterns accept.
CLASS_CELLS = [
    "8", "8А", "8 А", "8-А", "8.Б", "10Г", "8А, 8Б", "8А,8Б", "11 А , 9", "5 группа",
    "Группа продлённого дня", "Седьмой", "8АБВГ", "123", "", "x1", "1.", "12", "١٢", "8 - А",
]


@pytest.mark.parametrize("column", ["row_number", "class_name", "duplicate_class_name"])
def test_suite_regex_same_in_re2(directory, column):
    import re

    import pyarrow.compute as pc

    config = load_suite_config(INCLUDE_DIR / "gx" / "duplicate_export_suite.json", directory)
    (pattern,) = [
        item["kwargs"]["regex"]
        for item in config["expectations"]
        if item["kwargs"].get("column") == column and "regex" in item["kwargs"]
    ]

    in_re2 = pc.match_substring_regex(pa.array(CLASS_CELLS), pattern).to_pylist()
    in_python = [re.search(pattern, cell) is not None for cell in CLASS_CELLS]

    assert in_re2 == in_python
    # \s, \d and \w make pandas leave RE2 for Python's re, cell by cell.
    assert not re.search(r"\\[sSdDwWb]", pattern)


def test_class_regex_takes_ascii_digits_only(directory):
    import re

    config = load_suite_config(INCLUDE_DIR / "gx" / "duplicate_export_suite.json", directory)
    (pattern,) = {
        item["kwargs"]["regex"]
        for item in config["expectations"]
        if item["kwargs"].get("column") == "class_name" and "regex" in item["kwargs"]
    }

    assert re.search(pattern, "2А")
    # Arabic-Indic and full-width digits get the class warning.
    assert not re.search(pattern, "٢А")
    assert not re.search(pattern, "２А")


_IMPORT_LOGS = """
import logging
import stat
import sys

records = []


class ListHandler(logging.Handler):
    def emit(self, record):
        records.append(record)


logging.basicConfig(level=int(sys.argv[1]), handlers=[ListHandler()])
assert "great_expectations" not in sys.modules
from dupmon import validate

gx = validate.import_great_expectations()
gx.get_context(mode="ephemeral")
print(sum(record.name.startswith("great_expectations") for record in records))
"""


@pytest.mark.parametrize("root_level", [logging.DEBUG, logging.INFO, logging.WARNING])
def test_gx_import_logs_nothing_below_warning(root_level):
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_LOGS, str(root_level)],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "0"


def test_gx_logger_level_set_by_user_kept():
    chosen = "logging.getLogger('great_expectations').setLevel(logging.INFO)\n"
    importing = "from dupmon import validate"
    code = _IMPORT_LOGS.replace(importing, chosen + importing)

    result = subprocess.run(
        [sys.executable, "-c", code, str(logging.INFO)], capture_output=True, text=True, timeout=300
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout.strip()) > 0


_IMPORT_COLLECTION = """
import gc
import sys

from dupmon import validate

if sys.argv[1] == "paused":
    gc.disable()
collections = []
gc.callbacks.append(lambda phase, info: collections.append(phase) if phase == "start" else None)
frozen = gc.get_freeze_count()
gx = validate.import_great_expectations()
during = len(collections)
first = gc.get_freeze_count() - frozen
tracked = any(item is gx.ValidationDefinition for item in gc.get_objects())
later = [[index] for index in range(1000)]
validate.import_great_expectations()
print(during, first, gc.get_freeze_count() - frozen - first, gc.isenabled(), tracked)
"""


@pytest.mark.parametrize("collector", ["running", "paused"])
def test_gx_import_collects_nothing_and_freezes(collector):
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_COLLECTION, collector],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    during, first, second, enabled, tracked = result.stdout.split()
    assert during == "0"
    # GX's objects are in the permanent generation, where the collector does
    # not look. A second call, with GX imported, freezes nothing more.
    assert int(first) > 100_000
    assert second == "0"
    assert tracked == "False"
    assert enabled == str(collector == "running")


_FAILED_IMPORT = """
import gc

from dupmon import validate
from tests.rejected_import import reject_import

reject_import("great_expectations.checkpoint")
try:
    validate.import_great_expectations()
except ImportError as error:
    print(error)
print(gc.isenabled(), gc.get_freeze_count())
"""


def test_failed_gx_import_restarts_collector():
    result = subprocess.run(
        [sys.executable, "-c", _FAILED_IMPORT],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).parents[2],
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == ["rejected by the test", "True 0"]


_DEFERRED_USE = """
import sys

from dupmon.directory import load_directory
from dupmon.settings import INCLUDE_DIR
from dupmon.validate import load_suite_config, run_suite
from tests.unit.pair_factory import DIRECTORY_FILE
from tests.unit.test_validate import build_frame

directory = load_directory(DIRECTORY_FILE)
config = load_suite_config(INCLUDE_DIR / "gx" / "duplicate_export_suite.json", directory)
result = run_suite(build_frame(directory), config, no_duplicates=False, docs_dir=sys.argv[1])
assert not result.success
print("scipy.stats" in sys.modules, "scipy.stats._stats_py" in sys.modules)
print("altair" in sys.modules, "altair.vegalite" in sys.modules)
"""


def test_gx_deferred_modules_stay_unloaded(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", _DEFERRED_USE, str(tmp_path / "docs")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).parents[2],
    )

    assert result.returncode == 0, result.stderr[-3000:]
    scipy_line, altair_line = result.stdout.splitlines()[-2:]
    # GX imported both, and neither module's code ran.
    assert scipy_line == "True False"
    assert altair_line == "True False"
    assert list((tmp_path / "docs").rglob("*.html"))


@pytest.mark.parametrize(
    "cells",
    [
        ["a" * 16, "b" * 8],
        ["a" * 8, "b" * 16, "c" * 8],
        ["a" * 64, None, "b" * 63],
    ],
)
def test_hash_words_need_one_width(cells):
    from dupmon.validate import _fixed_width_words

    assert _fixed_width_words(pd.Series(cells, dtype="str")) is None


def test_hash_words_taken_for_one_width():
    from dupmon.validate import _fixed_width_words

    words = _fixed_width_words(pd.Series(["a" * 64, None, "b" * 64, "a" * 64], dtype="str"))

    assert words is not None
    assert words[0] == words[3]
    assert len({int(words[0]), int(words[1]), int(words[2])}) == 3


def test_hash_words_of_cells_apart():
    # A null may keep bytes of its own between two cells, so the cells are
    # not back to back and their words are gathered one by one.
    from dupmon.validate import _fixed_width_words

    data = b"a" * 8 + b"z" * 8 + b"b" * 8 + b"a" * 8
    offsets = np.array([0, 8, 16, 24, 32], dtype=np.int64)
    validity = pa.array([True, False, True, True]).buffers()[1]
    apart = pa.LargeStringArray.from_buffers(
        4, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data), validity
    )
    packed = pd.Series(["a" * 8, None, "b" * 8, "a" * 8], dtype="str")

    words = _fixed_width_words(pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([apart]))))

    assert words is not None
    assert words.tolist() == _fixed_width_words(packed).tolist()


def suite_with(tmp_path, *extra: dict) -> Path:
    """Write the shipped suite with ``extra`` expectations added at its end."""
    suite = json.loads((INCLUDE_DIR / "gx" / "duplicate_export_suite.json").read_text())
    suite["expectations"].extend(extra)
    suite_file = tmp_path / "suite.json"
    suite_file.write_text(json.dumps(suite), encoding="utf-8")
    return suite_file


def test_repeated_check_in_suite_rejected(frame, directory, tmp_path):
    # Equal by GX's rule: the default of mostly written out, another message.
    repeated = {
        "type": "expect_column_values_to_be_unique",
        "kwargs": {"column": "row_key", "mostly": 1},
        "severity": "warning",
        "meta": {"message": "another wording"},
    }
    config = load_suite_config(suite_with(tmp_path, repeated), directory)

    with pytest.raises(ConfigError, match="twice, as expectations 21 and 26; delete one"):
        run_suite(frame, config, no_duplicates=False)


def test_check_of_each_message_kind_accepted(frame, directory, tmp_path):
    # The same check, once for tables and once for «no duplicates»
    # messages, is never in one suite run.
    for_messages = {
        "type": "expect_column_values_to_be_unique",
        "kwargs": {"column": "row_key"},
        "meta": {"only_for_no_duplicates_message": True},
    }
    config = load_suite_config(suite_with(tmp_path, for_messages), directory)

    result = run_suite(frame, config, no_duplicates=False)

    assert len(result.results) == 24


def test_suite_file_not_a_suite_named(directory, tmp_path):
    suite_file = tmp_path / "suite.json"
    for text in ("{", '{"name": "x"}', '{"expectations": [{"type": "x"}]}', "[]"):
        suite_file.write_text(text, encoding="utf-8")

        with pytest.raises(ConfigError, match=f"cannot read the suite file {suite_file}"):
            load_suite_config(suite_file, directory)


def test_quoted_directory_path_in_messages(directory, tmp_path):
    folder = tmp_path / 'say "hello"'
    folder.mkdir()
    quoted = load_directory(_copy(DIRECTORY_FILE, folder / "municipalities.yaml"))

    config = load_suite_config(INCLUDE_DIR / "gx" / "duplicate_export_suite.json", quoted)

    actions = [item["meta"].get("action", "") for item in config["expectations"]]
    assert sum(str(quoted.path) in action for action in actions) == 4
    assert not any("$directory_file" in action for action in actions)


def _copy(source: Path, target: Path) -> Path:
    target.write_bytes(source.read_bytes())
    return target


def test_suite_frame_keeps_categorical_columns(frame, directory):
    from dupmon.validate import suite_frame

    config = load_suite_config(INCLUDE_DIR / "gx" / "duplicate_export_suite.json", directory)

    checked = suite_frame(frame, config)

    assert isinstance(checked["class_name"].dtype, pd.CategoricalDtype)
    assert isinstance(checked["municipality_id"].dtype, pd.CategoricalDtype)
    assert checked.index.equals(frame.index)
    assert "account_token" not in checked


def test_category_patterns_agree_with_gx(frame, directory, result):
    # The same frame with the class columns as plain text takes GX's own
    # way of matching every row.
    config = load_suite_config(INCLUDE_DIR / "gx" / "duplicate_export_suite.json", directory)
    classes = ("class_name", "duplicate_class_name")
    plain = frame.assign(**{column: frame[column].astype(object) for column in classes})

    as_text = run_suite(plain, config, no_duplicates=False)

    patterns = [
        (ours, theirs)
        for ours, theirs in zip(result.results, as_text.results, strict=True)
        if ours.expectation_config.type == "expect_column_values_to_match_regex"
    ]
    assert len(patterns) == 3
    for ours, theirs in patterns:
        assert ours.result == theirs.result
        assert ours.success == theirs.success


def test_data_docs_keep_every_validation(frame, directory, tmp_path):
    config = load_suite_config(INCLUDE_DIR / "gx" / "duplicate_export_suite.json", directory)
    good = frame[frame["source_row"] == 3]
    docs = tmp_path / "docs"

    run_suite(frame, config, no_duplicates=False, name="2024-10-17 a.csv, b.csv", docs_dir=docs)
    run_suite(good, config, no_duplicates=False, name="2025-01-17 c.csv", docs_dir=docs)

    pages = sorted((docs / "validations").rglob("*.html"))
    index = (docs / "index.html").read_text(encoding="utf-8")
    record = json.loads((docs / "validations.json").read_text(encoding="utf-8"))
    assert len(pages) == 2
    assert index.index("2025-01-17 c.csv") < index.index("2024-10-17 a.csv, b.csv")
    assert all(f'href="{page.relative_to(docs).as_posix()}"' in index for page in pages)
    assert sorted(entry["success"] for entry in record.values()) == [False, True]
    assert "duplicate_export.html" in index


def test_data_docs_folder_with_url_characters(frame, directory, tmp_path):
    # GX's URL of a page leaves the site's folder unquoted, so the page is
    # found on disk instead.
    config = load_suite_config(INCLUDE_DIR / "gx" / "duplicate_export_suite.json", directory)
    docs = tmp_path / "a#b?c%41" / "docs"

    run_suite(frame, config, no_duplicates=False, name="2025-01-17 a.csv", docs_dir=docs)

    record = json.loads((docs / "validations.json").read_text(encoding="utf-8"))
    assert [entry["name"] for entry in record.values()] == ["2025-01-17 a.csv"]
    pages = [page.relative_to(docs).as_posix() for page in docs.rglob("validations/**/*.html")]
    assert list(record) == pages


def write_page(docs, run_time: str) -> str:
    page = docs / "validations" / "suite" / "__none__" / run_time / "batch.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html></html>", encoding="utf-8")
    return page.relative_to(docs).as_posix()


def test_data_docs_invalid_record_entries(tmp_path):
    from dupmon.data_docs import write_index

    pages = [write_page(tmp_path, f"20250117T1015{second:02d}.000000Z") for second in range(5)]
    record = {
        pages[0]: None,
        pages[1]: "oops",
        pages[2]: {"name": 5, "success": True},
        pages[3]: {"name": "2025-01-17 d.csv", "success": "yes"},
        pages[4]: {"name": "2025-01-17 e.csv", "success": False},
    }
    (tmp_path / "validations.json").write_text(json.dumps(record), encoding="utf-8")

    index = write_index(tmp_path).read_text(encoding="utf-8")

    assert all(f'href="{page}"' in index for page in pages)
    assert "2025-01-17 e.csv" in index
    assert "2025-01-17 d.csv" not in index


def test_data_docs_same_second_newest_first(tmp_path):
    from dupmon.data_docs import record_validation

    earlier = write_page(tmp_path, "20250117T101500.100000Z")
    record_validation(tmp_path, [earlier], "2025-01-17 z.csv", True)
    later = write_page(tmp_path, "20250117T101500.900000Z")
    record_validation(tmp_path, [later], "2025-01-17 a.csv", True)

    index = (tmp_path / "index.html").read_text(encoding="utf-8")

    assert index.index("2025-01-17 a.csv") < index.index("2025-01-17 z.csv")


def test_data_docs_index_of_unrecorded_page(tmp_path):
    from dupmon.data_docs import write_index

    page = tmp_path / "validations" / "suite" / "__none__" / "20250117T101500.123456Z" / "x.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html></html>", encoding="utf-8")
    (tmp_path / "validations.json").write_text("not json", encoding="utf-8")

    index = write_index(tmp_path).read_text(encoding="utf-8")

    assert "2025-01-17 10:15:00 UTC" in index
    assert 'href="validations/suite/__none__/20250117T101500.123456Z/x.html"' in index


def _counting_compiles(monkeypatch) -> list[str]:
    """Record the name of every template Jinja compiles from now on."""
    import jinja2

    compiled = []
    compile_source = jinja2.Environment.compile

    def counting(self, source, name=None, filename=None, *args, **kwargs):
        compiled.append(name)
        return compile_source(self, source, name, filename, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    return compiled


def _stable_html(page: Path) -> str:
    """Return a Data Docs page without the ids and times that differ at every build."""
    import re

    text = page.read_text(encoding="utf-8")
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "ID", text)
    text = re.sub(r"[0-9a-f]{32}", "ID", text)
    return re.sub(r"\d{4}-?\d{2}-?\d{2}T[\d:.]+(Z|\+00:00)?", "TIME", text)


def test_data_docs_compile_once(frame, directory, tmp_path, monkeypatch):
    from dupmon.data_docs_view import COMPILED_TEMPLATES

    config = load_suite_config(INCLUDE_DIR / "gx" / "duplicate_export_suite.json", directory)
    COMPILED_TEMPLATES.clear()
    compiled = _counting_compiles(monkeypatch)

    run_suite(frame, config, no_duplicates=False, name="2025-01-17 a.csv", docs_dir=tmp_path / "a")
    first = list(compiled)
    compiled.clear()
    run_suite(frame, config, no_duplicates=False, name="2025-01-17 a.csv", docs_dir=tmp_path / "b")

    assert "page.j2" in first
    assert len(first) == len(set(first))
    assert compiled == []
    assert len(list((tmp_path / "b" / "validations").rglob("*.html"))) == 1


KEY = template_key(b"a pair-key secret of the tests, long enough")


def _suite_with_kept_templates(
    frame, directory, docs_dir, cache, monkeypatch, key: bytes | None = KEY
) -> list[str]:
    """Run the suite as a new process would, keeping templates in ``cache``.

    Return the names of the templates it compiled.
    """
    from dupmon.data_docs_view import COMPILED_TEMPLATES

    config = load_suite_config(INCLUDE_DIR / "gx" / "duplicate_export_suite.json", directory)
    COMPILED_TEMPLATES.clear()
    with monkeypatch.context() as patches:
        compiled = _counting_compiles(patches)
        run_suite(
            frame, config, False, name="a.csv", docs_dir=docs_dir, cache_dir=cache, cache_key=key
        )
    assert len(list((docs_dir / "validations").rglob("*.html"))) == 1
    return compiled


def test_later_process_loads_kept_templates(frame, directory, tmp_path, monkeypatch):
    from dupmon.data_docs_view import COMPILED_TEMPLATES

    cache = tmp_path / "cache"
    first = _suite_with_kept_templates(frame, directory, tmp_path / "a", cache, monkeypatch)
    again = _suite_with_kept_templates(frame, directory, tmp_path / "b", cache, monkeypatch)

    assert "page.j2" in first
    assert again == []
    assert len(list((cache / TEMPLATE_CACHE).iterdir())) == len(COMPILED_TEMPLATES)
    assert stat.S_IMODE((cache / TEMPLATE_CACHE).stat().st_mode) == 0o700


def test_templates_without_key_stay_in_memory(frame, directory, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    _suite_with_kept_templates(frame, directory, tmp_path / "a", cache, monkeypatch, key=None)

    assert not cache.exists()


def _forged_files(folder: Path, marker: Path, key: bytes) -> None:
    """Replace the code in every kept file with code that creates ``marker``, signed by ``key``.

    The forgery keeps each file's template checksum, so only the HMAC can reject it.
    """
    import io
    import marshal
    import pickle

    from dupmon.data_docs_view import _FILE_HEADER, _MAC_BYTES, _mac
    from jinja2.bccache import bc_magic

    code = marshal.dumps(compile(f"open({str(marker)!r}, 'w').close()", "forged", "exec"))
    for cache_file in folder.iterdir():
        content = io.BytesIO(cache_file.read_bytes()[len(_FILE_HEADER) + _MAC_BYTES :])
        content.seek(len(bc_magic))
        forged = bc_magic + pickle.dumps(pickle.load(content), 2) + code
        cache_file.write_bytes(_FILE_HEADER + _mac(key, cache_file.name, forged) + forged)


def test_file_of_another_key_not_run(frame, directory, tmp_path, monkeypatch):
    # The forged files play the part of an export that someone allowed to
    # rename folders in the region's data folder moved there from the quarantine.
    cache = tmp_path / "cache"
    marker = tmp_path / "marker"
    _suite_with_kept_templates(frame, directory, tmp_path / "a", cache, monkeypatch)
    _forged_files(cache / TEMPLATE_CACHE, marker, template_key(b"another secret, also long enough"))

    again = _suite_with_kept_templates(frame, directory, tmp_path / "b", cache, monkeypatch)
    third = _suite_with_kept_templates(frame, directory, tmp_path / "c", cache, monkeypatch)

    assert not marker.exists()
    assert "page.j2" in again
    assert third == []


def test_forged_file_runs_with_key(frame, directory, tmp_path, monkeypatch):
    # The test above is only as strong as its forgery: with the right key
    # the same files do run.
    from dupmon.data_docs_view import COMPILED_TEMPLATES

    config = load_suite_config(INCLUDE_DIR / "gx" / "duplicate_export_suite.json", directory)
    cache = tmp_path / "cache"
    marker = tmp_path / "marker"
    _suite_with_kept_templates(frame, directory, tmp_path / "a", cache, monkeypatch)
    _forged_files(cache / TEMPLATE_CACHE, marker, KEY)
    COMPILED_TEMPLATES.clear()

    run_suite(frame, config, False, docs_dir=tmp_path / "b", cache_dir=cache, cache_key=KEY)

    assert marker.exists()


@pytest.mark.parametrize("damage", ["cut short", "bytes flipped"])
def test_damaged_template_file_compiled_again(frame, directory, tmp_path, monkeypatch, damage):
    cache = tmp_path / "cache"
    _suite_with_kept_templates(frame, directory, tmp_path / "a", cache, monkeypatch)
    for cache_file in (cache / TEMPLATE_CACHE).iterdir():
        data = bytearray(cache_file.read_bytes())
        if damage == "cut short":
            del data[40:]
        else:
            data[-30:-10] = bytes(b ^ 0x5A for b in data[-30:-10])
        cache_file.write_bytes(bytes(data))

    again = _suite_with_kept_templates(frame, directory, tmp_path / "b", cache, monkeypatch)
    third = _suite_with_kept_templates(frame, directory, tmp_path / "c", cache, monkeypatch)

    assert "page.j2" in again
    assert third == []


def test_pipe_in_place_of_file_skipped(frame, directory, tmp_path, monkeypatch):
    import signal

    cache = tmp_path / "cache"
    _suite_with_kept_templates(frame, directory, tmp_path / "a", cache, monkeypatch)
    for cache_file in (cache / TEMPLATE_CACHE).iterdir():
        cache_file.unlink()
        os.mkfifo(cache_file)

    def give_up(signum, frame):
        raise TimeoutError("opening a named pipe in the template cache timed out")

    previous = signal.signal(signal.SIGALRM, give_up)
    signal.alarm(60)
    try:
        compiled = _suite_with_kept_templates(frame, directory, tmp_path / "b", cache, monkeypatch)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)

    assert "page.j2" in compiled


def test_code_of_other_release_compiled_again(frame, directory, tmp_path, monkeypatch):
    from dupmon import data_docs_view

    cache = tmp_path / "cache"
    _suite_with_kept_templates(frame, directory, tmp_path / "a", cache, monkeypatch)
    # As after an upgrade of GX, whose views may set up Jinja otherwise.
    monkeypatch.setattr(data_docs_view, "_FILE_HEADER", b"dupmon compiled Jinja template, next\n")

    again = _suite_with_kept_templates(frame, directory, tmp_path / "b", cache, monkeypatch)
    third = _suite_with_kept_templates(frame, directory, tmp_path / "c", cache, monkeypatch)

    assert "page.j2" in again
    assert third == []


def test_linked_template_folder_not_used(frame, directory, tmp_path, monkeypatch, caplog):
    cache = tmp_path / "cache"
    cache.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (cache / TEMPLATE_CACHE).symlink_to(tmp_path / "elsewhere")

    compiled = _suite_with_kept_templates(frame, directory, tmp_path / "a", cache, monkeypatch)

    assert "page.j2" in compiled
    assert list((tmp_path / "elsewhere").iterdir()) == []
    assert "is a symbolic link" in caplog.text


def test_left_temporary_files_removed(frame, directory, tmp_path, monkeypatch):
    folder = tmp_path / "cache" / TEMPLATE_CACHE
    folder.mkdir(parents=True)
    old, recent = folder / ".a.code.1.tmp", folder / ".b.code.2.tmp"
    old.write_bytes(b"left by a killed process")
    recent.write_bytes(b"being written by another process")
    os.utime(old, (1, 1))

    _suite_with_kept_templates(frame, directory, tmp_path / "a", folder.parent, monkeypatch)

    assert not old.exists()
    assert recent.exists()


def test_unwritable_template_files_warn_once(frame, directory, tmp_path, monkeypatch, caplog):
    cache = tmp_path / "cache"
    _suite_with_kept_templates(frame, directory, tmp_path / "a", cache, monkeypatch)
    for cache_file in (cache / TEMPLATE_CACHE).iterdir():
        cache_file.unlink()
        cache_file.mkdir()

    compiled = _suite_with_kept_templates(frame, directory, tmp_path / "b", cache, monkeypatch)

    assert "page.j2" in compiled
    assert caplog.text.count("templates are not kept in") == 1


def test_data_docs_pages_as_gx_renders(frame, directory, tmp_path, monkeypatch):
    from dupmon import validate

    config = load_suite_config(INCLUDE_DIR / "gx" / "duplicate_export_suite.json", directory)
    ours = tmp_path / "ours"
    gx_default = tmp_path / "gx"
    run_suite(frame, config, no_duplicates=False, name="2025-01-17 a.csv", docs_dir=ours)
    site = validate.data_docs_site

    def default_views(docs_dir):
        config = site(docs_dir)
        del config["site_section_builders"]
        return config

    monkeypatch.setattr(validate, "data_docs_site", default_views)
    run_suite(frame, config, no_duplicates=False, name="2025-01-17 a.csv", docs_dir=gx_default)

    for folder in ("validations", "expectations"):
        [our_page] = (ours / folder).rglob("*.html")
        [gx_page] = (gx_default / folder).rglob("*.html")
        assert _stable_html(our_page) == _stable_html(gx_page)
    assert "dupmon.data_docs_view" in json.dumps(site(ours))


def test_page_views_share_code_not_filters(monkeypatch):
    from dupmon.data_docs_view import COMPILED_TEMPLATES, PageView

    COMPILED_TEMPLATES.clear()
    compiled = _counting_compiles(monkeypatch)
    first, second = PageView(), PageView()

    first_template = first.env.get_template("text.j2")
    second_template = second.env.get_template("text.j2")

    assert compiled == ["text.j2"]
    assert first_template.environment is first.env
    assert second_template.environment is second.env
    assert first.env.filters["render_content_block"].__self__ is first
    assert second.env.filters["render_content_block"].__self__ is second


def test_compile_templates_covers_gx(monkeypatch):
    import great_expectations
    from dupmon.data_docs_view import COMPILED_TEMPLATES, compile_templates

    view = Path(great_expectations.__file__).parent / "render" / "view"
    templates = [path.name for path in (view / "templates").glob("*.j2")]
    styles = [path.name for path in (view / "static" / "styles").glob("*.css")]
    COMPILED_TEMPLATES.clear()

    count = compile_templates()
    compiled = _counting_compiles(monkeypatch)
    again = compile_templates()

    assert "data_docs_default_styles.css" in styles
    assert count == len(templates) + len(styles)
    assert len(COMPILED_TEMPLATES) == count
    assert again == count
    assert compiled == []


def test_compiled_templates_cover_page_includes(frame, directory, tmp_path, monkeypatch):
    # The preload compiles GX's templates so that forked validate tasks
    # compile none. page.j2 also includes data_docs_default_styles.css,
    # which GX keeps in render/view/static/styles, outside the templates.
    from dupmon.data_docs_view import COMPILED_TEMPLATES, compile_templates

    config = load_suite_config(INCLUDE_DIR / "gx" / "duplicate_export_suite.json", directory)
    COMPILED_TEMPLATES.clear()
    compile_templates()
    compiled = _counting_compiles(monkeypatch)

    run_suite(frame, config, no_duplicates=False, name="2025-01-17 a.csv", docs_dir=tmp_path)

    assert compiled == []


def test_row_number_gaps_per_file():
    from dupmon.validate import _row_number_sequence

    numbers = ["1", "2", "4.", None, "5)", "7", "x", "9", "1234567890", "3", "5"]
    files = ["a"] * 6 + ["b"] * 5
    frame = pd.DataFrame(
        {"source_file": pd.Categorical(files), "row_number": pd.array(numbers, dtype="string")}
    )

    sequence = list(_row_number_sequence(frame, has_numbers=True))

    assert sequence == [
        "continues", "continues", "skips", "not checked", "continues", "skips",
        "not checked", "continues", "not checked", "continues", "skips",
    ]
    assert set(_row_number_sequence(frame, has_numbers=False)) == {"not checked"}


def test_row_number_gaps_over_chunks():
    # A frame read from several staging files has its columns in chunks.
    from dupmon.validate import _row_number_sequence

    parts = [
        pa.table({"source_file": ["a"] * 3, "row_number": ["1", "2", "4"]}),
        pa.table({"source_file": ["a", "b"], "row_number": ["5", "3"]}),
    ]
    frame = read_staged_frames_of(pa.concat_tables(parts))

    assert pa.array(frame["row_number"]).num_chunks == 2
    assert list(_row_number_sequence(frame, has_numbers=True)) == [
        "continues", "continues", "skips", "continues", "continues",
    ]
