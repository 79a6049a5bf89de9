"""History of the school year: the pairs of every stored monitoring date since 1 September.

The справка uses it twice. The trend counts the pairs of each municipality
at each date, with the same rules as Appendix 1 (a pair counts for every
municipality it touches, the total counts it once). The first-seen date of
a current pair is the first monitoring date of the school year at which its
pair key appears, so a pair that disappeared and came back keeps its first
date. Dates before the school year are not read.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from dupmon.delta import Delta, pair_id, touched
from dupmon.directory import Directory
from dupmon.normalise import REGIONAL
from dupmon.snapshot import list_snapshot_dates, read_snapshot

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
    """The pair records of each stored monitoring date of one school year, oldest first.

    ``snapshots`` maps a date to its pairs keyed by pair key, as the delta
    reads them.
    """

    monitoring_date: dt.date
    snapshots: dict[dt.date, dict[str, dict]] = field(default_factory=dict)

    @property
    def dates(self) -> list[dt.date]:
        return list(self.snapshots)


def load_history(snapshots_dir: Path, monitoring_date: dt.date) -> History:
    """Read the snapshots of the school year of ``monitoring_date``, up to and including it."""
    start = school_year_start(monitoring_date)
    dates = [d for d in list_snapshot_dates(snapshots_dir) if start <= d <= monitoring_date]
    history = History(monitoring_date=monitoring_date)
    for day in dates:
        history.snapshots[day] = _records(read_snapshot(snapshots_dir, day))
    log.info(
        "Read %d snapshots of the school year from %s to %s",
        len(dates),
        start.isoformat(),
        monitoring_date.isoformat(),
    )
    return history


def _records(frame: pd.DataFrame) -> dict[str, dict]:
    if frame.empty:
        return {}
    return {row["pair_key"]: row for row in frame.to_dict("records")}


def compute_trend(history: History, directory: Directory) -> dict:
    """Count the pairs of every municipality at every date of the history.

    Returns a JSON-serialisable dict with ``dates`` (ISO), ``rows`` and
    ``total`` (each pair once per date). ``rows`` has ``municipality_id``,
    ``municipality`` and ``counts`` (one per date) for every municipality
    of the directory in its order. A row for the pairs with no municipal
    side follows when any date has one.
    """
    ids = [m.id for m in directory.municipalities]
    counts = {municipality_id: [] for municipality_id in [*ids, REGIONAL]}
    total = []
    for records in history.snapshots.values():
        at_date = dict.fromkeys(counts, 0)
        for pair in records.values():
            for municipality_id in touched(pair):
                if municipality_id in at_date:
                    at_date[municipality_id] += 1
        for municipality_id, count in at_date.items():
            counts[municipality_id].append(count)
        total.append(len(records))

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


def first_seen_dates(history: History) -> dict[str, str]:
    """Return the first date of the history (ISO) at which each pair id appears."""
    first_seen: dict[str, str] = {}
    for day, records in history.snapshots.items():
        for key in records:
            first_seen.setdefault(pair_id(key), day.isoformat())
    return first_seen


def attach_history(delta: Delta, history: History, directory: Directory) -> None:
    """Store the trend in ``delta.trend`` and the first-seen date in each current pair.

    A current pair missing from the history (a snapshot written after the
    history was read) gets ``first_seen`` None, which the documents print as
    unknown.
    """
    delta.trend = compute_trend(history, directory)
    first_seen = first_seen_dates(history)
    for pair in delta.current_pairs:
        pair["first_seen"] = first_seen.get(pair["pair_id"])
