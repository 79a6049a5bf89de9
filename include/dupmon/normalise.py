"""Normalise: canonical municipalities, attribution and the pair key of every pair.

Attribution rules:

* The pupil's side belongs to no municipality when its «Управление» is the
  regional ministry; otherwise to the municipality its «Район» names, else
  its authority, else its settlement, else a root of its school's name.
* The duplicate's side, which the export prints without an authority,
  belongs to the municipality its «Район» names, else its settlement, else
  a root of its school's name.

Pair key, by what the export holds (``key_basis``):

* ``accounts``: both account ids are known (the older 14-column layout
  puts the duplicate's id in brackets after the intersection). The key is
  the keyed hash of the two account hashes, sorted, so rows A-B and B-A
  are one.
* ``pupil``: the pupil's name and birth date are known but an id is not.
  The key is the keyed hash of the pupil hash and the two schools, sorted.
* ``organisations``: the export carries no personal data (the two-row
  layout). The key is the keyed hash of the two sides' (school,
  settlement, class), sorted, and the first day of the intersection. Two
  pupils of the same two classes whose overlaps start on the same day get
  one key and count as one pair, and a pair whose class changes between
  monitoring dates counts as eliminated and new.

The work is done a column at a time. The text columns are read as
categoricals, so a rule that needs Python (a directory lookup,
``match_key``) runs once per distinct value or combination of values, and
each distinct message is hashed once.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dupmon import work_files
from dupmon.directory import Directory
from dupmon.ingest import STAGED_SCHEMA, load_staged, staging_dir
from dupmon.lookup import first_occurrence_codes, index_in
from dupmon.pseudonymise import joined_hex_hashes
from dupmon.settings import Settings
from dupmon.staging import CATEGORICAL_COLUMNS, read_staged
from dupmon.text import match_key
from dupmon.threads import note_thread_failure

log = logging.getLogger(__name__)

REGIONAL = "regional"
UNKNOWN = "unknown"
# Threads that compute the pair keys. The hashing runs without the
# interpreter lock, so in a profile of the benchmark's million rows on 2
# cores two threads took it from 0.36 to 0.21 s.
_HASH_THREADS = 2

PAIRS_SCHEMA = pa.schema(
    [
        ("pair_key", pa.string()),
        ("key_basis", pa.string()),
        ("authority", pa.string()),
        ("municipality_id", pa.string()),
        ("organisation", pa.string()),
        ("settlement", pa.string()),
        ("class_name", pa.string()),
        ("intersections", pa.string()),
        ("intersection_start", pa.date32()),
        ("intersection_end", pa.date32()),
        ("duplicate_municipality_id", pa.string()),
        ("duplicate_organisation", pa.string()),
        ("duplicate_settlement", pa.string()),
        ("duplicate_class_name", pa.string()),
        ("source_file", pa.string()),
        ("source_row", pa.int32()),
    ]
)
# Columns the work pairs file and the snapshots keep as Parquet dictionaries.
DICTIONARY_COLUMNS = [
    field.name
    for field in PAIRS_SCHEMA
    if pa.types.is_string(field.type) and field.name != "pair_key"
]


def _resolve_pupil_side(directory: Directory, authority, municipality, settlement, organisation):
    match = directory.resolve_authority(authority)
    if match.regional:
        return REGIONAL
    return (
        directory.resolve_municipality(municipality)
        or match.municipality_id
        or directory.resolve_settlement(settlement)
        or directory.find_root(organisation)
        or UNKNOWN
    )


def _resolve_duplicate_side(directory: Directory, municipality, settlement, organisation):
    if directory.key_of(municipality) and directory.resolve_authority(municipality).regional:
        return REGIONAL
    return (
        directory.resolve_municipality(municipality)
        or directory.resolve_settlement(settlement)
        or directory.find_root(organisation)
        or UNKNOWN
    )


def value_codes(series: pd.Series) -> tuple[np.ndarray, list]:
    """Return a code per row (-1 for null) and the value of each code."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.cat.codes.to_numpy(dtype=np.intp), list(series.cat.categories)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return codes.astype(np.intp), list(uniques)


def _codes(series: pd.Series) -> tuple[np.ndarray, int]:
    """Return a code per row (-1 for null) and the number of codes, without the values."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.cat.codes.to_numpy(dtype=np.intp), len(series.cat.categories)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return codes.astype(np.intp), len(uniques)


# The largest product of column sizes combination_codes numbers without
# folding first. Folding costs a hash of every row, so it waits until the
# product would no longer fit in a signed 64-bit integer.
_MAX_COMBINED_SPAN = 2**62


def combination_codes(frame: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Number the distinct combinations of ``columns``, nulls included.

    Returns a code per row (0, 1, … in the order of first appearance) and the
    position of each code's first row.
    """
    if len(columns) == 1 and _is_arrow_text(frame[columns[0]]):
        # Such as the pair keys: a million distinct hashes, which the hash
        # table of dupmon.lookup numbers several times faster than pandas.
        return first_occurrence_codes(pa.array(frame[columns[0]].array))
    combined = np.zeros(len(frame), dtype=np.int64)
    # An upper bound of the combined codes so far.
    span = 1
    for column in columns:
        codes, count = _codes(frame[column])
        if span * (count + 1) > _MAX_COMBINED_SPAN:
            # Folded back to 0 … n-1 first, so that the product fits in 64 bits.
            combined, uniques = pd.factorize(combined)
            span = len(uniques)
        combined = combined * (count + 1) + (codes + 1)
        span *= count + 1
    combined, _ = pd.factorize(combined)
    return combined.astype(np.intp), first_rows_of(combined)


def _is_arrow_text(series: pd.Series) -> bool:
    """Tell whether a column is text that pandas keeps in an Arrow array."""
    return isinstance(series.dtype, pd.StringDtype) and series.dtype.storage == "pyarrow"


def first_rows_of(codes: np.ndarray) -> np.ndarray:
    """Return the position of each code's first row, for codes numbered by first appearance.

    Such a code first appears where it exceeds every code before it, so one
    pass finds them all, where ``np.unique(..., return_index=True)`` sorts.
    """
    if not len(codes):
        return np.zeros(0, dtype=np.intp)
    highest_before = np.empty_like(codes)
    highest_before[0] = -1
    np.maximum.accumulate(codes[:-1], out=highest_before[1:])
    return np.flatnonzero(codes > highest_before)


def categorical(codes: np.ndarray, values: list) -> pd.Categorical:
    """Return the values of ``codes`` (-1 is null) as a categorical of distinct values."""
    distinct, value_index = np.unique(np.asarray(values, dtype=object), return_inverse=True)
    codes = np.where(codes >= 0, value_index[np.maximum(codes, 0)] if len(values) else -1, -1)
    return pd.Categorical.from_codes(codes, categories=pd.Index(distinct, dtype=object))


def _map_unique(frame: pd.DataFrame, columns: list[str], function: Callable) -> pd.Series:
    """Apply ``function`` once per distinct combination of ``columns``; nulls arrive as None.

    Returns the results, which must be strings, as a categorical Series.
    """
    if frame.empty:
        return pd.Series(pd.Categorical([]), index=frame.index)
    codes, first_rows = combination_codes(frame, columns)
    firsts = frame[columns].iloc[first_rows].astype(object)
    firsts = firsts.where(firsts.notna(), None)
    results = [function(*key) for key in firsts.itertuples(index=False, name=None)]
    return pd.Series(categorical(codes, results), index=frame.index)


def _per_value(series: pd.Series, function: Callable) -> pa.Array:
    """Apply ``function`` once per distinct value (None for null); return the results as text."""
    codes, values = value_codes(series)
    results = pa.array([function(value) for value in values] + [function(None)], type=pa.string())
    return results.take(pa.array(np.where(codes >= 0, codes, len(values))))


def resolve_municipalities(
    frame: pd.DataFrame, directory: Directory, per_file: bool = False
) -> pd.DataFrame:
    """Add ``municipality_id`` and ``duplicate_municipality_id`` to a staging table.

    Each is a directory id, ``regional`` for a school of the regional
    ministry, or ``unknown``. Also adds ``settlement_known`` and
    ``duplicate_settlement_known``: ``unknown`` where a settlement is given
    but is not one of that municipality's, ``known`` where it is, and
    ``not checked`` where there is nothing to check. With ``per_file``, a
    school counts as the regional ministry's on the duplicate's side only
    in the file (``source_file``) that says so, as if each file were
    resolved alone.
    """
    frame = frame.copy()
    for column in ("authority", "municipality", "duplicate_municipality"):
        if column not in frame:
            frame[column] = pd.Series(pd.NA, index=frame.index, dtype="string")
    frame["municipality_id"] = _map_unique(
        frame,
        ["authority", "municipality", "settlement", "organisation"],
        lambda *values: _resolve_pupil_side(directory, *values),
    )
    duplicate_ids = _map_unique(
        frame,
        ["duplicate_municipality", "duplicate_settlement", "duplicate_organisation"],
        lambda *values: _resolve_duplicate_side(directory, *values),
    )
    regional = _regional_on_duplicate_side(frame, per_file)
    if regional.any():
        if REGIONAL not in duplicate_ids.cat.categories:
            duplicate_ids = duplicate_ids.cat.add_categories([REGIONAL])
        duplicate_ids[regional] = REGIONAL
    frame["duplicate_municipality_id"] = duplicate_ids
    for prefix in ("", "duplicate_"):
        frame[f"{prefix}settlement_known"] = _map_unique(
            frame,
            [f"{prefix}settlement", f"{prefix}municipality_id"],
            lambda settlement, municipality: _settlement_status(
                directory, settlement, municipality
            ),
        )
    return frame


def _regional_on_duplicate_side(frame: pd.DataFrame, per_file: bool) -> np.ndarray:
    """Tell, per row, whether the duplicate's school is one the export places under the ministry.

    The duplicate's side has no «Управление», so a school of the regional
    ministry there would be placed by its settlement. Such a school is
    known as regional wherever the export prints it on the pupil's side.
    """
    vocabulary: dict[str, int] = {}
    pupil_keys = _key_codes(frame["organisation"], vocabulary)
    duplicate_keys = _key_codes(frame["duplicate_organisation"], vocabulary)
    named_rows = (frame["municipality_id"] == REGIONAL).to_numpy(dtype=bool) & (pupil_keys >= 0)
    if not named_rows.any():
        return np.zeros(len(frame), dtype=bool)
    if per_file:
        file_codes, _ = value_codes(frame["source_file"])
        width = len(vocabulary) + 1
        pupil_keys = file_codes * width + pupil_keys
        duplicate_keys = np.where(duplicate_keys >= 0, file_codes * width + duplicate_keys, -1)
    return (duplicate_keys >= 0) & np.isin(duplicate_keys, np.unique(pupil_keys[named_rows]))


def _key_codes(series: pd.Series, vocabulary: dict[str, int]) -> np.ndarray:
    """Return per row the code of its value's match_key in ``vocabulary`` (added to as
    needed), or -1 for a null."""
    codes, values = value_codes(series)
    value_keys = np.array(
        [vocabulary.setdefault(match_key(value), len(vocabulary)) for value in values] + [-1],
        dtype=np.int64,
    )
    return value_keys[np.where(codes >= 0, codes, len(values))]


def _settlement_status(directory: Directory, settlement, municipality_id) -> str:
    if not directory.key_of(settlement) or municipality_id in (REGIONAL, UNKNOWN):
        return "not checked"
    return "known" if directory.is_known_settlement(settlement, municipality_id) else "unknown"


def _strings(series: pd.Series) -> pa.Array:
    """Return a column as one Arrow string array, nulls turned into ``""``."""
    array = pa.array(series, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if array.type != pa.string():
        array = array.cast(pa.string())
    return pc.fill_null(array, "")


def _side_keys(frame: pd.DataFrame, prefix: str) -> pa.Array:
    parts = [
        _per_value(frame[f"{prefix}{c}"], match_key)
        for c in ("organisation", "settlement", "class_name")
    ]
    return pc.binary_join_element_wise(*parts, "\x1e")


def _iso_days(series: pd.Series) -> pa.Array:
    """Return each date as YYYY-MM-DD, and ``""`` where there is none."""
    days = pa.array(series, from_pandas=True)
    if isinstance(days, pa.ChunkedArray):
        days = days.combine_chunks()
    if not pa.types.is_date32(days.type):
        days = pa.array(pd.to_datetime(series), from_pandas=True).cast(pa.date32())
    return pc.fill_null(days.cast(pa.string()), "")


def pair_keys(frame: pd.DataFrame, secret: bytes) -> tuple[pd.Series, pd.Series]:
    """Return the pair key and its basis for every row of a staging table.

    Every row is hashed, also the second row of a pair printed twice. On the
    benchmark's million rows, finding the repeated messages first took about
    as long as hashing them all (1.3 s against 1.7 s).
    """
    account, duplicate = (
        _strings(frame["account_token"]),
        _strings(frame["duplicate_account_token"]),
    )
    pupil = _strings(frame["pupil_token"])
    by_accounts = pc.and_(pc.not_equal(account, ""), pc.not_equal(duplicate, ""))
    by_pupil = pc.and_(pc.invert(by_accounts), pc.not_equal(pupil, ""))
    by_organisations = pc.invert(pc.or_(by_accounts, by_pupil))

    # Each message is what keyed_hash(secret, kind, *parts) hashes: the kind
    # and the parts joined by the unit separator. The two sides of a pair go
    # in byte order, so that a pair printed either way round gets one key.
    # Each function returns the parts and the index of the first side.
    def accounts():
        return [account, duplicate], 0

    def pupils():
        schools = [
            _per_value(frame["organisation"], match_key),
            _per_value(frame["duplicate_organisation"], match_key),
        ]
        return [pupil, *schools], 1

    def organisations():
        sides = [_side_keys(frame, ""), _side_keys(frame, "duplicate_")]
        return [*sides, _iso_days(frame["intersection_start"])], 0

    keys = pa.nulls(len(frame), pa.string())
    for kind, mask, parts in (
        ("accounts", by_accounts, accounts),
        ("pupil", by_pupil, pupils),
        ("organisations", by_organisations, organisations),
    ):
        if not pc.any(mask).as_py():
            continue
        # Usually every row has the same basis, and a filter would copy every part for nothing.
        every_row = pc.all(mask).as_py()
        columns, first_side = parts()
        chosen = columns if every_row else [column.filter(mask) for column in columns]
        hashes = joined_hex_hashes(
            secret,
            kind,
            chosen,
            ordered_pair=first_side,
            threads=max(1, min(_HASH_THREADS, os.cpu_count() or 1)),
        )
        keys = hashes if every_row else pc.replace_with_mask(keys, mask, hashes)
    bases = pc.if_else(by_accounts, "accounts", pc.if_else(by_pupil, "pupil", "organisations"))
    index = frame.index
    return (
        pd.Series(pd.array(keys, dtype="string"), index=index),
        pd.Series(pd.array(bases, dtype="string"), index=index).astype("category"),
    )


def _classes_of_duplicates(staged: pd.DataFrame) -> pd.Series:
    """Fill the duplicate's class where the export lacks it but prints the
    duplicate's own row (the 14-column layout lists both accounts)."""
    missing = (
        staged["duplicate_class_name"].isna().to_numpy()
        & staged["duplicate_account_token"].notna().to_numpy()
    )
    known = staged["account_token"].notna().to_numpy() & staged["class_name"].notna().to_numpy()
    if not missing.any() or not known.any():
        return staged["duplicate_class_name"]

    # index_in gives the first known row of each account, as keep="first" would.
    position = index_in(
        _strings(_rows(staged["duplicate_account_token"], missing)),
        _strings(_rows(staged["account_token"], known)),
    )
    class_codes, classes = value_codes(staged["class_name"])
    known_codes = class_codes[known]
    found = np.where(position >= 0, known_codes[np.maximum(position, 0)], -1)

    own_codes, own_values = value_codes(staged["duplicate_class_name"])
    codes = own_codes.copy()
    codes[missing] = np.where(found >= 0, found + len(own_values), -1)
    return pd.Series(categorical(codes, [*own_values, *classes]), index=staged.index)


def _rows(series: pd.Series, mask: np.ndarray) -> pd.Series:
    # Selecting every row would copy a million keyed hashes for nothing.
    return series if mask.all() else series[mask]


def _merge_rows_of_pairs(resolved: pd.DataFrame) -> pd.DataFrame:
    """Keep one row per pair key: the first, with the intersections of all its rows.

    The intersections of a key printed on several rows are its distinct
    texts joined by «; » in row order. Its dates are the earliest start and
    the latest end.
    """
    codes, first_rows = combination_codes(resolved, ["pair_key"])
    pairs = resolved.iloc[first_rows].reset_index(drop=True)
    counts = np.bincount(codes)
    if (counts == 1).all():
        return pairs

    # Only keys printed on several rows need their intersections merged.
    # Code i is the pair in row i of ``pairs``.
    repeated_rows = counts[codes] > 1
    repeated = resolved.loc[
        repeated_rows, ["intersections", "intersection_start", "intersection_end"]
    ]
    repeated = repeated.assign(code=codes[repeated_rows])

    texts = repeated.dropna(subset=["intersections"]).drop_duplicates(["code", "intersections"])
    several = texts["code"].duplicated(keep=False)
    if several.any():
        joined = texts[several].astype({"intersections": object})
        joined = joined.groupby("code", sort=False)["intersections"].agg("; ".join)
        intersections = pairs["intersections"].astype(object)
        intersections.iloc[joined.index.to_numpy()] = joined.to_numpy()
        pairs["intersections"] = intersections

    bounds = repeated.groupby("code", sort=True).agg(
        intersection_start=("intersection_start", "min"),
        intersection_end=("intersection_end", "max"),
    )
    for name in ("intersection_start", "intersection_end"):
        column = pairs[name].copy()
        column.iloc[bounds.index.to_numpy()] = bounds[name].to_numpy()
        pairs[name] = column
    return pairs


def read_staged_frames(paths: list[str | Path], columns: list[str] | None = None) -> pd.DataFrame:
    """Read staging tables into one frame, in order, only ``columns`` if given.

    Text columns become categoricals (see CATEGORICAL_COLUMNS), the other
    text pandas strings and the dates Arrow dates.
    """
    names = columns or STAGED_SCHEMA.names
    schema = pa.schema([STAGED_SCHEMA.field(name) for name in names])
    tables = [read_staged(path, names) for path in paths]
    if not tables:
        return read_staged_frames_of(schema.empty_table())
    return read_staged_frames_of(pa.concat_tables(tables))


def read_staged_frames_of(table: pa.Table) -> pd.DataFrame:
    """Turn a staging table in Arrow into the frame read_staged_frames returns."""
    columns = []
    for name in table.column_names:
        column = table[name]
        if name in CATEGORICAL_COLUMNS and not pa.types.is_dictionary(column.type):
            column = column.dictionary_encode()
        columns.append(column)
    table = pa.table(columns, names=table.column_names).unify_dictionaries()
    return table.to_pandas(types_mapper=_staged_types)


def _staged_types(arrow_type: pa.DataType):
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pd.StringDtype()
    if pa.types.is_date32(arrow_type):
        return pd.ArrowDtype(arrow_type)
    return None


def normalise(
    settings: Settings, monitoring_date: dt.date, directory: Directory, secret: bytes
) -> tuple[pd.DataFrame, dict]:
    """Build the depersonalised pairs of a monitoring date from its staged exports.

    Rows that denote the same pair (A-B and B-A, or the same pair in two
    files) are kept once: the first in file and row order.
    Returns the pairs (columns of PAIRS_SCHEMA) and a summary for the task log.
    """
    exports = load_staged(settings, monitoring_date)
    columns = [name for name in STAGED_SCHEMA.names if name != "row_number"]
    staged = read_staged_frames([export.staged_path for export in exports], columns)
    if staged.empty:
        empty = PAIRS_SCHEMA.empty_table().to_pandas(types_mapper=_staged_types)
        return empty, {"rows": 0, "pairs": 0, "files": len(exports)}

    # Resolving reads no class and the keys no municipality. The lookup and
    # the hashing release the GIL, so class and keys are made on a thread.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dupmon-keys") as pool:
        keyed = pool.submit(_classes_and_keys, staged, secret)
        try:
            resolved = resolve_municipalities(staged, directory)
        except BaseException as error:
            note_thread_failure(error, keyed, "The classes and pair keys")
            raise
        classes, (resolved["pair_key"], resolved["key_basis"]) = keyed.result()
    resolved["duplicate_class_name"] = classes
    pairs = _merge_rows_of_pairs(resolved[PAIRS_SCHEMA.names])
    summary = {
        "rows": len(staged),
        "pairs": len(pairs),
        "files": len(exports),
        "key_basis": {
            str(basis): int(count)
            for basis, count in pairs["key_basis"].value_counts(sort=True).items()
            if count
        },
    }
    log.info(
        "Normalised %s: %d rows of %d files give %d pairs (%s)",
        monitoring_date.isoformat(),
        summary["rows"],
        summary["files"],
        summary["pairs"],
        summary["key_basis"],
    )
    return pairs, summary


def _classes_and_keys(
    staged: pd.DataFrame, secret: bytes
) -> tuple[pd.Series, tuple[pd.Series, pd.Series]]:
    """Return the duplicate's class of every row, then the pair keys, which read it."""
    classes = _classes_of_duplicates(staged)
    return classes, pair_keys(staged.assign(duplicate_class_name=classes), secret)


def to_arrow(frame: pd.DataFrame, schema: pa.Schema, dictionaries: bool = False) -> pa.Table:
    """Convert a frame to an Arrow table of ``schema``.

    With ``dictionaries``, the columns of DICTIONARY_COLUMNS stay Arrow
    dictionaries of text, which is cheaper to write and read than the text.
    pyarrow 26's from_pandas turned a categorical of a million rows into text
    in 0.2 to 0.5 s on the benchmark machine, decoding its Arrow dictionary in
    about 0.01 s.
    """
    columns, fields = [], []
    for field in schema:
        array = pa.array(frame[field.name], from_pandas=True)
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        if dictionaries and field.name in DICTIONARY_COLUMNS:
            array = _text_dictionary(array)
            field = field.with_type(array.type)
        elif pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        columns.append(array.cast(field.type))
        fields.append(field)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _text_dictionary(array: pa.Array) -> pa.DictionaryArray:
    if not pa.types.is_dictionary(array.type):
        array = array.cast(pa.string()).dictionary_encode()
    return pa.DictionaryArray.from_arrays(
        array.indices.cast(pa.int32()), array.dictionary.cast(pa.string())
    )


def write_pairs(pairs: pd.DataFrame | pa.Table, path: Path) -> pa.Table:
    """Write pairs to an Arrow IPC file and return them as an Arrow table.

    The file is the work copy that the snapshot step reads and stores as
    Parquet. Its columns are those of PAIRS_SCHEMA, with the columns of
    DICTIONARY_COLUMNS as dictionaries of text.
    """
    table = pairs if isinstance(pairs, pa.Table) else to_arrow(pairs, PAIRS_SCHEMA, True)
    work_files.write_table(table, path, mode=0o644)
    return table


def read_pairs(path: Path) -> pa.Table:
    """Read a work copy of pairs that write_pairs wrote, mapped into memory.

    Without it, the ``pairs.parquet`` beside it is read: the work copy that
    normalise wrote before it wrote Arrow IPC files.
    """
    earlier = path.with_name("pairs.parquet")
    if not path.exists() and earlier.exists():
        return work_files.read_table(earlier, "normalise")
    return work_files.read_table(path, "normalise")


def work_pairs_path(settings: Settings, monitoring_date: dt.date):
    return staging_dir(settings, monitoring_date).parent / "pairs.arrow"
