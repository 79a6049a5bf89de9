import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from dupmon.delta import compute_delta, format_percent, status_of
from dupmon.directory import load_directory
from dupmon.normalise import PAIRS_SCHEMA

DIRECTORY = Path(__file__).resolve().parents[2] / "include/config/regions/sakhalin/municipalities.yaml"
DAY = dt.date(2025, 1, 17)


@pytest.fixture(scope="module")
def directory():
    return load_directory(DIRECTORY)


def pairs(*rows: tuple[str, str, str]) -> pd.DataFrame:
    records = []
    for key, first, second in rows:
        record = dict.fromkeys(PAIRS_SCHEMA.names)
        record.update(pair_key=key * 12, municipality_id=first, duplicate_municipality_id=second)
        records.append(record)
    return pd.DataFrame(records, columns=PAIRS_SCHEMA.names)


def row_of(delta, municipality_id):
    return next(r for r in delta.rows if r.municipality_id == municipality_id)


@pytest.mark.parametrize(
    ("eliminated", "previous", "expected"),
    [(1, 1, "100,0"), (2, 3, "66,7"), (1, 8, "12,5"), (0, 4, "0,0"), (0, 0, "—")],
)
def test_percent_format(eliminated, previous, expected):
    assert format_percent(eliminated, previous) == expected


@pytest.mark.parametrize(
    ("previous", "current", "eliminated", "expected"),
    [(1, 1, 1, "partial"), (0, 1, 0, "red"), (1, 0, 1, "green"), (0, 0, 0, "none"), (2, 2, 0, "red")],
)
def test_status(previous, current, eliminated, expected):
    assert status_of(previous, current, eliminated) == expected


def test_pair_counts_for_both_municipalities(directory):
    delta = compute_delta(DAY, pairs(("a", "kholmsky", "dolinsky")), None, None, directory)
    assert (row_of(delta, "kholmsky").current, row_of(delta, "dolinsky").current) == (1, 1)


def test_total_counts_pair_once(directory):
    delta = compute_delta(DAY, pairs(("a", "kholmsky", "dolinsky")), None, None, directory)
    assert delta.total.current == 1


def test_regional_pair_gets_own_row(directory):
    delta = compute_delta(DAY, pairs(("a", "regional", "regional")), None, None, directory)
    assert delta.rows[-1].municipality == directory.no_municipality_row


def test_regional_side_ignored(directory):
    delta = compute_delta(DAY, pairs(("a", "regional", "yuzhno_sakhalinsk")), None, None, directory)
    assert [r.municipality_id for r in delta.rows if r.current] == ["yuzhno_sakhalinsk"]


def test_eliminated_and_new(directory):
    before = pairs(("a", "kholmsky", "kholmsky"), ("b", "kholmsky", "kholmsky"))
    now = pairs(("b", "kholmsky", "kholmsky"), ("c", "kholmsky", "kholmsky"))
    row = row_of(compute_delta(DAY, now, before, DAY, directory), "kholmsky")
    assert (row.previous, row.current, row.eliminated, row.new) == (2, 2, 1, 1)


def test_unresolvable_counted(directory):
    now = pairs(("a", "kholmsky", "kholmsky"), ("b", "kholmsky", "kholmsky"))
    delta = compute_delta(DAY, now, None, None, directory, {"a" * 12})
    assert row_of(delta, "kholmsky").unresolvable == 1


def test_mass_elimination_noted(directory):
    before = pairs(*[(chr(97 + i), "kholmsky", "kholmsky") for i in range(12)])
    now = pairs(("a", "kholmsky", "kholmsky"))
    delta = compute_delta(DAY, now, before, DAY, directory)
    assert "исчезло сразу 11 из 12" in delta.notes[0]


def test_small_drop_not_noted(directory):
    before = pairs(("a", "kholmsky", "kholmsky"), ("b", "kholmsky", "kholmsky"))
    delta = compute_delta(DAY, pairs(("a", "kholmsky", "kholmsky")), before, DAY, directory)
    assert delta.notes == []
