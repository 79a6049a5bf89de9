"""The index page of the Data Docs site that keeps every validation.

GX 1.24's own site index lists the validation results in the data
context's results store, and deletes the pages of the others. The validate
step runs each suite in an ephemeral context, which holds only that run's
result, so the GX index would remove every earlier page. The step
therefore builds its pages without GX's index, records each validation in
``validations.json`` beside them, and writes ``index.html`` from that
record and the pages found on disk.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
from pathlib import Path
from urllib.parse import quote

from dupmon.raw_store import write_atomic

log = logging.getLogger(__name__)

RECORD_FILE = "validations.json"
INDEX_FILE = "index.html"


def validation_pages(docs_dir: Path) -> set[str]:
    """Return the validation pages under ``docs_dir``, as paths relative to it."""
    return {
        page.relative_to(docs_dir).as_posix() for page in (docs_dir / "validations").rglob("*.html")
    }


def record_validation(docs_dir: Path, pages: list[str], name: str, success: bool) -> None:
    """Add a validation's pages to the site's record and write the index page again.

    ``pages`` are the pages GX wrote for it, relative to ``docs_dir``;
    ``name`` names the monitoring date and the files validated together.
    """
    record = _read_record(docs_dir)
    for page in pages:
        record[page] = {"name": name, "success": success}
    text = json.dumps(record, ensure_ascii=False, indent=1, sort_keys=True)
    write_atomic(docs_dir / RECORD_FILE, text.encode("utf-8"), mode=0o644)
    write_index(docs_dir, record)


def write_index(docs_dir: Path, record: dict | None = None) -> Path:
    """Write ``index.html``: every validation page under ``docs_dir``, the newest first.

    A page missing from the record, such as one written before the record
    existed, is listed by its path. The expectation suites' pages follow.
    """
    record = _read_record(docs_dir) if record is None else record
    entries = []
    for path in validation_pages(docs_dir):
        facts = record.get(path, {})
        # GX names a page's folder after the run time, to the microsecond,
        # in a form that sorts in time order.
        run_time = Path(path).parent.name
        entries.append((run_time, path, facts.get("name") or path, facts.get("success")))
    entries.sort(reverse=True)
    rows = [
        f"<tr><td>{html.escape(_shown_time(run_time))}</td>"
        f'<td><a href="{html.escape(quote(path))}">{html.escape(name)}</a></td>'
        f"<td>{_outcome(success)}</td></tr>"
        for run_time, path, name, success in entries
    ]
    suites = [
        f'<li><a href="{html.escape(quote(p.relative_to(docs_dir).as_posix()))}">'
        f"{html.escape(p.stem)}</a></li>"
        for p in sorted((docs_dir / "expectations").rglob("*.html"))
    ]
    text = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            "<title>Data Docs: validations of the exports</title></head><body>",
            "<h1>Validations of the exports</h1>",
            "<table><thead><tr><th>Validated</th><th>Monitoring date and files</th>"
            "<th>Outcome</th></tr></thead><tbody>",
            *rows,
            "</tbody></table>",
            "<h2>Expectation suites</h2>",
            "<ul>",
            *suites,
            "</ul>",
            "</body></html>",
            "",
        ]
    )
    target = docs_dir / INDEX_FILE
    write_atomic(target, text.encode("utf-8"), mode=0o644)
    return target


def _read_record(docs_dir: Path) -> dict:
    path = docs_dir / RECORD_FILE
    if not path.exists():
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        # The pages stay; only their names are lost from the index.
        log.warning("Ignoring the unreadable Data Docs record %s: %s", path, error)
        return {}
    if not isinstance(record, dict):
        log.warning("Ignoring the Data Docs record %s: it is not a JSON object", path)
        return {}
    valid = {page: facts for page, facts in record.items() if _valid_facts(facts)}
    if len(valid) < len(record):
        log.warning(
            "Ignoring %d invalid entries of the Data Docs record %s",
            len(record) - len(valid),
            path,
        )
    return valid


def _valid_facts(facts: object) -> bool:
    return (
        isinstance(facts, dict)
        and isinstance(facts.get("name"), str)
        and isinstance(facts.get("success"), bool)
    )


def _shown_time(run_time: str) -> str:
    """Return a run time as GX names a page's folder (``20250117T101500.123456Z``) for people.

    A folder named otherwise is returned as it is.
    """
    try:
        when = dt.datetime.strptime(run_time, "%Y%m%dT%H%M%S.%fZ")
    except ValueError:
        return run_time
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def _outcome(success: bool | None) -> str:
    if success is None:
        return ""
    return "passed" if success else "failed"
