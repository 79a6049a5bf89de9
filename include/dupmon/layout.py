"""Finding the table of «Список учащихся-«дублей»» in a grid, in either known layout.

Layouts:

* ``two_row_header``: the layout of the memo's Appendix 2. Row one has
  № п/п, Управление, ОО, Населенный пункт, Класс/группа, Промежутки
  пересечения and «Информация о дубле» over three columns; row two names
  those three: ОО, Населенный пункт, Класс/группа of the duplicate.
* ``fourteen_column``: older versions. One header row of 14 columns with
  the pupil's ФИО, ID, Пол, Дата рождения and Район; the pupil's cells are
  merged down over one sub-row per overlapping account.

Columns right of «Промежутки пересечения» always describe the duplicate.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dupmon.columns import (
    CAPTIONS,
    DUPLICATE_SIDE,
    EXPORT_COLUMNS,
    column_for_caption,
    is_duplicate_group,
    is_header_row,
)
from dupmon.dates import RANGE_PATTERN, find_dates
from dupmon.errors import Problem
from dupmon.readers.grid import Grid
from dupmon.text import match_key

# The report's message in place of a table. Every form states that there are
# no duplicates. A bare «нет данных» could belong to any report, so it is not one.
_NO_DUPLICATES = re.compile(
    r"(дубл\w*\s+не\s+(найден|обнаружен|выявлен)|"
    r"не\s+(найден|обнаружен|выявлен)\w*\s+(ни\s+одного\s+)?(учащ\w*-?\s*)?дубл|"
    r"нет\s+(ни\s+одного\s+)?(учащ\w*-?\s*)?дубл|"
    r"дубл\w*\s+отсутству|отсутству\w*\s+(учащ\w*-?\s*)?дубл)"
)
_FOOTER = re.compile(r"^(итого|всего)\b")
# A row of the table contains its intersection, a date range, so a row
# with a date range is not taken for a note.
_DATE_RANGE = re.compile(RANGE_PATTERN)
# The different texts a note below the table may have, as in a signature
# of a role and a name in two cells.
_NOTE_TEXTS = 2


@dataclass
class ExportTable:
    """The rows of one export, with the facts its header block states."""

    layout: str
    frame: pa.Table
    header_lines: list[str] = field(default_factory=list)
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    no_duplicates: bool = False
    columns: list[str] = field(default_factory=list)
    # What the reader took as it is but may be a fault (warnings).
    warnings: list[Problem] = field(default_factory=list)
    # A fault that rejects the file once its date shows it is of the run.
    fault: Problem | None = None

    @property
    def row_count(self) -> int:
        return self.frame.num_rows

    @property
    def rows(self) -> list[dict[str, str]]:
        """The rows as dictionaries of column name to cell, with ``source_row``."""
        return self.frame.to_pylist()


class LayoutError(ValueError):
    def __init__(self, problem: Problem):
        super().__init__(problem.message)
        self.problem = problem


def parse_layout(grids: list[Grid]) -> ExportTable:
    """Find the duplicates table in the grids of one file and return its rows.

    Raises LayoutError when no grid contains the table and none contains
    the report's «no duplicates» message either.
    """
    tables = []
    for grid in grids:
        header_at = _find_header(grid)
        if header_at is not None:
            tables.append(_parse_table(grid, header_at))
    if tables:
        return _merge_tables(tables)

    text = " ".join(match_key(cell) for grid in grids for row in grid.rows for cell in row if cell)
    if _NO_DUPLICATES.search(text):
        lines = [_row_text(row) for grid in grids for row in grid.rows if _row_text(row)]
        start, end = _find_period(lines)
        return ExportTable(
            layout="no_duplicates",
            frame=pa.table({"source_row": pa.array([], pa.int64())}),
            header_lines=lines,
            period_start=start,
            period_end=end,
            no_duplicates=True,
        )
    raise LayoutError(
        Problem(
            message="no table of «Список учащихся-«дублей»» found: the header row with the "
            "columns «ОО» and «Промежутки пересечения» is missing",
            message_ru="не найдена таблица отчёта «Список учащихся-«дублей»»: нет строки "
            "заголовка со столбцами «ОО» и «Промежутки пересечения»",
            action="Put the report itself in the inbox, with its header row unchanged",
            action_ru="Положите во входящую папку сам отчёт, не меняя строку заголовка",
        )
    )


def _merge_tables(tables: list[ExportTable]) -> ExportTable:
    """Join the tables of several sheets (or HTML tables) of one file.

    NOTE: row numbers stay those of each sheet, so a problem reported for
    row N of a workbook with several tables does not name its sheet.
    """
    first = tables[0]
    for table in tables[1:]:
        if table.layout != first.layout:
            raise LayoutError(
                Problem(
                    message=f"the file contains tables of two layouts ({first.layout} and "
                    f"{table.layout})",
                    message_ru="в файле таблицы двух разных форм отчёта",
                    action="Export each layout to its own file",
                    action_ru="Выгрузите таблицы разных форм в отдельные файлы",
                )
            )
        first.frame = _concat_frames(first.frame, table.frame)
        first.columns = [c for c in first.columns if c in table.columns]
        first.period_start = first.period_start or table.period_start
        first.period_end = first.period_end or table.period_end
    return first


def _concat_frames(first: pa.Table, second: pa.Table) -> pa.Table:
    names = list(dict.fromkeys([*first.column_names, *second.column_names]))

    def widen(frame: pa.Table) -> pa.Table:
        for name in names:
            if name not in frame.column_names:
                frame = frame.append_column(name, pa.array([""] * frame.num_rows, pa.string()))
        return frame.select(names)

    return pa.concat_tables([widen(first), widen(second)])


def _row_text(row: list[str]) -> str:
    seen: list[str] = []
    for cell in row:
        if cell and cell not in seen:
            seen.append(cell)
    return " ".join(seen)


def _find_header(grid: Grid) -> int | None:
    for index, row in enumerate(grid.head(200)):
        if is_header_row(row):
            return index
    return None


def _column_map(header: list[str], below: list[str], header_at: int) -> tuple[dict[str, int], int]:
    """Map column names to positions; return the map and the first data row."""
    two_rows = any(is_duplicate_group(cell) for cell in header) or (
        any(column_for_caption(cell) for cell in below) and not _is_data_row(below)
    )

    positions: dict[str, int] = {}
    duplicate_side = False
    for index, caption in enumerate(header):
        if two_rows and index < len(below) and below[index] and below[index] != caption:
            caption = below[index]
        column = column_for_caption(caption) if caption else None
        if column is None:
            continue
        if duplicate_side and column in DUPLICATE_SIDE:
            column = f"duplicate_{column}"
        positions.setdefault(column, index)
        if column == "intersections":
            duplicate_side = True
    return positions, header_at + (2 if two_rows else 1)


def _is_data_row(row: list[str]) -> bool:
    first = next((cell for cell in row if cell), "")
    return bool(re.fullmatch(r"\d+\.?", first))


def _is_column_numbers(row: list[str]) -> bool:
    cells = [cell for cell in row if cell]
    # isdecimal, not isdigit: int() takes decimal digits of any script, but
    # not superscripts such as «²», which isdigit also accepts.
    return (
        len(cells) > 3 and all(c.isdecimal() for c in cells) and cells == sorted(cells, key=int)
    )


def _parse_table(grid: Grid, header_at: int) -> ExportTable:
    """Take the data rows below the header, a column at a time.

    The rows kept are those the scalar rules keep: up to the first footer
    («Итого», «Всего»), without blank rows, rows of column numbers and the
    header printed again on a later page. Only the few rows a vectorised
    test cannot decide alone (column numbers, footers) go through the
    scalar test.
    """
    head = grid.head(header_at + 2)
    header = head[header_at]
    below = head[header_at + 1] if header_at + 1 < len(head) else []
    positions, first_data = _column_map(header, below, header_at)
    columns, lengths = grid.columns(first_data)
    count = len(lengths)

    keep = _filled_rows(columns, count)
    first_cells = _first_filled(columns, count)
    footer_at = _first_footer(first_cells)
    if footer_at is not None:
        keep[footer_at:] = False
    keep &= ~_column_number_rows(columns, first_cells)
    keep &= ~_rows_equal(columns, lengths, header)
    if first_data - header_at == 2:
        keep &= ~_rows_equal(columns, lengths, below)
    first_column = next((i for i, cell in enumerate(header) if cell), 0)
    keep[_notes_below(columns, keep, first_column)] = False

    kept = np.flatnonzero(keep)
    frame = {}
    for column, position in positions.items():
        if position >= len(columns):
            frame[column] = pa.array([""] * len(kept), pa.string())
        elif len(kept) == count:
            frame[column] = columns[position]
        else:
            frame[column] = columns[position].take(pa.array(kept))
    frame["source_row"] = pa.array(kept + first_data + 1, pa.int64())
    table = pa.table(frame)

    header_lines = [_row_text(row) for row in grid.head(header_at) if _row_text(row)]
    start, end = _find_period(header_lines)
    layout = "fourteen_column" if "pupil_name" in positions else "two_row_header"
    return ExportTable(
        layout=layout,
        frame=table,
        header_lines=header_lines,
        period_start=start,
        period_end=end,
        columns=[c for c in EXPORT_COLUMNS if c in positions],
    )


def _notes_below(columns: list[pa.Array], keep: np.ndarray, first_column: int) -> list[int]:
    """Return the rows of notes below the last row of the table, when no footer ends it.

    A note is such a line as «Исполнитель: …», «Дата формирования: …» or
    a line to sign on. Its row starts in the table's first column and has
    at most _NOTE_TEXTS texts. Each starts with a letter or «_», and none
    contains a date range. A note typed in a merged range repeats one text
    over its cells. Only the rows after the last row that is not a note are notes,
    so one between rows of the table stays and validation reports it. A
    row put in one cell by a wrong delimiter starts with its number or
    contains its intersection, so it stays too. A row with no
    intersection adds no pair, so none is lost.
    """
    notes = []
    for position in np.flatnonzero(keep)[::-1]:
        index = int(position)
        cells = [column[index].as_py() for column in columns]
        texts = {cell.strip(" \t\"«»'") for cell in cells if cell}
        if (
            first_column >= len(cells)
            or not cells[first_column]
            or any(cells[:first_column])
            or len(texts) > _NOTE_TEXTS
            or not all(text[:1].isalpha() or text[:1] == "_" for text in texts)
            or any(_DATE_RANGE.search(text) for text in texts)
        ):
            # The rows after the last row that is not a note are notes.
            return notes
        notes.append(index)
    # Every row is a note: with no row of the table to end them, they stay
    # for validation to report.
    return []


def _filled_rows(columns: list[pa.Array], count: int) -> np.ndarray:
    filled = np.zeros(count, dtype=bool)
    for column in columns:
        filled |= pc.not_equal(column, "").to_numpy(zero_copy_only=False)
    return filled


def _first_filled(columns: list[pa.Array], count: int) -> pa.Array:
    """Return each row's first non-blank cell (null for a blank row)."""
    if not columns:
        return pa.nulls(count, pa.string())
    # Most rows have their first cell filled, so only the blank ones are
    # looked up further to the right.
    first = pc.if_else(pc.equal(columns[0], ""), None, columns[0])
    for column in columns[1:]:
        blank = pc.is_null(first)
        if not pc.any(blank).as_py():
            break
        positions = pa.array(np.flatnonzero(blank.to_numpy(zero_copy_only=False)))
        values = column.take(positions)
        first = pc.replace_with_mask(first, blank, pc.if_else(pc.equal(values, ""), None, values))
    return first


def _first_footer(first_cells: pa.Array) -> int | None:
    # match_key folds case, quotes and look-alike letters, so the cheap test
    # only picks the candidates, and the scalar rule decides. Both patterns
    # need a Cyrillic letter, so only cells beyond ASCII are searched: the
    # first cells are mostly row numbers, and RE2 took 20 ms on those of a
    # file of 250 thousand rows.
    cells = pc.fill_null(first_cells, "")
    beyond_ascii = np.flatnonzero(~pc.string_is_ascii(cells).to_numpy(zero_copy_only=False))
    if not len(beyond_ascii):
        return None
    searched = cells.take(pa.array(beyond_ascii))
    candidates = pc.match_substring_regex(searched, "(?i)(итог|вс[её]г)")
    for position in beyond_ascii[np.flatnonzero(candidates.to_numpy(zero_copy_only=False))]:
        if _FOOTER.match(match_key(first_cells[int(position)].as_py())):
            return int(position)
    for position in beyond_ascii[_rows_with_lookalikes(searched)]:
        if _FOOTER.match(match_key(first_cells[int(position)].as_py())):
            return int(position)
    return None


def _rows_with_lookalikes(cells: pa.Array) -> np.ndarray:
    # A footer typed with a Latin letter, such as «Итoгo», escapes the test
    # above. So every cell with both Latin and Cyrillic letters is checked too.
    mixed = pc.match_substring_regex(cells, "(?i)[а-яё].*[a-z]|[a-z].*[а-яё]")
    return np.flatnonzero(mixed.to_numpy(zero_copy_only=False))


def _column_number_rows(columns: list[pa.Array], first_cells: pa.Array) -> np.ndarray:
    """Mark the rows of column numbers («1 2 3 … 14») under the header."""
    result = np.zeros(len(first_cells), dtype=bool)
    # Every filled cell of such a row is a number: narrow the candidates
    # column by column, then let the scalar rule decide on the few left.
    # A cheap test that lets every number through goes over whole columns
    # first, because that costs less than taking the candidates out of them
    # while most rows are still candidates. RE2 then runs on the candidates
    # left. On a file of 250 thousand rows, RE2 on every cell of the first
    # columns took 27 ms.
    first = pc.fill_null(first_cells, "")
    possible = _maybe_number(first).to_numpy(zero_copy_only=False)
    for column in columns:
        if not possible.any():
            return result
        fits = pc.or_(pc.equal(column, ""), _maybe_number(column))
        possible &= fits.to_numpy(zero_copy_only=False)

    candidates = pa.array(np.flatnonzero(possible))
    candidates = candidates.filter(_number(first.take(candidates)))
    for column in columns:
        if len(candidates) == 0:
            return result
        cells = column.take(candidates)
        candidates = candidates.filter(pc.or_(pc.equal(cells, ""), _number(cells)))
    for position in candidates.to_pylist():
        row = [column[position].as_py() for column in columns]
        result[position] = _is_column_numbers(row)
    return result


def _number(cells: pa.Array) -> pa.Array:
    """Return which cells are non-empty and contain only numeric characters (RE2's ``\\p{N}``)."""
    return pc.match_substring_regex(cells, r"^\p{N}+$")


def _maybe_number(cells: pa.Array) -> pa.Array:
    """Return ``_number`` of each cell, or true for a cell with a character beyond ASCII.

    The only numeric characters in ASCII are the digits 0 to 9.
    """
    return pc.or_(pc.ascii_is_decimal(cells), pc.invert(pc.string_is_ascii(cells)))


def _rows_equal(columns: list[pa.Array], lengths: np.ndarray, row: list[str]) -> np.ndarray:
    """Mark the rows equal to ``row``: same cells and the same length."""
    equal = lengths == len(row)
    for index, column in enumerate(columns):
        value = row[index] if index < len(row) else ""
        equal &= pc.equal(column, value).to_numpy(zero_copy_only=False)
        if not equal.any():
            break
    return equal


def _find_period(lines: list[str]) -> tuple[dt.date | None, dt.date | None]:
    """Return the report period named in the header block, if any.

    A line that mentions «период» wins; otherwise the first line with two
    dates is taken. A single date is read as the period's end.
    """
    candidates = [line for line in lines if "период" in match_key(line)] + lines
    for line in candidates:
        dates = find_dates(line)
        if len(dates) >= 2:
            return dates[0], dates[1]
    for line in candidates:
        dates = find_dates(line)
        if len(dates) == 1 and ("состоянию" in match_key(line) or "период" in match_key(line)):
            return None, dates[0]
    return None, None


def caption(column: str) -> str:
    return CAPTIONS.get(column, column)
