"""The common shape every reader returns: a rectangle of display strings."""

from __future__ import annotations

import contextvars
import datetime as dt
from dataclasses import dataclass

from dupmon.text import clean_display


@dataclass
class Grid:
    """One sheet or table of an export.

    Cells of a merged range (or an HTML rowspan/colspan) all carry the value
    of the range's first cell, and every other blank cell is ``""``: a blank
    is filled only where the file itself marks cells as merged.
    """

    name: str
    rows: list[list[str]]

    @property
    def width(self) -> int:
        return max((len(row) for row in self.rows), default=0)


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
