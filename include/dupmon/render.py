"""Documents of a monitoring date: the справка (DOCX and HTML), reminders and e-mails.

Every text lives in a template under ``include/templates/``:

* ``spravka.docx``: the Word template of the справка (docxtpl tags), built
  by ``tools/make_docx_template.py`` and editable in Word;
* ``spravka.html.j2`` with ``_spravka_body.html.j2``: the HTML справка;
* ``reminder.html.j2`` and ``reminder.txt.j2``: the reminder to one УО;
* ``mail_spravka.html.j2`` and ``mail_spravka.txt.j2``: the cover letter;
* ``subjects.yaml``: e-mail subjects and the attachment's file name.

This module builds the context those templates read (``build_context``)
and registers the Russian agreement filters of ``dupmon.russian``.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
import yaml

from dupmon import russian
from dupmon.delta import Delta, MunicipalityRow
from dupmon.directory import Directory
from dupmon.errors import ConfigError
from dupmon.normalise import REGIONAL
from dupmon.raw_store import write_atomic

if TYPE_CHECKING:
    from dupmon.mail import OutgoingMessage

log = logging.getLogger(__name__)

DOCX_TEMPLATE = "spravka.docx"
HTML_TEMPLATE = "spravka.html.j2"
REMINDER_HTML_TEMPLATE = "reminder.html.j2"
REMINDER_TEXT_TEMPLATE = "reminder.txt.j2"
MAIL_HTML_TEMPLATE = "mail_spravka.html.j2"
MAIL_TEXT_TEMPLATE = "mail_spravka.txt.j2"
SUBJECTS_FILE = "subjects.yaml"
SUBJECT_KEYS = ("spravka_subject", "spravka_attachment", "reminder_subject")

REQUIRED_TEXTS = (
    "centre",
    "department",
    "system",
    "system_short",
    "report_name",
    "module",
    "deadline_days",
    "escalation_email",
    "guidance",
    "legal_basis",
    "signature",
    "school_year_start_month",
    "school_year_start_day",
)

# Appendix 1 highlighting: the memo marks in red the municipalities that
# have duplicates now (statuses red and partial) and in green those that
# removed all of theirs. Fills are hex RGB, as Word's w:shd/@w:fill takes
# them; "auto" is Word's "no colour".
HIGHLIGHT_OF_STATUS = {"red": "red", "partial": "red", "green": "green"}
FILL_OF_HIGHLIGHT = {"red": "FF9F9F", "green": "A8DCA8", "": "auto"}

FILE_MODE = 0o644


@dataclass
class ReportFiles:
    """Paths of the rendered documents of one monitoring date.

    ``reminders_html`` and ``reminders_text`` map a municipality id to its
    reminder; only municipalities with duplicates now have one.
    """

    spravka_docx: Path
    spravka_html: Path
    reminders_html: dict[str, Path] = field(default_factory=dict)
    reminders_text: dict[str, Path] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "spravka_docx": str(self.spravka_docx),
            "spravka_html": str(self.spravka_html),
            "reminders_html": {key: str(path) for key, path in self.reminders_html.items()},
            "reminders_text": {key: str(path) for key, path in self.reminders_text.items()},
        }

    @classmethod
    def from_dict(cls, data: dict) -> ReportFiles:
        return cls(
            spravka_docx=Path(data["spravka_docx"]),
            spravka_html=Path(data["spravka_html"]),
            reminders_html={key: Path(p) for key, p in data.get("reminders_html", {}).items()},
            reminders_text={key: Path(p) for key, p in data.get("reminders_text", {}).items()},
        )


# --- context ----------------------------------------------------------------


def build_context(delta: Delta, directory: Directory, texts: dict) -> dict:
    """Build the variables the справка templates read.

    Dates come twice: ``monitoring_date`` is «17.01.2025 г.» and
    ``monitoring_date_plain`` is «17.01.2025», and likewise ``baseline_date``,
    ``deadline`` and ``period_start``. ``baseline_date`` is None at the first
    monitoring. The lists below hold Appendix 1 rows without the row of
    regional organisations (``regional_row``), which is no municipality:

    * ``with_duplicates``: duplicates now (statuses red and partial), red;
    * ``cleared``: all previous duplicates removed (green);
    * ``partly_cleared``: removed some, still has some (partial);
    * ``without_duplicates``: none now (green and none).

    Raises ConfigError when ``texts`` lacks a key the templates need.
    """
    _check_texts(texts)
    monitoring_date = dt.date.fromisoformat(delta.monitoring_date)
    baseline_date = dt.date.fromisoformat(delta.baseline_date) if delta.baseline_date else None
    deadline = monitoring_date + dt.timedelta(days=int(texts["deadline_days"]))
    period_start = school_year_start(
        monitoring_date, int(texts["school_year_start_month"]), int(texts["school_year_start_day"])
    )

    rows = [_row_context(row, directory) for row in delta.rows]
    municipal = [row for row in rows if row["municipality_id"] != REGIONAL]
    regional = [row for row in rows if row["municipality_id"] == REGIONAL]

    def with_status(*statuses: str) -> list[dict]:
        return [row for row in municipal if row["status"] in statuses]

    context = {
        "texts": texts,
        "region_name": directory.region_name,
        "municipality_count": len(directory.municipalities),
        "school_year": f"{period_start.year}/{period_start.year + 1}",
        "rows": rows,
        "total": _row_context(delta.total, directory),
        "regional_row": regional[0] if regional else None,
        "with_duplicates": with_status("red", "partial"),
        "cleared": with_status("green"),
        "partly_cleared": with_status("partial"),
        "without_duplicates": with_status("green", "none"),
        "pairs": [dict(pair) for pair in delta.current_pairs],
        "has_unresolvable": any(pair["unresolvable"] for pair in delta.current_pairs),
    }
    context.update(_date_pair("monitoring_date", monitoring_date))
    context.update(_date_pair("baseline_date", baseline_date))
    context.update(_date_pair("deadline", deadline))
    context.update(_date_pair("period_start", period_start))
    return context


def reminder_context(context: dict, municipality_id: str) -> dict:
    """Extend a справка context with one municipality and its pairs from Appendix 2."""
    rows = [row for row in context["rows"] if row["municipality_id"] == municipality_id]
    if not rows:
        raise KeyError(f"municipality {municipality_id!r} has no row in Appendix 1")
    row = rows[0]
    return {
        **context,
        "municipality": row,
        "pairs": [pair for pair in context["pairs"] if municipality_id in pair["municipality_ids"]],
    }


def school_year_start(day: dt.date, month: int, start_day: int) -> dt.date:
    """Return the first day of the school year ``day`` falls in (02.09.2024 for 17.01.2025)."""
    start = dt.date(day.year, month, start_day)
    return start if day >= start else dt.date(day.year - 1, month, start_day)


def _check_texts(texts: dict) -> None:
    missing = [key for key in REQUIRED_TEXTS if texts.get(key) in (None, "")]
    if missing:
        raise ConfigError(
            f"the region texts lack {', '.join(missing)}; add them to the region's texts.yaml"
        )


def _date_pair(name: str, value: dt.date | None) -> dict:
    if value is None:
        return {name: None, f"{name}_plain": None}
    return {name: russian.format_date_ru(value), f"{name}_plain": russian.format_date_plain(value)}


def _row_context(row: MunicipalityRow, directory: Directory) -> dict:
    highlight = HIGHLIGHT_OF_STATUS.get(row.status, "")
    short = row.municipality
    if row.municipality_id and row.municipality_id != REGIONAL:
        short = directory.get(row.municipality_id).short
    return {
        **asdict(row),
        "short": short,
        "highlight": highlight,
        "color": FILL_OF_HIGHLIGHT[highlight],
    }


# --- templates --------------------------------------------------------------


def _add_filters(environment: jinja2.Environment) -> jinja2.Environment:
    environment.filters.update(
        plural=russian.plural,
        count_phrase=lambda n, *forms: russian.count_phrase(n, forms),
        locative_phrase=russian.locative_phrase,
        numeral_increment=russian.numeral_increment,
        date_ru=russian.format_date_ru,
        decimal_comma=russian.decimal_comma,
        upper_first=russian.upper_first,
    )
    return environment


def template_environment(templates_dir: Path) -> jinja2.Environment:
    """Return the Jinja environment of the HTML and text templates.

    HTML templates (``*.html.j2``) are autoescaped, text ones (``*.txt.j2``)
    and strings (the subjects) are not. An undefined variable raises, so a
    typo in a template fails the render instead of printing nothing.
    """
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml", "html.j2"),
            disabled_extensions=("txt", "txt.j2"),
            default_for_string=False,
            default=True,
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return _add_filters(environment)


def _docx_environment() -> jinja2.Environment:
    # docxtpl's render(autoescape=True) switches autoescape on for this environment.
    return _add_filters(jinja2.Environment(undefined=jinja2.StrictUndefined))


def render_docx(template_path: Path, context: dict) -> bytes:
    """Render the Word template of the справка and return the .docx bytes."""
    from docxtpl import DocxTemplate

    if not template_path.exists():
        raise FileNotFoundError(
            f"the Word template {template_path} is missing; build it with "
            "tools/make_docx_template.py"
        )
    document = DocxTemplate(template_path)
    document.render(context, _docx_environment(), autoescape=True)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def load_subjects(templates_dir: Path) -> dict[str, str]:
    """Read the subject and attachment-name templates from ``subjects.yaml``."""
    path = templates_dir / SUBJECTS_FILE
    try:
        subjects = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read the subjects file {path}: {error}") from error
    missing = [key for key in SUBJECT_KEYS if not subjects.get(key)]
    if missing:
        raise ConfigError(f"{path} lacks {', '.join(missing)}; add a template line for each")
    return subjects


def _render_line(environment: jinja2.Environment, source: str, context: dict) -> str:
    # A subject or file name is one line: a line break from the template or
    # a value would end the mail header.
    return " ".join(environment.from_string(source).render(context).split())


# --- rendering --------------------------------------------------------------


def render_reports(
    delta: Delta, directory: Directory, texts: dict, templates_dir: Path, out_dir: Path
) -> ReportFiles:
    """Render the справка (DOCX and HTML) and the reminders of one monitoring date.

    Writes ``spravka.docx``, ``spravka.html`` and ``reminders/<id>.html`` and
    ``.txt`` for every municipality with duplicates now. Every document is
    rendered in memory before the first file is written, and each file is
    replaced atomically, so a failed render leaves the previous files whole.
    Reminders of municipalities that no longer have duplicates are removed.
    """
    context = build_context(delta, directory, texts)
    environment = template_environment(templates_dir)

    documents: dict[Path, bytes] = {
        out_dir / "spravka.docx": render_docx(templates_dir / DOCX_TEMPLATE, context),
        out_dir / "spravka.html": _encode(environment, HTML_TEMPLATE, context),
    }
    files = ReportFiles(
        spravka_docx=out_dir / "spravka.docx", spravka_html=out_dir / "spravka.html"
    )
    reminders_dir = out_dir / "reminders"
    for municipality_id in reminder_ids(delta):
        local = reminder_context(context, municipality_id)
        html_path = reminders_dir / f"{municipality_id}.html"
        text_path = reminders_dir / f"{municipality_id}.txt"
        documents[html_path] = _encode(environment, REMINDER_HTML_TEMPLATE, local)
        documents[text_path] = _encode(environment, REMINDER_TEXT_TEMPLATE, local)
        files.reminders_html[municipality_id] = html_path
        files.reminders_text[municipality_id] = text_path

    for path, data in documents.items():
        write_atomic(path, data, mode=FILE_MODE)
    _remove_stale_reminders(reminders_dir, set(files.reminders_html))
    log.info(
        "Rendered the справка of %s and %d reminders into %s",
        delta.monitoring_date,
        len(files.reminders_html),
        out_dir,
    )
    return files


def reminder_ids(delta: Delta) -> list[str]:
    """Return the municipalities that get a reminder: those with duplicates now.

    The row of regional organisations (id ``regional``) has no authority to
    remind, so it never gets one.
    """
    return [
        row.municipality_id
        for row in delta.rows
        if row.current > 0 and row.municipality_id != REGIONAL
    ]


def _encode(environment: jinja2.Environment, name: str, context: dict) -> bytes:
    return environment.get_template(name).render(context).encode("utf-8")


def _remove_stale_reminders(reminders_dir: Path, current_ids: set[str]) -> None:
    if not reminders_dir.is_dir():
        return
    for path in sorted(reminders_dir.iterdir()):
        if path.suffix in (".html", ".txt") and path.stem not in current_ids:
            path.unlink()
            log.info("Removed the reminder %s: its municipality has no duplicates now", path)


# --- e-mail -----------------------------------------------------------------


def compose_messages(
    delta: Delta,
    directory: Directory,
    texts: dict,
    recipients: dict,
    files: ReportFiles,
    templates_dir: Path,
    *,
    include_spravka: bool,
) -> list[OutgoingMessage]:
    """Build one message per document and recipient address.

    With ``include_spravka`` the справка (cover letter, its HTML text and the
    DOCX attached) goes once to every regional and municipal address.
    Reminders go to the addresses of each municipality with duplicates now;
    their bodies are the files ``render_reports`` wrote, so the mail matches
    the archived copy. ``recipients`` is ``{"regional": [...],
    "municipalities": {id: [...]}}``.
    """
    from dupmon.mail import OutgoingMessage

    context = build_context(delta, directory, texts)
    environment = template_environment(templates_dir)
    subjects = load_subjects(templates_dir)
    messages: list[OutgoingMessage] = []

    if include_spravka:
        _require_file(files.spravka_docx)
        subject = _render_line(environment, subjects["spravka_subject"], context)
        attachment_name = _render_line(environment, subjects["spravka_attachment"], context)
        html_body = environment.get_template(MAIL_HTML_TEMPLATE).render(context)
        text_body = environment.get_template(MAIL_TEXT_TEMPLATE).render(context)
        for address in spravka_addresses(recipients):
            messages.append(
                OutgoingMessage(
                    document="spravka",
                    recipient=address,
                    subject=subject,
                    text_body=text_body,
                    html_body=html_body,
                    attachments=[(files.spravka_docx, attachment_name)],
                )
            )

    municipal_addresses = recipients.get("municipalities") or {}
    for municipality_id in reminder_ids(delta):
        addresses = municipal_addresses.get(municipality_id) or []
        if not addresses:
            log.warning(
                "No recipient for the reminder of %s: add its addresses to the recipients file",
                municipality_id,
            )
            continue
        html_path = files.reminders_html.get(municipality_id)
        text_path = files.reminders_text.get(municipality_id)
        if html_path is None or text_path is None:
            raise FileNotFoundError(
                f"the reminder of {municipality_id} for {delta.monitoring_date} was not "
                "rendered; run the render step again"
            )
        _require_file(html_path)
        _require_file(text_path)
        subject = _render_line(
            environment, subjects["reminder_subject"], reminder_context(context, municipality_id)
        )
        html_body = html_path.read_text(encoding="utf-8")
        text_body = text_path.read_text(encoding="utf-8")
        for address in addresses:
            messages.append(
                OutgoingMessage(
                    document=f"reminder:{municipality_id}",
                    recipient=address,
                    subject=subject,
                    text_body=text_body,
                    html_body=html_body,
                )
            )

    log.info("Composed %d messages for %s", len(messages), delta.monitoring_date)
    return messages


def spravka_addresses(recipients: dict) -> list[str]:
    """Return every regional and municipal address once, in file order.

    Addresses compare case-insensitively, as the mail ledger keys them.
    """
    addresses = list(recipients.get("regional") or [])
    for municipal in (recipients.get("municipalities") or {}).values():
        addresses.extend(municipal)
    unique: dict[str, str] = {}
    for address in addresses:
        unique.setdefault(address.strip().lower(), address.strip())
    return list(unique.values())


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(
            f"the rendered document {path} is missing; run the render step again"
        )
