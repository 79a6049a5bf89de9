"""The current pairs per educational organisation (ОО), with how long each has been open.

Both sides of a pair are organisations with duplicates, each attributed to
the municipality of its own side: a school under the regional ministry goes
to the row of organisations that belong to no municipality. An organisation
on both sides of one pair (two classes of one school) counts that pair once.
Days open = monitoring date − first-seen date (``dupmon.trend``).
"""

from __future__ import annotations

import datetime as dt

from dupmon.directory import Directory
from dupmon.normalise import REGIONAL
from dupmon.text import match_key


def organisation_rows(
    pairs: list[dict], directory: Directory, monitoring_date: dt.date
) -> list[dict]:
    """Group the current pairs of Appendix 2 by organisation.

    Returns one dict per organisation: ``municipality_id``,
    ``municipality`` and ``short`` (empty when the side's municipality is
    unknown), ``organisation`` as first printed, ``pairs`` (``number``,
    ``pair_id``, ``first_seen`` as ISO or None, ``days`` or None) and
    ``max_days``. Rows are in directory order, the regional row and unknown
    municipalities last, then the longest-open first.
    """
    groups: dict[tuple[str, str], dict] = {}
    numbers: dict[tuple[str, str], set] = {}
    keys = _MatchKeys()
    for pair in pairs:
        entry = _pair_entry(pair, monitoring_date)
        for organisation, municipality_id in _sides(pair):
            key = (municipality_id, keys[organisation])
            group = groups.get(key)
            if group is None:
                group = {
                    **_municipality(directory, municipality_id),
                    "organisation": organisation,
                    "pairs": [],
                }
                groups[key] = group
                numbers[key] = set()
            if entry["number"] not in numbers[key]:
                numbers[key].add(entry["number"])
                group["pairs"].append(entry)

    order = {m.id: m.order for m in directory.municipalities}
    rows = list(groups.values())
    for row in rows:
        known = [p["days"] for p in row["pairs"] if p["days"] is not None]
        row["max_days"] = max(known) if known else None
        row["count"] = len(row["pairs"])
    rows.sort(
        key=lambda row: (
            order.get(row["municipality_id"], len(order) + (row["municipality_id"] != REGIONAL)),
            -(row["max_days"] if row["max_days"] is not None else -1),
            keys[row["organisation"]],
        )
    )
    return rows


class _MatchKeys(dict):
    """match_key of each organisation name, computed once per name, because a region has
    far fewer schools than pairs."""

    def __missing__(self, name: str) -> str:
        key = self[name] = match_key(name)
        return key


def _pair_entry(pair: dict, monitoring_date: dt.date) -> dict:
    first_seen = pair.get("first_seen")
    days = None
    if first_seen:
        days = (monitoring_date - dt.date.fromisoformat(first_seen)).days
    return {
        "number": pair["number"],
        "pair_id": pair["pair_id"],
        "first_seen": first_seen,
        "days": days,
    }


def _sides(pair: dict) -> list[tuple[str, str]]:
    own, other = pair.get("municipality_id"), pair.get("duplicate_municipality_id")
    if own is None and other is None:
        # A pair stored before the sides' municipalities were kept: a single
        # touched municipality is both sides' one, otherwise neither is known.
        touched = pair.get("municipality_ids") or []
        own = other = touched[0] if len(touched) == 1 else ""
    return [(pair["organisation"], own or ""), (pair["duplicate_organisation"], other or "")]


def _municipality(directory: Directory, municipality_id: str) -> dict:
    if municipality_id == REGIONAL:
        name = directory.no_municipality_row
        return {"municipality_id": REGIONAL, "municipality": name, "short": name}
    if municipality_id in directory.ids:
        municipality = directory.get(municipality_id)
        return {
            "municipality_id": municipality_id,
            "municipality": municipality.name,
            "short": municipality.short,
        }
    return {"municipality_id": municipality_id, "municipality": "", "short": ""}
