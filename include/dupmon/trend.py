"""History of the school year: the pairs of every stored monitoring date since 1 September.

The справка uses it twice. The trend counts the pairs of each municipality
at each date, with the same rules as Appendix 1 (a pair counts for every
municipality it touches, the total counts it once). The first-seen date of
a current pair is the first monitoring date of the school year at which its
pair id appears, so a pair that disappeared and came back keeps its first
date. Dates before the school year are not read.

Only the columns the counts need are read from each snapshot
(``dupmon.delta.KEY_COLUMNS``); ``History.pairs`` reads more on request.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dupmon.delta import KEY_COLUMNS, Attribution, Delta, PairListing, as_pairs_table
from dupmon.directory import Directory
from dupmon.lookup import is_in
from dupmon.normalise import PAIRS_SCHEMA, REGIONAL
from dupmon.snapshot import list_snapshot_dates, read_snapshot_table
from dupmon.text_arrays import one_array

log = logging.getLogger(__name__)

# The school year starts on 1 September. The report period in the region's
# texts.yaml may start later (02.09.2024 in 2024, when 1 September was a Sunday).
SCHOOL_YEAR_START_MONTH = 9
SCHOOL_YEAR_START_DAY = 1


def school_year_start(
    day: dt.date, month: int = SCHOOL_YEAR_START_MONTH, start_day: int = SCHOOL_YEAR_START_DAY
) -> dt.date:
    """Return the first day of the school year ``day`` falls in (01.09.2024 for 17.01.2025)."""
    start = dt.date(day.year, month, start_day)
    return start if day >= start else dt.date(day.year - 1, month, start_day)


@dataclass
class History:
    """The pairs of each stored monitoring date of one school year, oldest first.

    ``snapshots`` maps a date to an Arrow table (or a frame, converted on
    construction) with at least the columns of KEY_COLUMNS. With
    ``snapshots_dir``, ``pairs`` reads the columns a table lacks from the
    date's snapshot.
    """

    monitoring_date: dt.date
    snapshots: dict[dt.date, pa.Table] = field(default_factory=dict)
    snapshots_dir: Path | None = None

    def __post_init__(self) -> None:
        self.snapshots = {day: _as_table(pairs) for day, pairs in self.snapshots.items()}

    @property
    def dates(self) -> list[dt.date]:
        return list(self.snapshots)

    def pairs(self, day: dt.date, columns: list[str]) -> pa.Table:
        """Return ``columns`` of the pairs of ``day``, reading the missing ones from disk."""
        table = self.snapshots[day]
        missing = [name for name in columns if name not in table.column_names]
        if missing and self.snapshots_dir is not None:
            read = read_snapshot_table(self.snapshots_dir, day, missing, dictionaries=True)
            for name in missing:
                table = table.append_column(name, read[name])
            self.snapshots[day] = table
        return table.select(columns)

    def read(self, day: dt.date, columns: list[str]) -> pa.Table:
        """Return ``columns`` of the pairs of ``day``, a date of the history or not."""
        if day in self.snapshots:
            return self.pairs(day, columns)
        if self.snapshots_dir is None:
            raise KeyError(f"no snapshot of {day.isoformat()} in the history")
        return read_snapshot_table(self.snapshots_dir, day, columns, dictionaries=True)


def _as_table(pairs) -> pa.Table:
    if isinstance(pairs, pa.Table):
        return pairs
    if isinstance(pairs, pd.DataFrame):
        present = [f for f in PAIRS_SCHEMA if f.name in pairs.columns]
        return pa.Table.from_pandas(
            pairs[[f.name for f in present]], schema=pa.schema(present), preserve_index=False
        )
    raise TypeError(
        f"a snapshot of the history must be an Arrow table or a frame, not {type(pairs)}"
    )


def load_history(snapshots_dir: Path, monitoring_date: dt.date) -> History:
    """Read the snapshots of the school year of ``monitoring_date``, up to and including it."""
    start = school_year_start(monitoring_date)
    dates = [d for d in list_snapshot_dates(snapshots_dir) if start <= d <= monitoring_date]
    history = History(monitoring_date=monitoring_date, snapshots_dir=snapshots_dir)
    for day in dates:
        history.snapshots[day] = read_snapshot_table(
            snapshots_dir, day, list(KEY_COLUMNS), dictionaries=True
        )
    log.info(
        "Read %d snapshots of the school year from %s to %s",
        len(dates),
        start.isoformat(),
        monitoring_date.isoformat(),
    )
    return history


def compute_trend(history: History, directory: Directory) -> dict:
    """Count the pairs of every municipality at every date of the history.

    Returns a JSON-serialisable dict with ``dates`` (ISO), ``rows`` and
    ``total`` (each pair once per date). ``rows`` has ``municipality_id``,
    ``municipality`` and ``counts`` (one per date) for every municipality
    of the directory in its order. A row for the pairs with no municipal
    side follows when any date has one.
    """
    ids = [m.id for m in directory.municipalities]
    attribution = Attribution(ids)
    counts = {municipality_id: [] for municipality_id in [*ids, REGIONAL]}
    total = []
    for table in history.snapshots.values():
        pairs = as_pairs_table(table, KEY_COLUMNS)
        per_code = attribution.counts(*attribution.sides(pairs))
        for municipality_id in counts:
            code = attribution.code_of(municipality_id)
            counts[municipality_id].append(int(per_code[code]) if code < len(per_code) else 0)
        total.append(pairs.num_rows)

    rows = [
        {"municipality_id": m.id, "municipality": m.name, "counts": counts[m.id]}
        for m in directory.municipalities
    ]
    if any(counts[REGIONAL]):
        rows.append(
            {
                "municipality_id": REGIONAL,
                "municipality": directory.no_municipality_row,
                "counts": counts[REGIONAL],
            }
        )
    return {"dates": [d.isoformat() for d in history.dates], "rows": rows, "total": total}


def first_seen_of(history: History, pair_ids: pa.Array) -> pa.DictionaryArray:
    """Return, for each pair id, the first date of the history (ISO) it appears at, else null."""
    pair_ids = one_array(pair_ids)
    first_seen = np.full(len(pair_ids), -1, dtype=np.int32)
    for position, table in enumerate(history.snapshots.values()):
        unseen = first_seen < 0
        if not unseen.any():
            break
        ids_then = pc.utf8_slice_codeunits(_dense(table["pair_key"]), 0, 12)
        if ids_then.equals(pair_ids):
            # The ids asked about are this date's own pairs, as for the
            # monitoring date, so each one is there: no search needed.
            first_seen[unseen] = position
            break
        found = is_in(pair_ids, ids_then)
        first_seen[unseen & found] = position
    dates = pa.array([day.isoformat() for day in history.dates], type=pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(first_seen, mask=first_seen < 0), dates)


def _dense(values) -> pa.Array:
    return one_array(values).cast(pa.string())


def first_seen_dates(history: History) -> dict[str, str]:
    """Return the first date of the history (ISO) at which each pair id appears."""
    first_seen: dict[str, str] = {}
    for day, table in history.snapshots.items():
        for key in _dense(table["pair_key"]).to_pylist():
            first_seen.setdefault(key[:12], day.isoformat())
    return first_seen


@dataclass
class HistoryFigures:
    """The figures ``attach_history`` adds to a delta, computed from the history alone.

    ``pair_ids`` are the short ids of the monitoring date's pairs in
    snapshot order, and ``first_seen`` their first-seen dates. Both are None
    when the history lacks the monitoring date.
    """

    trend: dict
    pair_ids: pa.Array | None
    first_seen: pa.DictionaryArray | None


def history_figures(history: History, directory: Directory) -> HistoryFigures:
    """Compute the trend and the first-seen dates of the monitoring date's pairs.

    It needs no delta, so the delta step runs it on a thread while it
    compares the dates.
    """
    trend = compute_trend(history, directory)
    table = history.snapshots.get(history.monitoring_date)
    if table is None:
        return HistoryFigures(trend, None, None)
    pair_ids = pc.utf8_slice_codeunits(_dense(table["pair_key"]), 0, 12)
    return HistoryFigures(trend, pair_ids, first_seen_of(history, pair_ids))


def attach_history(
    delta: Delta, history: History, directory: Directory, figures: HistoryFigures | None = None
) -> None:
    """Store the trend in ``delta.trend`` and the first-seen date in each current pair.

    ``figures`` are those of ``history_figures``, computed here when not
    given. Their first-seen dates are taken when their ids are the current
    pairs' ids in the same order, and found again otherwise. A current pair
    missing from the history (a snapshot written after the history was read)
    gets ``first_seen`` None, which the documents print as unknown.
    """
    figures = figures or history_figures(history, directory)
    delta.trend = figures.trend
    if isinstance(delta.current_pairs, PairListing):
        ids = one_array(delta.current_pairs.column("pair_id"))
        if figures.pair_ids is not None and ids.equals(figures.pair_ids):
            first_seen = figures.first_seen
        else:
            first_seen = first_seen_of(history, ids)
        delta.current_pairs.set_column("first_seen", first_seen)
        return
    first_seen = first_seen_dates(history)
    for pair in delta.current_pairs:
        pair["first_seen"] = first_seen.get(pair["pair_id"])
