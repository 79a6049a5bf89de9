"""The common shape every reader returns: a rectangle of display strings."""

from __future__ import annotations

import contextvars
import datetime as dt

import numpy as np
import pyarrow as pa

from dupmon.text import clean_display


class Grid:
    """One sheet or table of an export.

    Cells of a merged range (or an HTML rowspan/colspan) all carry the value
    of the range's first cell, and every other blank cell is ``""``: a blank
    is filled only where the file itself marks cells as merged.

    The rows are kept as lists, or, for large delimited files, as a few
    leading rows followed by ``block``: a table of string columns ``c0`` to
    ``c<width-1>`` whose rows all have ``width`` cells, and then ``tail``,
    the rows of other lengths below it, such as a footer or a note.
    ``rows`` turns the block into lists on first use; the layout reads the
    columns instead.
    """

    def __init__(
        self,
        name: str,
        rows: list[list[str]],
        block: pa.Table | None = None,
        tail: list[list[str]] | None = None,
        cells_like_rows: list[tuple[int, int, int, int]] | None = None,
        rows_over_lines: list[tuple[int, int, int]] | None = None,
    ):
        self.name = name
        self._rows = rows
        self.block = block
        self._tail = tail or []
        # Rows with a cell over lines and the delimiters of a row that the
        # reader took as it is: the first and last line in the file, the
        # row's index in ``rows`` and the number of its filled cells.
        self.cells_like_rows = cells_like_rows or []
        # The first rows with a cell over lines that has a delimiter inside a
        # line (see delimited.MAX_ROWS_OVER_LINES): the first and last line
        # in the file and the row's index.
        self.rows_over_lines = rows_over_lines or []

    def __repr__(self) -> str:
        return f"Grid(name={self.name!r}, height={self.height})"

    @property
    def rows(self) -> list[list[str]]:
        if self.block is not None:
            columns = [column.to_pylist() for column in self.block.columns]
            self._rows = self._rows + [list(row) for row in zip(*columns, strict=True)]
            self.block = None
        if self._tail:
            self._rows, self._tail = self._rows + self._tail, []
        return self._rows

    @property
    def height(self) -> int:
        block_rows = self.block.num_rows if self.block is not None else 0
        return len(self._rows) + block_rows + len(self._tail)

    @property
    def width(self) -> int:
        widths = [len(row) for row in (*self._rows, *self._tail)]
        if self.block is not None:
            widths.append(self.block.num_columns)
        return max(widths, default=0)

    def head(self, count: int) -> list[list[str]]:
        """Return the first ``count`` rows as lists, without converting the whole block."""
        rows = self._rows[:count]
        if self.block is not None and count > len(rows):
            part = self.block.slice(0, count - len(rows))
            columns = [column.to_pylist() for column in part.columns]
            rows = rows + [list(row) for row in zip(*columns, strict=True)]
        return rows + self._tail[: count - len(rows)]

    def columns(self, start: int) -> tuple[list[pa.Array], np.ndarray]:
        """Return the rows from ``start`` on as ``width`` string columns, and each row's length.

        Short rows are padded with ``""``; the lengths keep the difference
        between a short row and one that ends in blank cells.
        """
        width = self.width
        parts: list[list[pa.Array]] = [[] for _ in range(width)]
        lengths = [_listed_columns(self._rows[start:], width, parts)]
        block_rows = 0
        if self.block is not None:
            skip = max(0, start - len(self._rows))
            block = self.block.slice(skip)
            block_rows = self.block.num_rows
            lengths.append(np.full(block.num_rows, block.num_columns, dtype=np.int64))
            for c in range(width):
                if c < block.num_columns:
                    parts[c].extend(block.column(c).chunks)
                else:
                    parts[c].append(pa.array([""] * block.num_rows, pa.string()))
        skip = max(0, start - len(self._rows) - block_rows)
        lengths.append(_listed_columns(self._tail[skip:], width, parts))
        return [_joined(chunks) for chunks in parts], np.concatenate(lengths)


def _listed_columns(listed: list[list[str]], width: int, parts: list[list[pa.Array]]) -> np.ndarray:
    """Add rows kept as lists to the chunks of each column in ``parts``; return their lengths.

    The rows make a chunk only when there are some, so that a block's
    column is returned as it is, not copied into a join.
    """
    if listed:
        for c in range(width):
            cells = [row[c] if c < len(row) else "" for row in listed]
            parts[c].append(pa.array(cells, pa.string()))
    return np.array([len(row) for row in listed], dtype=np.int64)


def _joined(chunks: list[pa.Array]) -> pa.Array:
    if not chunks:
        return pa.array([], pa.string())
    return chunks[0] if len(chunks) == 1 else pa.concat_arrays(chunks)


def cell_text(value: object) -> str:
    """Return the display text of a spreadsheet cell value.

    Integral floats lose their ``.0`` (a class «8» stays «8»), and dates are
    written day first as the school system prints them.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        return value.strftime("%d.%m.%Y")
    if isinstance(value, dt.date):
        return value.strftime("%d.%m.%Y")
    return clean_display(value)


# Most cells one sheet may expand to, merged ranges and spans included
# (DUPMON_MAX_CELLS). read_grids sets it for the readers it calls.
MAX_CELLS: contextvars.ContextVar[int] = contextvars.ContextVar("max_cells", default=2_000_000)


class GridTooLargeError(ValueError):
    """A sheet would expand to more cells than DUPMON_MAX_CELLS allows."""

    def __init__(self, sheet: str, cells: int):
        super().__init__(f"the sheet {sheet!r} would expand to {cells} cells")
        self.sheet = sheet
        self.cells = cells


def check_cells(sheet: str, cells: int) -> None:
    """Raise GridTooLargeError when ``cells`` exceeds the limit in force."""
    if cells > MAX_CELLS.get():
        raise GridTooLargeError(sheet, cells)


def fill_merged(
    rows: list[list[str]], ranges: list[tuple[int, int, int, int]], sheet: str = "sheet"
) -> None:
    """Copy each merged range's first cell into the rest of the range.

    ``ranges`` contains zero-based, inclusive (first_row, first_col, last_row,
    last_col) tuples; ``rows`` is extended as needed. Raises
    GridTooLargeError before filling when the ranges would exceed the limit.
    """
    height = max([len(rows), *(r[2] + 1 for r in ranges)])
    width = max([max((len(row) for row in rows), default=0), *(r[3] + 1 for r in ranges)])
    check_cells(sheet, height * width)
    for first_row, first_col, last_row, last_col in ranges:
        while len(rows) <= last_row:
            rows.append([])
        value = rows[first_row][first_col] if first_col < len(rows[first_row]) else ""
        for r in range(first_row, last_row + 1):
            row = rows[r]
            if len(row) <= last_col:
                row.extend([""] * (last_col + 1 - len(row)))
            for c in range(first_col, last_col + 1):
                row[c] = value
