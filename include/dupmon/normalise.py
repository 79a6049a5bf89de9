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
  the HMAC of the two account hashes, sorted, so rows A-B and B-A are one.
* ``pupil``: the pupil's name and birth date are known but an id is not.
  The key is the HMAC of the pupil hash and the two schools, sorted.
* ``organisations``: the export carries no personal data (the two-row
  layout). The key is the HMAC of the two sides' (school, settlement,
  class), sorted, and the first day of the intersection. Two pupils of the
  same two classes whose overlaps start on the same day get one key and
  count as one pair, and a pair whose class changes between monitoring
  dates counts as eliminated and new.
"""

from __future__ import annotations

import datetime as dt
import logging

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dupmon.directory import Directory
from dupmon.ingest import load_staged, staging_dir
from dupmon.pseudonymise import keyed_hash
from dupmon.settings import Settings
from dupmon.text import match_key

log = logging.getLogger(__name__)

REGIONAL = "regional"
UNKNOWN = "unknown"

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
    if match_key(municipality) and directory.resolve_authority(municipality).regional:
        return REGIONAL
    return (
        directory.resolve_municipality(municipality)
        or directory.resolve_settlement(settlement)
        or directory.find_root(organisation)
        or UNKNOWN
    )


def _map_unique(frame: pd.DataFrame, columns: list[str], function) -> pd.Series:
    """Apply ``function`` once per distinct combination of ``columns``."""
    keys = frame[columns].astype(object).where(frame[columns].notna(), None)
    codes, uniques = pd.factorize(pd.MultiIndex.from_frame(keys))
    results = [function(*key) for key in uniques]
    return pd.Series(pd.array(results, dtype="string")[codes], index=frame.index)


def resolve_municipalities(frame: pd.DataFrame, directory: Directory) -> pd.DataFrame:
    """Add ``municipality_id`` and ``duplicate_municipality_id`` to a staging table.

    Each is a directory id, ``regional`` for a school of the regional
    ministry, or ``unknown``. Also adds ``settlement_known`` and
    ``duplicate_settlement_known``: False where a settlement is given but
    is not one of that municipality's.
    """
    frame = frame.copy()
    for column in ("authority", "municipality", "duplicate_municipality"):
        if column not in frame:
            frame[column] = None
    frame["municipality_id"] = _map_unique(
        frame,
        ["authority", "municipality", "settlement", "organisation"],
        lambda *values: _resolve_pupil_side(directory, *values),
    )
    frame["duplicate_municipality_id"] = _map_unique(
        frame,
        ["duplicate_municipality", "duplicate_settlement", "duplicate_organisation"],
        lambda *values: _resolve_duplicate_side(directory, *values),
    )
    # The duplicate's side has no «Управление», so a school of the regional
    # ministry there would be placed by its settlement. Such a school is
    # known as regional wherever the export prints it on the pupil's side.
    regional_schools = set(
        frame.loc[frame["municipality_id"] == REGIONAL, "organisation"].dropna().map(match_key)
    )
    if regional_schools:
        is_regional = frame["duplicate_organisation"].map(
            lambda name: isinstance(name, str) and match_key(name) in regional_schools
        )
        frame.loc[is_regional.astype(bool), "duplicate_municipality_id"] = REGIONAL
    for prefix in ("", "duplicate_"):
        frame[f"{prefix}settlement_known"] = _map_unique(
            frame,
            [f"{prefix}settlement", f"{prefix}municipality_id"],
            lambda settlement, municipality: _settlement_status(directory, settlement, municipality),
        )
    return frame


def _settlement_status(directory: Directory, settlement, municipality_id) -> str:
    if not match_key(settlement) or municipality_id in (REGIONAL, UNKNOWN):
        return "not checked"
    return "known" if directory.is_known_settlement(settlement, municipality_id) else "unknown"


def _side_keys(frame: pd.DataFrame, prefix: str) -> pd.Series:
    parts = [
        _map_unique(frame, [f"{prefix}{c}"], match_key)
        for c in ("organisation", "settlement", "class_name")
    ]
    return parts[0].str.cat(parts[1:], sep="\x1e")


def _sorted_pair(first: pd.Series, second: pd.Series) -> tuple[pd.Series, pd.Series]:
    first, second = first.fillna(""), second.fillna("")
    swap = first > second
    return first.where(~swap, second), second.where(~swap, first)


def pair_keys(frame: pd.DataFrame, secret: bytes) -> tuple[pd.Series, pd.Series]:
    """Return the pair key and its basis for every row of a resolved staging table."""
    account, duplicate = frame["account_token"], frame["duplicate_account_token"]
    by_accounts = (account.fillna("") != "") & (duplicate.fillna("") != "")
    by_pupil = ~by_accounts & (frame["pupil_token"].fillna("") != "")
    bases = pd.Series("organisations", index=frame.index, dtype="string")
    bases[by_accounts] = "accounts"
    bases[by_pupil] = "pupil"

    low, high = _sorted_pair(account, duplicate)
    school_low, school_high = _sorted_pair(
        _map_unique(frame, ["organisation"], match_key),
        _map_unique(frame, ["duplicate_organisation"], match_key),
    )
    side_low, side_high = _sorted_pair(_side_keys(frame, ""), _side_keys(frame, "duplicate_"))
    start = frame["intersection_start"].map(
        lambda day: day.isoformat() if isinstance(day, dt.date) else ""
    )

    keys = []
    columns = zip(
        bases, low, high, frame["pupil_token"].fillna(""), school_low, school_high,
        side_low, side_high, start, strict=True,
    )
    for basis, a, b, pupil, school_a, school_b, side_a, side_b, day in columns:
        if basis == "accounts":
            keys.append(keyed_hash(secret, "accounts", a, b))
        elif basis == "pupil":
            keys.append(keyed_hash(secret, "pupil", pupil, school_a, school_b))
        else:
            keys.append(keyed_hash(secret, "organisations", side_a, side_b, day))
    return pd.Series(keys, index=frame.index, dtype="string"), bases


def _classes_of_duplicates(staged: pd.DataFrame) -> pd.Series:
    """Fill the duplicate's class where the export lacks it but prints the
    duplicate's own row (the 14-column layout lists both accounts)."""
    known = staged.dropna(subset=["account_token", "class_name"])
    class_of_account = known.drop_duplicates("account_token").set_index("account_token")["class_name"]
    found = staged["duplicate_account_token"].map(class_of_account)
    return staged["duplicate_class_name"].fillna(found).astype("string")


def _merge_rows_of_pairs(resolved: pd.DataFrame) -> pd.DataFrame:
    """Keep one row per pair key: the first, with the intersections of all its rows."""
    pairs = resolved.drop_duplicates("pair_key", keep="first").set_index("pair_key")
    repeated = resolved[resolved.duplicated("pair_key", keep=False)]
    if repeated.empty:
        return pairs.reset_index()

    # Only keys printed on several rows need their intersections joined.
    distinct = repeated.drop_duplicates(["pair_key", "intersections"]).dropna(
        subset=["intersections"]
    )
    texts = distinct.groupby("pair_key", sort=False)["intersections"].agg("; ".join)
    pairs.loc[texts.index, "intersections"] = texts
    dates = repeated[["pair_key", "intersection_start", "intersection_end"]].copy()
    for column in ("intersection_start", "intersection_end"):
        dates[column] = pd.to_datetime(dates[column])
    bounds = dates.groupby("pair_key", sort=False).agg(
        intersection_start=("intersection_start", "min"),
        intersection_end=("intersection_end", "max"),
    )
    for column in ("intersection_start", "intersection_end"):
        pairs.loc[bounds.index, column] = [
            value.date() if pd.notna(value) else None for value in bounds[column]
        ]
    return pairs.reset_index()


def read_staged_frame(path: str) -> pd.DataFrame:
    return pq.read_table(path).to_pandas(types_mapper=_string_types)


def _string_types(arrow_type: pa.DataType):
    return pd.StringDtype() if pa.types.is_string(arrow_type) else None


def normalise(
    settings: Settings, monitoring_date: dt.date, directory: Directory, secret: bytes
) -> tuple[pd.DataFrame, dict]:
    """Build the depersonalised pairs of a monitoring date from its staged exports.

    Rows that denote the same pair (A-B and B-A, or the same pair in two
    files) are kept once: the first in file and row order.
    Returns the pairs and a summary for the task log.
    """
    exports = load_staged(settings, monitoring_date)
    frames = [read_staged_frame(export.staged_path) for export in exports]
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        empty = pa.Table.from_pylist([], schema=PAIRS_SCHEMA).to_pandas(types_mapper=_string_types)
        return empty, {"rows": 0, "pairs": 0, "files": len(exports)}

    staged = pd.concat(frames, ignore_index=True)
    staged["duplicate_class_name"] = _classes_of_duplicates(staged)
    resolved = resolve_municipalities(staged, directory)
    resolved["pair_key"], resolved["key_basis"] = pair_keys(resolved, secret)
    pairs = _merge_rows_of_pairs(resolved)[PAIRS_SCHEMA.names]
    summary = {
        "rows": len(staged),
        "pairs": len(pairs),
        "files": len(exports),
        "key_basis": pairs["key_basis"].value_counts().to_dict(),
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


def work_pairs_path(settings: Settings, monitoring_date: dt.date):
    return staging_dir(settings, monitoring_date).parent / "pairs.parquet"
