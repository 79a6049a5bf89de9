"""CSV saved from Excel: comma, semicolon or tab, UTF-8 (BOM or not) or Windows-1251.

A large CSV is read by pyarrow's CSV reader into columns: the rows above
the table (title, period) are read with Python's csv module, and from the
first row of the table's width on, pyarrow takes over. A file whose later
rows do not all have that width, such as one with a short footer line, is
read with the csv module from start to end, so both paths return the same
cells. The one difference: a blank line inside the table is a row of blank
cells in the columnar path and an empty row in the other, and the layout
skips both.
"""

from __future__ import annotations

import csv
import io
import itertools

import pyarrow as pa
import pyarrow.csv as pacsv

from dupmon.readers.grid import Grid, cell_text
from dupmon.readers.textcodec import decode_text
from dupmon.text_arrays import clean_display_array

# Rows read with the csv module before the table's width is known; the
# layout looks for the header in the first 200 rows too.
_HEAD_ROWS = 200
# Below this size the csv module is as fast, and one path is simpler to trust.
COLUMNAR_MIN_BYTES = 1 << 20


class _RaggedRowsError(Exception):
    """A row after the head has another number of cells than the table."""


def read_csv(data: bytes, *, columnar_min_bytes: int = COLUMNAR_MIN_BYTES) -> list[Grid]:
    text = decode_text(data)
    delimiter = _guess_delimiter(text[:65536])
    if len(data) >= columnar_min_bytes:
        try:
            return [_read_columnar(text, delimiter)]
        except _RaggedRowsError:
            pass
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = [[cell_text(value) for value in row] for row in reader]
    return [Grid(name="csv", rows=rows)]


def _read_columnar(text: str, delimiter: str) -> Grid:
    head, offset = _read_head(text, delimiter)
    width = max((len(row) for row in head), default=0)
    first_wide = next((i for i, row in enumerate(head) if len(row) == width), len(head))
    if width < 2 or first_wide == len(head):
        raise _RaggedRowsError
    start = offset[first_wide]
    head = [[cell_text(value) for value in row] for row in head[:first_wide]]

    ragged = []
    names = [f"c{i}" for i in range(width)]
    table = pacsv.read_csv(
        io.BytesIO(text[start:].encode("utf-8")),
        read_options=pacsv.ReadOptions(column_names=names, block_size=8 << 20),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter,
            newlines_in_values=True,
            ignore_empty_lines=False,
            invalid_row_handler=lambda row: ragged.append(row) or "skip",
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    if ragged:
        raise _RaggedRowsError
    block = pa.table([clean_display_array(column) for column in table.columns], names=names)
    return Grid(name="csv", rows=head, block=block)


def _read_head(text: str, delimiter: str) -> tuple[list[list[str]], list[int]]:
    """Parse the first rows with the csv module; return them and where each starts in ``text``."""
    lines = io.StringIO(text, newline="")
    consumed = [0]

    def tracked():
        for line in lines:
            consumed[0] += len(line)
            yield line

    reader = csv.reader(tracked(), delimiter=delimiter)
    rows, offsets = [], []
    position = 0
    for row in itertools.islice(reader, _HEAD_ROWS):
        offsets.append(position)
        rows.append(row)
        position = consumed[0]
    return rows, offsets


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
