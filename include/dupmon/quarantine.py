"""Quarantine: a rejected export is copied aside with a report a clerk can act on."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from pathlib import Path

from dupmon.errors import RejectedFileError
from dupmon.raw_store import make_private_dir, write_atomic
from dupmon.settings import Settings

log = logging.getLogger(__name__)


def quarantine(
    settings: Settings, monitoring_date: dt.date, source: Path, error: RejectedFileError
) -> Path:
    """Copy ``source`` into the quarantine folder of the date and write its report beside it.

    The copy is skipped for a file over the size limit; the inbox file and
    the raw copy are left as they are. Returns the folder of the report.
    """
    folder = settings.quarantine_dir / monitoring_date.isoformat() / f"rejected-{_safe_name(error.file_name)}"
    make_private_dir(folder)
    if source.exists() and source.stat().st_size <= settings.max_file_bytes:
        copy = folder / Path(error.file_name).name
        shutil.copyfile(source, copy)
        copy.chmod(0o600)

    write_atomic(folder / "report.txt", render_report(error).encode("utf-8"))
    payload = {
        "file": error.file_name,
        "monitoring_date": monitoring_date.isoformat(),
        "problems": [problem.to_dict() for problem in error.problems],
    }
    write_atomic(folder / "report.json", json.dumps(payload, ensure_ascii=False, indent=1).encode())
    for problem in error.problems:
        log.error("Rejected %s", problem.describe(error.file_name))
    log.error("Quarantined %s with its report in %s", error.file_name, folder)
    return folder


def render_report(error: RejectedFileError) -> str:
    """Return the report text: every problem in Russian, then in English."""
    lines = [f"Файл «{error.file_name}» не принят.", ""]
    lines += [f"{n}. {p.describe_ru(error.file_name)}" for n, p in enumerate(error.problems, 1)]
    lines += ["", f"The file {error.file_name!r} was rejected.", ""]
    lines += [f"{n}. {p.describe(error.file_name)}" for n, p in enumerate(error.problems, 1)]
    lines += [
        "",
        "Исправьте файл (или выгрузите отчёт заново) и положите его во входящую папку: "
        "запуск за эту дату можно повторить.",
        "Fix the file (or export the report again), put it in the inbox and rerun the "
        "monitoring date.",
    ]
    return "\n".join(lines) + "\n"


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:150] or "file"
