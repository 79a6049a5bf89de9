"""Staging: the parsed rows of one export, with the personal columns replaced by keyed hashes.

The common row (one intersection range, dates the school system writes,
characters of ``dupmon.text_arrays.SAFE_CHARS``) is staged a column at a
time. Every other row, such as a cell listing overlaps with several
accounts or a date that does not exist, goes through ``stage_row``, the
scalar rule, and the two parts are put back in the file's order. The tests
compare both paths on the same rows.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dupmon import work_files
from dupmon.dates import IntersectionError, parse_day_first, parse_intersections
from dupmon.layout import ExportTable
from dupmon.pseudonymise import keyed_hash, keyed_hashes
from dupmon.text import clean_display, match_key
from dupmon.text_arrays import lower_array, match_key_array, scannable, string_buffers

try:
    # Compiled from _cells.c at install when a C compiler is present.
    from dupmon import _cells
except ImportError:
    _cells = None

_BRACKETS = re.compile(r"\([^()]*\)")
_WORD_WITH_LETTER = re.compile(r"\S*[^\W\d_]\S*")

# Columns of a staging table, with their Arrow types. Nothing personal is
# among them: the pupil and the accounts are keyed hashes. A row gets a
# pupil hash only when it lacks one of the two account hashes, because only
# then does its pair key fall back to the pupil (see dupmon.normalise).
STAGED_SCHEMA = pa.schema(
    [
        ("source_file", pa.string()),
        ("source_row", pa.int32()),
        ("row_number", pa.string()),
        ("authority", pa.string()),
        ("organisation", pa.string()),
        ("municipality", pa.string()),
        ("settlement", pa.string()),
        ("class_name", pa.string()),
        ("intersections", pa.string()),
        ("intersection_start", pa.date32()),
        ("intersection_end", pa.date32()),
        ("duplicate_organisation", pa.string()),
        ("duplicate_municipality", pa.string()),
        ("duplicate_settlement", pa.string()),
        ("duplicate_class_name", pa.string()),
        ("pupil_token", pa.string()),
        ("account_token", pa.string()),
        ("duplicate_account_token", pa.string()),
    ]
)
# Text columns of a staging table with few distinct values in many rows,
# stored and read as dictionaries (pandas categoricals). The row numbers and
# keyed hashes are nearly all distinct, so they stay plain text.
CATEGORICAL_COLUMNS = [
    field.name
    for field in STAGED_SCHEMA
    if pa.types.is_string(field.type)
    and not field.name.endswith("_token")
    and field.name != "row_number"
]
# Suffix of a staging table file: an Arrow IPC file, which the later steps
# map into memory instead of decoding it as they would Parquet.
STAGED_SUFFIX = ".arrow"
# Columns of the pupil's personal data, which only the pupil hash reads.
_PUPIL_COLUMNS = ("pupil_name", "birth_date")
# Columns copied from the export as they are, an empty cell becoming null.
_COPIED = (
    "row_number",
    "authority",
    "organisation",
    "municipality",
    "settlement",
    "class_name",
    "duplicate_organisation",
    "duplicate_municipality",
    "duplicate_settlement",
    "duplicate_class_name",
)


def _date_groups(n: str) -> str:
    return rf"(?P<d{n}>\d{{1,2}})\.(?P<m{n}>\d{{1,2}})\.(?P<y{n}>\d{{4}})"


# One range and at most the duplicate's account id in brackets, nothing
# else: the cells that parse_intersections reads as exactly one Intersection.
# The account starts with a character that is not a space and takes the
# spaces before the bracket, which _one_range strips. So the next character
# always decides where the text belongs, and RE2 extracts the groups faster:
# 0.09 s per 250 thousand cells on the benchmark machine, against 0.12 s
# with a lazy account followed by a space group.
_ONE_RANGE = (
    rf"^{_date_groups('1')}\s*[-‐‑‒–—]\s*{_date_groups('2')}"
    r"(?:\s*\(\s*(?P<account>[^()\s][^()]*)?\))?$"
)
# The characters of RE2's \s.
_RE2_SPACES = "\t\n\f\r "
_ONE_DATE = rf"^{_date_groups('1')}$"


def write_staged(table: pa.Table, path: Path) -> None:
    """Write a staging table as an Arrow IPC work file, readable by its owner only.

    The columns of CATEGORICAL_COLUMNS are stored as dictionaries.
    """
    columns = []
    for name in table.column_names:
        column = table[name]
        if name in CATEGORICAL_COLUMNS and not pa.types.is_dictionary(column.type):
            column = column.combine_chunks().dictionary_encode()
        columns.append(column)
    work_files.write_table(pa.table(columns, names=table.column_names), path, mode=0o600)


def read_staged(path: str | Path, columns: list[str]) -> pa.Table:
    """Read ``columns`` of a staging file (see ``dupmon.work_files.read_table``)."""
    return work_files.read_table(Path(path), "ingest").select(columns)


def stage_table(table: ExportTable, sha256: str, secret: bytes) -> pd.DataFrame:
    """Return the staging table of parsed rows as a DataFrame."""
    return stage_frame(table, sha256, secret).to_pandas()


def stage_frame(table: ExportTable, sha256: str, secret: bytes) -> pa.Table:
    """Turn parsed rows into a staging table in ``STAGED_SCHEMA``."""
    frame = table.frame
    count = frame.num_rows

    def column(name: str) -> pa.Array:
        if name not in frame.column_names:
            return pa.array([""] * count, pa.string())
        values = frame.column(name)
        # combine_chunks copies even a single chunk when it is a slice.
        values = values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()
        return pc.fill_null(values, "")

    ranges = _one_range(column("intersections"))
    # The pair key of a row with both accounts never reads the pupil, so
    # those rows' names and birth dates are left unparsed, as empty cells.
    accounts = {
        "account": lower_array(column("account_id")),
        "duplicate": lower_array(ranges["account"]),
    }
    by_accounts = pc.and_(
        pc.not_equal(accounts["account"], ""), pc.not_equal(accounts["duplicate"], "")
    )

    def used_column(name: str) -> pa.Array:
        values = column(name)
        return pc.if_else(by_accounts, "", values) if name in _PUPIL_COLUMNS else values

    birth = _day_first(used_column("birth_date"))
    fast = pc.and_(ranges["valid"], pc.invert(birth["unsure"]))
    fast_positions = np.flatnonzero(fast.to_numpy(zero_copy_only=False))
    if len(fast_positions) == count:
        return _stage_fast(frame, used_column, ranges, birth, accounts, sha256, secret)

    take = pa.array(fast_positions)
    fast_table = _stage_fast(
        frame.take(take),
        lambda name: used_column(name).take(take),
        {key: value.take(take) for key, value in ranges.items()},
        {key: value.take(take) for key, value in birth.items()},
        {key: value.take(take) for key, value in accounts.items()},
        sha256,
        secret,
    )
    slow_positions = np.flatnonzero(~fast.to_numpy(zero_copy_only=False))
    records, order = [], []
    for position, row in zip(slow_positions, frame.take(pa.array(slow_positions)).to_pylist()):
        staged = stage_row(row, sha256, secret)
        records.extend(staged)
        order.extend([position] * len(staged))
    slow_table = pa.Table.from_pylist(records, schema=STAGED_SCHEMA)
    combined = pa.concat_tables([fast_table, slow_table])
    positions = np.concatenate([fast_positions, np.array(order, dtype=np.int64)])
    return combined.take(pa.array(np.argsort(positions, kind="stable")))


def _one_range(text: pa.Array) -> dict[str, pa.Array]:
    """Parse the cells that hold exactly one range with valid dates of years 1000-9999.

    Returns five columns with a value per cell. ``valid`` is true where the
    cell is such a range. ``start`` and ``end`` are null where a date does
    not exist, ``account`` is the account in brackets or ``""``, and
    ``shown`` is the range as ``format_date`` writes it, null where the cell
    is no range. The compiled ``dupmon._cells`` reads the cells as
    ``_ONE_RANGE`` does. Without it, or for another type or nulls, RE2 runs
    the pattern.
    """
    if _cells is None or not scannable(text):
        return _one_range_by_pattern(text)
    count = len(text)
    flags, days, account_offsets, account, shown_offsets, shown = _cells.one_range(
        *string_buffers(text)
    )
    flags = np.frombuffer(flags, dtype=np.uint8)
    days = np.frombuffer(days, dtype=np.int32).reshape(count, 2)
    matched = (flags & 1).astype(bool)
    start_ok, end_ok = (flags & 2).astype(bool), (flags & 4).astype(bool)

    def dates(column: int, ok: np.ndarray) -> pa.Array:
        return pa.array(days[:, column], pa.int32(), mask=~ok).view(pa.date32())

    def text_column(offsets: bytes, data: bytes, valid: np.ndarray | None) -> pa.Array:
        bitmap = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
        nulls = 0 if valid is None else count - int(np.count_nonzero(valid))
        large = pa.LargeStringArray.from_buffers(
            count, pa.py_buffer(offsets), pa.py_buffer(data), bitmap, nulls
        )
        return large.cast(pa.string())

    return {
        "valid": pa.array(matched & start_ok & end_ok),
        "start": dates(0, start_ok),
        "end": dates(1, end_ok),
        "account": text_column(account_offsets, account, None),
        "shown": text_column(shown_offsets, shown, matched),
    }


def _one_range_by_pattern(text: pa.Array) -> dict[str, pa.Array]:
    """``_one_range`` with RE2 running ``_ONE_RANGE``."""
    parts = pc.extract_regex(text, _ONE_RANGE)
    start, start_ok = _to_dates(parts, "1")
    end, end_ok = _to_dates(parts, "2")
    valid = pc.and_(pc.and_(start_ok, end_ok), pc.is_valid(parts))
    account = pc.utf8_rtrim(pc.fill_null(pc.struct_field(parts, "account"), ""), _RE2_SPACES)
    shown = pc.binary_join_element_wise(_day_first_text(parts, "1"), _day_first_text(parts, "2"), " - ")
    return {"valid": valid, "start": start, "end": end, "account": account, "shown": shown}


def _to_dates(parts: pa.Array, n: str) -> tuple[pa.Array, pa.Array]:
    """Return the dates of the ``n``-th date fields, and whether each is a real date."""
    day = _integers(pc.struct_field(parts, f"d{n}"))
    month = _integers(pc.struct_field(parts, f"m{n}"))
    year = _integers(pc.struct_field(parts, f"y{n}"))
    ok = (month >= 1) & (month <= 12) & (year >= 1000) & (day >= 1)
    months = np.where(ok, (year - 1970) * 12 + (month - 1), 0).astype("datetime64[M]")
    first = months.astype("datetime64[D]")
    length = ((months + 1).astype("datetime64[D]") - first).astype(np.int64)
    ok &= day <= length
    days = np.where(ok, first + (day - 1), np.datetime64("1970-01-01"))
    return pa.array(days.astype("datetime64[D]"), pa.date32(), mask=~ok), pa.array(ok)


def _integers(values: pa.Array) -> np.ndarray:
    return pc.cast(pc.fill_null(values, "0"), pa.int64()).to_numpy(zero_copy_only=False)


def _day_first(text: pa.Array) -> dict[str, pa.Array]:
    """Parse birth dates; ``unsure`` marks cells the scalar parser may read differently.

    An empty cell has no date and is sure. Rows with both accounts have
    their birth dates emptied (stage_frame), often every row of an export,
    and RE2 took 9 ms on the 250 thousand empty cells of such a file. So
    only the filled cells of a column without nulls are parsed.
    """
    count = len(text)
    if text.null_count:
        return _day_first_of(text)
    filled = np.flatnonzero(pc.not_equal(text, "").to_numpy(zero_copy_only=False))
    if len(filled) == count:
        return _day_first_of(text)
    days = np.zeros(count, dtype=np.int32)
    known = np.zeros(count, dtype=bool)
    unsure = np.zeros(count, dtype=bool)
    if len(filled):
        parsed = _day_first_of(text.take(pa.array(filled)))
        date = parsed["date"]
        known[filled] = date.is_valid().to_numpy(zero_copy_only=False)
        days[filled] = pc.fill_null(date.cast(pa.int32()), 0).to_numpy(zero_copy_only=False)
        unsure[filled] = parsed["unsure"].to_numpy(zero_copy_only=False)
    return {
        "date": pa.array(days, pa.int32(), mask=~known).view(pa.date32()),
        "unsure": pa.array(unsure),
    }


def _day_first_of(text: pa.Array) -> dict[str, pa.Array]:
    """Parse the birth date of every cell, filled or not, as ``_day_first`` does."""
    parts = pc.extract_regex(text, _ONE_DATE)
    date, ok = _to_dates(parts, "1")
    # Python's \d also takes digits of other scripts, and a year below 1000
    # prints with fewer digits; both are left to the scalar parser.
    other_digits = pc.invert(pc.string_is_ascii(text))
    matched = pc.is_valid(parts)
    unsure = pc.or_(
        pc.and_(pc.invert(matched), other_digits),
        pc.and_(matched, pc.invert(ok)),
    )
    return {"date": date, "unsure": unsure}


def _stage_fast(frame, column, ranges, birth, accounts, sha256: str, secret: bytes) -> pa.Table:
    count = frame.num_rows
    iso_birth = pc.fill_null(pc.cast(birth["date"], pa.string()), "")
    name_key = match_key_array(column("pupil_name"))
    start, end = ranges["start"], ranges["end"]
    columns = {
        "source_file": pa.array([sha256] * count, pa.string()),
        "source_row": pc.cast(frame.column("source_row"), pa.int32()).combine_chunks(),
    }
    for name in _COPIED:
        columns[name] = _empty_as_null(column(name))
    columns["intersections"] = ranges["shown"]
    columns["intersection_start"] = start
    columns["intersection_end"] = end
    account = keyed_hashes(secret, "account", accounts["account"])
    duplicate = keyed_hashes(secret, "account", accounts["duplicate"])
    # The caller empties the names of rows with both accounts, and an empty
    # name is hashed to null, so only the other rows get a pupil hash.
    columns["pupil_token"] = keyed_hashes(secret, "pupil", name_key, iso_birth)
    columns["account_token"] = account
    columns["duplicate_account_token"] = duplicate
    return pa.table([columns[field.name] for field in STAGED_SCHEMA], schema=STAGED_SCHEMA)


def _empty_as_null(values: pa.Array) -> pa.Array:
    """Return the text with its empty cells as nulls.

    The cells keep their bytes: only a validity bitmap is added, where
    if_else copied the text of every cell (9 ms for the 8 columns of a file
    of 250 thousand rows).
    """
    if values.null_count or not pa.types.is_string(values.type):
        return pc.if_else(pc.equal(values, ""), None, values)
    filled = pc.not_equal(values, "").to_numpy(zero_copy_only=False)
    empty = len(values) - int(np.count_nonzero(filled))
    if not empty:
        return values
    # The bitmap starts where the buffers do, before the array's offset.
    bits = np.zeros(values.offset + len(values), dtype=bool)
    bits[values.offset :] = filled
    bitmap = pa.py_buffer(np.packbits(bits, bitorder="little"))
    _, offsets, data = values.buffers()
    return pa.StringArray.from_buffers(len(values), offsets, data, bitmap, empty, values.offset)


def _day_first_text(parts: pa.Array, n: str) -> pa.Array:
    """Format the ``n``-th date fields as ``format_date`` does: ``02.09.2024``."""
    day = pc.utf8_lpad(pc.struct_field(parts, f"d{n}"), 2, "0")
    month = pc.utf8_lpad(pc.struct_field(parts, f"m{n}"), 2, "0")
    return pc.binary_join_element_wise(day, month, pc.struct_field(parts, f"y{n}"), ".")


def safe_intersection_text(text: str) -> str | None:
    """Return an unparsable intersection cell without anything that may be an
    account id (personal data): text in brackets and every word with a letter."""
    if not clean_display(text):
        return None
    without_brackets = _BRACKETS.sub(" ", text)
    # An ellipsis keeps a cell that had only words apart from an empty one.
    return clean_display(_WORD_WITH_LETTER.sub(" ", without_brackets)) or "…"


def _token(secret: bytes, kind: str, *values: str) -> str | None:
    if not all(values):
        return None
    return keyed_hash(secret, kind, *values)


def stage_row(row: dict, sha256: str, secret: bytes) -> list[dict]:
    """Stage one parsed row: the scalar rule, one staged row per overlapping account."""
    text = row.get("intersections", "") or ""
    try:
        ranges = parse_intersections(text)
    except IntersectionError:
        ranges = []

    birth = parse_day_first(row.get("birth_date", "") or "")
    pupil = _token(
        secret, "pupil", match_key(row.get("pupil_name", "")), birth.isoformat() if birth else ""
    )
    account = _token(secret, "account", clean_display(row.get("account_id", "")).lower())
    base = {
        "source_file": sha256,
        "source_row": int(row["source_row"]),
        **{name: row.get(name) or None for name in _COPIED},
        "pupil_token": pupil,
        "account_token": account,
    }
    if not ranges:
        shown = safe_intersection_text(text)
        return [{**base, "intersections": shown, "intersection_start": None, "intersection_end": None,
                 "duplicate_account_token": None}]

    # One cell may list overlaps with several accounts: each is its own pair.
    by_account: dict[str | None, list] = {}
    for item in ranges:
        by_account.setdefault(item.account_id, []).append(item)
    staged = []
    for account_id, items in by_account.items():
        duplicate = _token(secret, "account", clean_display(account_id or "").lower())
        staged.append(
            {
                **base,
                "intersections": "; ".join(item.display() for item in items),
                "intersection_start": min(item.start for item in items),
                "intersection_end": max(item.end for item in items),
                "duplicate_account_token": duplicate,
                # The pair key of a row with both accounts never reads the pupil hash.
                "pupil_token": None if account and duplicate else pupil,
            }
        )
    return staged
