"""CSV saved from Excel: comma, semicolon or tab, UTF-8 (BOM or not) or Windows-1251."""

from __future__ import annotations

import csv
import io

from dupmon.readers.grid import Grid, cell_text
from dupmon.readers.textcodec import decode_text


def read_csv(data: bytes) -> list[Grid]:
    text = decode_text(data)
    delimiter = _guess_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = [[cell_text(value) for value in row] for row in reader]
    return [Grid(name="csv", rows=rows)]


def _guess_delimiter(text: str) -> str:
    # csv.Sniffer is easily fooled by the commas inside class lists such as
    # «8А, 8Б», so count candidates on the widest lines instead.
    lines = [line for line in text.splitlines()[:50] if line.strip()]
    best, best_count = ";", -1
    for candidate in (";", "\t", ","):
        count = max((line.count(candidate) for line in lines), default=0)
        if count > best_count:
            best, best_count = candidate, count
    return best
