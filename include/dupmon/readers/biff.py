"""Excel 97-2003 binary workbooks (BIFF .xls), merged cells included."""

from __future__ import annotations

import datetime as dt
import io
import logging

import olefile
import xlrd

from dupmon.readers.grid import Grid, cell_text, fill_merged

log = logging.getLogger(__name__)

# Stream in which Office stores an .xlsx saved with a password: the workbook
# is encrypted into it inside an OLE2 container, which has no Workbook stream.
_ENCRYPTED_PACKAGE = "EncryptedPackage"


def read_xls(data: bytes) -> list[Grid]:
    """Read every worksheet of a BIFF workbook.

    Raises UnreadableExportError for a password-protected workbook, either an
    encrypted .xlsx in an OLE2 container or a BIFF file with a password.
    """
    if _is_encrypted_package(data):
        raise _password_protected()

    messages = io.StringIO()
    try:
        book = xlrd.open_workbook(file_contents=data, formatting_info=True, logfile=messages)
    except xlrd.XLRDError as error:
        # xlrd 2.0.2 raises "Workbook is encrypted" for a BIFF file with a password.
        # NOTE: untested, because the tests have no .xls saved with a password.
        if "encrypted" in str(error).lower():
            raise _password_protected() from error
        raise
    finally:
        if messages.getvalue().strip():
            log.warning("xlrd warnings while opening the workbook: %s", messages.getvalue().strip())

    grids = []
    for sheet in book.sheets():
        rows = [
            [_cell_value_text(cell, book.datemode) for cell in sheet.row(index)]
            for index in range(sheet.nrows)
        ]
        # xlrd returns (first_row, end_row, first_col, end_col) with exclusive ends.
        ranges = [
            (first_row, first_col, end_row - 1, end_col - 1)
            for first_row, end_row, first_col, end_col in sheet.merged_cells
        ]
        fill_merged(rows, ranges)
        grids.append(Grid(name=sheet.name, rows=rows))
    book.release_resources()
    return grids


def _is_encrypted_package(data: bytes) -> bool:
    with olefile.OleFileIO(io.BytesIO(data)) as container:
        return container.exists(_ENCRYPTED_PACKAGE)


def _cell_value_text(cell: xlrd.sheet.Cell, datemode: int) -> str:
    if cell.ctype == xlrd.XL_CELL_DATE:
        return _date_text(cell.value, datemode)
    if cell.ctype == xlrd.XL_CELL_BOOLEAN:
        return cell_text(bool(cell.value))
    if cell.ctype == xlrd.XL_CELL_ERROR:
        return xlrd.error_text_from_code.get(cell.value, "#ERROR")
    return cell_text(cell.value)


def _date_text(serial: float, datemode: int) -> str:
    try:
        year, month, day, hour, minute, second = xlrd.xldate_as_tuple(serial, datemode)
    except xlrd.xldate.XLDateError:
        # A serial number out of Excel's date range is shown as the number.
        return cell_text(serial)
    if year == 0:
        # Serial numbers below 1 are times of day with no date.
        return cell_text(dt.time(hour, minute, second))
    return cell_text(dt.datetime(year, month, day, hour, minute, second))


def _password_protected() -> Exception:
    # Imported here because dupmon.readers imports this module while it loads.
    from dupmon.readers import _problem

    return _problem(
        "the workbook is password-protected; save it without a password",
        "книга защищена паролем; сохраните её без пароля",
        "Open the file in Excel, remove the password (File > Info > Protect Workbook > "
        "Encrypt with Password) and put the saved file in the inbox",
        "Откройте файл в Excel, снимите пароль (Файл > Сведения > Защита книги > "
        "Зашифровать с использованием пароля) и положите сохранённый файл во входящую папку",
    )
