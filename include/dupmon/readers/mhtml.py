"""MHTML web archives (multipart/related), as Excel saves a «Web archive» under an .xls name."""

from __future__ import annotations

import email
import email.message
import email.policy

from dupmon.readers.grid import Grid
from dupmon.readers.html_table import read_html_text
from dupmon.readers.textcodec import decode_text


def read_mhtml(data: bytes) -> list[Grid]:
    """Read the tables of the archive's first HTML page.

    Excel saves a workbook of several sheets as a frameset page with no table,
    followed by one page per sheet. When the first page has no table, the
    tables of every other HTML page are read too, in archive order.

    Raises UnreadableExportError when the archive contains no HTML page.
    """
    message = email.message_from_bytes(data, policy=email.policy.default)
    pages = [_part_text(part) for part in message.walk() if part.get_content_type() == "text/html"]
    if not pages:
        raise _no_html_page()

    grids = read_html_text(pages[0])
    if "<table" not in pages[0].lower():
        for page in pages[1:]:
            grids.extend(read_html_text(page))
    return grids


def _part_text(part: email.message.Message) -> str:
    """Decode a part's transfer encoding (quoted-printable, base64) and then its charset."""
    payload = part.get_payload(decode=True) or b""
    charset = part.get_content_charset()
    if charset:
        try:
            return payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            # An unknown or wrong charset parameter: guess as for a bare HTML file.
            pass
    return decode_text(payload)


def _no_html_page() -> Exception:
    # Imported here because dupmon.readers imports this module while it loads.
    from dupmon.readers import _problem

    return _problem(
        "the web archive (MHTML) contains no HTML page",
        "веб-архив (MHTML) не содержит HTML-страницы",
        "Open the file in Excel and save it as .xlsx, or export the report again",
        "Откройте файл в Excel и сохраните его как .xlsx или выгрузите отчёт заново",
    )
