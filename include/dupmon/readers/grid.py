"""The common shape every reader returns: a rectangle of display strings."""

from __future__ import annotations

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


def fill_merged(rows: list[list[str]], ranges: list[tuple[int, int, int, int]]) -> None:
    """Copy each merged range's first cell into the rest of the range.

    ``ranges`` holds zero-based, inclusive (first_row, first_col, last_row,
    last_col) tuples; ``rows`` is extended as needed.
    """
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
