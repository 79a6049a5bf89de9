"""Invented snapshot pairs for the trend, register and document tests.

A pair is named by a label. Its pair key is the SHA-256 of the label, so
the same label gives the same pair at every date. No pupil data is involved,
because snapshots contain organisations, classes and dates only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pandas as pd

from dupmon.delta import pair_id
from dupmon.normalise import PAIRS_SCHEMA
from dupmon.snapshot import write_snapshot

ROOT = Path(__file__).resolve().parents[2]
DIRECTORY_FILE = ROOT / "include" / "config" / "regions" / "sakhalin" / "municipalities.yaml"


def key_of(label: str) -> str:
    return hashlib.sha256(label.encode("utf-8")).hexdigest()


def id_of(label: str) -> str:
    return pair_id(key_of(label))


def make_pair(
    label: str,
    municipality_id: str = "dolinsky",
    duplicate_municipality_id: str | None = None,
    *,
    organisation: str | None = None,
    class_name: str = "7Б",
    duplicate_organisation: str | None = None,
    duplicate_class_name: str = "7А",
    start: dt.date = dt.date(2024, 10, 1),
    authority: str = "Управление образования",
) -> dict:
    """Return one snapshot record; both sides default to one municipality."""
    row = dict.fromkeys(PAIRS_SCHEMA.names)
    row.update(
        pair_key=key_of(label),
        key_basis="organisations",
        authority=authority,
        municipality_id=municipality_id,
        organisation=organisation or f"МБОУ СОШ {label}",
        settlement="Энск",
        class_name=class_name,
        intersections=f"{start:%d.%m.%Y} - {start + dt.timedelta(days=3):%d.%m.%Y}",
        intersection_start=start,
        intersection_end=start + dt.timedelta(days=3),
        duplicate_municipality_id=duplicate_municipality_id or municipality_id,
        duplicate_organisation=duplicate_organisation or f"МБОУ ООШ {label}",
        duplicate_settlement="Энск",
        duplicate_class_name=duplicate_class_name,
        source_file="invented.csv",
        source_row=1,
    )
    return row


def frame(pairs: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=PAIRS_SCHEMA.names)


def write_dates(snapshots_dir: Path, pairs_by_date: dict[dt.date, list[dict]]) -> None:
    """Write one snapshot per date."""
    for day, pairs in pairs_by_date.items():
        write_snapshot(snapshots_dir, day, frame(pairs), {"pairs": len(pairs)})
