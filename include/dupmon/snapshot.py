"""Snapshot: the depersonalised pairs of each monitoring date, as a Parquet dataset.

Layout: ``snapshots/monitoring_date=YYYY-MM-DD/pairs.parquet`` (Hive-style
partitions). A rerun replaces a date's file with one atomic rename, so a
reader sees the old snapshot or the new one, never half of one. A replaced
snapshot whose content differs is kept under ``snapshots/_replaced/``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dupmon.normalise import PAIRS_SCHEMA

log = logging.getLogger(__name__)

_PARTITION = re.compile(r"^monitoring_date=(\d{4}-\d{2}-\d{2})$")
FILE_NAME = "pairs.parquet"


def partition_dir(snapshots_dir: Path, monitoring_date: dt.date) -> Path:
    return snapshots_dir / f"monitoring_date={monitoring_date.isoformat()}"


def content_hash(table: pa.Table) -> str:
    """Return a digest of the pairs that ignores row order."""
    rows = sorted(json.dumps(row, default=str, sort_keys=True) for row in table.to_pylist())
    return hashlib.sha256("\n".join(rows).encode("utf-8")).hexdigest()


def write_snapshot(
    snapshots_dir: Path, monitoring_date: dt.date, pairs: pd.DataFrame, metadata: dict
) -> Path:
    """Write the pairs of a date, replacing an earlier snapshot of that date atomically."""
    table = pa.Table.from_pandas(pairs, schema=PAIRS_SCHEMA, preserve_index=False)
    digest = content_hash(table)
    file_metadata = {
        b"dupmon": json.dumps(
            {**metadata, "monitoring_date": monitoring_date.isoformat(), "content_hash": digest},
            ensure_ascii=False,
            default=str,
        ).encode("utf-8")
    }
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **file_metadata})

    folder = partition_dir(snapshots_dir, monitoring_date)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / FILE_NAME
    previous = read_metadata(target) if target.exists() else None
    if previous and previous.get("content_hash") != digest:
        _keep_replaced(snapshots_dir, monitoring_date, target)

    # The temporary name starts with a dot, so dataset readers skip it.
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".pairs.", suffix=".tmp")
    os.close(descriptor)
    try:
        pq.write_table(table, temporary)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    log.info(
        "Wrote snapshot %s: %d pairs%s",
        target,
        table.num_rows,
        "" if previous is None else (" (unchanged)" if previous.get("content_hash") == digest
                                     else " (replaced the earlier one)"),
    )
    return target


def _keep_replaced(snapshots_dir: Path, monitoring_date: dt.date, target: Path) -> None:
    archive = snapshots_dir / "_replaced" / f"monitoring_date={monitoring_date.isoformat()}"
    archive.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    kept = archive / f"pairs-{stamp}.parquet"
    shutil.copy2(target, kept)
    log.info("Kept the replaced snapshot of %s as %s", monitoring_date.isoformat(), kept)


def read_metadata(path: Path) -> dict:
    raw = pq.read_schema(path).metadata or {}
    return json.loads(raw.get(b"dupmon", b"{}"))


def list_snapshot_dates(snapshots_dir: Path) -> list[dt.date]:
    if not snapshots_dir.is_dir():
        return []
    dates = []
    for child in snapshots_dir.iterdir():
        match = _PARTITION.match(child.name)
        if match and (child / FILE_NAME).exists():
            dates.append(dt.date.fromisoformat(match.group(1)))
    return sorted(dates)


def read_snapshot(snapshots_dir: Path, monitoring_date: dt.date) -> pd.DataFrame:
    path = partition_dir(snapshots_dir, monitoring_date) / FILE_NAME
    if not path.exists():
        raise FileNotFoundError(
            f"no snapshot for {monitoring_date.isoformat()} ({path} is missing); "
            "run the monitoring for that date first"
        )
    return pq.read_table(path, schema=PAIRS_SCHEMA).to_pandas(
        types_mapper=lambda t: pd.StringDtype() if pa.types.is_string(t) else None
    )


# A quarterly справка compares with the previous quarter's monitoring, not
# with a monthly one in between. 80 days rather than 90 leave a week or so
# of slack in the dates.
QUARTER_MIN_DAYS = 80


def choose_baseline(
    dates: list[dt.date],
    monitoring_date: dt.date,
    requested: dt.date | None = None,
    rule: str = "latest",
) -> dt.date | None:
    """Return the baseline date: ``requested``, else by ``rule``.

    ``latest``: the latest snapshot before the date. ``quarter``: the latest
    snapshot at least QUARTER_MIN_DAYS days before it, else the latest one
    before it. Raises ValueError for a requested baseline that is not
    stored or is not earlier than the monitoring date.
    """
    if requested is not None:
        if requested >= monitoring_date:
            raise ValueError(
                f"the baseline {requested.isoformat()} is not earlier than the monitoring date "
                f"{monitoring_date.isoformat()}"
            )
        if requested not in dates:
            stored = ", ".join(d.isoformat() for d in dates) or "none"
            raise ValueError(
                f"no snapshot for the baseline {requested.isoformat()}; stored dates: {stored}"
            )
        return requested
    earlier = [d for d in dates if d < monitoring_date]
    if rule == "quarter":
        quarter_back = [d for d in earlier if (monitoring_date - d).days >= QUARTER_MIN_DAYS]
        if quarter_back:
            return quarter_back[-1]
    elif rule != "latest":
        raise ValueError(f"unknown baseline rule {rule!r}; use 'latest' or 'quarter'")
    return earlier[-1] if earlier else None
