"""Documents of a monitoring date: the справка (DOCX, HTML and PDF), letters and e-mails.

Every text lives in a template under ``include/templates/``:

* ``spravka.docx``: the Word template of the справка (docxtpl tags), built
  by ``tools/make_docx_template.py`` and editable in Word;
* ``spravka.html.j2`` with ``_spravka_body.html.j2``: the HTML справка;
* ``reminder.html.j2`` and ``reminder.txt.j2``: the reminder to one УО
  whose municipality has duplicates;
* ``advice.html.j2`` and ``advice.txt.j2``: the monthly letter to one УО
  whose municipality has none, with the advice to check every month;
* ``mail_spravka.html.j2`` and ``mail_spravka.txt.j2``: the cover letter;
* ``subjects.yaml``: e-mail subjects and the attachment's file name;
* ``trend_chart.yaml``: the title, axis labels and legend entries of the
  trend chart.

This module builds the context those templates read (``build_context``)
and registers the Russian agreement filters of ``dupmon.russian``.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import functools
import io
import logging
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from dupmon import russian
from dupmon.delta import Delta, MunicipalityRow
from dupmon.directory import Directory
from dupmon.errors import ConfigError
from dupmon.normalise import REGIONAL
from dupmon.organisations import organisation_rows
from dupmon.raw_store import write_atomic
from dupmon.register import CURRENT, RESOLVED
from dupmon.trend import school_year_start
from dupmon.yaml_files import read_yaml

if TYPE_CHECKING:
    from dupmon.mail import OutgoingMessage

log = logging.getLogger(__name__)

DOCX_TEMPLATE = "spravka.docx"
HTML_TEMPLATE = "spravka.html.j2"
REMINDER_HTML_TEMPLATE = "reminder.html.j2"
REMINDER_TEXT_TEMPLATE = "reminder.txt.j2"
ADVICE_HTML_TEMPLATE = "advice.html.j2"
ADVICE_TEXT_TEMPLATE = "advice.txt.j2"
MAIL_HTML_TEMPLATE = "mail_spravka.html.j2"
MAIL_TEXT_TEMPLATE = "mail_spravka.txt.j2"
SUBJECTS_FILE = "subjects.yaml"
SUBJECT_KEYS = ("spravka_subject", "spravka_attachment", "reminder_subject", "advice_subject")
CHART_CAPTIONS_FILE = "trend_chart.yaml"
CHART_CAPTION_KEYS = ("title", "x_label", "y_label", "total_label", "other_label")
# Width of the chart in the DOCX: the text width of the portrait page is 16.5 cm.
CHART_WIDTH_MM = 150
# LibreOffice reads a DOCX table in time that grows with the square of its
# rows: 51 s for one of 3,000 rows on a 2-core machine. Cut into pieces of
# this many rows, Appendix 2 of 5,000 pairs becomes a PDF in 18 s, not 156.
TABLE_PIECE_ROWS = 200
# LibreOffice also lays out a table row taller than a page very slowly. With
# one school on the duplicate side of 5,000 pairs, the PDF took 174 s, and
# 18 s once that school's list went on over rows of this many pairs.
ORGANISATION_PAIRS_PER_ROW = 25

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
    ``advice_html`` and ``advice_text`` map the other municipalities to
    their monthly advice letter. ``spravka_pdf`` is None when the PDF was
    not made (LibreOffice missing, or not requested).
    """

    spravka_docx: Path
    spravka_html: Path
    spravka_pdf: Path | None = None
    trend_chart: Path | None = None
    reminders_html: dict[str, Path] = field(default_factory=dict)
    reminders_text: dict[str, Path] = field(default_factory=dict)
    advice_html: dict[str, Path] = field(default_factory=dict)
    advice_text: dict[str, Path] = field(default_factory=dict)

    def to_dict(self) -> dict:
        def optional(path: Path | None) -> str | None:
            return None if path is None else str(path)

        def paths(mapping: dict[str, Path]) -> dict[str, str]:
            return {key: str(path) for key, path in mapping.items()}

        return {
            "spravka_docx": str(self.spravka_docx),
            "spravka_html": str(self.spravka_html),
            "spravka_pdf": optional(self.spravka_pdf),
            "trend_chart": optional(self.trend_chart),
            "reminders_html": paths(self.reminders_html),
            "reminders_text": paths(self.reminders_text),
            "advice_html": paths(self.advice_html),
            "advice_text": paths(self.advice_text),
        }

    @classmethod
    def from_dict(cls, data: dict) -> ReportFiles:
        def optional(key: str) -> Path | None:
            return Path(data[key]) if data.get(key) else None

        def paths(key: str) -> dict[str, Path]:
            return {name: Path(path) for name, path in (data.get(key) or {}).items()}

        return cls(
            spravka_docx=Path(data["spravka_docx"]),
            spravka_html=Path(data["spravka_html"]),
            spravka_pdf=optional("spravka_pdf"),
            trend_chart=optional("trend_chart"),
            reminders_html=paths("reminders_html"),
            reminders_text=paths("reminders_text"),
            advice_html=paths("advice_html"),
            advice_text=paths("advice_text"),
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

    The other sections read ``trend`` (``_trend_context``), ``organisations``
    (``dupmon.organisations.organisation_rows``) with ``oldest_pair``, the
    current pair first seen earliest, and ``register_current`` and
    ``register_resolved``, the register entries whose pair is current or
    has gone. ``trend_chart`` (DOCX) and ``trend_chart_src`` (HTML) are None
    here; ``render_reports`` sets them to the chart.

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
    organisations = organisation_rows(delta.current_pairs, directory, monitoring_date)

    def with_status(*statuses: str) -> list[dict]:
        return [row for row in municipal if row["status"] in statuses]

    def registered(status: str) -> list[dict]:
        return [entry for entry in delta.register if entry["status"] == status]

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
        # A pair stored before first-seen dates were kept has none.
        "pairs": [{"first_seen": None, **pair} for pair in delta.current_pairs],
        "has_unresolvable": any(pair["unresolvable"] for pair in delta.current_pairs),
        "trend": _trend_context(delta, directory),
        "organisations": organisations,
        "organisation_table": organisation_table(organisations),
        "oldest_pair": _oldest_pair(delta.current_pairs, monitoring_date),
        "register_current": registered(CURRENT),
        "register_resolved": registered(RESOLVED),
        "notes": list(delta.notes),
        "trend_chart": None,
        "trend_chart_src": None,
    }
    context.update(_date_pair("monitoring_date", monitoring_date))
    context.update(_date_pair("baseline_date", baseline_date))
    context.update(_date_pair("deadline", deadline))
    context.update(_date_pair("period_start", period_start))
    return context


def reminder_context(context: dict, municipality_id: str) -> dict:
    """Extend a справка context with one municipality, its pairs and its organisations.

    ``pairs`` keeps the rows of Appendix 2 that touch the municipality and
    ``organisations`` the organisations of its own side of those pairs.
    """
    rows = [row for row in context["rows"] if row["municipality_id"] == municipality_id]
    if not rows:
        raise KeyError(f"municipality {municipality_id!r} has no row in Appendix 1")
    row = rows[0]
    return {
        **context,
        "municipality": row,
        "pairs": [pair for pair in context["pairs"] if municipality_id in pair["municipality_ids"]],
        "organisations": [
            organisation
            for organisation in context["organisations"]
            if organisation["municipality_id"] == municipality_id
        ],
    }


def _trend_context(delta: Delta, directory: Directory) -> dict:
    """Build the trend table: the rows with a pair at any date, most pairs now first.

    A Delta without a stored trend (computed by an older version) gets a
    trend of its own date only. ``quiet_count`` is the number of
    municipalities without a pair at any date; their rows are left out.
    """
    trend = delta.trend or {
        "dates": [delta.monitoring_date],
        "rows": [
            {
                "municipality_id": row.municipality_id,
                "municipality": row.municipality,
                "counts": [row.current],
            }
            for row in delta.rows
        ],
        "total": [delta.total.current],
    }
    order = {m.id: m.order for m in directory.municipalities}
    rows_with_pairs = []
    for row in trend["rows"]:
        if not any(row["counts"]):
            continue
        short = row["municipality"]
        if row["municipality_id"] in order:
            short = directory.get(row["municipality_id"]).short
        rows_with_pairs.append({**row, "short": short})
    rows_with_pairs.sort(
        key=lambda row: (
            -row["counts"][-1],
            -max(row["counts"]),
            order.get(row["municipality_id"], len(order)),
        )
    )
    quiet = [
        row
        for row in trend["rows"]
        if row["municipality_id"] != REGIONAL and not any(row["counts"])
    ]
    start = school_year_start(dt.date.fromisoformat(delta.monitoring_date))
    return {
        "school_year": f"{start.year}/{start.year + 1}",
        "dates": [russian.format_date_plain(day) for day in trend["dates"]],
        "rows": rows_with_pairs,
        "total": list(trend["total"]),
        "quiet_count": len(quiet),
    }


def organisation_table(organisations: list[dict]) -> list[dict]:
    """Return the rows of Appendix 4 in the DOCX, from ``dupmon.organisations.organisation_rows``.

    An organisation's first row has its number, municipality, name, count of
    pairs and longest days open. Its pairs go ``ORGANISATION_PAIRS_PER_ROW``
    to a row, on further rows with the other cells empty. ``continues``
    marks a row whose list goes on in the next.
    """
    rows = []
    per_row = ORGANISATION_PAIRS_PER_ROW
    for number, organisation in enumerate(organisations, start=1):
        pairs = organisation["pairs"]
        chunks = [pairs[start : start + per_row] for start in range(0, len(pairs), per_row)]
        max_days = organisation["max_days"]
        first = {
            "number": f"{number}.",
            "municipality": organisation["municipality"] or "—",
            "organisation": organisation["organisation"],
            "count": organisation["count"],
            "max_days": "—" if max_days is None else max_days,
        }
        blank = dict.fromkeys(first, "")
        for position, chunk in enumerate(chunks or [[]]):
            cells = first if position == 0 else blank
            rows.append({**cells, "pairs": chunk, "continues": position < len(chunks) - 1})
    return rows


def _oldest_pair(pairs: list[dict], monitoring_date: dt.date) -> dict | None:
    """Return the current pair open longest, with its ``days``; None without first-seen dates."""
    known = [pair for pair in pairs if pair.get("first_seen")]
    if not known:
        return None
    oldest = min(known, key=lambda pair: (pair["first_seen"], pair["number"]))
    days = (monitoring_date - dt.date.fromisoformat(oldest["first_seen"])).days
    return {**oldest, "days": days}


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
        one_or_many=russian.one_or_many,
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
    typo in a template fails the render instead of printing nothing. One
    environment per folder is kept, so each template is compiled once; Jinja
    compiles it again when its file's modification time changes.
    """
    return _cached_environment(Path(templates_dir).resolve())


@functools.lru_cache(maxsize=8)
def _cached_environment(templates_dir: Path) -> jinja2.Environment:
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


def render_docx(template_path: Path, context: dict, chart_png: bytes | None = None) -> bytes:
    """Render the Word template of the справка and return the .docx bytes.

    ``chart_png`` becomes the picture ``trend_chart`` of the template.
    """
    from docx.shared import Mm
    from docxtpl import InlineImage

    if not template_path.exists():
        raise FileNotFoundError(
            f"the Word template {template_path} is missing; build it with "
            "tools/make_docx_template.py"
        )
    document = _spravka_template_class()(template_path)
    if chart_png is not None:
        chart = InlineImage(document, io.BytesIO(chart_png), width=Mm(CHART_WIDTH_MM))
        context = {**context, "trend_chart": chart}
    document.render(context, _docx_environment(), autoescape=True)
    buffer = io.BytesIO()
    document.save(buffer)
    return _fixed_zip_times(buffer.getvalue())


def _fixed_zip_times(data: bytes) -> bytes:
    """Rewrite a .docx with every member dated 1980-01-01, so a rerun gives the same bytes.

    python-docx stamps each zip member with the time of saving, and nothing
    else in the file changes between two renders of the same context.
    """
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            fixed = zipfile.ZipInfo(item.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = item.compress_type
            fixed.external_attr = item.external_attr
            target.writestr(fixed, source.read(item.filename))
    return buffer.getvalue()


@functools.cache
def _spravka_template_class():
    # docxtpl is imported on first use, like the rest of the DOCX code.
    from docx.oxml.ns import qn
    from docxtpl import DocxTemplate

    class SpravkaTemplate(DocxTemplate):
        """A DocxTemplate that sizes each table's grid columns like its first row's cells.

        A ``{%tc for %}`` loop repeats a cell, and docxtpl then only scales
        the template's grid columns, so LibreOffice would draw the repeated
        columns with the widths of other ones. Tables whose first row has
        merged cells (the Appendix 2 header) keep their grid.
        """

        def fix_tables(self, xml):
            tree = super().fix_tables(xml)
            for table in list(tree.iter(qn("w:tbl"))):
                _fit_grid_to_first_row(table, qn)
                _split_long_table(table, qn)
            return tree

    return SpravkaTemplate


def _split_long_table(table, qn) -> None:
    """Cut a table of more than ``TABLE_PIECE_ROWS`` body rows into pieces of that many.

    Each piece repeats the header rows and follows the one before after an
    empty paragraph of 1 pt, so LibreOffice reads them as separate tables.
    """
    header, body = [], []
    for row in table.findall(qn("w:tr")):
        properties = row.find(qn("w:trPr"))
        is_header = properties is not None and properties.find(qn("w:tblHeader")) is not None
        if is_header and not body:
            header.append(row)
        else:
            body.append(row)
    rows_per_piece = TABLE_PIECE_ROWS
    if len(body) <= rows_per_piece:
        return
    table_properties = [child for child in table if child.tag in (qn("w:tblPr"), qn("w:tblGrid"))]
    anchor = table
    for start in range(rows_per_piece, len(body), rows_per_piece):
        piece = table.makeelement(qn("w:tbl"), {})
        piece.extend(copy.deepcopy(child) for child in table_properties)
        piece.extend(copy.deepcopy(row) for row in header)
        piece.extend(body[start : start + rows_per_piece])
        separator = _small_empty_paragraph(table, qn)
        anchor.addnext(separator)
        separator.addnext(piece)
        anchor = piece


def _small_empty_paragraph(near, qn):
    paragraph = near.makeelement(qn("w:p"), {})
    properties = _child(paragraph, qn("w:pPr"))
    exact = {qn("w:before"): "0", qn("w:after"): "0", qn("w:line"): "20", qn("w:lineRule"): "exact"}
    _child(properties, qn("w:spacing"), exact)
    _child(_child(properties, qn("w:rPr")), qn("w:sz"), {qn("w:val"): "2"})
    return paragraph


def _child(parent, tag: str, attributes: dict | None = None):
    element = parent.makeelement(tag, attributes or {})
    parent.append(element)
    return element


def _fit_grid_to_first_row(table, qn) -> None:
    grid = table.find(qn("w:tblGrid"))
    first_row = table.find(qn("w:tr"))
    if grid is None or first_row is None:
        return
    widths = []
    for cell in first_row.findall(qn("w:tc")):
        properties = cell.find(qn("w:tcPr"))
        width = None if properties is None else properties.find(qn("w:tcW"))
        if properties is None or properties.find(qn("w:gridSpan")) is not None or width is None:
            return
        widths.append(width.get(qn("w:w")))
    for column in grid.findall(qn("w:gridCol")):
        grid.remove(column)
    for width in widths:
        column = grid.makeelement(qn("w:gridCol"), {qn("w:w"): width})
        grid.append(column)


def load_subjects(templates_dir: Path) -> dict[str, str]:
    """Read the subject and attachment-name templates from ``subjects.yaml``."""
    return _load_line_templates(templates_dir / SUBJECTS_FILE, SUBJECT_KEYS)


def load_chart_captions(templates_dir: Path) -> dict[str, str]:
    """Read the caption templates of the trend chart from ``trend_chart.yaml``."""
    return _load_line_templates(templates_dir / CHART_CAPTIONS_FILE, CHART_CAPTION_KEYS)


def _load_line_templates(path: Path, keys: tuple[str, ...]) -> dict[str, str]:
    lines = read_yaml(path, "the template file ") or {}
    if not isinstance(lines, dict):
        raise ConfigError(f"{path}: the file must be a mapping of {', '.join(keys)} to templates")
    missing = [key for key in keys if not lines.get(key)]
    if missing:
        raise ConfigError(f"{path} lacks {', '.join(missing)}; add a template line for each")
    return lines


def _render_line(environment: jinja2.Environment, source: str, context: dict) -> str:
    # A subject or file name is one line: a line break from the template or
    # a value would end the mail header.
    return " ".join(environment.from_string(source).render(context).split())


# --- rendering --------------------------------------------------------------


def render_reports(
    delta: Delta,
    directory: Directory,
    texts: dict,
    templates_dir: Path,
    out_dir: Path,
    *,
    pdf: bool = False,
) -> ReportFiles:
    """Render the справка, the reminders and the advice letters of one monitoring date.

    Writes ``trend.png`` (the trend chart), ``spravka.docx``,
    ``spravka.html`` (the chart inline as a data URI, so the file is
    self-contained), ``reminders/<id>.html`` and ``.txt`` for every
    municipality with duplicates now and ``advice/<id>.html`` and ``.txt``
    for every other one. Every document is rendered in memory before the
    first file is written, and each file is replaced atomically, so a failed
    render leaves the previous files whole. Letters of municipalities whose
    state changed are removed.

    With ``pdf`` the DOCX is then converted to ``spravka.pdf``
    (``dupmon.pdf.write_spravka_pdf``): without LibreOffice that logs a
    warning and writes none. Any earlier ``spravka.pdf`` is removed either
    way, so it never shows other figures than the DOCX.
    """
    from dupmon.pdf import write_spravka_pdf

    context = build_context(delta, directory, texts)
    environment = template_environment(templates_dir)
    chart_png = render_trend_chart(context, environment, templates_dir)
    html_context = {**context, "trend_chart_src": _data_uri(chart_png)}

    documents: dict[Path, bytes] = {
        out_dir / "trend.png": chart_png,
        out_dir / "spravka.docx": render_docx(templates_dir / DOCX_TEMPLATE, context, chart_png),
        out_dir / "spravka.html": _encode(environment, HTML_TEMPLATE, html_context),
    }
    files = ReportFiles(
        spravka_docx=out_dir / "spravka.docx",
        spravka_html=out_dir / "spravka.html",
        trend_chart=out_dir / "trend.png",
    )
    documents.update(
        _render_letters(
            context,
            environment,
            out_dir / "reminders",
            reminder_ids(delta),
            (REMINDER_HTML_TEMPLATE, REMINDER_TEXT_TEMPLATE),
            (files.reminders_html, files.reminders_text),
        )
    )
    documents.update(
        _render_letters(
            context,
            environment,
            out_dir / "advice",
            advice_ids(delta),
            (ADVICE_HTML_TEMPLATE, ADVICE_TEXT_TEMPLATE),
            (files.advice_html, files.advice_text),
        )
    )

    for path, data in documents.items():
        write_atomic(path, data, mode=FILE_MODE)
    _remove_stale_letters(out_dir / "reminders", set(files.reminders_html))
    _remove_stale_letters(out_dir / "advice", set(files.advice_html))
    log.info(
        "Rendered the справка of %s, %d reminders and %d advice letters into %s",
        delta.monitoring_date,
        len(files.reminders_html),
        len(files.advice_html),
        out_dir,
    )

    pdf_path = out_dir / "spravka.pdf"
    if pdf:
        pairs = len(delta.current_pairs)
        files.spravka_pdf = write_spravka_pdf(files.spravka_docx, pdf_path, pairs=pairs)
    elif pdf_path.exists():
        pdf_path.unlink()
        log.info("Removed %s: the PDF was not requested for this render", pdf_path)
    return files


def _render_letters(
    context: dict,
    environment: jinja2.Environment,
    folder: Path,
    municipality_ids: list[str],
    templates: tuple[str, str],
    paths: tuple[dict[str, Path], dict[str, Path]],
) -> dict[Path, bytes]:
    """Render the HTML and text letter of each municipality and record their paths in ``paths``."""
    html_template, text_template = templates
    html_paths, text_paths = paths
    documents = {}
    for municipality_id in municipality_ids:
        local = reminder_context(context, municipality_id)
        html_path = folder / f"{municipality_id}.html"
        text_path = folder / f"{municipality_id}.txt"
        documents[html_path] = _encode(environment, html_template, local)
        documents[text_path] = _encode(environment, text_template, local)
        html_paths[municipality_id] = html_path
        text_paths[municipality_id] = text_path
    return documents


def render_trend_chart(
    context: dict, environment: jinja2.Environment, templates_dir: Path
) -> bytes:
    """Draw the trend chart of a справка context as PNG, captioned from ``trend_chart.yaml``."""
    from dupmon.chart import trend_chart_png

    captions = {
        key: _render_line(environment, source, context)
        for key, source in load_chart_captions(templates_dir).items()
        if key in CHART_CAPTION_KEYS
    }
    trend = context["trend"]
    return trend_chart_png(
        trend["dates"],
        [(row["short"], row["counts"]) for row in trend["rows"]],
        trend["total"],
        **captions,
    )


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


def advice_ids(delta: Delta) -> list[str]:
    """Return the municipalities that get the monthly advice letter: those without duplicates."""
    return [
        row.municipality_id
        for row in delta.rows
        if row.current == 0 and row.municipality_id != REGIONAL
    ]


def _encode(environment: jinja2.Environment, name: str, context: dict) -> bytes:
    return environment.get_template(name).render(context).encode("utf-8")


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _remove_stale_letters(folder: Path, current_ids: set[str]) -> None:
    if not folder.is_dir():
        return
    for path in sorted(folder.iterdir()):
        if path.suffix in (".html", ".txt") and path.stem not in current_ids:
            path.unlink()
            log.info("Removed the letter %s: its municipality's state changed", path)


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

    With ``include_spravka`` (the quarterly run) the справка (cover letter,
    its HTML text and the DOCX attached) goes once to every regional and
    municipal address. The HTML text leaves the chart out, because many mail
    clients show no data-URI picture; the attached DOCX has it. Reminders
    go to the addresses of each municipality with duplicates now. Without
    ``include_spravka`` (the monthly run) every other municipality gets the
    advice letter instead of the справка. Letter bodies are the files
    ``render_reports`` wrote, so the mail matches the archived copy. The
    ledger ids are ``spravka``, ``reminder:<id>`` and ``advice:<id>``.
    ``recipients`` is ``{"regional": [...], "municipalities": {id: [...]}}``.
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

    letters = [("reminder", reminder_ids(delta), files.reminders_html, files.reminders_text)]
    if not include_spravka:
        letters.append(("advice", advice_ids(delta), files.advice_html, files.advice_text))
    municipal_addresses = recipients.get("municipalities") or {}
    for kind, ids, html_paths, text_paths in letters:
        for municipality_id in ids:
            addresses = municipal_addresses.get(municipality_id) or []
            if not addresses:
                log.warning(
                    "No recipient for the %s letter of %s: add its addresses to the recipients "
                    "file",
                    kind,
                    municipality_id,
                )
                continue
            html_path = html_paths.get(municipality_id)
            text_path = text_paths.get(municipality_id)
            if html_path is None or text_path is None:
                raise FileNotFoundError(
                    f"the {kind} letter of {municipality_id} for {delta.monitoring_date} was not "
                    "rendered; run the render step again"
                )
            _require_file(html_path)
            _require_file(text_path)
            subject = _render_line(
                environment, subjects[f"{kind}_subject"], reminder_context(context, municipality_id)
            )
            html_body = html_path.read_text(encoding="utf-8")
            text_body = text_path.read_text(encoding="utf-8")
            for address in addresses:
                messages.append(
                    OutgoingMessage(
                        document=f"{kind}:{municipality_id}",
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
