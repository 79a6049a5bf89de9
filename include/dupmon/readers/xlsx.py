"""Office Open XML workbooks (.xlsx), merged cells included."""

from __future__ import annotations

import io
import re
import warnings
import zipfile

import openpyxl

from dupmon.readers.grid import Grid, cell_text, check_cells, fill_merged


_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\s+ref="([A-Z]{1,3})(\d+):([A-Z]{1,3})(\d+)"')


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _check_merged_ranges(data: bytes) -> None:
    """Check the merged ranges before openpyxl loads the workbook.

    openpyxl creates an object for every cell of a merged range as it
    loads, so one range such as K1:XFD1048576 in a 5 KB file would take
    gigabytes before any check could run.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
                continue
            cells = 0
            for first_col, first_row, last_col, last_row in _MERGE.findall(archive.read(name)):
                height = int(last_row) - int(first_row) + 1
                width = _column_number(last_col) - _column_number(first_col) + 1
                cells += max(height, 1) * max(width, 1)
            check_cells(name.rsplit("/", 1)[-1].removesuffix(".xml"), cells)


def read_xlsx(data: bytes) -> list[Grid]:
    _check_merged_ranges(data)
    # read_only mode would be faster but does not report merged ranges, and
    # the layouts depend on them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns about unknown styles
        workbook = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    grids = []
    for sheet in workbook.worksheets:
        # One value far out (say in XFD1048576) stretches the used range.
        check_cells(sheet.title, (sheet.max_row or 0) * (sheet.max_column or 0))
        rows = [[cell_text(value) for value in row] for row in sheet.iter_rows(values_only=True)]
        ranges = [
            (r.min_row - 1, r.min_col - 1, r.max_row - 1, r.max_col - 1)
            for r in sheet.merged_cells.ranges
        ]
        fill_merged(rows, ranges, sheet.title)
        grids.append(Grid(name=sheet.title, rows=rows))
    workbook.close()
    return grids
