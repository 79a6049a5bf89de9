"""The LibreOffice conversion of dupmon.pdf, run against small stand-in scripts.

The real LibreOffice conversion of the справка is tested in test_render.
"""

from __future__ import annotations

import logging
import os
import time

import pytest

from dupmon import pdf
from dupmon.pdf import PdfConversionError, convert_to_pdf, write_spravka_pdf

# A stand-in for soffice that writes <outdir>/<name>.pdf like the real one.
WRITING_SOFFICE = """#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in
    --outdir) out="$2"; shift ;;
    *.docx) source="$1" ;;
  esac
  shift
done
mkdir -p "$out"
printf '%%PDF-1.4 stand-in' > "$out/$(basename "$source" .docx).pdf"
"""
FAILING_SOFFICE = """#!/bin/sh
echo "Error: source file could not be loaded"
exit 1
"""
SILENT_SOFFICE = """#!/bin/sh
exit 0
"""
# Records its pid and its child's, then hangs.
HANGING_SOFFICE = """#!/bin/sh
sleep 60 &
echo "$$ $!" > "{pids}"
wait
"""


def script(tmp_path, text: str) -> str:
    path = tmp_path / "soffice"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def docx_file(tmp_path):
    path = tmp_path / "reports" / "spravka.docx"
    path.parent.mkdir()
    path.write_bytes(b"PK stand-in")
    return path


def test_convert_writes_pdf(tmp_path, docx_file):
    target = docx_file.with_suffix(".pdf")

    convert_to_pdf(docx_file, target, soffice=script(tmp_path, WRITING_SOFFICE))

    assert target.read_bytes() == b"%PDF-1.4 stand-in"
    assert target.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in docx_file.parent.iterdir()) == ["spravka.docx", "spravka.pdf"]


def test_convert_failure_raises(tmp_path, docx_file):
    with pytest.raises(PdfConversionError, match="exit code 1.*could not be loaded"):
        convert_to_pdf(docx_file, tmp_path / "out.pdf", soffice=script(tmp_path, FAILING_SOFFICE))

    assert not (tmp_path / "out.pdf").exists()


def test_convert_without_output_raises(tmp_path, docx_file):
    with pytest.raises(PdfConversionError, match="exit code 0"):
        convert_to_pdf(docx_file, tmp_path / "out.pdf", soffice=script(tmp_path, SILENT_SOFFICE))


def test_convert_timeout_kills_children(tmp_path, docx_file):
    pids_file = tmp_path / "pids"
    soffice = script(tmp_path, HANGING_SOFFICE.format(pids=pids_file))

    with pytest.raises(PdfConversionError, match="timed out after 1 s"):
        convert_to_pdf(docx_file, tmp_path / "out.pdf", soffice=soffice, timeout=1)

    for pid in map(int, pids_file.read_text().split()):
        for _ in range(50):
            if not _alive(pid):
                break
            time.sleep(0.1)
        assert not _alive(pid), pid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child stays a zombie until its parent reaps it.
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().split()[2] != "Z"


# Like WRITING_SOFFICE, after a second and a half of work.
SLOW_SOFFICE = WRITING_SOFFICE.replace("mkdir -p", "sleep 1.5\nmkdir -p")


@pytest.mark.parametrize(("pairs", "written"), [(0, False), (20, True)])
def test_more_pairs_get_more_time(tmp_path, monkeypatch, docx_file, pairs, written):
    monkeypatch.setattr(pdf, "TIMEOUT_SECONDS", 1)
    monkeypatch.setattr(pdf, "SECONDS_PER_PAIR", 0.1)
    monkeypatch.setattr(pdf, "find_soffice", lambda: script(tmp_path, SLOW_SOFFICE))
    target = docx_file.with_suffix(".pdf")

    if written:
        assert write_spravka_pdf(docx_file, target, pairs=pairs) == target
    else:
        with pytest.raises(PdfConversionError, match="timed out after 1 s"):
            write_spravka_pdf(docx_file, target, pairs=pairs)
    assert target.exists() is written


def test_missing_soffice_skips_pdf(monkeypatch, docx_file, caplog):
    stale = docx_file.with_suffix(".pdf")
    stale.write_bytes(b"%PDF of an earlier render")
    monkeypatch.setattr(pdf, "find_soffice", lambda: None)

    with caplog.at_level(logging.WARNING, logger="dupmon.pdf"):
        written = write_spravka_pdf(docx_file, stale)

    assert written is None
    assert not stale.exists()
    assert "soffice" in caplog.text
    assert "make system-packages" in caplog.text


def test_find_soffice_on_path(tmp_path, monkeypatch):
    script(tmp_path, SILENT_SOFFICE)
    monkeypatch.setenv("PATH", str(tmp_path))

    assert pdf.find_soffice() == str(tmp_path / "soffice")


def test_find_soffice_absent(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))

    assert pdf.find_soffice() is None
