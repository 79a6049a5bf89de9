"""PDF of the справка, converted from its DOCX by LibreOffice in headless mode.

The project's setup installs LibreOffice Writer and fonts with Cyrillic
letters (``make system-packages``). Without them the PDF is skipped.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from dupmon.raw_store import write_atomic

log = logging.getLogger(__name__)

SOFFICE_NAMES = ("soffice", "libreoffice")
# A conversion with a fresh profile takes a few seconds. The limit is a generous
# guess that leaves room for a loaded machine, plus an allowance per pair in
# Appendix 2. With its table cut into pieces (dupmon.render.TABLE_PIECE_ROWS),
# LibreOffice took 18 s for 5,000 pairs, 66 s for 15,000 and 141 s for 30,000
# on a 2-core test machine. That is about 5 ms a pair, and the allowance is
# four times as much.
TIMEOUT_SECONDS = 180
SECONDS_PER_PAIR = 0.02
FILE_MODE = 0o644


class PdfConversionError(RuntimeError):
    """LibreOffice failed to convert a document or timed out."""


def find_soffice() -> str | None:
    """Return the path of LibreOffice's ``soffice`` on PATH, or None when it is not installed."""
    for name in SOFFICE_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def convert_to_pdf(
    docx_path: Path, pdf_path: Path, *, soffice: str, timeout: float = TIMEOUT_SECONDS
) -> Path:
    """Convert ``docx_path`` to PDF and write it to ``pdf_path`` atomically.

    Every call runs its own LibreOffice with a fresh profile in a temporary
    folder, so parallel runs do not share a profile lock and the user's
    profile is never touched. Raises PdfConversionError when LibreOffice
    exits with an error, writes no PDF or runs longer than ``timeout``
    seconds (it is then killed with its child processes).
    """
    with tempfile.TemporaryDirectory(prefix="dupmon-pdf-") as work:
        profile = Path(work) / "profile"
        out_dir = Path(work) / "out"
        command = [
            soffice,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--norestore",
            "--nolockcheck",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out_dir),
            str(docx_path),
        ]
        returncode, output = _run(command, timeout, docx_path)
        produced = out_dir / f"{docx_path.stem}.pdf"
        if returncode != 0 or not produced.is_file():
            raise PdfConversionError(
                f"LibreOffice failed to convert {docx_path} to PDF (exit code {returncode}): "
                f"{output.strip()[-1000:] or 'no output'}"
            )
        write_atomic(pdf_path, produced.read_bytes(), mode=FILE_MODE)
    log.info("Converted %s to %s", docx_path, pdf_path)
    return pdf_path


def _run(command: list[str], timeout: float, docx_path: Path) -> tuple[int, str]:
    # soffice is a wrapper that starts soffice.bin, so a timeout kills the
    # whole process group rather than the wrapper alone.
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise PdfConversionError(
            f"LibreOffice timed out after {timeout:g} s converting {docx_path} to PDF"
        ) from None
    return process.returncode, output or ""


def write_spravka_pdf(docx_path: Path, pdf_path: Path, pairs: int = 0) -> Path | None:
    """Write the PDF of the справка, or log a warning and return None without LibreOffice.

    ``pairs`` is the number of rows in Appendix 2, which lengthens the time
    the conversion is given. A PDF left by an earlier render is removed
    first, so the folder never contains a PDF with other figures than its
    DOCX.
    """
    if pdf_path.exists():
        pdf_path.unlink()
    soffice = find_soffice()
    if soffice is None:
        log.warning(
            "LibreOffice (soffice) is not installed, so %s is not written; install it with "
            "`make system-packages`",
            pdf_path,
        )
        return None
    timeout = TIMEOUT_SECONDS + pairs * SECONDS_PER_PAIR
    return convert_to_pdf(docx_path, pdf_path, soffice=soffice, timeout=timeout)
