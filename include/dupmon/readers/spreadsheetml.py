"""Excel 2003 XML workbooks (SpreadsheetML), often saved under an .xls name."""

from __future__ import annotations

import codecs
import datetime as dt
import re

import defusedxml
import defusedxml.ElementTree

from dupmon.readers.grid import Grid, cell_text, fill_merged
from dupmon.readers.textcodec import decode_text

_SS = "{urn:schemas-microsoft-com:office:spreadsheet}"
_DECLARED_ENCODING = re.compile(rb"\s*<\?xml[^>]*\bencoding\s*=")
# Excel 2007 and later limit a sheet to 1,048,576 rows and 16,384 columns, so
# an index or merge past them means a damaged file.
_MAX_ROWS = 1_048_576
_MAX_COLUMNS = 16_384
# Excel writes a time of day with no date as a DateTime on its day zero,
# such as 1899-12-31T10:30:00.000.
_EXCEL_DAY_ZERO = dt.date(1899, 12, 31)


def read_spreadsheetml(data: bytes) -> list[Grid]:
    """Read every worksheet of a SpreadsheetML workbook.

    Raises UnreadableExportError when the XML declares entities, a DTD with
    external references or other constructs that defusedxml rejects.
    """
    try:
        workbook = defusedxml.ElementTree.fromstring(_xml_input(data))
    except defusedxml.DefusedXmlException as error:
        raise unsafe_xml_error("spreadsheetml", error) from error

    grids = []
    for index, worksheet in enumerate(workbook.findall(f"{_SS}Worksheet")):
        name = worksheet.get(f"{_SS}Name") or f"sheet {index + 1}"
        table = worksheet.find(f"{_SS}Table")
        rows, ranges = _read_table(table) if table is not None else ([], [])
        fill_merged(rows, ranges)
        width = max((len(row) for row in rows), default=0)
        for row in rows:
            row.extend([""] * (width - len(row)))
        grids.append(Grid(name=name, rows=rows))
    return grids


def _xml_input(data: bytes) -> bytes | str:
    # Without a BOM or an encoding declaration the XML parser assumes UTF-8,
    # but a report engine may write Windows-1251 with a bare <?xml?> line.
    if data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data
    if _DECLARED_ENCODING.match(data):
        return data
    return decode_text(data)


def _read_table(table) -> tuple[list[list[str]], list[tuple[int, int, int, int]]]:
    """Lay the rows of a <Table> out on a grid and return it with its merged ranges.

    ``ss:Index`` (1-based) moves a row or cell to a later position, and a cell
    without it follows the previous cell and the columns that cell merges across.
    """
    rows: list[list[str]] = []
    ranges: list[tuple[int, int, int, int]] = []
    row_index = 0
    for row in table.findall(f"{_SS}Row"):
        row_index = _index(row, row_index, _MAX_ROWS, "row")
        while len(rows) <= row_index:
            rows.append([])
        cells = rows[row_index]

        column = 0
        for cell in row.findall(f"{_SS}Cell"):
            column = _index(cell, column, _MAX_COLUMNS, "column")
            across = _merge_extent(cell, "MergeAcross", column, _MAX_COLUMNS)
            down = _merge_extent(cell, "MergeDown", row_index, _MAX_ROWS)
            value = _cell_value(cell)
            if value:
                cells.extend([""] * (column + 1 - len(cells)))
                cells[column] = value
            if across or down:
                ranges.append((row_index, column, row_index + down, column + across))
            column += across + 1

        # ss:Span on a row repeats its formatting over the next rows, not its cells.
        row_index += _int_attribute(row, "Span") + 1
    return rows, ranges


def _index(element, next_position: int, limit: int, kind: str) -> int:
    """Return the zero-based position of a row or cell."""
    if element.get(f"{_SS}Index") is None:
        position = next_position
    else:
        position = _int_attribute(element, "Index") - 1
    if not 0 <= position < limit:
        raise ValueError(f"{kind} index {position + 1} is outside 1..{limit}")
    return position


def _merge_extent(cell, attribute: str, start: int, limit: int) -> int:
    extent = _int_attribute(cell, attribute)
    if extent < 0 or start + extent >= limit:
        raise ValueError(
            f"ss:{attribute}={extent} at position {start + 1} is outside the sheet limit of {limit}"
        )
    return extent


def _int_attribute(element, name: str) -> int:
    value = element.get(f"{_SS}{name}")
    return int(value) if value else 0


def _cell_value(cell) -> str:
    # Only the cell's own <Data>: a <Comment> child has a <Data> of its own.
    data = cell.find(f"{_SS}Data")
    if data is None:
        return ""
    text = "".join(data.itertext())  # a String may carry HTML formatting elements
    data_type = data.get(f"{_SS}Type")
    if data_type == "Number":
        try:
            return cell_text(float(text))
        except ValueError:
            return cell_text(text)
    if data_type == "DateTime":
        try:
            moment = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            return cell_text(text)
        if moment.date() == _EXCEL_DAY_ZERO:
            return cell_text(moment.time())
        return cell_text(moment)
    if data_type == "Boolean":
        return cell_text(text.strip() == "1")
    return cell_text(text)


def unsafe_xml_error(file_format: str, error: Exception) -> Exception:
    """Return the UnreadableExportError for XML that defusedxml rejected.

    A spreadsheet export has no use for entity declarations or external
    references, and such XML can expand to gigabytes (the «billion laughs»)
    or read files from the server.
    """
    # Imported here because dupmon.readers imports this module while it loads.
    from dupmon.readers import _problem

    return _problem(
        f"the {file_format} file contains XML entity declarations or external references "
        f"({type(error).__name__}), which a spreadsheet export does not contain",
        f"файл формата {file_format} содержит объявления сущностей XML или внешние ссылки "
        f"({type(error).__name__}), каких не бывает в выгрузке электронной таблицы",
        "Do not open the file. Export the report again from the school system and put the "
        "new file in the inbox",
        "Не открывайте файл. Выгрузите отчёт из АИС СГО заново и положите новый файл во "
        "входящую папку",
    )
