"""Delta: what changed between the baseline and the monitoring date.

Counting rules:

* One pair key is one duplicate. Eliminated: at the baseline, absent now.
  New: absent at the baseline, present now.
* A pair counts in the row of every municipality it touches (either side);
  the total counts each pair once. Pairs that touch no municipality (both
  schools under the regional ministry) get their own row.
* Percent eliminated = eliminated / baseline x 100, one decimal with a
  decimal comma, «—» where the baseline count is zero.
* Unresolvable (cannot be eliminated for technical reasons): current pairs
  listed in the operators' register.
* Status: ``partial`` eliminated some and has some now; ``red`` has some
  now and eliminated none; ``green`` had some and has none now; ``none``
  had none and has none. The total row has no status.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd

from dupmon.directory import Directory
from dupmon.normalise import REGIONAL, UNKNOWN

log = logging.getLogger(__name__)

TOTAL_LABEL = "ИТОГО"
NO_PERCENT = "—"
APPENDIX1_COLUMNS = (
    "municipality",
    "previous",
    "current",
    "eliminated",
    "new",
    "unresolvable",
    "percent_eliminated",
    "status",
)
APPENDIX2_COLUMNS = (
    "number",
    "authority",
    "organisation",
    "settlement",
    "class_name",
    "intersections",
    "duplicate_organisation",
    "duplicate_settlement",
    "duplicate_class_name",
    "municipalities",
    "pair_id",
    "is_new",
    "unresolvable",
)


@dataclass
class MunicipalityRow:
    """One row of Appendix 1."""

    municipality_id: str
    municipality: str
    previous: int
    current: int
    eliminated: int
    new: int
    unresolvable: int
    percent_eliminated: str
    status: str


@dataclass
class Delta:
    """Appendix 1 and Appendix 2 of one monitoring date."""

    monitoring_date: str
    baseline_date: str | None
    rows: list[MunicipalityRow]
    total: MunicipalityRow
    current_pairs: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Delta:
        return cls(
            monitoring_date=data["monitoring_date"],
            baseline_date=data["baseline_date"],
            rows=[MunicipalityRow(**row) for row in data["rows"]],
            total=MunicipalityRow(**data["total"]),
            current_pairs=data["current_pairs"],
        )

    def by_status(self, *statuses: str) -> list[MunicipalityRow]:
        return [row for row in self.rows if row.status in statuses]


def format_percent(eliminated: int, previous: int) -> str:
    """Return eliminated / previous x 100 as the memo prints it: «66,7», or «—» for 0."""
    if previous == 0:
        return NO_PERCENT
    value = (Decimal(eliminated) * 100 / Decimal(previous)).quantize(
        Decimal("0.1"), rounding=ROUND_HALF_UP
    )
    return f"{value}".replace(".", ",")


def status_of(previous: int, current: int, eliminated: int) -> str:
    if current and eliminated:
        return "partial"
    if current:
        return "red"
    if previous:
        return "green"
    return "none"


def touched(pair: dict) -> set[str]:
    """Return the municipalities a pair counts for; ``regional`` when it touches none."""
    sides = {pair["municipality_id"], pair["duplicate_municipality_id"]} - {REGIONAL, UNKNOWN, None}
    return sides or {REGIONAL}


def _records(frame: pd.DataFrame | None) -> dict[str, dict]:
    if frame is None or frame.empty:
        return {}
    return {row["pair_key"]: row for row in frame.to_dict("records")}


def compute_delta(
    monitoring_date: dt.date,
    current: pd.DataFrame,
    baseline: pd.DataFrame | None,
    baseline_date: dt.date | None,
    directory: Directory,
    unresolvable_ids: set[str] | None = None,
) -> Delta:
    """Compare the pairs of the monitoring date with those of the baseline."""
    now, before = _records(current), _records(baseline)
    register = unresolvable_ids or set()

    def counts(keys_now: set[str], keys_before: set[str]) -> tuple[int, int, int, int, int]:
        unresolvable = sum(1 for key in keys_now if pair_id(key) in register)
        return (
            len(keys_before),
            len(keys_now),
            len(keys_before - keys_now),
            len(keys_now - keys_before),
            unresolvable,
        )

    def row_for(municipality_id: str, name: str, keys_now: set[str], keys_before: set[str]):
        previous, current_count, eliminated, new, unresolvable = counts(keys_now, keys_before)
        return MunicipalityRow(
            municipality_id=municipality_id,
            municipality=name,
            previous=previous,
            current=current_count,
            eliminated=eliminated,
            new=new,
            unresolvable=unresolvable,
            percent_eliminated=format_percent(eliminated, previous),
            status=status_of(previous, current_count, eliminated),
        )

    def keys_touching(records: dict[str, dict], municipality_id: str) -> set[str]:
        return {key for key, pair in records.items() if municipality_id in touched(pair)}

    order = {m.id: m.order for m in directory.municipalities}
    rows = [
        row_for(m.id, m.name, keys_touching(now, m.id), keys_touching(before, m.id))
        for m in directory.municipalities
    ]
    rows.sort(key=lambda r: (-r.current, -r.previous, order[r.municipality_id]))
    regional_now, regional_before = keys_touching(now, REGIONAL), keys_touching(before, REGIONAL)
    if regional_now or regional_before:
        rows.append(row_for(REGIONAL, directory.no_municipality_row, regional_now, regional_before))

    total = row_for("", TOTAL_LABEL, set(now), set(before))
    total.status = ""
    delta = Delta(
        monitoring_date=monitoring_date.isoformat(),
        baseline_date=baseline_date.isoformat() if baseline_date else None,
        rows=rows,
        total=total,
        current_pairs=_appendix2(now, before, directory, register),
    )
    log.info(
        "Delta %s against %s: %d pairs before, %d now, %d eliminated, %d new",
        delta.monitoring_date,
        delta.baseline_date or "no baseline",
        total.previous,
        total.current,
        total.eliminated,
        total.new,
    )
    return delta


def pair_id(pair_key: str) -> str:
    """Return the short id of a pair that Appendix 2 and the register use."""
    return pair_key[:12]


def _appendix2(now: dict, before: dict, directory: Directory, register: set[str]) -> list[dict]:
    def municipality_names(pair: dict) -> str:
        names = []
        for municipality_id in sorted(touched(pair), key=lambda m: (m == REGIONAL, m)):
            if municipality_id == REGIONAL:
                names.append(directory.no_municipality_row)
            else:
                names.append(directory.get(municipality_id).name)
        return "; ".join(names)

    # Snapshot order is the order of the exports and their rows, as the memo lists them.
    listed = []
    for number, pair in enumerate(now.values(), 1):
        listed.append(
            {
                "number": number,
                "authority": _text(pair.get("authority")),
                "organisation": _text(pair.get("organisation")),
                "settlement": _text(pair.get("settlement")),
                "class_name": _text(pair.get("class_name")),
                "intersections": _text(pair.get("intersections")),
                "duplicate_organisation": _text(pair.get("duplicate_organisation")),
                "duplicate_settlement": _text(pair.get("duplicate_settlement")),
                "duplicate_class_name": _text(pair.get("duplicate_class_name")),
                "municipalities": municipality_names(pair),
                "municipality_ids": sorted(touched(pair)),
                "pair_id": pair_id(pair["pair_key"]),
                "is_new": pair["pair_key"] not in before,
                "unresolvable": pair_id(pair["pair_key"]) in register,
            }
        )
    return listed


def _text(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def appendix1_csv(delta: Delta) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(APPENDIX1_COLUMNS)
    for row in [*delta.rows, delta.total]:
        writer.writerow([getattr(row, column) for column in APPENDIX1_COLUMNS])
    return buffer.getvalue()


def appendix2_csv(delta: Delta) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(APPENDIX2_COLUMNS)
    for pair in delta.current_pairs:
        writer.writerow(
            [str(pair[c]).lower() if isinstance(pair[c], bool) else pair[c] for c in APPENDIX2_COLUMNS]
        )
    return buffer.getvalue()


def load_register(path: Path) -> dict[str, dict]:
    """Read the register of pairs that cannot be eliminated, keyed by pair id.

    The file is CSV (UTF-8) with the columns pair_id, reason, reported_by,
    letter, reported_on; a missing file is an empty register.
    """
    if not path.exists():
        return {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "pair_id" not in reader.fieldnames:
            raise ValueError(
                f"the register {path} has no pair_id column; its header must be "
                "pair_id,reason,reported_by,letter,reported_on"
            )
        return {row["pair_id"].strip(): row for row in reader if row.get("pair_id", "").strip()}
