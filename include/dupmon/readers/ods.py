"""OpenDocument spreadsheets (.ods), merged cells included."""

from __future__ import annotations

import datetime as dt
import io

import defusedxml
from odf.namespaces import OFFICENS, TABLENS, TEXTNS
from odf.office import Spreadsheet
from odf.opendocument import load
from odf.teletype import extractText

from dupmon.readers.grid import Grid, cell_text, fill_merged
from dupmon.readers.spreadsheetml import unsafe_xml_error

# Blank rows or columns kept in a row between two filled ones. LibreOffice
# writes the unused rest of a sheet as one blank row repeated up to 1,048,576
# times, so a blank run is expanded only when a filled cell follows it, and
# then to at most this length.
# NOTE: a filled cell after a longer blank run moves up (or left) to the end
# of this many blanks, so its row number in messages is then too small.
_MAX_BLANK_RUN = 1000
# Cells one sheet may expand to. A repeat count on a filled row or cell is
# expanded in full, and this limit stops a small file that repeats a value
# billions of times. A region-wide report, estimated at a few thousand rows
# of 14 columns, is well under 100,000 cells.
_MAX_CELLS = 5_000_000

_ROW_GROUPS = {"table-header-rows", "table-rows", "table-row-group"}
_CELLS = {"table-cell", "covered-table-cell"}


def read_ods(data: bytes) -> list[Grid]:
    """Read every sheet of an OpenDocument spreadsheet."""
    try:
        document = load(io.BytesIO(data))
    except defusedxml.DefusedXmlException as error:
        # odfpy 1.4.1 parses its XML parts with defusedxml.
        raise unsafe_xml_error("ods", error) from error

    # odfpy 1.4.1 sets ``document.spreadsheet`` to the body's first child, which
    # is a whitespace text node when content.xml is indented, so look it up.
    grids = []
    for spreadsheet in document.getElementsByType(Spreadsheet):
        for table in spreadsheet.childNodes:
            if _qname(table) == (TABLENS, "table"):
                grids.append(_read_table(table))
    return grids


def _qname(node) -> tuple[str, str] | None:
    # Text nodes, such as the whitespace of indented XML, have no qname.
    return getattr(node, "qname", None)


def _read_table(table) -> Grid:
    name = table.getAttrNS(TABLENS, "name") or ""
    rows: list[list[str]] = []
    ranges: list[tuple[int, int, int, int]] = []
    cell_count = 0
    position = 0  # row index in ``rows`` of the next table:table-row

    for row in _iter_rows(table):
        repeat = int(row.getAttrNS(TABLENS, "number-rows-repeated") or 1)
        cells, row_ranges = _read_row(row, position, name)
        if not cells:
            ranges.extend(row_ranges)
            position += min(repeat, _MAX_BLANK_RUN)
            continue

        cell_count += len(cells) * repeat
        if cell_count > _MAX_CELLS:
            raise _too_many_cells(name)
        rows.extend([] for _ in range(position - len(rows)))
        rows.extend(list(cells) for _ in range(repeat))
        ranges.extend(row_ranges)
        position += repeat

    fill_merged(rows, _clip_ranges(ranges, rows))
    width = max((len(row) for row in rows), default=0)
    for row in rows:
        row.extend([""] * (width - len(row)))
    return Grid(name=name, rows=rows)


def _iter_rows(parent):
    for child in parent.childNodes:
        qname = _qname(child)
        if qname == (TABLENS, "table-row"):
            yield child
        elif qname and qname[0] == TABLENS and qname[1] in _ROW_GROUPS:
            yield from _iter_rows(child)


def _read_row(
    row, row_index: int, sheet_name: str
) -> tuple[list[str], list[tuple[int, int, int, int]]]:
    """Return a row's cells up to its last filled one, and the merges that start in it."""
    cells: list[str] = []
    ranges: list[tuple[int, int, int, int]] = []
    column = 0
    for cell in row.childNodes:
        qname = _qname(cell)
        if not qname or qname[0] != TABLENS or qname[1] not in _CELLS:
            continue
        repeat = int(cell.getAttrNS(TABLENS, "number-columns-repeated") or 1)
        value = _cell_value(cell)
        columns_spanned = int(cell.getAttrNS(TABLENS, "number-columns-spanned") or 1)
        rows_spanned = int(cell.getAttrNS(TABLENS, "number-rows-spanned") or 1)
        if columns_spanned > 1 or rows_spanned > 1:
            ranges.append(
                (row_index, column, row_index + rows_spanned - 1, column + columns_spanned - 1)
            )

        if not value:
            column += min(repeat, _MAX_BLANK_RUN)
            continue
        if len(cells) + repeat > _MAX_CELLS:
            raise _too_many_cells(sheet_name)
        cells.extend([""] * (column - len(cells)))
        cells.extend([value] * repeat)
        column += repeat
    return cells, ranges


def _cell_value(cell) -> str:
    """Return a cell's display text, taking numbers and dates from their typed value.

    A float is read from ``office:value`` so that a class 8 shown as «8,0» or
    «08» still reads «8», and a date from ``office:date-value`` so that it is
    written day first whatever the cell's number format.
    """
    value_type = cell.getAttrNS(OFFICENS, "value-type")
    if value_type == "float":
        value = cell.getAttrNS(OFFICENS, "value")
        if value is not None:
            try:
                return cell_text(float(value))
            except ValueError:
                pass
    elif value_type == "date":
        value = cell.getAttrNS(OFFICENS, "date-value")
        if value is not None:
            try:
                return cell_text(_parse_date(value))
            except ValueError:
                pass

    # Only paragraphs and headings: a cell's comment (office:annotation) is
    # also a child of the cell and is not part of its value.
    paragraphs = [
        extractText(child)
        for child in cell.childNodes
        if _qname(child) in ((TEXTNS, "p"), (TEXTNS, "h"))
    ]
    return cell_text("\n".join(paragraphs))


def _parse_date(value: str) -> dt.date:
    if "T" in value:
        return dt.datetime.fromisoformat(value)
    return dt.date.fromisoformat(value)


def _clip_ranges(ranges, rows):
    """Cut merged ranges at the last filled row and column.

    A merge may reach into the blank rest of the sheet, and filling it there
    would only add rows with no data.
    """
    if not rows:
        return []
    last_row = len(rows) - 1
    last_column = max(len(row) for row in rows) - 1
    return [
        (first_row, first_col, min(end_row, last_row), min(end_col, last_column))
        for first_row, first_col, end_row, end_col in ranges
        if first_row <= last_row and first_col <= last_column
    ]


def _too_many_cells(sheet_name: str) -> Exception:
    # Imported here because dupmon.readers imports this module while it loads.
    from dupmon.readers import _problem

    return _problem(
        f"the sheet {sheet_name!r} expands to more than {_MAX_CELLS} cells",
        f"лист {sheet_name!r} разворачивается больше чем в {_MAX_CELLS} ячеек",
        "Check that the file is a real report export. If it is, copy the report's table "
        "into a new spreadsheet and save that",
        "Проверьте, что это настоящая выгрузка отчёта. Если да, скопируйте таблицу отчёта "
        "в новую книгу и сохраните её",
    )
