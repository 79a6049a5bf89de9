"""Day-first dates and the «Промежутки пересечения» ranges of the export."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

# d.mm.yyyy or dd.mm.yyyy; the school system never writes month first.
DATE_PATTERN = r"(\d{1,2})\.(\d{1,2})\.(\d{4})"
_DATE = re.compile(rf"(?<!\d){DATE_PATTERN}(?!\d)")
# A range: two dates joined by -, –, — or ‑ with optional spaces.
RANGE_PATTERN = rf"{DATE_PATTERN}\s*[-‐‑‒–—]\s*{DATE_PATTERN}"
# In the export a range is optionally followed by the duplicate's account
# id in brackets: «(s98765)».
_RANGE = re.compile(rf"(?<!\d){RANGE_PATTERN}(?!\d)(?:\s*\(\s*([^()]*?)\s*\))?")


def parse_day_first(text: str) -> dt.date | None:
    """Parse one ``d.mm.yyyy`` date; None when the text contains no valid date."""
    match = _DATE.fullmatch(text.strip())
    if not match:
        return None
    return _to_date(*match.groups())


def find_dates(text: str) -> list[dt.date]:
    """Return every valid day-first date in a text, in order of appearance."""
    dates = (_to_date(*m.groups()) for m in _DATE.finditer(text))
    return [d for d in dates if d is not None]


def _to_date(day: str, month: str, year: str) -> dt.date | None:
    try:
        return dt.date(int(year), int(month), int(day))
    except ValueError:
        return None


def format_date(value: dt.date) -> str:
    """Format a date as the memo prints it: ``17.01.2025``."""
    return value.strftime("%d.%m.%Y")


@dataclass(frozen=True)
class Intersection:
    """One overlap of two accounts (промежуток пересечения)."""

    start: dt.date
    end: dt.date
    account_id: str | None = None

    def display(self) -> str:
        return f"{format_date(self.start)} - {format_date(self.end)}"


class IntersectionError(ValueError):
    """The intersection text contains no valid date range."""


def parse_intersections(text: str) -> list[Intersection]:
    """Parse every range of an intersection cell.

    Raises IntersectionError when a range has an invalid date or the cell
    contains no range at all. A range whose start is after its end is returned
    as it is: validation reports it with the row it came from.
    """
    ranges: list[Intersection] = []
    for match in _RANGE.finditer(text):
        start = _to_date(*match.group(1, 2, 3))
        end = _to_date(*match.group(4, 5, 6))
        if start is None or end is None:
            raise IntersectionError(f"invalid date in the range {match.group(0)!r}")
        account = match.group(7) or None
        ranges.append(Intersection(start=start, end=end, account_id=account))
    if not ranges:
        raise IntersectionError("no date range of the form d.mm.yyyy - d.mm.yyyy found")
    return ranges
