"""CSV saved from Excel: comma, semicolon or tab, UTF-8 (BOM or not) or Windows-1251.

A CSV of 64 KiB or more is read by pyarrow's CSV reader into columns: the
rows above the table (title, period) are read with Python's csv module,
and from the first row of the table's width on, pyarrow takes over. Rows
of other widths that end the file, such as a short footer or a note, are
read with the csv module again. A file with such a row inside the table
is read with the csv module from start to end, so both paths return the
same cells. The one difference: a blank line inside the table is a row of
blank cells in the columnar path and an empty row in the other, and the
layout skips both.

A quote opened by mistake makes the rows after it part of one cell, up to
the next quote. Both paths reject such a file and name the line where the
cell starts: CellTooLongError when the cell is longer than the csv module
reads, CellContainsRowsError when it takes in rows below it or runs to
the end of the file with its quote never closed. A cell over
lines with the delimiters of a row that is not rejected may still have
taken in rows, so both paths list its row in ``Grid.cells_like_rows``
for a warning. They list each row with a cell over lines that has a
delimiter inside a line in ``Grid.rows_over_lines``, which rejects a file
with pupils' names where it is a row of the table.
"""

from __future__ import annotations

import codecs
import collections
import csv
import io
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping, Set

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from dupmon.columns import column_for_caption, is_header_row
from dupmon.readers.grid import Grid, cell_text
from dupmon.readers.textcodec import _META_CHARSET, decode_text
from dupmon.text_arrays import clean_display_array

try:
    # Compiled from _cells.c at install when a C compiler is present.
    from dupmon import _cells
except ImportError:
    _cells = None

# Rows read with the csv module before the table's width is known; the
# layout looks for the header in the first 200 rows too, and so does the
# guess of the delimiter.
_HEAD_ROWS = 200
# Rows each candidate delimiter is scored on when no row is the header.
_GUESS_ROWS = 50
# pyarrow's reader is faster from this size up: on a 2-core AMD EPYC it took
# 1.4 ms to the csv module's 2.5 ms at 63 KB, and 4.9 to 42 ms at 0.98 MB.
# Below this size the two paths differ by a millisecond or less.
COLUMNAR_MIN_BYTES = 64 << 10


# The head rows are decoded from this much of the file.
_HEAD_PREFIX_BYTES = 4 << 20
# pyarrow's CSV reader parses a file in about this many blocks, none
# smaller than _MIN_BLOCK_BYTES.
_BLOCKS = 4
_MIN_BLOCK_BYTES = 8 << 20
# Whether the body is checked for UTF-8 here, 32 bytes at a time, in place
# of pyarrow's check of each value. On a 99 MB export of the benchmark that
# check took 0.11 s of CPU time, about two fifths of the parse, and this one
# 0.007 s. Without AVX2, or without the compiled module, pyarrow checks.
_VECTOR_UTF8 = bool(getattr(_cells, "UTF8_VECTOR", False))


class _NotColumnarError(Exception):
    """The file needs the csv module: a ragged row, a cell too long or bytes not plain UTF-8."""


class CellTooLongError(ValueError):
    """A cell longer than the csv module reads: usually the rest of a file after an open quote."""

    def __init__(self, line: int, limit: int):
        super().__init__(f"the cell that starts on line {line} is longer than {limit} characters")
        self.line = line
        self.limit = limit


class CellContainsRowsError(ValueError):
    """A cell that runs over line breaks into the rows below it.

    A quote that is opened by mistake and closed only by the next quote
    further down, or never, makes the rows in between part of one cell.
    Such a cell has as many delimiters as a row and a line that starts as
    a row does, or its row has more cells than any row on one line. A row
    of an export (names, schools, classes, dates) has neither, even where
    a cell contains a line break.
    """

    def __init__(self, line: int, end: int):
        super().__init__(
            f"the cell that starts on line {line} runs over line breaks to line {end}, "
            "taking in the rows between"
        )
        self.line = line
        self.end = end


def read_csv(data: bytes, *, columnar_min_bytes: int = COLUMNAR_MIN_BYTES) -> list[Grid]:
    if len(data) >= columnar_min_bytes:
        try:
            return [_read_columnar(data)]
        except _NotColumnarError:
            pass
    text = decode_text(data)
    delimiter = _guess_delimiter(text[:65536])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = []
    # The rows that span lines: where each starts and ends, its index in
    # rows, and its raw cells with a line break and a delimiter, each with
    # its index in the row. Only those cells are kept, because every raw row
    # took 0.7 s more on 400,000 such rows.
    spanning = []
    # The maximum number of cells in a row that does not span lines.
    longest = 0
    row_start = 1
    try:
        for row in reader:
            if reader.line_num > row_start:
                suspects = _cells_over_lines(row, delimiter)
                spanning.append((row_start, reader.line_num, len(rows), suspects))
            else:
                longest = max(longest, len(row))
            rows.append([cell_text(value) for value in row])
            row_start = reader.line_num + 1
    except csv.Error as error:
        if "field larger than field limit" not in str(error):
            raise
        raise CellTooLongError(row_start, csv.field_size_limit()) from error
    last_spans = bool(spanning) and spanning[-1][2] == len(rows) - 1
    if rows and not last_spans and any(_has_line_break(value) for value in row):
        # A quote left open in the last row (``row``, still bound to the
        # last raw row) takes in only the file's last line break, so the
        # csv module ends the row on the line where it starts. Checked as a
        # row over lines, it gets the test for a quote never closed.
        line = row_start - 1
        spanning.append((line, line, len(rows) - 1, _cells_over_lines(row, delimiter)))
    cells_like_rows, rows_over_lines = [], []
    if spanning:
        width = _table_width(len(row) for row in rows)
        longest = max(longest, width)
        row_start_regex = re.compile(_row_start_pattern(delimiter))
        lines = []
        if width >= _MIN_WIDTH:
            for *_, index, suspects in spanning:
                lines.extend(_row_lines(suspects, len(rows[index]), width, delimiter))
        found = _found_in_columns(lines, rows)
        for line, end, index, suspects in spanning:
            length = len(rows[index])
            if _takes_in_rows(length, suspects, delimiter, width, longest, row_start_regex, found):
                raise CellContainsRowsError(line, end)
        line, end, index, suspects = spanning[-1]
        if index == len(rows) - 1 and suspects and _quote_never_closed(text, line, delimiter):
            raise CellContainsRowsError(line, end)
        if width >= _MIN_WIDTH:
            # The rows keep cleaned cells, ``suspects`` the raw ones.
            cells_like_rows = [
                (line, end, index, _filled_count(rows[index]))
                for line, end, index, suspects in spanning
                if any(_row_like(value, delimiter, width) for _, value in suspects)
            ]
            listed = (
                (line, end, index)
                for line, end, index, suspects in spanning
                if any(_delimiter_within_lines(value, delimiter) for _, value in suspects)
            )
            rows_over_lines = list(itertools.islice(listed, MAX_ROWS_OVER_LINES))
    return [
        Grid(
            name="csv", rows=rows, cells_like_rows=cells_like_rows, rows_over_lines=rows_over_lines
        )
    ]


def _quote_never_closed(text: str, line: int, delimiter: str) -> bool:
    """Return whether the last row, starting on ``line``, opens a quote the file never closes.

    A quote left open at the end of the file is a fault, but the csv module
    reads such a cell to the end without an error unless it is strict. So
    the row is read again, strictly. An earlier fault in the row, such as
    text after a closing quote, hides the open quote.
    """
    start = 0
    if line > 1:
        breaks = _LINE_BREAK.finditer(text)
        start = next(itertools.islice(breaks, line - 2, None)).end()
    reader = csv.reader(io.StringIO(text[start:], newline=""), delimiter=delimiter, strict=True)
    try:
        collections.deque(reader, maxlen=0)
    except csv.Error as error:
        return "unexpected end of data" in str(error)
    return False


def _has_line_break(value: str) -> bool:
    return "\n" in value or "\r" in value


def _table_width(lengths: Iterable[int]) -> int:
    """Return the most common length of the rows with more than one cell."""
    counts = collections.Counter(length for length in lengths if length > 1)
    return counts.most_common(1)[0][0] if counts else 0


# In a table of fewer columns, a cell with a line break and a delimiter or
# two is too common in ordinary text to be taken for rows.
_MIN_WIDTH = 3
_PATTERN_OF_DELIMITER = {";": ";", ",": ",", "\t": r"\t"}
# How many rows Grid.rows_over_lines lists at most, the first in the file.
# A file with pupils' names is rejected for the first of them in a row of
# the table, and other files do not use them.
MAX_ROWS_OVER_LINES = 1000
# Rows of another width below the table that the columnar path reads with
# the csv module. More of them, and the csv module path reads the file.
_MAX_TAIL_ROWS = 1000
# Line ends as the csv module and _line_count split lines.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_BREAK_BYTES = re.compile(rb"\r\n|\r|\n")
_LINE_BREAK_AT_END = re.compile(r"(?:\r\n|\r|\n)\Z")


def _row_start_pattern(delimiter: str) -> str:
    """Return a pattern, for both re and RE2, that finds a row start at the start of a cell or line.

    A row starts with the delimiter where its first cell is empty, or the
    number in «№ п/п» is merged from the row above. Or it starts with that
    number («12», «12.», «12)», «№ 12» or «1.2») and the delimiter, and the
    next cell, «Управление», starts with neither a digit nor a space. In
    text a comma is followed by them, as in «37,5» or «694620, г. Холмск».
    """
    pattern = _PATTERN_OF_DELIMITER[delimiter]
    number = r"(?:№ ?)?[0-9]+(?:[.)]|\.[0-9]+)?"
    return rf"(?:^|[\r\n])(?:{pattern}|{number}{pattern}(?:[^0-9 ]|$))"


def _takes_in_rows(
    length: int,
    cells: Iterable[tuple[int, str]],
    delimiter: str,
    width: int,
    longest: int,
    row_start_regex: re.Pattern,
    found: Mapping[int, Set[str]] | None = None,
) -> bool:
    """Return whether a row that spans lines has a cell that took in rows below it.

    Such a row has more cells (``length``) than any row on one line
    (``longest``). Or one of its ``cells``, each given with its index in
    the row, has a line break and as many delimiters as a row of the table
    (``width`` cells), and a line inside it starts as a row does. That is
    a row start that ``row_start_regex`` from _row_start_pattern finds. Or
    the cell's lines fit rows taken in, and one of them looks like a row of
    the file: ``found`` is from _found_in_columns (see _looks_like_row),
    and without it that check is left out. Rows may be shorter than the
    table where a writer left out empty cells at their ends, so ``longest``
    is not ``width``.
    """
    # NOTE: rows can still be lost to a quote that closes in a row without
    # its empty end cells. Validation warns of that where the rows are
    # numbered, and where the cell has a row's delimiters (read_csv's
    # cells_like_rows). A quote that joins two rows and closes before the
    # cell where it opened leaves fewer delimiters and goes unnoticed in a
    # file without pupils' names. A file with them is rejected for a cell
    # over lines with a delimiter inside a line in a row of the table
    # (read_csv's rows_over_lines). In tab files a note with tab stops over
    # lines may be rejected.
    if width < _MIN_WIDTH:
        # No table outside the rows that span lines: a quote above the table
        # may have taken in all of it, so the lines inside a cell give the width.
        return any(
            _widest_line(value, delimiter) >= _MIN_WIDTH and row_start_regex.search(value)
            for _, value in cells
        )
    if length > longest:
        return True
    for index, value in cells:
        if not _row_like(value, delimiter, width):
            continue
        if row_start_regex.search(value):
            return True
        if not found:
            continue
        lines = _row_lines([(index, value)], length, width, delimiter)
        if any(_looks_like_row(line, found, width) for line in lines):
            return True
    return False


def _within_line_pattern(delimiter: str, end: str) -> str:
    """Return a pattern that finds a delimiter with no line break next to it, spaces aside.

    ``end`` is the end of the text: ``\\Z`` in re, ``$`` in RE2, whose
    ``$`` matches only there. The start or the end of the cell is not a
    line break.
    """
    pattern = _PATTERN_OF_DELIMITER[delimiter]
    return rf"(?:^|[^\r\n ]) *{pattern}(?: *[^\r\n ]| *{end})"


_WITHIN_LINE = {
    delimiter: re.compile(_within_line_pattern(delimiter, r"\Z")) for delimiter in ";,\t"
}


def _delimiter_within_lines(value: str, delimiter: str) -> bool:
    """Return whether a cell over lines has a delimiter with no line break next to it.

    A cell that lists ranges or classes may end a line with the delimiter,
    as in «8А,» over «8Б». A cell that a stray quote joined from rows has
    one inside a line, unless it joins the end of one row to the start of
    the next and takes at most one filled cell of each.
    """
    return _WITHIN_LINE[delimiter].search(value) is not None


def _cells_over_lines(row: list[str], delimiter: str) -> tuple[tuple[int, str], ...]:
    """Return the cells of ``row`` with a line break and a delimiter, each with its index."""
    return tuple(
        (index, value)
        for index, value in enumerate(row)
        if delimiter in value and _has_line_break(value)
    )


def _row_like(value: str, delimiter: str, width: int) -> bool:
    """Return whether a cell has a line break and the delimiters of a row of ``width`` cells."""
    return value.count(delimiter) >= width - 1 and _has_line_break(value)


def _row_lines(
    cells: Iterable[tuple[int, str]], length: int, width: int, delimiter: str
) -> list[list[str]]:
    """Return the lines of cells over lines that fit rows taken in, as cells.

    A stray quote at the start of cell ``index`` of a row may be closed by
    a quote further down. The rest of the row is then the cell's first
    line, and each row between is a line. The row where the quote closes,
    up to the quote, is its last line. Take a table of ``width`` cells,
    where the row with the cell has ``length`` cells. The first line has
    at most the delimiters of the cells after ``index``. The last line has
    those of the cells that the row lacks after the cell, and each line
    between one to those of a whole row. The lines after the first of a
    cell that fits are returned as cells, cleaned as cells are, the first
    in the table's first column. So is a first line with the delimiters of
    the rest of a row, its first cell in column ``index``.
    """
    # A note over lines in a row of the table's width fits only with no
    # delimiter on its last line, and in a row of one cell only with a whole
    # row's delimiters there. A row without its empty end cells fits only
    # as a first line.
    row_lines = []
    for index, value in cells:
        if not _row_like(value, delimiter, width):
            continue
        lines = _LINE_BREAK.split(value)
        counts = [line.count(delimiter) for line in lines]
        if (
            counts[0] > width - 1 - index
            or counts[-1] != width - (length - index)
            or not all(1 <= count < width for count in counts[1:-1])
        ):
            continue
        parts = [line.split(delimiter) for line in lines]
        # A first line with the delimiters of the rest of a row counts too,
        # in the columns from ``index`` on: the last line may have one cell.
        if counts[0] == width - 1 - index:
            parts[0] = [""] * index + parts[0]
        else:
            parts = parts[1:]
        row_lines.extend([cell_text(part) for part in line] for line in parts)
    return row_lines


def _texts_by_column(lines: Iterable[list[str]]) -> dict[int, set[str]]:
    """Return the texts of the cells of ``lines`` that are not empty, by column."""
    texts = collections.defaultdict(set)
    for cells in lines:
        for column, text in enumerate(cells):
            if text:
                texts[column].add(text)
    return texts


def _found_in_columns(lines: list[list[str]], rows: list[list[str]]) -> dict[int, set[str]]:
    """Return, by column, the texts in cells of ``lines`` that a row of ``rows`` has there too."""
    return {
        column: texts.intersection(row[column] for row in rows if len(row) > column)
        for column, texts in _texts_by_column(lines).items()
    }


def _looks_like_row(cells: list[str], found: Mapping[int, Set[str]], width: int) -> bool:
    """Return whether a line's ``cells`` look like a row of a table of ``width`` cells.

    Rows of an export repeat the values of their columns: authorities,
    schools, settlements, classes. So a line looks like a row where half
    of its cells that are not empty, and half of a row's cells and at
    least three, are values of their columns (``found``). A line of a note
    may name an authority, a school and a settlement in the table's order,
    but rarely goes on so.
    """
    filled = [(column, text) for column, text in enumerate(cells) if text]
    matches = sum(text in found.get(column, ()) for column, text in filled)
    return matches >= max(3, -(-width // 2)) and 2 * matches >= len(filled)


def _widest_line(value: str, delimiter: str) -> int:
    """Return the maximum number of cells a line of ``value`` splits into."""
    return max(line.count(delimiter) for line in value.splitlines()) + 1


def _read_columnar(data: bytes) -> Grid:
    """Read a CSV into a head of rows and a block of columns; see the module docstring.

    Takes the encoding decode_text would choose: UTF-8 (with or without a
    BOM) when every byte is valid UTF-8, else Windows-1251.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or _META_CHARSET.search(
        data[:4096]
    ):
        raise _NotColumnarError
    body = data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    try:
        return _read_utf8(body, _decode_prefix(body))
    except (UnicodeDecodeError, _InvalidUtf8Error):
        if data.startswith(codecs.BOM_UTF8):
            raise _NotColumnarError from None
    try:
        text = body.decode("cp1251")
    except UnicodeDecodeError:
        raise _NotColumnarError from None
    utf8 = text.encode("utf-8")
    return _read_utf8(utf8, text[:_HEAD_PREFIX_BYTES], encoded_here=True)


class _InvalidUtf8Error(Exception):
    """The bytes after the head are not UTF-8."""


def _decode_prefix(body: bytes) -> str:
    prefix = body[:_HEAD_PREFIX_BYTES]
    if len(prefix) < len(body):
        # Cut at a character boundary: drop continuation bytes at the end,
        # then the lead byte they belong to.
        end = len(prefix)
        while end > 0 and 0x80 <= prefix[end - 1] < 0xC0:
            end -= 1
        if end > 0 and prefix[end - 1] >= 0xC0:
            end -= 1
        prefix = prefix[:end]
    return prefix.decode("utf-8")


def _read_utf8(utf8: bytes, head_text: str, encoded_here: bool = False) -> Grid:
    """Read UTF-8 bytes whose beginning, decoded, is ``head_text``.

    Raises _InvalidUtf8Error when the rest is not UTF-8. With
    ``encoded_here``, Python's encoder wrote the bytes, so they are not
    checked again.
    """
    delimiter = _guess_delimiter(head_text[:65536])
    complete = len(head_text.encode("utf-8")) >= len(utf8)
    try:
        head, offsets = _read_head(head_text, delimiter)
    except csv.Error:
        raise _NotColumnarError from None
    if not complete and head:
        # The prefix may end inside the last row read from it.
        head, offsets = head[:-1], offsets[:-1]
    width = max((len(row) for row in head), default=0)
    first_wide = next((i for i, row in enumerate(head) if len(row) == width), len(head))
    if width < 2 or first_wide == len(head):
        raise _NotColumnarError
    row_start_regex = re.compile(_row_start_pattern(delimiter))
    # The lines of cells over lines that fit rows taken in (_row_lines).
    # Whether they look like rows is known once every row is read.
    row_lines = []
    # The rows with a cell like rows and those with a cell over lines, as
    # Grid.cells_like_rows and Grid.rows_over_lines list them.
    cells_like_rows, rows_over_lines = [], []
    for index, row in enumerate(head[:first_wide]):
        if _takes_in_rows(len(row), enumerate(row), delimiter, width, width, row_start_regex):
            raise _NotColumnarError
        suspects = _cells_over_lines(row, delimiter)
        row_lines.extend(_row_lines(suspects, len(row), width, delimiter))
        if suspects and width >= _MIN_WIDTH:
            line = 1 + _break_count(head_text[: offsets[index]])
            end = line + _break_count(head_text[offsets[index] : offsets[index + 1]]) - 1
            if any(_delimiter_within_lines(value, delimiter) for _, value in suspects):
                rows_over_lines.append((line, end, index))
            if _has_cell_like_rows(row, delimiter, width):
                cells_like_rows.append((line, end, index, _filled_count(map(cell_text, row))))
    start = len(head_text[: offsets[first_wide]].encode("utf-8"))
    head = [[cell_text(value) for value in row] for row in head[:first_wide]]

    # Every byte of the body outside the cells is ASCII (delimiters, quotes,
    # line ends), so the body is UTF-8 exactly when every cell is.
    check_cells = not encoded_here
    if check_cells and _VECTOR_UTF8:
        if not _cells.utf8_valid(utf8, start, True):
            raise _InvalidUtf8Error
        check_cells = False

    ragged = []
    quoted = utf8.find(b'"', start) != -1
    names = [f"c{i}" for i in range(width)]
    source = pa.BufferReader(pa.py_buffer(utf8)[start:])
    # pyarrow parses blocks in parallel, and each block becomes a chunk of
    # every column. On a 94 MB export, joining its twelve chunks of 8 MiB
    # afterwards took as long as the parse, so a file is cut into _BLOCKS.
    block_size = max(_MIN_BLOCK_BYTES, -(-(len(utf8) - start) // _BLOCKS))
    try:
        table = pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(column_names=names, block_size=block_size),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                # Only a quoted value can hold a line break, and without
                # them pyarrow splits the file into blocks much faster.
                newlines_in_values=quoted,
                ignore_empty_lines=False,
                invalid_row_handler=lambda row: ragged.append(row) or "skip",
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=check_cells,
            ),
        )
    except pa.ArrowInvalid as error:
        # Invalid UTF-8 means Windows-1251 to decode_text; any other parse
        # error is for the csv module path to report.
        if "UTF8" in str(error):
            raise _InvalidUtf8Error from error
        raise _NotColumnarError from error
    if _has_cell_over_limit(table):
        raise _NotColumnarError
    body, tail, tail_like_rows, tail_over_lines = utf8, [], [], []
    if ragged:
        blank = _blank_rows_at_end(table)
        end, tail, tail_like_rows, tail_over_lines = _short_rows_at_end(
            utf8, start, ragged, blank, table.num_rows, width, delimiter, row_lines
        )
        table = table.slice(0, table.num_rows - blank)
        body = memoryview(utf8)[:end]
        below = first_wide + table.num_rows
        tail_like_rows = [(line, end, below + row, n) for line, end, row, n in tail_like_rows]
        tail_over_lines = [(line, end, below + row) for line, end, row in tail_over_lines]
    like_rows, over_lines = [], []
    if quoted and _has_cell_taking_in_rows(
        table, body, start, delimiter, row_lines, like_rows, over_lines
    ):
        raise _NotColumnarError
    block = pa.table([clean_display_array(column) for column in table.columns], names=names)
    if width >= _MIN_WIDTH and row_lines:
        found = _found_in_grid(row_lines, head, block, tail)
        if any(_looks_like_row(line, found, width) for line in row_lines):
            raise _NotColumnarError
    if over_lines or like_rows:
        listed = np.concatenate(over_lines) if over_lines else np.zeros(0, np.int64)
        listed = _sorted_once(listed)[: MAX_ROWS_OVER_LINES - len(rows_over_lines)]
        like_rows, filled = _filled_counts(block, like_rows)
        rows = _sorted_once(np.concatenate((listed, np.array(like_rows, np.int64))))
        first_line = 1 + _break_count(head_text[: offsets[first_wide]])
        starts, ends = _lines_of_rows(table, first_line, rows)
        at = np.searchsorted(rows, listed)
        rows_over_lines.extend(
            zip(starts[at].tolist(), ends[at].tolist(), (first_wide + listed).tolist(), strict=True)
        )
        at = np.searchsorted(rows, like_rows)
        lines = zip(starts[at].tolist(), ends[at].tolist(), like_rows, filled, strict=True)
        for line, end, row, count in lines:
            cells_like_rows.append((line, end, first_wide + row, count))
    cells_like_rows.extend(tail_like_rows)
    rows_over_lines = (rows_over_lines + tail_over_lines)[:MAX_ROWS_OVER_LINES]
    return Grid(
        name="csv",
        rows=head,
        block=block,
        tail=tail,
        cells_like_rows=cells_like_rows,
        rows_over_lines=rows_over_lines,
    )


def _break_count(text: str) -> int:
    """Return the number of line breaks in ``text``: each LF, CR LF or lone CR is one."""
    return len(_LINE_BREAK.findall(text))


def _sorted_once(rows: np.ndarray) -> np.ndarray:
    """Return ``rows`` sorted, each once.

    np.unique, which hashes, took 0.22 s on 400,000 rows on a 2-core AMD
    EPYC, and the sort 0.02 s.
    """
    rows = np.sort(rows)
    return np.concatenate((rows[:1], rows[1:][rows[1:] != rows[:-1]]))


def _lines_of_rows(
    table: pa.Table, first_line: int, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return the first and last lines of ``rows``, where row 0 of ``table`` is on ``first_line``.

    Each row takes a line and one more for each line break in its cells.
    ``rows`` are sorted, and the rows below the last are not read.
    """
    if len(rows):
        table = table.slice(0, int(rows[-1]) + 1)
    breaks = np.zeros(table.num_rows, dtype=np.int64)
    for column in table.columns:
        for chunk_start, chunk in _chunks_with_line_breaks(column):
            counts = pc.count_substring_regex(chunk, r"\r\n|\r|\n")
            breaks[chunk_start : chunk_start + len(chunk)] += counts.to_numpy(zero_copy_only=False)
    starts = first_line + np.arange(table.num_rows) + np.cumsum(breaks) - breaks
    return starts[rows], starts[rows] + breaks[rows]


def _filled_counts(block: pa.Table, rows: list[int]) -> tuple[list[int], list[int]]:
    """Return the ``rows`` of ``block``, sorted and each once, and the filled cells of each."""
    positions = pa.array(sorted(set(rows)), pa.int64())
    filled = np.zeros(len(positions), dtype=np.int64)
    for column in block.columns:
        filled += pc.not_equal(column.take(positions), "").to_numpy(zero_copy_only=False)
    return positions.to_pylist(), filled.tolist()


def _filled_count(cells: Iterable[str]) -> int:
    """Return how many of the cleaned ``cells`` are not empty."""
    return sum(1 for cell in cells if cell)


def _found_in_grid(
    lines: list[list[str]], head: list[list[str]], block: pa.Table, tail: list[list[str]]
) -> dict[int, set[str]]:
    """Return _found_in_columns of ``lines`` over a Grid's ``head``, ``block`` and ``tail``."""
    found = _found_in_columns(lines, head + tail)
    for column, texts in _texts_by_column(lines).items():
        if column < block.num_columns:
            cells = block.column(column)
            value_set = pa.array(sorted(texts), pa.string())
            present = pc.unique(cells.filter(pc.is_in(cells, value_set=value_set)))
            found[column].update(present.to_pylist())
    return found


def _has_cell_like_rows(row: list[str], delimiter: str, width: int) -> bool:
    """Return whether a raw ``row`` has a cell with a line break and the delimiters of a row.

    Only a cell with a quote opened by mistake, or a note with a row's
    delimiters over lines, has them: rows of an export do not. Where such
    a cell is not rejected, its row is listed in ``Grid.cells_like_rows``.
    """
    if width < _MIN_WIDTH:
        return False
    return any(_row_like(value, delimiter, width) for _, value in _cells_over_lines(row, delimiter))


def _short_rows_at_end(
    utf8: bytes,
    start: int,
    ragged: list,
    blank: int,
    table_rows: int,
    width: int,
    delimiter: str,
    row_lines: list[list[str]],
) -> tuple[int, list[list[str]], list[tuple[int, int, int, int]], list[tuple[int, int, int]]]:
    """Return where the rows pyarrow skipped start, and the rows from there, when they end the file.

    pyarrow skips each row of another width than the table, such as a
    footer or a note, and passes it to the invalid row handler
    (``ragged``). It reads a blank line as a row of blank cells, so the
    table ends in ``blank`` such rows where blank lines come among those
    rows. The csv module reads the last lines, as many as those rows and
    blank lines take. They must be just those rows, by their raw text, and
    blank lines, fewer than the table's rows. Each row over lines is then
    checked as the other path checks it, and its lines that fit rows taken
    in are added to ``row_lines`` (see _row_lines). Otherwise this raises
    _NotColumnarError, and the csv module path reads the whole file. Also
    returned, for each row with a cell like rows (_has_cell_like_rows), are
    its first and last lines in the file, its index among these rows and
    the number of its filled cells. So are the same, without the count,
    for each row with a cell over lines and a delimiter inside a line.
    """
    count = len(ragged)
    if count > _MAX_TAIL_ROWS or count + blank >= table_rows:
        raise _NotColumnarError
    lines = sum(1 + len(_LINE_BREAK.findall(row.text)) for row in ragged) + blank
    # The rows' bytes, their line ends and the file's last line end.
    size = sum(len(row.text.encode("utf-8")) for row in ragged) + 2 * lines + 2
    window_start = max(start, len(utf8) - size)
    window = bytes(utf8[window_start:])
    breaks = list(_LINE_BREAK_BYTES.finditer(window))
    if breaks and breaks[-1].end() == len(window):
        breaks.pop()
    if len(breaks) < lines:
        # Every line of the body would be in a short row, or the rows have
        # more bytes than pyarrow passed.
        raise _NotColumnarError
    tail_start = breaks[-lines].end()
    text = window[tail_start:].decode("utf-8")
    raw_lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(iter(raw_lines), delimiter=delimiter)
    row_start = re.compile(_row_start_pattern(delimiter))
    rows, texts, suspects, line, line_start = [], [], [], 0, 0
    # Rows with a cell like rows: their first and last line in the tail,
    # their index among the tail's rows and their filled cells. The same,
    # without the count, for rows with a delimiter inside a line of a cell.
    like_rows, over_lines = [], []
    try:
        for row in reader:
            suspects = _cells_over_lines(row, delimiter)
            spans = reader.line_num > line + 1
            if len(row) == width:
                raise _NotColumnarError
            if spans and _takes_in_rows(len(row), suspects, delimiter, width, width, row_start):
                raise _NotColumnarError
            row_lines.extend(_row_lines(suspects, len(row), width, delimiter))
            within = any(_delimiter_within_lines(value, delimiter) for _, value in suspects)
            if within and width >= _MIN_WIDTH:
                over_lines.append((line, reader.line_num - 1, len(rows)))
            if _has_cell_like_rows(row, delimiter, width):
                filled = _filled_count(map(cell_text, row))
                like_rows.append((line, reader.line_num - 1, len(rows), filled))
            if row:
                raw = "".join(raw_lines[line : reader.line_num])
                texts.append(_LINE_BREAK_AT_END.sub("", raw))
            rows.append([cell_text(value) for value in row])
            line_start, line = line + 1, reader.line_num
    except csv.Error:
        # A cell over the csv module's limit: the other path names its line.
        raise _NotColumnarError from None
    if len(rows) != count + blank or sorted(texts) != sorted(row.text for row in ragged):
        raise _NotColumnarError
    # A quote left open in the last row may take in only the file's last
    # line break, so that row may end on the line where it starts.
    if rows and suspects and _quote_never_closed(text, line_start, delimiter):
        raise _NotColumnarError
    if like_rows or over_lines:
        # The tail is the file's last ``lines`` lines.
        first_line = _line_count(utf8, 0) - lines + 1
        like_rows = [
            (first_line + first, first_line + last, row, filled)
            for first, last, row, filled in like_rows
        ]
        over_lines = [
            (first_line + first, first_line + last, row) for first, last, row in over_lines
        ]
    return window_start + tail_start, rows, like_rows, over_lines


def _blank_rows_at_end(table: pa.Table) -> int:
    """Return how many rows at the end of ``table`` have every cell blank, up to _MAX_TAIL_ROWS."""
    last = table.slice(max(0, table.num_rows - _MAX_TAIL_ROWS))
    filled = np.zeros(last.num_rows, dtype=bool)
    for column in last.columns:
        filled |= pc.not_equal(column, "").to_numpy(zero_copy_only=False)
    positions = np.flatnonzero(filled)
    return last.num_rows - (int(positions[-1]) + 1 if len(positions) else 0)


def _has_cell_over_limit(table: pa.Table) -> bool:
    """Return whether a cell has more characters than ``csv.field_size_limit()``.

    The csv module rejects such a cell and pyarrow reads it. It is usually
    the rest of the file after a quote that was never closed, so the
    columnar path leaves the file to the csv module's error. A cell has at
    least as many bytes as characters, so only a column with a cell over the
    limit in bytes is counted in characters.
    """
    limit = csv.field_size_limit()
    for column in table.columns:
        if len(column) == 0 or pc.max(pc.binary_length(column)).as_py() <= limit:
            continue
        if pc.max(pc.utf8_length(column)).as_py() > limit:
            return True
    return False


def _has_cell_taking_in_rows(
    table: pa.Table,
    utf8: bytes,
    start: int,
    delimiter: str,
    row_lines: list[list[str]],
    like_rows: list[int],
    over_lines: list[np.ndarray],
) -> bool:
    """Return whether a cell took in rows below it, by the rule of _takes_in_rows.

    The table was read from ``utf8[start:]``. When it has as many rows as
    those bytes have lines, no cell contains a line break, and the cells
    are not searched. The lines of the other cells over lines that fit rows
    taken in are added to ``row_lines`` (see _row_lines), for the caller to
    compare with the rows, the rows with a cell like rows (with a line
    break and a row's delimiters) to ``like_rows``, and arrays of the rows
    with a cell that has a line break and a delimiter to ``over_lines``. A
    row with more cells than the table never gets here, because pyarrow
    rejects it. A table of fewer than _MIN_WIDTH columns with cells over
    lines, or one whose last row has such a cell that the csv module does
    not read as closed, is left to the csv module path.
    """
    width = table.num_columns
    if table.num_rows == _line_count(utf8, start):
        return False
    if width < _MIN_WIDTH:
        # The width of a table that a quote above it took in is that of the
        # lines inside the cell. The csv module path finds it.
        return True
    last_row = [column[table.num_rows - 1].as_py() or "" for column in table.columns]
    if any(_has_line_break(value) for value in last_row):
        # pyarrow reads a quote left open to the end of the file without an
        # error, so the csv module reads the last row again.
        if not _last_row_closed(utf8, start, last_row, delimiter):
            return True
    row_start = _row_start_pattern(delimiter)
    within_line = _within_line_pattern(delimiter, "$")
    for index, column in enumerate(table.columns):
        for chunk_start, chunk in _chunks_with_line_breaks(column):
            counts = pc.count_substring(chunk, delimiter)
            some = pc.greater_equal(counts, 1)
            cells = chunk.filter(some)
            if len(cells) == 0:
                continue
            broken = pc.match_substring_regex(cells, "[\r\n]")
            cells = cells.filter(broken)
            positions = pc.indices_nonzero(some).filter(broken)
            within = pc.match_substring_regex(cells, within_line)
            # Only the first rows of each chunk can be among the first rows
            # listed, and the others would cost a sort.
            listed = positions.filter(within)[:MAX_ROWS_OVER_LINES]
            if len(listed):
                over_lines.append(listed.to_numpy().astype(np.int64) + chunk_start)
            many = pc.greater_equal(counts.filter(some).filter(broken), width - 1)
            candidates = cells.filter(many)
            if len(candidates) == 0:
                continue
            if pc.any(pc.match_substring_regex(candidates, row_start)).as_py():
                return True
            values = ((index, value) for value in candidates.to_pylist())
            row_lines.extend(_row_lines(values, width, width, delimiter))
            positions = positions.filter(many)
            like_rows.extend(chunk_start + position for position in positions.to_pylist())
    return False


def _chunks_with_line_breaks(column: pa.ChunkedArray) -> Iterator[tuple[int, pa.Array]]:
    """Yield each chunk of ``column`` that contains a line break, with its first row's index."""
    chunk_start = 0
    for chunk in column.chunks:
        # Most columns contain no line break at all. Counting the lines of
        # their bytes shows that much faster than a search of cells.
        data = chunk.buffers()[2]
        if data is not None and _bytes_contain_line_break(data):
            yield chunk_start, chunk
        chunk_start += len(chunk)


def _last_row_closed(utf8: bytes, start: int, cells: list[str], delimiter: str) -> bool:
    """Return whether a strict csv module reads the end of ``utf8[start:]`` as ``cells``.

    The last row starts on one of the last lines: as many from the end as
    its cells contain line breaks, or up to two more. Each of those line
    starts is tried, the latest first. A start inside a cell or a quote
    left open gives other cells or an error, so only a row whose quotes
    close matches.
    """
    breaks = sum(len(_LINE_BREAK.findall(cell)) for cell in cells)
    # The row's bytes: each cell quoted, its quotes doubled, a delimiter
    # after it, and the line end.
    size = sum(2 * len(cell.encode("utf-8")) + 3 for cell in cells) + 2
    window_start = max(start, len(utf8) - size)
    window = bytes(utf8[window_start:])
    line_starts = [0] + [match.end() for match in _LINE_BREAK_BYTES.finditer(window)]
    if window_start > start:
        # The window may start inside a line.
        line_starts = line_starts[1:]
    for line_start in reversed(line_starts[-(breaks + 3) :]):
        try:
            tail = window[line_start:].decode("utf-8")
            reader = csv.reader(io.StringIO(tail, newline=""), delimiter=delimiter, strict=True)
            last = collections.deque(reader, maxlen=1)
        except (UnicodeDecodeError, csv.Error):
            continue
        if last and last[0] == cells:
            return True
    return False


def _bytes_contain_line_break(data: pa.Buffer) -> bool:
    # A last line without a line end counts as a line, so one line means no
    # line break unless the last byte is one.
    return _line_count(data, 0) > 1 or data[-1:].to_pybytes() in (b"\n", b"\r")


def _line_count(utf8: bytes, start: int) -> int:
    """Return the number of lines in ``utf8[start:]``: each LF, CR LF or lone CR ends one."""
    # A module built before line_count was added lacks it until rebuilt.
    if getattr(_cells, "line_count", None) is not None:
        return _cells.line_count(utf8, start, True)
    body = bytes(memoryview(utf8)[start:])
    if not body:
        return 0
    breaks = body.count(b"\n") + body.count(b"\r") - body.count(b"\r\n")
    return breaks + (0 if body.endswith((b"\n", b"\r")) else 1)


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
    """Return the delimiter whose header row has the largest number of captions.

    Each candidate splits the first rows, quotes taken into account. The
    one whose header row (is_header_row) has the largest number of cells
    that are captions wins, so a line of a few captions above the header,
    with another delimiter, does not. Without a header, as in the report's «no
    duplicates» message, a candidate scores the count of rows of three
    cells or more, then of two or more, then the commonest width. A title
    or note with many tabs or commas is then one row, so it does not
    outweigh the rows of a table.
    """
    best, best_score = ";", (0, 0, 0, 0)
    for candidate in (";", "\t", ","):
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=candidate)
        lengths = []
        captions = 0
        try:
            for row in itertools.islice(reader, _HEAD_ROWS):
                lengths.append(len(row))
                if len(row) > 1 and is_header_row(row):
                    named = sum(column_for_caption(cell) is not None for cell in row)
                    captions = max(captions, named)
        except csv.Error:
            # The rows read until then still count.
            pass
        lengths = lengths[:_GUESS_ROWS]
        widths = collections.Counter(length for length in lengths if length > 1)
        commonest = max(widths, key=lambda width: (widths[width], width), default=0)
        score = (captions, sum(length > 2 for length in lengths), widths.total(), commonest)
        if score > best_score:
            best, best_score = candidate, score
    return best
