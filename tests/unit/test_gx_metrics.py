"""The pattern check on categorical columns decides as Great Expectations does."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from dupmon.validate import import_great_expectations

CLASS = r"^[0-9]{1,2} *[А-ЯЁа-яё]?$"
CELLS = ["7Б", "10 А", "Седьмой", "", "7Б", "١٢", "8а", "Седьмой", "123"]


def match_regex(column: pd.Series, regex: str) -> pd.Series:
    # GX is imported when a test needs it, not while the tests are collected.
    import_great_expectations()
    from dupmon.gx_metrics import match_regex

    return match_regex(column, regex)


def as_gx_matches(column: pd.Series, regex: str) -> pd.Series:
    """Return the outcome of GX 1.24's pandas condition of the check."""
    return column.astype(str).str.contains(regex)


@pytest.mark.parametrize(
    "categories",
    [None, ["123", "Седьмой", "7Б", "", "10 А", "١٢", "8а", "unused", "9В"]],
    ids=["sorted", "unused and reordered"],
)
def test_categories_match_as_gx(categories):
    column = pd.Series(pd.Categorical(CELLS, categories=categories), index=range(10, 19))

    matched = match_regex(column, CLASS)

    assert matched.tolist() == as_gx_matches(column, CLASS).tolist()
    assert matched.tolist() == [True, True, False, False, True, False, True, False, False]
    assert matched.index.equals(column.index)


@pytest.mark.parametrize(
    "column",
    [
        pd.Series(pd.Categorical(["7Б", None, "Седьмой"])),
        pd.Series(["7Б", "Седьмой", "8а"], dtype="str"),
        pd.Series(["7Б", None, "Седьмой"], dtype=object),
        pd.Series(pd.Categorical([], categories=["7Б"])),
        pd.Series(pd.Categorical(["7Б"], categories=["7Б", "8А", "9В"])),
    ],
    ids=["categorical with missing", "text", "objects", "empty categorical", "few rows"],
)
def test_other_columns_go_gx_way(column):
    assert match_regex(column, CLASS).equals(as_gx_matches(column, CLASS))


@pytest.mark.parametrize(
    "values",
    [
        pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-01"]),
        pd.to_datetime(["2024-01-01 10:30:00", "2024-02-01 00:00:00", "2024-01-01 10:30:00"]),
        [3, 10, 3],
        [1.5, 2.0, 1.5],
    ],
    ids=["dates at midnight", "dates with times", "integers", "floats"],
)
def test_other_categories_match_as_gx(values):
    column = pd.Series(pd.Categorical(values))

    for regex in ("00:00", "^2024-01", "^1", r"\.0$"):
        assert match_regex(column, regex).tolist() == as_gx_matches(column, regex).tolist()


def test_pattern_metric_registered_for_pandas():
    import_great_expectations()
    from dupmon.gx_metrics import CategoryMatchRegex
    from great_expectations.execution_engine import PandasExecutionEngine
    from great_expectations.expectations.registry import get_metric_provider

    provider_class, _ = get_metric_provider(
        "column_values.match_regex.condition", PandasExecutionEngine()
    )

    assert provider_class is CategoryMatchRegex


_REGISTER = """
import logging
import sys

from dupmon.validate import import_great_expectations

import_great_expectations()
logging.basicConfig(stream=sys.stderr, level=logging.DEBUG)
logging.getLogger("great_expectations").setLevel(logging.INFO)
import dupmon.gx_metrics
print(logging.getLogger("great_expectations.expectations.registry").level)
"""


def test_registration_logs_nothing():
    result = subprocess.run(
        [sys.executable, "-c", _REGISTER], capture_output=True, text=True, timeout=300
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert "overwriting" not in result.stderr
    # The registry's logger is left at the level it had.
    assert result.stdout.split() == ["0"]


def test_many_rows_give_booleans():
    rows = np.tile(np.array(["7Б", "Седьмой", "10 А"], dtype=object), 100_000)
    column = pd.Series(pd.Categorical(rows))

    matched = match_regex(column, CLASS)

    assert int(matched.sum()) == 200_000
    assert matched.dtype == bool


_RUN_SUITE = """
from dupmon.settings import INCLUDE_DIR
from dupmon.validate import load_suite_config, run_suite
from tests.unit.test_validate import build_frame, load_directory, DIRECTORY_FILE

directory = load_directory(DIRECTORY_FILE)
config = load_suite_config(INCLUDE_DIR / "gx" / "duplicate_export_suite.json", directory)
run_suite(build_frame(directory), config, no_duplicates=False)

from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.registry import get_metric_provider

provider_class, _ = get_metric_provider(
    "column_values.match_regex.condition", PandasExecutionEngine()
)
print(provider_class.__module__)
"""


def test_suite_run_registers_metric():
    result = subprocess.run(
        [sys.executable, "-c", _RUN_SUITE], capture_output=True, text=True, timeout=300
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["dupmon.gx_metrics"]
