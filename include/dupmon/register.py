"""The register of pairs that cannot be eliminated for technical reasons.

Operators keep it as a CSV file, ``<data root>/register/unresolvable.csv``,
one row per pair reported by a municipal authority's letter. The header
names the columns, in any order:

* ``pair_id``: the «Код дубля» of Appendix 2; or, instead of it, the pair
  as Appendix 2 shows it: ``organisation``, ``class_name``,
  ``duplicate_organisation``, ``duplicate_class_name`` and
  ``intersection_start`` (the first day of «Промежутки пересечения»);
* ``reason``: why the pair cannot be eliminated;
* ``letter``: the letter it was reported in, such as «№ 12-345 от 20.01.2025»;
* ``reported_on``: the date of the report, d.mm.yyyy or YYYY-MM-DD;
* ``reported_by``: who reported it (optional).

A row with a ``pair_id`` matches by it alone. A row without one matches
by the five description fields, compared as ``dupmon.text.match_key``
folds them, with the sides in either order. Other columns are ignored. The
file may be UTF-8 (with or without a BOM) or Windows-1251, with ``,`` or
``;`` between fields, as Russian Excel saves it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dupmon.dates import find_dates, parse_day_first
from dupmon.delta import Delta, PairListing, pair_id
from dupmon.errors import ConfigError
from dupmon.readers.textcodec import decode_text
from dupmon.text import clean_display, match_key
from dupmon.trend import History

log = logging.getLogger(__name__)

DESCRIPTION_COLUMNS = (
    "organisation",
    "class_name",
    "duplicate_organisation",
    "duplicate_class_name",
    "intersection_start",
)
# Description fields a row must fill when it has no pair_id; the classes may be empty.
REQUIRED_DESCRIPTION = ("organisation", "duplicate_organisation", "intersection_start")
REQUIRED_COLUMNS = ("reason", "letter", "reported_on")
OPTIONAL_COLUMNS = ("reported_by",)
PAIR_ID_PATTERN = re.compile(r"^[0-9a-f]{12}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Status of an entry on the monitoring date. CURRENT: its pair is among the
# current pairs. RESOLVED: the pair was seen earlier this school year and is
# gone now. NOT_FOUND: no stored pair of the school year matches the entry.
CURRENT, RESOLVED, NOT_FOUND = "current", "resolved", "not_found"


class RegisterError(ConfigError):
    """An invalid register file or row."""


@dataclass(frozen=True)
class RegisterEntry:
    """One row of the register; ``line`` is its line in the file (the header is line 1)."""

    line: int
    pair_id: str
    organisation: str
    class_name: str
    duplicate_organisation: str
    duplicate_class_name: str
    intersection_start: dt.date | None
    reason: str
    reported_by: str
    letter: str
    reported_on: dt.date

    def matches(self, pair: dict) -> bool:
        """Tell whether a snapshot record of a pair is the pair this entry names."""
        if self.pair_id:
            return pair_id(pair["pair_key"]) == self.pair_id
        if _as_date(pair.get("intersection_start")) != self.intersection_start:
            return False
        side = (
            match_key(_text(pair.get("organisation"))),
            match_key(_text(pair.get("class_name"))),
        )
        other = (
            match_key(_text(pair.get("duplicate_organisation"))),
            match_key(_text(pair.get("duplicate_class_name"))),
        )
        named = (
            (match_key(self.organisation), match_key(self.class_name)),
            (match_key(self.duplicate_organisation), match_key(self.duplicate_class_name)),
        )
        return named in ((side, other), (other, side))

    def listing(
        self, status: str, pair_ids: list[str], matched_pair: dict | None, last_seen
    ) -> dict:
        """Return the JSON-serialisable entry the documents print.

        ``matched_pair`` is the snapshot record of the matched pair. Its
        fields replace the entry's own, so that a pair named by its id is
        printed as Appendix 2 shows it.
        """
        fields = {name: getattr(self, name) for name in DESCRIPTION_COLUMNS}
        if matched_pair is not None:
            fields = {name: matched_pair.get(name) for name in DESCRIPTION_COLUMNS}
        start = _as_date(fields.pop("intersection_start"))
        return {
            "line": self.line,
            "status": status,
            "pair_ids": pair_ids,
            "numbers": [],
            **{name: _text(value) for name, value in fields.items()},
            "intersection_start": start.isoformat() if start else None,
            "reason": self.reason,
            "reported_by": self.reported_by,
            "letter": self.letter,
            "reported_on": self.reported_on.isoformat(),
            "last_seen": last_seen.isoformat() if last_seen else None,
        }


def load_register(path: Path) -> list[RegisterEntry]:
    """Read and check the register; a missing file is an empty register.

    Raises RegisterError naming the file and line of a missing column, a row
    that names no pair, a missing reason or letter, or an invalid date or
    pair id.
    """
    if not path.exists():
        return []
    try:
        text = decode_text(path.read_bytes())
    except (OSError, UnicodeDecodeError) as error:
        raise RegisterError(f"cannot read the register {path}: {error}") from error
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    _check_header(path, reader.fieldnames)

    entries = []
    for row in reader:
        values = {str(name).strip(): clean_display(value) for name, value in row.items() if name}
        if not any(values.values()):
            continue
        entries.append(_parse_row(path, reader.line_num, values))
    log.info("Read %d entries of the register %s", len(entries), path)
    return entries


def _check_header(path: Path, fieldnames) -> None:
    names = {str(name).strip() for name in fieldnames or [] if name}
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if "pair_id" not in names:
        missing += [name for name in DESCRIPTION_COLUMNS if name not in names]
    if missing:
        raise RegisterError(
            f"{path} line 1: the header lacks the column(s) {', '.join(missing)}. The header "
            "must name pair_id or organisation, class_name, duplicate_organisation, "
            "duplicate_class_name, intersection_start, and reason, letter, reported_on"
        )


def _parse_row(path: Path, line: int, values: dict[str, str]) -> RegisterEntry:
    def fail(problem: str) -> RegisterError:
        return RegisterError(f"{path} line {line}: {problem}")

    identifier = values.get("pair_id", "").lower()
    if identifier and not PAIR_ID_PATTERN.match(identifier):
        raise fail(
            f"invalid pair_id {values['pair_id']!r}; copy the 12-character «Код дубля» "
            "from Appendix 2"
        )
    if not identifier:
        empty = [name for name in REQUIRED_DESCRIPTION if not values.get(name)]
        if empty:
            raise fail(
                f"the row names no pair: pair_id is empty and so is {', '.join(empty)}; "
                "give the pair_id or the pair as Appendix 2 shows it"
            )
    for name in ("reason", "letter"):
        if not values.get(name):
            raise fail(f"{name} is empty; every registered pair needs its {name}")

    start = None
    if values.get("intersection_start"):
        start = _parse_date(values["intersection_start"], allow_range=True)
        if start is None:
            raise fail(
                f"invalid intersection_start {values['intersection_start']!r}; write the first "
                "day of «Промежутки пересечения» as d.mm.yyyy"
            )
    reported_on = _parse_date(values.get("reported_on", ""))
    if reported_on is None:
        raise fail(
            f"invalid reported_on {values.get('reported_on', '')!r}; write the date of the "
            "report as d.mm.yyyy or YYYY-MM-DD"
        )
    return RegisterEntry(
        line=line,
        pair_id=identifier,
        organisation=values.get("organisation", ""),
        class_name=values.get("class_name", ""),
        duplicate_organisation=values.get("duplicate_organisation", ""),
        duplicate_class_name=values.get("duplicate_class_name", ""),
        intersection_start=start,
        reason=values["reason"],
        reported_by=values.get("reported_by", ""),
        letter=values["letter"],
        reported_on=reported_on,
    )


def _parse_date(text: str, *, allow_range: bool = False) -> dt.date | None:
    text = text.strip()
    if _ISO_DATE.match(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            return None
    day = parse_day_first(text)
    if day is not None or not allow_range:
        return day
    # A copied «Промежутки пересечения» cell: its start is its earliest date.
    found = find_dates(text)
    return min(found) if len(found) >= 2 else None


def match_register(entries: list[RegisterEntry], history: History) -> tuple[set[str], list[dict]]:
    """Match the register against the pairs of the school year.

    Returns the ids of the current pairs the register lists, which Appendix 1
    counts as unresolvable, and one listing per entry. An entry whose pair
    is not current is ``resolved`` when an earlier date of the school year
    had it, and ``last_seen`` is that date. Otherwise the entry is
    ``not_found``, and a warning names its line.
    """
    if not entries:
        return set(), []
    finders = {day: _Finder(history, day) for day in history.dates}
    current = finders.get(history.monitoring_date)
    earlier = [finders[day] for day in reversed(history.dates) if day < history.monitoring_date]
    unresolvable: set[str] = set()
    listed = []
    for entry in entries:
        matched = current.matches(entry) if current else []
        if matched:
            ids = [pair_id(pair["pair_key"]) for pair in matched]
            unresolvable.update(ids)
            listed.append(entry.listing(CURRENT, ids, matched[0], None))
            continue
        last_seen, matched_pair = _last_seen(entry, earlier)
        if last_seen is None:
            log.warning(
                "Register line %d matches no pair of the school year: check its pair_id or "
                "description",
                entry.line,
            )
            listed.append(entry.listing(NOT_FOUND, [], None, None))
        else:
            listed.append(entry.listing(RESOLVED, [], matched_pair, last_seen))
    log.info(
        "Register: %d entries, %d current pairs listed, %d resolved, %d not found",
        len(entries),
        len(unresolvable),
        sum(1 for item in listed if item["status"] == RESOLVED),
        sum(1 for item in listed if item["status"] == NOT_FOUND),
    )
    return unresolvable, listed


class _Finder:
    """Find the pairs of one date of the history that a register entry names.

    The match keys of the description columns are computed once per distinct
    value, and only once an entry without a pair id needs them. Each
    candidate row is then checked with RegisterEntry.matches.
    """

    def __init__(self, history: History, day: dt.date):
        self.history, self.day = history, day
        self._ids: pa.Array | None = None
        self._described: dict[str, np.ndarray] | None = None

    def matches(self, entry: RegisterEntry) -> list[dict]:
        """Return the snapshot records of the pairs ``entry`` names, in snapshot order."""
        rows = self._id_rows(entry.pair_id) if entry.pair_id else self._described_rows(entry)
        if not len(rows):
            return []
        records = self.history.pairs(self.day, MATCH_COLUMNS).take(pa.array(rows)).to_pylist()
        return [record for record in records if entry.matches(record)]

    def _id_rows(self, identifier: str) -> np.ndarray:
        if self._ids is None:
            keys = self.history.pairs(self.day, ["pair_key"])["pair_key"]
            self._ids = pc.utf8_slice_codeunits(keys.combine_chunks().cast(pa.string()), 0, 12)
        return np.flatnonzero(np.asarray(pc.equal(self._ids, identifier), dtype=bool))

    def _described_rows(self, entry: RegisterEntry) -> np.ndarray:
        if self._described is None:
            table = self.history.pairs(self.day, MATCH_COLUMNS)
            self._described = {name: _match_keys(table[name]) for name in DESCRIPTION_COLUMNS[:4]}
            starts = table["intersection_start"].combine_chunks().cast(pa.date32())
            self._described["intersection_start"] = np.asarray(
                pc.fill_null(starts.view(pa.int32()), np.iinfo(np.int32).min), dtype=np.int64
            )
        if entry.intersection_start is None:
            return np.array([], dtype=np.intp)
        keys = self._described
        day = (entry.intersection_start - dt.date(1970, 1, 1)).days
        school, group, other_school, other_group = (
            match_key(getattr(entry, name)) for name in DESCRIPTION_COLUMNS[:4]
        )
        side = (keys["organisation"] == school) & (keys["class_name"] == group)
        other = (keys["duplicate_organisation"] == other_school) & (
            keys["duplicate_class_name"] == other_group
        )
        swapped_side = (keys["organisation"] == other_school) & (keys["class_name"] == other_group)
        swapped_other = (keys["duplicate_organisation"] == school) & (
            keys["duplicate_class_name"] == group
        )
        named = (side & other) | (swapped_side & swapped_other)
        return np.flatnonzero(named & (keys["intersection_start"] == day))


# Snapshot columns RegisterEntry.matches and RegisterEntry.listing read.
MATCH_COLUMNS = ["pair_key", *DESCRIPTION_COLUMNS]


def _match_keys(values: pa.ChunkedArray) -> np.ndarray:
    """Return match_key of each cell (nulls as empty text) as a numpy array of str,
    computing it once per distinct value."""
    encoded = pc.fill_null(values.combine_chunks().cast(pa.string()), "").dictionary_encode()
    keys = np.array([match_key(value) for value in encoded.dictionary.to_pylist()], dtype=object)
    return keys[np.asarray(encoded.indices, dtype=np.intp)]


def _last_seen(entry: RegisterEntry, earlier: list[_Finder]) -> tuple[dt.date | None, dict | None]:
    for finder in earlier:
        matched = finder.matches(entry)
        if matched:
            return finder.day, matched[0]
    return None, None


def attach_register(delta: Delta, listed: list[dict]) -> None:
    """Store the register listing in ``delta.register`` with each pair's Appendix 2 number."""
    pairs = delta.current_pairs
    if isinstance(pairs, PairListing):
        number_of = pairs.numbers_of(i for item in listed for i in item["pair_ids"])
    else:
        number_of = {pair["pair_id"]: pair["number"] for pair in pairs}
    for item in listed:
        item["numbers"] = sorted(number_of[i] for i in item["pair_ids"] if i in number_of)
    delta.register = listed


def _as_date(value) -> dt.date | None:
    # Snapshot dates arrive as datetime.date, pandas Timestamp or NaT; listings store ISO text.
    if isinstance(value, str):
        return dt.date.fromisoformat(value) if value else None
    if value is None or pd.isna(value):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    return value


def _text(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)
