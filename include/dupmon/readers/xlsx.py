"""Office Open XML workbooks (.xlsx), merged cells included."""

from __future__ import annotations

import io
import warnings

import openpyxl

from dupmon.readers.grid import Grid, cell_text, fill_merged


def read_xlsx(data: bytes) -> list[Grid]:
    # read_only mode would be faster but does not report merged ranges, and
    # the layouts depend on them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns about unknown styles
        workbook = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    grids = []
    for sheet in workbook.worksheets:
        rows = [[cell_text(value) for value in row] for row in sheet.iter_rows(values_only=True)]
        ranges = [
            (r.min_row - 1, r.min_col - 1, r.max_row - 1, r.max_col - 1)
            for r in sheet.merged_cells.ranges
        ]
        fill_merged(rows, ranges)
        grids.append(Grid(name=sheet.title, rows=rows))
    workbook.close()
    return grids
