"""School-year history of dupmon.trend: the snapshots read, the counts, the first-seen dates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from dupmon.delta import compute_delta
from dupmon.directory import load_directory
from dupmon.snapshot import read_snapshot
from dupmon.trend import (
    attach_history,
    compute_trend,
    first_seen_dates,
    load_history,
    school_year_start,
)
from tests.unit.pair_factory import DIRECTORY_FILE, id_of, key_of, make_pair, write_dates

AUGUST = dt.date(2024, 8, 17)
SEPTEMBER_FIRST = dt.date(2024, 9, 1)
OCTOBER = dt.date(2024, 10, 17)
NOVEMBER = dt.date(2024, 11, 17)
JANUARY = dt.date(2025, 1, 17)
FEBRUARY = dt.date(2025, 2, 17)


@pytest.fixture(scope="module")
def directory():
    return load_directory(DIRECTORY_FILE)


@pytest.fixture
def snapshots(tmp_path) -> Path:
    """Snapshots of a school year, with one date before it and one after the monitoring date."""
    folder = tmp_path / "snapshots"
    write_dates(
        folder,
        {
            AUGUST: [make_pair("old", "kholmsky")],
            SEPTEMBER_FIRST: [make_pair("a", "dolinsky")],
            OCTOBER: [
                make_pair("a", "dolinsky"),
                make_pair("shared", "kholmsky", "yuzhno_sakhalinsk"),
                make_pair("ministry", "regional", "regional"),
            ],
            NOVEMBER: [make_pair("shared", "kholmsky", "yuzhno_sakhalinsk")],
            JANUARY: [make_pair("a", "dolinsky"), make_pair("b", "yuzhno_sakhalinsk")],
            FEBRUARY: [make_pair("c", "anivsky")],
        },
    )
    return folder


def counts_of(trend: dict) -> dict[str, list[int]]:
    return {row["municipality_id"]: row["counts"] for row in trend["rows"]}


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (dt.date(2025, 1, 17), dt.date(2024, 9, 1)),
        (dt.date(2024, 9, 1), dt.date(2024, 9, 1)),
        (dt.date(2024, 8, 31), dt.date(2023, 9, 1)),
        (dt.date(2025, 8, 31), dt.date(2024, 9, 1)),
    ],
)
def test_school_year_starts_first_september(day, expected):
    assert school_year_start(day) == expected


def test_history_reads_school_year_only(snapshots):
    history = load_history(snapshots, JANUARY)

    assert history.dates == [SEPTEMBER_FIRST, OCTOBER, NOVEMBER, JANUARY]


def test_history_of_first_date(snapshots):
    history = load_history(snapshots, SEPTEMBER_FIRST)

    assert history.dates == [SEPTEMBER_FIRST]


def test_history_without_snapshots(tmp_path):
    history = load_history(tmp_path / "none", JANUARY)

    assert history.dates == []


def test_trend_counts_per_municipality(snapshots, directory):
    trend = compute_trend(load_history(snapshots, JANUARY), directory)
    counts = counts_of(trend)

    assert trend["dates"] == ["2024-09-01", "2024-10-17", "2024-11-17", "2025-01-17"]
    assert counts["dolinsky"] == [1, 1, 0, 1]
    assert counts["kholmsky"] == [0, 1, 1, 0]
    assert counts["yuzhno_sakhalinsk"] == [0, 1, 1, 1]
    assert counts["anivsky"] == [0, 0, 0, 0]


def test_trend_total_counts_each_pair_once(snapshots, directory):
    trend = compute_trend(load_history(snapshots, JANUARY), directory)

    assert trend["total"] == [1, 3, 1, 2]


def test_trend_has_regional_row_when_needed(snapshots, directory):
    trend = compute_trend(load_history(snapshots, JANUARY), directory)

    assert trend["rows"][-1]["municipality_id"] == "regional"
    assert trend["rows"][-1]["municipality"] == directory.no_municipality_row
    assert trend["rows"][-1]["counts"] == [0, 1, 0, 0]
    assert len(trend["rows"]) == len(directory.municipalities) + 1


def test_trend_without_regional_pairs(snapshots, directory):
    trend = compute_trend(load_history(snapshots, SEPTEMBER_FIRST), directory)

    assert [row["municipality_id"] for row in trend["rows"]] == directory.ids


def test_trend_last_date_matches_appendix1(snapshots, directory):
    history = load_history(snapshots, JANUARY)
    delta = compute_delta(
        JANUARY,
        read_snapshot(snapshots, JANUARY),
        read_snapshot(snapshots, NOVEMBER),
        NOVEMBER,
        directory,
    )

    counts = counts_of(compute_trend(history, directory))

    for row in delta.rows:
        assert counts[row.municipality_id][-1] == row.current, row.municipality_id


def test_first_seen_keeps_first_appearance(snapshots):
    first_seen = first_seen_dates(load_history(snapshots, JANUARY))

    assert first_seen[id_of("a")] == "2024-09-01"
    assert first_seen[id_of("shared")] == "2024-10-17"
    assert first_seen[id_of("b")] == "2025-01-17"


def test_first_seen_ignores_earlier_school_year(snapshots):
    first_seen = first_seen_dates(load_history(snapshots, JANUARY))

    assert id_of("old") not in first_seen


def test_attach_history_sets_pairs(snapshots, directory):
    history = load_history(snapshots, JANUARY)
    delta = compute_delta(JANUARY, read_snapshot(snapshots, JANUARY), None, None, directory)

    attach_history(delta, history, directory)

    first_seen = {pair["pair_id"]: pair["first_seen"] for pair in delta.current_pairs}
    assert first_seen == {id_of("a"): "2024-09-01", id_of("b"): "2025-01-17"}
    assert delta.trend["total"] == [1, 3, 1, 2]


def test_attach_history_survives_json(snapshots, directory):
    from dupmon.delta import Delta

    delta = compute_delta(JANUARY, read_snapshot(snapshots, JANUARY), None, None, directory)
    attach_history(delta, load_history(snapshots, JANUARY), directory)

    copy = Delta.from_dict(delta.to_dict())

    assert copy.trend == delta.trend
    assert copy.current_pairs == delta.current_pairs


def test_history_reads_missing_columns(snapshots):
    history = load_history(snapshots, JANUARY)

    table = history.pairs(JANUARY, ["pair_key", "organisation"])

    assert table["organisation"].to_pylist() == ["МБОУ СОШ a", "МБОУ СОШ b"]


def test_history_reads_date_before_school_year(snapshots):
    history = load_history(snapshots, JANUARY)

    table = history.read(AUGUST, ["pair_key"])

    assert table["pair_key"].to_pylist() == [key_of("old")]


def test_first_seen_of_unknown_pair(snapshots):
    import pyarrow as pa

    from dupmon.trend import first_seen_of

    found = first_seen_of(load_history(snapshots, JANUARY), pa.array([id_of("b"), "ffffffffffff"]))

    assert found.to_pylist() == ["2025-01-17", None]


def test_attach_history_takes_given_figures(snapshots, directory, monkeypatch):
    import dupmon.trend

    history = load_history(snapshots, JANUARY)
    delta = compute_delta(JANUARY, read_snapshot(snapshots, JANUARY), None, None, directory)
    figures = dupmon.trend.history_figures(history, directory)

    def recomputed(*args):
        raise AssertionError("the first-seen dates were searched again")

    monkeypatch.setattr(dupmon.trend, "first_seen_of", recomputed)
    attach_history(delta, history, directory, figures)

    first_seen = {pair["pair_id"]: pair["first_seen"] for pair in delta.current_pairs}
    assert first_seen == {id_of("a"): "2024-09-01", id_of("b"): "2025-01-17"}
    assert delta.trend == figures.trend


def test_attach_history_searches_other_ids(snapshots, directory):
    import dataclasses

    import dupmon.trend
    import pyarrow as pa

    history = load_history(snapshots, JANUARY)
    delta = compute_delta(JANUARY, read_snapshot(snapshots, JANUARY), None, None, directory)
    figures = dupmon.trend.history_figures(history, directory)
    # Figures whose ids are in another order than the delta's pairs.
    reversed_ids = figures.pair_ids.take(pa.array([1, 0]))
    stale = dataclasses.replace(
        figures,
        pair_ids=reversed_ids,
        first_seen=dupmon.trend.first_seen_of(history, reversed_ids),
    )

    attach_history(delta, history, directory, stale)

    first_seen = {pair["pair_id"]: pair["first_seen"] for pair in delta.current_pairs}
    assert first_seen == {id_of("a"): "2024-09-01", id_of("b"): "2025-01-17"}
