"""Readers of the export files: the format is detected from the bytes, not the name.

Each reader returns a list of :class:`Grid`; the layout module finds the
table in them. Add a format by writing a ``read_<format>(data) -> list[Grid]``
function and listing it in ``READERS``.
"""

from __future__ import annotations

import io
import zipfile

from dupmon.errors import Problem
from dupmon.readers.biff import read_xls
from dupmon.readers.delimited import CellContainsRowsError, CellTooLongError, read_csv
from dupmon.readers.grid import MAX_CELLS, Grid, GridTooLargeError
from dupmon.readers.html_table import read_html
from dupmon.readers.mhtml import read_mhtml
from dupmon.readers.ods import read_ods
from dupmon.readers.spreadsheetml import read_spreadsheetml
from dupmon.readers.textcodec import decode_text
from dupmon.readers.xlsx import read_xlsx

__all__ = [
    "Grid",
    "UnreadableExportError",
    "detect_format",
    "joined_rows_problem",
    "read_grids",
    "reader_warnings",
]

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = b"PK\x03\x04"


class UnreadableExportError(Exception):
    """The file is not an export this project can read."""

    def __init__(self, problem: Problem):
        super().__init__(problem.message)
        self.problem = problem


def _problem(message: str, message_ru: str, action: str, action_ru: str) -> UnreadableExportError:
    return UnreadableExportError(
        Problem(message=message, message_ru=message_ru, action=action, action_ru=action_ru)
    )


def detect_format(data: bytes) -> str:
    """Return the format of an export: ``xlsx``, ``ods``, ``xls``, ``html``, ``spreadsheetml``,
    ``mhtml`` or ``csv``.

    Raises UnreadableExportError for a file whose format cannot be detected.
    """
    if data.startswith(_ZIP):
        return _detect_zip(data)
    if data.startswith(_OLE2):
        return "xls"
    # The head is checked first, because strip() copies the whole file.
    if not data[:4096].strip() and not data.strip():
        raise _problem(
            "the file is empty",
            "файл пуст",
            "Build the report again and save it without changes",
            "Сформируйте отчёт заново и сохраните его без изменений",
        )
    head = decode_text(data[:65536], strict=False).lstrip().lower()
    if head.startswith("mime-version:") or "content-type: multipart/related" in head[:4096]:
        return "mhtml"
    if "urn:schemas-microsoft-com:office:spreadsheet" in head and "<workbook" in head:
        return "spreadsheetml"
    if "<table" in head or head.startswith(("<!doctype html", "<html")):
        return "html"
    if _looks_binary(data[:4096]):
        raise _unknown_format()
    return "csv"


def _looks_binary(head: bytes) -> bool:
    # Text exports carry no control characters but tab, CR, LF and form
    # feed; an image or archive renamed to .csv or .xls has many.
    controls = sum(1 for byte in head if byte < 32 and byte not in (9, 10, 12, 13))
    return b"\x00" in head or controls > len(head) // 100


def _detect_zip(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if "xl/workbook.xml" in names:
                return "xlsx"
            if "mimetype" in names:
                mimetype = archive.read("mimetype").decode("ascii", "replace").strip()
                if mimetype == "application/vnd.oasis.opendocument.spreadsheet":
                    return "ods"
    except zipfile.BadZipFile as error:
        raise _problem(
            f"the file looks like a workbook but is damaged ({error})",
            f"файл похож на книгу Excel, но повреждён ({error})",
            "Save the report from the school system again and put the new file in the inbox",
            "Выгрузите отчёт из АИС СГО заново и положите новый файл во входящую папку",
        ) from error
    raise _unknown_format()


def _unknown_format() -> UnreadableExportError:
    return _problem(
        "the file format cannot be told: it is not xlsx, xls, ods, HTML, SpreadsheetML, "
        "MHTML or CSV",
        "не удалось определить формат файла: это не xlsx, xls, ods, HTML, SpreadsheetML, MHTML или CSV",
        "Export the report «Список учащихся-«дублей»» again as Excel or CSV",
        "Выгрузите отчёт «Список учащихся-«дублей»» заново в Excel или CSV",
    )


READERS = {
    "xlsx": read_xlsx,
    "ods": read_ods,
    "xls": read_xls,
    "html": read_html,
    "spreadsheetml": read_spreadsheetml,
    "mhtml": read_mhtml,
    "csv": read_csv,
}


def read_grids(
    data: bytes, file_format: str, max_unpacked_bytes: int, max_cells: int = 2_000_000
) -> list[Grid]:
    """Read the sheets or tables of an export in the given format."""
    reader = READERS.get(file_format)
    if reader is None:
        raise _problem(
            f"the format {file_format!r} is recognised but not supported yet",
            f"формат {file_format!r} распознан, но пока не поддерживается",
            "Open the file in Excel and save it as .xlsx",
            "Откройте файл в Excel и сохраните его как .xlsx",
        )
    if file_format in ("xlsx", "ods"):
        _check_unpacked_size(data, max_unpacked_bytes)
    token = MAX_CELLS.set(max_cells)
    try:
        return reader(data)
    except UnreadableExportError:
        raise
    except CellTooLongError as error:
        raise _stray_quote(
            error.line,
            f"{error}: a quote opened on that line is probably never closed, so the rest of the "
            "file reads as one cell",
            f"ячейка, которая начинается в строке {error.line}, длиннее {error.limit} символов: "
            "вероятно, открытая в этой строке кавычка не закрыта, и остаток файла читается как "
            "одна ячейка",
        ) from error
    except CellContainsRowsError as error:
        if error.line == error.end:
            raise _stray_quote(
                error.line,
                f"a quote opened on line {error.line}, the file's last row, is never closed, so "
                "the cells of the row after it read as one cell",
                f"кавычка, открытая в строке {error.line}, последней записи файла, не закрыта, "
                "и ячейки записи после неё читаются как одна ячейка",
            ) from error
        raise _stray_quote(
            error.line,
            f"{error}: a quote opened on line {error.line} is probably closed only further "
            "down, or never, so those rows would be lost",
            f"ячейка, которая начинается в строке {error.line}, продолжается через переносы до "
            f"строки {error.end} и захватывает строки таблицы между ними: вероятно, открытая в "
            f"строке {error.line} кавычка закрыта только ниже или не закрыта вовсе, и эти строки "
            "были бы потеряны",
        ) from error
    except GridTooLargeError as error:
        raise _problem(
            f"{error}, over the limit of {max_cells}: a merged range, span or value far outside "
            "the table stretches it",
            f"лист {error.sheet!r} разворачивается в {error.cells} ячеек, больше предела "
            f"{max_cells}: таблицу растягивает объединённая область или значение далеко за ней",
            "Delete the rows and columns outside the table (or export the report again); raise "
            "DUPMON_MAX_CELLS only for a genuine large report",
            "Удалите строки и столбцы за пределами таблицы (или выгрузите отчёт заново); предел "
            "DUPMON_MAX_CELLS поднимайте только для настоящего большого отчёта",
        ) from error
    except MemoryError as error:
        raise _problem(
            f"the {file_format} file does not fit in memory",
            f"файл формата {file_format} не помещается в память",
            "Delete the rows and columns outside the table, or export the report again",
            "Удалите строки и столбцы за пределами таблицы или выгрузите отчёт заново",
        ) from error
    except Exception as error:  # noqa: BLE001 - any parser failure means a damaged file
        raise _problem(
            f"the {file_format} file cannot be read: {type(error).__name__}: {error}",
            f"файл формата {file_format} не читается: {type(error).__name__}: {error}",
            "Save the report from the school system again and put the new file in the inbox",
            "Выгрузите отчёт из АИС СГО заново и положите новый файл во входящую папку",
        ) from error
    finally:
        MAX_CELLS.reset(token)


def _stray_quote(line: int, message: str, message_ru: str) -> UnreadableExportError:
    return UnreadableExportError(_stray_quote_problem(line, message, message_ru))


def _stray_quote_problem(
    line: int, message: str, message_ru: str, row: int | None = None
) -> Problem:
    """Return the problem of a stray quote on ``line`` of the file.

    Its row is ``row`` where the caller knows the row as a spreadsheet
    program shows it, and the line otherwise.
    """
    return Problem(
        message=message,
        message_ru=message_ru,
        action=f"Check the quotation marks on line {line}: remove the stray one or close it, "
        "or export the report again",
        action_ru=f"Проверьте кавычки в строке {line}: удалите лишнюю или закройте её, либо "
        "выгрузите отчёт заново",
        row=line if row is None else row,
    )


# Rows with cells like rows that get a warning each. A file with two or
# more beyond these gets one warning for them, so that its notes stay
# readable.
MAX_LISTED_CELLS_LIKE_ROWS = 5


def reader_warnings(grids: list[Grid]) -> list[Problem]:
    """Return the warnings about what the reader took as it is but may be a fault.

    That is a cell over lines with the delimiters of a row, which may have
    joined rows where a quote was opened by mistake. A warning names the
    lines of the file, not the cell's text, which may contain a pupil's
    name, and no row: a row of the table and a line of the file differ
    wherever a cell above runs over lines.
    """
    # A row whose only filled cell it is may be a title that lists the
    # municipalities over lines, or a note below the table with many commas.
    spans = [
        (line, end)
        for grid in grids
        for line, end, _, filled in grid.cells_like_rows
        if filled > 1
    ]
    few = len(spans) <= MAX_LISTED_CELLS_LIKE_ROWS + 1
    listed = spans if few else spans[:MAX_LISTED_CELLS_LIKE_ROWS]
    warnings = [_cell_like_rows_warning(line, end) for line, end in listed]
    rest = spans[len(listed) :]
    if rest:
        first, last = rest[0][0], rest[-1][1]
        warnings.append(
            Problem(
                message=f"{len(rest)} more rows on lines {first} to {last} have such a cell",
                message_ru=f"такую ячейку содержат и другие записи в строках файла {first}–{last} "
                f"(ещё {len(rest)})",
                action=f"Check the quotation marks on lines {first} to {last} of the file, or "
                "export the report again",
                action_ru=f"Проверьте кавычки в строках файла с {first} по {last} или выгрузите "
                "отчёт заново",
                severity="warning",
            )
        )
    return warnings


def joined_rows_problem(grids: list[Grid], data_rows: set[int]) -> Problem | None:
    """Return the problem of the first data row with a cell over lines, for a file with names.

    ``data_rows`` are the indices of the grid's rows that the layout took
    as rows of the table. A quote opened by mistake and closed in a row
    below makes one cell of the rest of its row, the rows between and the
    start of the row where it closes. That cell has a line break and,
    unless it takes at most one filled cell of each of two rows, a
    delimiter inside a line. It puts their cells, names among them, into a
    column that is not hashed, and from there into snapshots and documents.
    Cells of an export with names (schools, classes, dates) have no such
    delimiter, though a list over lines may end a line with one. So a file
    whose layout has the pupils' names is rejected for such a cell, where
    the reader of a file without them warns only of a cell with a row's
    delimiters. A note below the table is not a data row.
    """
    for grid in grids:
        for line, end, row in grid.rows_over_lines:
            if row in data_rows:
                return _stray_quote_problem(
                    line,
                    f"the row on lines {line} to {end} has a cell over line breaks with "
                    "delimiters in it: a quote opened by mistake has probably joined rows into "
                    "it, and their cells, pupils' names among them, would be read as the row's "
                    "values",
                    f"запись в строках файла {line}–{end} содержит ячейку с переносами строк и "
                    "разделителями: вероятно, лишняя кавычка соединила в ней несколько строк, и "
                    "их ячейки, в том числе ФИО учащихся, были бы прочитаны как значения этой "
                    "строки",
                    # A spreadsheet program shows grid row n as row n + 1, as
                    # validation's messages number rows. A cell over lines
                    # above makes that row differ from the line.
                    row=row + 1,
                )
    return None


def _cell_like_rows_warning(line: int, end: int) -> Problem:
    """Return the warning about a row with a cell like rows on lines ``line`` to ``end``."""
    return Problem(
        message=f"the row on lines {line} to {end} of the file has a cell over line breaks with "
        "as many delimiters as a whole row: a quote opened by mistake may have joined rows "
        "into it",
        message_ru=f"запись в строках файла {line}–{end} содержит ячейку с переносами строк и "
        "таким же числом разделителей, как у целой строки таблицы: возможно, лишняя кавычка "
        "соединила в ней несколько строк",
        action=f"Check the quotation marks on lines {line} to {end} of the file: if rows of the "
        "report are missing, remove the stray quote or export the report again",
        action_ru=f"Проверьте кавычки в строках файла с {line} по {end}: если строк отчёта не "
        "хватает, удалите лишнюю кавычку или выгрузите отчёт заново",
        severity="warning",
    )


def _check_unpacked_size(data: bytes, limit: int) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
    if unpacked > limit:
        raise _problem(
            f"the workbook unpacks to {unpacked} bytes, over the limit of {limit}",
            f"книга распаковывается в {unpacked} байт, больше предела {limit}",
            "Check that the file is a real report export; raise DUPMON_MAX_UNPACKED_BYTES "
            "only for a genuine large report",
            "Проверьте, что это настоящая выгрузка отчёта; предел DUPMON_MAX_UNPACKED_BYTES "
            "поднимайте только для настоящего большого отчёта",
        )
