"""Snapshot: the depersonalised pairs of each monitoring date, as a Parquet dataset.

Layout: ``snapshots/monitoring_date=YYYY-MM-DD/pairs.parquet`` (Hive-style
partitions). A rerun replaces a date's file with one atomic rename, so a
reader sees the old snapshot or the new one, never half of one. A replaced
snapshot whose content differs is kept under ``snapshots/_replaced/``.
"""

from __future__ import annotations

import datetime as dt
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

from dupmon.normalise import DICTIONARY_COLUMNS, PAIRS_SCHEMA, to_arrow

log = logging.getLogger(__name__)

_PARTITION = re.compile(r"^monitoring_date=(\d{4}-\d{2}-\d{2})$")
FILE_NAME = "pairs.parquet"


def partition_dir(snapshots_dir: Path, monitoring_date: dt.date) -> Path:
    return snapshots_dir / f"monitoring_date={monitoring_date.isoformat()}"


def same_pairs(first: pa.Table, second: pa.Table) -> bool:
    """Tell whether two tables hold the same pairs, in any row order."""
    names = set(PAIRS_SCHEMA.names)
    if not (names <= set(first.column_names) and names <= set(second.column_names)):
        return False
    first = first.select(PAIRS_SCHEMA.names).cast(PAIRS_SCHEMA).replace_schema_metadata(None)
    second = second.select(PAIRS_SCHEMA.names).cast(PAIRS_SCHEMA).replace_schema_metadata(None)
    if first.num_rows != second.num_rows:
        return False
    if first.equals(second):
        return True
    sort_keys = [(name, "ascending") for name in PAIRS_SCHEMA.names]
    return first.sort_by(sort_keys).equals(second.sort_by(sort_keys))


# Compression of each column of a snapshot. The pair keys are hex digits of
# keyed hashes, which Snappy shrank by 3.5 % at a million pairs, while it
# took compressing and decompressing 68 MB. Without it, writing the column
# went from 0.10 to 0.02 s and reading it from 0.05 to 0.02 s (warm, on the
# benchmark machine). The other columns stay Snappy, pyarrow's default.
_COMPRESSION = {name: "none" if name == "pair_key" else "snappy" for name in PAIRS_SCHEMA.names}


def write_snapshot(
    snapshots_dir: Path, monitoring_date: dt.date, pairs: pd.DataFrame | pa.Table, metadata: dict
) -> Path:
    """Write the pairs of a date, replacing an earlier snapshot of that date atomically."""
    if isinstance(pairs, pa.Table):
        table = _snapshot_columns(pairs)
    else:
        table = to_arrow(pairs, PAIRS_SCHEMA)
    file_metadata = {
        b"dupmon": json.dumps(
            {**metadata, "monitoring_date": monitoring_date.isoformat()},
            ensure_ascii=False,
            default=str,
        ).encode("utf-8")
    }

    folder = partition_dir(snapshots_dir, monitoring_date)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / FILE_NAME
    # Comparing is only needed on a rerun, so a first run pays nothing for it.
    replaced = target.exists()
    unchanged = replaced and same_pairs(pq.read_table(target), table)
    if replaced and not unchanged:
        _keep_replaced(snapshots_dir, monitoring_date, target)

    # The temporary name starts with a dot, so dataset readers skip it.
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".pairs.", suffix=".tmp")
    os.close(descriptor)
    try:
        # Without the Arrow schema in the file, a dictionary column reads
        # back as plain strings, as in files written from plain columns.
        with pq.ParquetWriter(
            temporary,
            table.schema,
            use_dictionary=DICTIONARY_COLUMNS,
            compression=_COMPRESSION,
            store_schema=False,
        ) as writer:
            writer.write_table(table)
            writer.add_key_value_metadata(file_metadata)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    outcome = ""
    if replaced:
        outcome = " (unchanged)" if unchanged else " (replaced the earlier one)"
    log.info("Wrote snapshot %s: %d pairs%s", target, table.num_rows, outcome)
    return target


def _snapshot_columns(pairs: pa.Table) -> pa.Table:
    """Return the columns of PAIRS_SCHEMA, with those of DICTIONARY_COLUMNS left as dictionaries.

    Parquet stores those columns as dictionaries anyway. Decoding them first
    took about 0.6 s and 300 MiB for a million pairs on the benchmark
    machine, and writing the dictionaries as they are takes neither.
    """
    columns = []
    for field in PAIRS_SCHEMA:
        column = pairs[field.name]
        if (
            field.name in DICTIONARY_COLUMNS
            and pa.types.is_dictionary(column.type)
            and not _null_in_dictionary(column)
        ):
            column = column.cast(pa.dictionary(column.type.index_type, field.type))
        else:
            column = column.cast(field.type)
        columns.append(column)
    return pa.table(columns, names=PAIRS_SCHEMA.names)


def _null_in_dictionary(column: pa.ChunkedArray) -> bool:
    # pyarrow 26 cannot write a dictionary that contains a null to Parquet,
    # so such a column is decoded first.
    return any(chunk.dictionary.null_count for chunk in column.chunks)


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


def read_snapshot_table(
    snapshots_dir: Path,
    monitoring_date: dt.date,
    columns: list[str] | None = None,
    dictionaries: bool = False,
) -> pa.Table:
    """Read the pairs of a date as an Arrow table, only ``columns`` if given.

    With ``dictionaries``, the text columns other than ``pair_key`` are read
    as Arrow dictionaries, which is several times faster than decoding them.
    """
    path = partition_dir(snapshots_dir, monitoring_date) / FILE_NAME
    if not path.exists():
        raise FileNotFoundError(
            f"no snapshot for {monitoring_date.isoformat()} ({path} is missing); "
            "run the monitoring for that date first"
        )
    names = list(columns) if columns is not None else PAIRS_SCHEMA.names
    # A mapped file spares a copy of the compressed pages in fresh memory.
    # Reading the keys of two snapshots of a million pairs took 0.48 s
    # mapped and 0.61 to 0.77 s not, each after a 5 s pause, on the
    # benchmark machine. A snapshot is replaced by a rename, never rewritten
    # in place, so a mapped file does not change under the reader.
    if dictionaries:
        encoded = [name for name in names if name in DICTIONARY_COLUMNS]
        return pq.read_table(
            path, columns=names, read_dictionary=encoded, memory_map=True
        ).select(names)
    schema = pa.schema([PAIRS_SCHEMA.field(name) for name in names])
    table = pq.read_table(path, columns=names, schema=PAIRS_SCHEMA, memory_map=True)
    return table.select(names).cast(schema)


def read_snapshot(
    snapshots_dir: Path, monitoring_date: dt.date, columns: list[str] | None = None
) -> pd.DataFrame:
    """Read the pairs of a date: strings as pandas strings, dates as ``datetime.date``."""
    table = read_snapshot_table(snapshots_dir, monitoring_date, columns)
    return table.to_pandas(
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
