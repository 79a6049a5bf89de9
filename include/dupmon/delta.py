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
* Status: ``partial`` eliminated some and has some now. ``red`` has some
  now and eliminated none. ``green`` had some and has none now. ``none``
  had none and has none. The total row has no status.

The counts are computed a column at a time with pyarrow and numpy. A
snapshot has one row per pair key (normalise keeps one row per key), which
the counts rely on. Appendix 2 stays a table (``PairListing``): it is
written as CSV a batch of rows at a time, and stored as Parquet beside
delta.json.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import os
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dupmon import work_files
from dupmon.direct_io import write_chunks_direct
from dupmon.directory import Directory
from dupmon.lookup import index_in
from dupmon.normalise import REGIONAL, UNKNOWN
from dupmon.text_arrays import one_array

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
# The columns of Appendix 2 copied from the snapshot as text.
_APPENDIX2_TEXT = APPENDIX2_COLUMNS[1:9]
# Snapshot columns the attribution of a pair needs.
KEY_COLUMNS = ("pair_key", "municipality_id", "duplicate_municipality_id")
# The column of the kind of each pair key (dupmon.normalise), read to warn
# when the two dates were exported in layouts whose keys never match.
BASIS_COLUMN = "key_basis"
# Snapshot columns the delta reads for the monitoring date.
CURRENT_COLUMNS = (*KEY_COLUMNS, *_APPENDIX2_TEXT)
# Rows of Appendix 2 turned into CSV text at once.
WRITE_BATCH_ROWS = 100_000
_CSV_THREADS = 2


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


class PairListing(Sequence):
    """The current pairs of Appendix 2, held as an Arrow table.

    Each item is a dict with the keys of ``PairListing.KEYS`` (and
    ``first_seen`` once ``dupmon.trend.attach_history`` has added it), made
    when it is read, so a million pairs cost no million dicts until a
    caller asks for them.
    """

    KEYS = (
        "number",
        *_APPENDIX2_TEXT,
        "municipalities",
        "municipality_ids",
        "municipality_id",
        "duplicate_municipality_id",
        "pair_id",
        "is_new",
        "unresolvable",
    )

    def __init__(self, table: pa.Table):
        self.table = table

    def __len__(self) -> int:
        return self.table.num_rows

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.table.slice(index, 1).to_pylist()[0]

    def __iter__(self) -> Iterator[dict]:
        for batch in self.table.to_batches(max_chunksize=10_000):
            yield from batch.to_pylist()

    def __eq__(self, other) -> bool:
        if isinstance(other, (PairListing, list)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None

    def column(self, name: str) -> pa.ChunkedArray:
        return self.table[name]

    def set_column(self, name: str, values: pa.Array) -> None:
        """Add the column ``name``, or replace it, keeping the order of the others."""
        if name in self.table.column_names:
            self.table = self.table.set_column(self.table.column_names.index(name), name, values)
        else:
            self.table = self.table.append_column(name, values)

    def numbers_of(self, pair_ids: Iterable[str]) -> dict[str, int]:
        """Return the Appendix 2 number of each listed pair id; the last pair wins a shared id."""
        requested = sorted(set(pair_ids))
        if not requested or not len(self):
            return {}
        ids = self.table["pair_id"]
        rows = np.flatnonzero(np.asarray(pc.is_in(ids, value_set=pa.array(requested)), dtype=bool))
        found = self.table.take(pa.array(rows)).select(["pair_id", "number"]).to_pydict()
        return dict(zip(found["pair_id"], found["number"], strict=True))


@dataclass
class Delta:
    """Appendix 1 and Appendix 2 of one monitoring date.

    ``current_pairs`` is a PairListing when computed or read by read_delta,
    and a list of dicts when built from an older delta.json with the pairs
    inline. ``trend`` is the pairs per municipality at every
    monitoring date of the school year (``dupmon.trend.compute_trend``),
    None when not computed. ``register`` lists the entries of the register
    of pairs that cannot be eliminated, each with its status
    (``dupmon.register.RegisterEntry.listing``).
    """

    monitoring_date: str
    baseline_date: str | None
    rows: list[MunicipalityRow]
    total: MunicipalityRow
    current_pairs: Sequence[dict] = field(default_factory=list)
    trend: dict | None = None
    register: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self, *, include_pairs: bool = True) -> dict:
        # asdict() deep-copies every pair; the pairs are plain dicts already.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["rows"] = [asdict(row) for row in self.rows]
        data["total"] = asdict(self.total)
        if include_pairs:
            data["current_pairs"] = list(self.current_pairs)
        else:
            del data["current_pairs"]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Delta:
        return cls(
            monitoring_date=data["monitoring_date"],
            baseline_date=data["baseline_date"],
            rows=[MunicipalityRow(**row) for row in data["rows"]],
            total=MunicipalityRow(**data["total"]),
            current_pairs=data["current_pairs"],
            trend=data.get("trend"),
            register=data.get("register", []),
            notes=data.get("notes", []),
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
    sides = {pair["municipality_id"], pair["duplicate_municipality_id"]}
    return sides - {REGIONAL, UNKNOWN, None, ""} or {REGIONAL}


# A drop this large at once more often means a missing export than real work.
MASS_ELIMINATION_SHARE = 0.5
MASS_ELIMINATION_MIN_BASELINE = 10


def as_pairs_table(pairs: pd.DataFrame | pa.Table | None, columns: Sequence[str]) -> pa.Table:
    """Return ``columns`` of a snapshot (frame or Arrow table) as an Arrow table.

    ``pair_key`` becomes plain text and every other column a dictionary of
    text, so that a rule applied per distinct value touches each value once.
    """
    if pairs is None:
        arrays = [pa.array([], type=pa.string()) for _ in columns]
    elif isinstance(pairs, pd.DataFrame):
        arrays = [pa.array(pairs[name].astype(object), from_pandas=True) for name in columns]
    else:
        arrays = [pairs[name] for name in columns]
    arrays = [
        _dense(array) if name == "pair_key" else as_dictionary(array)
        for name, array in zip(columns, arrays, strict=True)
    ]
    return pa.table(arrays, names=list(columns))


def as_dictionary(values: pa.Array | pa.ChunkedArray) -> pa.DictionaryArray:
    """Return text values as one dictionary array of strings, nulls kept."""
    if isinstance(values, pa.ChunkedArray):
        if pa.types.is_dictionary(values.type):
            values = pa.table({"values": values}).unify_dictionaries()["values"]
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if not pa.types.is_dictionary(values.type):
        values = values.cast(pa.string()).dictionary_encode()
    if values.type.value_type != pa.string():
        values = pa.DictionaryArray.from_arrays(values.indices, values.dictionary.cast(pa.string()))
    return values


class Attribution:
    """The municipalities each pair of a snapshot counts for, as codes of ``ids``.

    ``first`` is a code per pair. ``second`` is the code of the other side's
    municipality where the pair touches two, else -1, as ``touched`` decides.
    Every snapshot attributed by one Attribution shares its codes.
    """

    def __init__(self, ids: list[str] | None = None):
        self.ids: list[str] = list(ids or [])
        self._code = {value: code for code, value in enumerate(self.ids)}
        self.regional = self.code_of(REGIONAL)

    def code_of(self, value: str) -> int:
        code = self._code.get(value)
        if code is None:
            code = self._code[value] = len(self.ids)
            self.ids.append(value)
        return code

    def _codes(self, values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """Return the code of each value (-1 for null) and whether it is a municipality."""
        encoded = as_dictionary(values)
        own = np.array(
            [self.code_of(v) for v in encoded.dictionary.to_pylist()] + [-1], dtype=np.intp
        )
        indices = np.asarray(pc.fill_null(encoded.indices, len(own) - 1), dtype=np.intp)
        codes = own[indices]
        municipal = np.array(
            [value not in (REGIONAL, UNKNOWN, "") for value in self.ids] + [False], dtype=bool
        )
        return codes, municipal[codes]

    def sides(self, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        """Return ``first`` and ``second`` for the pairs of ``table`` (see the class docstring)."""
        pupil_side, pupil_municipal = self._codes(table["municipality_id"])
        duplicate_side, duplicate_municipal = self._codes(table["duplicate_municipality_id"])
        first = np.where(
            pupil_municipal,
            pupil_side,
            np.where(duplicate_municipal, duplicate_side, self.regional),
        )
        both = pupil_municipal & duplicate_municipal & (duplicate_side != pupil_side)
        second = np.where(both, duplicate_side, -1)
        return first, second

    def counts(self, first: np.ndarray, second: np.ndarray, rows=None) -> np.ndarray:
        """Count the pairs per code, over ``rows`` (a mask) if given."""
        if rows is not None:
            first, second = first[rows], second[rows]
        size = len(self.ids)
        return np.bincount(first, minlength=size) + np.bincount(second[second >= 0], minlength=size)


def _dense(values) -> pa.Array:
    return one_array(values).cast(pa.string())


def _positions_now(now: pa.Table, before: pa.Table) -> np.ndarray:
    """Return, for each pair of the baseline, its row in ``now``, or -1 when it is gone."""
    if not before.num_rows:
        return np.zeros(0, dtype=np.intp)
    # as_pairs_table made both key columns plain text.
    return index_in(before["pair_key"], now["pair_key"]).astype(np.intp, copy=False)


def _counts(
    now: pa.Table,
    before: pa.Table,
    position: np.ndarray,
    listed: np.ndarray,
    attribution: Attribution,
) -> dict[str, dict]:
    """Count previous, current, eliminated, new and unresolvable pairs per municipality.

    ``position`` is _positions_now, and ``listed`` marks the current pairs the
    register lists. A pair stays in a municipality's row when its key is
    present at both dates and it counts for that municipality at both.
    """
    now_first, now_second = attribution.sides(now)
    before_first, before_second = attribution.sides(before)
    matched = position >= 0
    if now.num_rows:
        at = np.maximum(position, 0)
        first_stays = matched & (
            (before_first == now_first[at]) | (before_first == now_second[at])
        )
        second_stays = (
            matched
            & (before_second >= 0)
            & ((before_second == now_first[at]) | (before_second == now_second[at]))
        )
    else:
        # No pair now: every pair of the baseline is gone, and there is no row to look up.
        first_stays = second_stays = np.zeros(len(position), dtype=bool)
    size = len(attribution.ids)
    staying = np.bincount(before_first[first_stays], minlength=size) + np.bincount(
        before_second[second_stays], minlength=size
    )
    previous = attribution.counts(before_first, before_second)
    current = attribution.counts(now_first, now_second)
    unresolvable = attribution.counts(now_first, now_second, listed)

    counts = {}
    for code, municipality_id in enumerate(attribution.ids):
        if previous[code] or current[code]:
            counts[municipality_id] = {
                "previous": int(previous[code]),
                "current": int(current[code]),
                "eliminated": int(previous[code] - staying[code]),
                "new": int(current[code] - staying[code]),
                "unresolvable": int(unresolvable[code]),
            }
    return counts


def _registered(table: pa.Table, register: set[str]) -> np.ndarray:
    """Tell, per pair, whether the register lists its pair id."""
    if not register or not table.num_rows:
        return np.zeros(table.num_rows, dtype=bool)
    ids = pc.utf8_slice_codeunits(_dense(table["pair_key"]), 0, 12)
    return np.asarray(pc.is_in(ids, value_set=pa.array(sorted(register))), dtype=bool)


def _row(municipality_id: str, name: str, counts: dict | None) -> MunicipalityRow:
    counts = counts or {}
    previous, current = int(counts.get("previous", 0)), int(counts.get("current", 0))
    eliminated = int(counts.get("eliminated", 0))
    return MunicipalityRow(
        municipality_id=municipality_id,
        municipality=name,
        previous=previous,
        current=current,
        eliminated=eliminated,
        new=int(counts.get("new", 0)),
        unresolvable=int(counts.get("unresolvable", 0)),
        percent_eliminated=format_percent(eliminated, previous),
        status=status_of(previous, current, eliminated),
    )


def compute_delta(
    monitoring_date: dt.date,
    current: pd.DataFrame | pa.Table | None,
    baseline: pd.DataFrame | pa.Table | None,
    baseline_date: dt.date | None,
    directory: Directory,
    unresolvable_ids: set[str] | None = None,
) -> Delta:
    """Compare the pairs of the monitoring date with those of the baseline.

    ``current`` needs the columns of CURRENT_COLUMNS and ``baseline`` those
    of KEY_COLUMNS; either may hold more.
    """
    register = unresolvable_ids or set()
    bases = (_bases(current), _bases(baseline))
    now = as_pairs_table(current, CURRENT_COLUMNS)
    before = as_pairs_table(baseline, KEY_COLUMNS)
    attribution = Attribution([m.id for m in directory.municipalities])
    position = _positions_now(now, before)
    # Keys are unique in a snapshot, so the rows the baseline's keys were
    # found at are exactly the current pairs that are not new.
    in_before = np.zeros(now.num_rows, dtype=bool)
    in_before[position[position >= 0]] = True
    listed = _registered(now, register)
    per_municipality = _counts(now, before, position, listed, attribution)

    order = {m.id: m.order for m in directory.municipalities}
    rows = [_row(m.id, m.name, per_municipality.get(m.id)) for m in directory.municipalities]
    rows.sort(key=lambda r: (-r.current, -r.previous, order[r.municipality_id]))
    if REGIONAL in per_municipality:
        rows.append(_row(REGIONAL, directory.no_municipality_row, per_municipality[REGIONAL]))

    total_counts = {
        "previous": before.num_rows,
        "current": now.num_rows,
        "eliminated": int((position < 0).sum()),
        "new": int((~in_before).sum()),
        "unresolvable": int(listed.sum()),
    }
    total = _row("", TOTAL_LABEL, total_counts)
    total.status = ""
    delta = Delta(
        monitoring_date=monitoring_date.isoformat(),
        baseline_date=baseline_date.isoformat() if baseline_date else None,
        rows=rows,
        total=total,
        current_pairs=_appendix2(now, ~in_before, listed, directory, attribution),
        notes=_notes(total, *bases),
    )
    for note in delta.notes:
        log.warning("Delta %s: %s", delta.monitoring_date, note)
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


def _notes(
    total: MunicipalityRow, bases_now: set[str] | None, bases_before: set[str] | None
) -> list[str]:
    """Return the warnings about the comparison itself, worded for the справка.

    ``bases_now`` and ``bases_before`` are the kinds of pair key of each
    date (``_bases``), or None where they are not given.
    """
    notes = []
    if (
        total.previous >= MASS_ELIMINATION_MIN_BASELINE
        and total.eliminated > total.previous * MASS_ELIMINATION_SHARE
    ):
        notes.append(
            f"С даты предыдущего мониторинга исчезло сразу {total.eliminated} из "
            f"{total.previous} дублей ({total.percent_eliminated} %). Проверьте, что во входящей "
            "папке есть выгрузки всех органов управления образованием: отсутствие выгрузки "
            "выглядит как устранение всех её дублей."
        )
    layout = _layout_note(bases_now, bases_before)
    if layout:
        notes.append(layout)
    return notes


# The kinds of pair key, as the справка names the exports that give them.
_BASIS_WORDS = {
    "accounts": "с ID учётных записей",
    "pupil": "с ФИО и датой рождения без ID",
    "organisations": "без персональных данных",
}


def _bases(pairs: pd.DataFrame | pa.Table | None) -> set[str] | None:
    """Return the kinds of pair key among ``pairs``, or None where they are not given."""
    if isinstance(pairs, pd.DataFrame) and BASIS_COLUMN in pairs.columns:
        return {str(basis) for basis in pairs[BASIS_COLUMN].dropna().unique()}
    if isinstance(pairs, pa.Table) and BASIS_COLUMN in pairs.column_names:
        values = pairs[BASIS_COLUMN]
        if not pa.types.is_dictionary(values.type):
            return {str(basis) for basis in pc.unique(values).drop_null().to_pylist()}
        # Only the codes each chunk uses are looked up in its dictionary, so
        # a million pairs are not decoded to find two or three kinds.
        bases = set()
        for chunk in values.chunks:
            used = pc.unique(chunk.indices).drop_null()
            bases.update(str(basis) for basis in chunk.dictionary.take(used).to_pylist())
        return bases
    return None


def _layout_note(now: set[str] | None, before: set[str] | None) -> str | None:
    """Return the warning for dates whose exports give keys of different kinds, if they do."""
    if not now or not before:
        return None
    missing_now, new_now = before - now, now - before
    if not missing_now or not new_now:
        return None

    def words(bases: set[str]) -> str:
        return ", ".join(_BASIS_WORDS.get(basis, basis) for basis in sorted(bases))

    return (
        "На дату предыдущего мониторинга есть выгрузки другого формата "
        f"({words(missing_now)}), чем на дату этого ({words(new_now)}). Ключи дублей в них "
        "не совпадают, поэтому дубль, оставшийся с прошлого раза, посчитан как устранённый "
        "и как новый. Сравнивайте выгрузки одного формата."
    )


def pair_id(pair_key: str) -> str:
    """Return the short id of a pair that Appendix 2 and the register use."""
    return pair_key[:12]


def _appendix2(
    now: pa.Table,
    is_new: np.ndarray,
    listed: np.ndarray,
    directory: Directory,
    attribution: Attribution,
) -> PairListing:
    """Build Appendix 2: the current pairs in snapshot order, which is the order of the
    exports and their rows, as the memo lists them."""
    names = {m.id: m.name for m in directory.municipalities}
    names[REGIONAL] = directory.no_municipality_row

    first, second = attribution.sides(now)
    # The touched municipalities of a pair, sorted by id, one entry per combination.
    # pd.factorize hashes the codes, where np.unique would sort a million of them.
    combination_of_row, combinations = pd.factorize(
        first.astype(np.int64) * (len(attribution.ids) + 1) + (second + 1), sort=True
    )
    listed_names, listed_ids = [], []
    for combination in combinations.tolist():
        one, two = divmod(combination, len(attribution.ids) + 1)
        ids = sorted({attribution.ids[one]} | ({attribution.ids[two - 1]} if two else set()))
        listed_ids.append(ids)
        listed_names.append("; ".join(names.get(i, i) for i in ids))
    take = pa.array(combination_of_row.reshape(-1).astype(np.int32))

    keys = _dense(now["pair_key"])
    columns = {"number": pa.array(np.arange(1, now.num_rows + 1, dtype=np.int64))}
    columns.update({name: _filled(now[name]) for name in _APPENDIX2_TEXT})
    columns["municipalities"] = pa.DictionaryArray.from_arrays(
        take, pa.array(listed_names, type=pa.string())
    )
    columns["municipality_ids"] = pa.DictionaryArray.from_arrays(
        take, pa.array(listed_ids, type=pa.list_(pa.string()))
    )
    columns["municipality_id"] = _filled(now["municipality_id"])
    columns["duplicate_municipality_id"] = _filled(now["duplicate_municipality_id"])
    columns["pair_id"] = pc.utf8_slice_codeunits(keys, 0, 12)
    columns["is_new"] = pa.array(is_new)
    columns["unresolvable"] = pa.array(listed)
    return PairListing(pa.table(columns))


def _filled(values) -> pa.DictionaryArray:
    """Return a text column as a dictionary, null turned into ``""`` as Appendix 2 prints it."""
    values = as_dictionary(values)
    if values.null_count == 0 and values.dictionary.null_count == 0:
        return values
    dictionary = pc.fill_null(values.dictionary, "")
    empty = len(dictionary)
    indices = pc.fill_null(values.indices, empty)
    return pa.DictionaryArray.from_arrays(indices, pa.concat_arrays([dictionary, pa.array([""])]))


def appendix1_csv(delta: Delta) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(APPENDIX1_COLUMNS)
    for row in [*delta.rows, delta.total]:
        writer.writerow([getattr(row, column) for column in APPENDIX1_COLUMNS])
    return buffer.getvalue()


def appendix2_csv(delta: Delta) -> str:
    return b"".join(appendix2_csv_chunks(delta)).decode("utf-8")


def appendix2_csv_chunks(delta: Delta) -> Iterator[bytes]:
    """Yield Appendix 2 as UTF-8 CSV, a batch of rows at a time, as ``csv.writer`` writes it."""
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\n").writerow(APPENDIX2_COLUMNS)
    yield buffer.getvalue().encode("utf-8")
    if not isinstance(delta.current_pairs, PairListing):
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\n")
        for pair in delta.current_pairs:
            writer.writerow(
                [
                    str(pair[c]).lower() if isinstance(pair[c], bool) else pair[c]
                    for c in APPENDIX2_COLUMNS
                ]
            )
        yield buffer.getvalue().encode("utf-8")
        return
    # Threads build the batches' text, since pyarrow's kernels release the
    # GIL. At most _CSV_THREADS batches wait beside the one being written.
    batches = _batches(delta.current_pairs.table)
    with ThreadPoolExecutor(max_workers=_CSV_THREADS, thread_name_prefix="dupmon-csv") as pool:
        pending: deque = deque()
        for batch in batches:
            pending.append(pool.submit(_csv_rows, batch))
            if len(pending) > _CSV_THREADS:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _csv_rows(batch: pa.RecordBatch) -> memoryview:
    """Return the CSV lines of a batch of pairs as UTF-8 bytes."""
    cells = [
        _cells(batch.column(batch.schema.get_field_index(name)), _csv_fields, "")
        for name in APPENDIX2_COLUMNS
    ]
    # The line feed goes on the last cell, so that one join with the
    # comma as separator builds each row: half the inputs of joining
    # cells and commas alike, and about half the time.
    cells[-1] = pc.binary_join_element_wise(cells[-1], "\n", "")
    return _text_of(pc.binary_join_element_wise(*cells, ","))


def _csv_fields(values: pa.Array) -> pa.Array:
    """Quote text as csv.writer's QUOTE_MINIMAL does with ``lineterminator="\\n"``: only a
    cell with a comma, a quote or a line feed, doubling its quotes."""
    needs = pc.match_substring_regex(values, '[,"\n]')
    if not pc.any(needs).as_py():
        return values
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(values, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, values)


def _cells(column: pa.Array, encode, null_text: str) -> pa.Array:
    """Return each cell of a column as text: booleans as true/false, numbers in decimal,
    text through ``encode`` (once per distinct value of a dictionary), null as ``null_text``."""
    if pa.types.is_boolean(column.type):
        cells = pc.if_else(column, "true", "false")
    elif pa.types.is_integer(column.type):
        cells = column.cast(pa.string())
    elif pa.types.is_dictionary(column.type):
        cells = encode(column.dictionary).take(column.indices)
    else:
        cells = encode(pc.fill_null(column, ""))
        if column.null_count:
            cells = pc.if_else(pc.is_valid(column), cells, pa.scalar(None, pa.string()))
    return pc.fill_null(cells, null_text) if cells.null_count else cells


def _batches(table: pa.Table) -> Iterator[pa.RecordBatch]:
    for start in range(0, table.num_rows, WRITE_BATCH_ROWS):
        yield table.slice(start, WRITE_BATCH_ROWS).combine_chunks().to_batches()[0]


def _text_of(values: pa.Array) -> memoryview:
    """Return the concatenated UTF-8 bytes of a string array without nulls, without copying."""
    if not len(values):
        return memoryview(b"")
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[
        values.offset : values.offset + len(values) + 1
    ]
    return memoryview(values.buffers()[2])[offsets[0] : offsets[-1]]


# The current pairs of a delta, stored beside delta.json as an Arrow IPC file.
PAIRS_FILE = "appendix2.arrow"


def write_delta(delta: Delta, folder: Path) -> None:
    """Write ``delta.json`` and, beside it, the current pairs as ``appendix2.arrow``.

    At a million pairs Appendix 2 as JSON would be most of a gigabyte to
    write and to parse again, so delta.json names the pairs file instead,
    which the render step maps into memory. The pairs file is replaced
    first, so a reader that sees the new delta.json also finds its pairs.
    """
    os.replace(write_pairs_temporary(delta, folder), folder / PAIRS_FILE)
    write_delta_json(delta, folder)


def write_pairs_temporary(delta: Delta, folder: Path) -> Path:
    """Write the current pairs to a temporary file in ``folder`` and return its path.

    The caller renames it to ``PAIRS_FILE`` or deletes it.
    """
    pairs = delta.current_pairs
    table = pairs.table if isinstance(pairs, PairListing) else pa.Table.from_pylist(list(pairs))
    folder.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=f".{PAIRS_FILE}.", suffix=".tmp")
    os.close(descriptor)
    try:
        work_files.write_table(table, Path(temporary))
        os.chmod(temporary, 0o644)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Path(temporary)


def write_delta_json(delta: Delta, folder: Path) -> None:
    """Replace ``delta.json``, which names the pairs file: call it once that file is in place."""
    data = delta.to_dict(include_pairs=False)
    data["current_pairs_file"] = PAIRS_FILE
    write_chunks_atomic(folder / "delta.json", [json.dumps(data, ensure_ascii=False).encode("utf-8")])


def read_delta(folder: Path) -> Delta:
    """Read what write_delta wrote.

    A delta.json with its pairs inline, or one that names an
    ``appendix2.parquet`` as earlier versions wrote, is read as well.
    """
    data = json.loads((folder / "delta.json").read_text(encoding="utf-8"))
    name = data.pop("current_pairs_file", None)
    if name is None:
        return Delta.from_dict(data)
    pairs_path = folder / name
    if not pairs_path.exists():
        raise FileNotFoundError(f"{pairs_path} is missing; run the delta step again")
    delta = Delta.from_dict({**data, "current_pairs": []})
    delta.current_pairs = PairListing(work_files.read_table(pairs_path, "delta"))
    return delta


def write_chunks_atomic(
    path: Path, chunks: Iterable[bytes], mode: int = 0o644, *, direct: bool = False
) -> None:
    """Write the chunks to ``path`` so that readers see either the old or the whole new file.

    With ``direct``, the bytes go to disk past the page cache where the file
    system allows it (see dupmon.direct_io), which suits a large file that no
    step reads back.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            if direct:
                write_chunks_direct(handle.fileno(), chunks)
            else:
                for chunk in chunks:
                    handle.write(chunk)
                handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
