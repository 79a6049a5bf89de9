"""Documents of dupmon.render: the справка in DOCX, HTML and PDF, reminders, advice and e-mails.

The sample-date tests run the real chain (ingest, validate, normalise,
snapshot, delta, history) on the bundled exports; the edge cases build Delta
objects by hand. All data is invented and every address is under
example.org. The PDF tests need LibreOffice (soffice) and poppler's
pdftotext and pdftoppm, and are skipped only when soffice is missing. They
leave a picture of each PDF's first page in tests/artifacts/.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import logging
import shutil
import struct
import subprocess
import zipfile
import time
from pathlib import Path

import docx
import jinja2
import lxml.etree
import lxml.html
import pytest
import yaml
from docx.oxml.ns import qn

from dupmon import chart, pdf, render
from dupmon.chart import DPI, FIGURE_SIZE_INCHES, MAX_LINES, trend_chart_png
from dupmon.delta import Delta, MunicipalityRow, appendix1_csv, compute_delta, format_percent
from dupmon.directory import load_directory
from dupmon.errors import ConfigError
from dupmon.render import (
    FILL_OF_HIGHLIGHT,
    ReportFiles,
    build_context,
    compose_messages,
    render_reports,
    school_year_start,
)
from dupmon.trend import attach_history, load_history

ROOT = Path(__file__).resolve().parents[2]
REGION_DIR = ROOT / "include" / "config" / "regions" / "sakhalin"
TEMPLATES = ROOT / "include" / "templates"
SAMPLES = ROOT / "include" / "sample_exports"
ARTIFACTS = ROOT / "tests" / "artifacts"
HAS_SOFFICE = pdf.find_soffice() is not None
needs_soffice = pytest.mark.skipif(not HAS_SOFFICE, reason="LibreOffice (soffice) is not installed")
OCTOBER = dt.date(2024, 10, 17)
JANUARY = dt.date(2025, 1, 17)
SECRET = b"render-test-secret-" * 3
RED, GREEN = FILL_OF_HIGHLIGHT["red"], FILL_OF_HIGHLIGHT["green"]
APPENDIX1_NUMBERS = (
    "municipality",
    "previous",
    "current",
    "eliminated",
    "new",
    "unresolvable",
    "percent_eliminated",
)
MARKUP_NAME = "МБОУ <СОШ> № 5 & \"Школа\" 'Ромашка' </w:t>"

RECIPIENTS = {
    "regional": ["centre@example.org", "ministry@example.org"],
    "municipalities": {
        "yuzhno_sakhalinsk": ["uo-ys@example.org"],
        "dolinsky": ["uo-dolinsk@example.org", "oks-dolinsk@example.org"],
        "kholmsky": ["uo-kholmsk@example.org", "Centre@example.org"],
    },
}


# --- fixtures ---------------------------------------------------------------


@pytest.fixture(scope="module")
def directory():
    return load_directory(REGION_DIR / "municipalities.yaml")


@pytest.fixture(scope="module")
def texts():
    return yaml.safe_load((REGION_DIR / "texts.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sample_deltas(tmp_path_factory, directory) -> dict[dt.date, Delta]:
    """Deltas of the two sample dates, computed from the bundled exports."""
    from dupmon import snapshot
    from dupmon.ingest import ingest
    from dupmon.normalise import normalise
    from dupmon.settings import load_settings
    from dupmon.validate import validate

    data = tmp_path_factory.mktemp("data")
    settings = load_settings({"DUPMON_DATA_DIR": str(data), "DUPMON_INBOX": str(SAMPLES)})
    deltas = {}
    for day in (OCTOBER, JANUARY):
        ingest(settings, day, SECRET)
        validate(settings, day, directory)
        pairs, summary = normalise(settings, day, directory, SECRET)
        snapshot.write_snapshot(settings.snapshots_dir, day, pairs, summary)
        dates = snapshot.list_snapshot_dates(settings.snapshots_dir)
        baseline = snapshot.choose_baseline(dates, day)
        deltas[day] = compute_delta(
            day,
            snapshot.read_snapshot(settings.snapshots_dir, day),
            snapshot.read_snapshot(settings.snapshots_dir, baseline) if baseline else None,
            baseline,
            directory,
        )
        attach_history(deltas[day], load_history(settings.snapshots_dir, day), directory)
    return deltas


# The sample dates and the quiet region are rendered with their PDF once per
# module: a LibreOffice conversion takes a few seconds.
@pytest.fixture(scope="module")
def january(sample_deltas, directory, texts, tmp_path_factory):
    """The January справка rendered once, with the paths of its files."""
    out = tmp_path_factory.mktemp("january")
    delta = sample_deltas[JANUARY]
    return delta, render_reports(delta, directory, texts, TEMPLATES, out, pdf=True)


@pytest.fixture(scope="module")
def october(sample_deltas, directory, texts, tmp_path_factory):
    out = tmp_path_factory.mktemp("october")
    delta = sample_deltas[OCTOBER]
    return delta, render_reports(delta, directory, texts, TEMPLATES, out, pdf=True)


@pytest.fixture(scope="module")
def quiet(directory, texts, tmp_path_factory):
    """A region without any duplicate, rendered with its PDF."""
    out = tmp_path_factory.mktemp("quiet")
    delta = quiet_delta(directory)
    return delta, render_reports(delta, directory, texts, TEMPLATES, out, pdf=True)


# --- helpers ----------------------------------------------------------------


def make_row(municipality_id, name, previous, current, eliminated, new, status, unresolvable=0):
    return MunicipalityRow(
        municipality_id=municipality_id,
        municipality=name,
        previous=previous,
        current=current,
        eliminated=eliminated,
        new=new,
        unresolvable=unresolvable,
        percent_eliminated=format_percent(eliminated, previous),
        status=status,
    )


def make_pair(number, municipality_ids, organisation="МБОУ СОШ № 1", **fields):
    pair = {
        "number": number,
        "authority": "Управление образования",
        "organisation": organisation,
        "settlement": "Долинск",
        "class_name": "5А",
        "intersections": "09.01.2025 - 12.01.2025",
        "duplicate_organisation": "МБОУ СОШ № 2",
        "duplicate_settlement": "Долинск",
        "duplicate_class_name": "5Б",
        "municipalities": "",
        "municipality_ids": municipality_ids,
        "pair_id": f"{number:012d}",
        "is_new": True,
        "unresolvable": False,
    }
    pair.update(fields)
    return pair


def quiet_delta(directory, *, baseline="2024-10-17") -> Delta:
    """A region where no municipality has, or had, a duplicate."""
    rows = [make_row(m.id, m.name, 0, 0, 0, 0, "none") for m in directory.municipalities]
    return Delta(
        monitoring_date="2025-01-17",
        baseline_date=baseline,
        rows=rows,
        total=make_row("", "ИТОГО", 0, 0, 0, 0, ""),
        current_pairs=[],
    )


def dolinsky_delta(directory, pairs, extra_rows=()) -> Delta:
    """Долинский with the given current pairs, every other municipality clean."""
    count = len(pairs)
    rows = [make_row("dolinsky", "Городской округ «Долинский»", 0, count, 0, count, "red")]
    rows += list(extra_rows)
    rows += [
        make_row(m.id, m.name, 0, 0, 0, 0, "none")
        for m in directory.municipalities
        if m.id != "dolinsky"
    ]
    total = len(pairs)
    return Delta(
        monitoring_date="2025-01-17",
        baseline_date="2024-10-17",
        rows=rows,
        total=make_row("", "ИТОГО", 0, total, 0, total, ""),
        current_pairs=pairs,
    )


def docx_text(path: Path) -> str:
    document = docx.Document(path)
    return "\n".join(paragraph.text for paragraph in document.paragraphs)


def table_cells(table) -> list[list[str]]:
    return [[cell.text for cell in row.cells] for row in table.rows]


def pdf_text(path: Path, *, layout: bool = True) -> str:
    """Extract a PDF's text; ``layout`` keeps the words of a justified line in their order."""
    command = ["pdftotext", *(["-layout"] if layout else []), str(path), "-"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def flat(text: str) -> str:
    """Collapse line breaks and runs of spaces, as justified lines and table cells wrap words."""
    return " ".join(text.split())


def png_size(data: bytes) -> tuple[int, int]:
    return struct.unpack(">II", data[16:24])


def png_chunk_types(data: bytes) -> list[bytes]:
    types, position = [], 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        types.append(data[position + 4 : position + 8])
        position += 12 + length
    return types


def html_text(path: Path) -> str:
    return lxml.html.fromstring(path.read_text(encoding="utf-8")).text_content()


def cell_fill(cell) -> str | None:
    shading = cell._tc.tcPr.find(qn("w:shd")) if cell._tc.tcPr is not None else None
    return None if shading is None else shading.get(qn("w:fill"))


def data_rows(table, header_rows: int, footer_rows: int = 0):
    rows = list(table.rows)[header_rows:]
    return rows[: len(rows) - footer_rows] if footer_rows else rows


# --- DOCX -------------------------------------------------------------------


def test_docx_appendix1_matches_csv(january):
    delta, files = january
    expected = list(csv.DictReader(io.StringIO(appendix1_csv(delta))))

    table = docx.Document(files.spravka_docx).tables[0]
    actual = [[cell.text for cell in row.cells] for row in data_rows(table, 1)]

    assert len(actual) == len(expected)
    for cells, row in zip(actual, expected, strict=True):
        assert cells == [row[column] for column in APPENDIX1_NUMBERS]


def test_docx_appendix1_shading(january):
    delta, files = january
    table = docx.Document(files.spravka_docx).tables[0]
    rows = data_rows(table, 1, footer_rows=1)
    expected_fill = {"red": RED, "partial": RED, "green": GREEN, "none": "auto"}

    for row, source in zip(rows, delta.rows, strict=True):
        fills = {cell_fill(cell) for cell in row.cells}
        assert fills == {expected_fill[source.status]}, source.municipality

    total_fills = {cell_fill(cell) for cell in list(table.rows)[-1].cells}
    assert RED not in total_fills
    assert GREEN not in total_fills


def test_docx_appendix1_colours_by_status(january):
    delta, files = january
    table = docx.Document(files.spravka_docx).tables[0]
    fill_of = {row.cells[0].text: cell_fill(row.cells[0]) for row in data_rows(table, 1)}

    assert fill_of["Городской округ «Город Южно-Сахалинск»"] == RED  # partial
    assert fill_of["Городской округ «Долинский»"] == RED
    assert fill_of["Холмский городской округ"] == GREEN
    assert fill_of["Южно-Курильский городской округ"] == GREEN
    assert fill_of["Анивский городской округ"] == "auto"


def test_docx_appendix2_pairs(january):
    delta, files = january
    table = docx.Document(files.spravka_docx).tables[1]
    rows = data_rows(table, 2)

    assert len(rows) == 2
    for row, pair in zip(rows, delta.current_pairs, strict=True):
        cells = [cell.text for cell in row.cells]
        assert cells[0] == f"{pair['number']}."
        assert cells[2] == pair["organisation"]
        assert cells[6] == pair["duplicate_organisation"]
        assert cells[9] == pair["pair_id"]
    assert rows[0].cells[1].text == "Сахминобр"
    assert rows[1].cells[8].text == "7А"


def test_docx_appendix2_merged_header(january):
    _, files = january
    table = docx.Document(files.spravka_docx).tables[1]
    top, sub = list(table.rows)[:2]
    top_cells = top._tr.findall(qn("w:tc"))
    sub_cells = sub._tr.findall(qn("w:tc"))

    spans = [tc.tcPr.find(qn("w:gridSpan")) for tc in top_cells]
    widths = [1 if span is None else int(span.get(qn("w:val"))) for span in spans]
    assert widths == [1] * 6 + [3, 1]
    assert top.cells[6].text == "Информация о дубле"
    assert [cell.text for cell in sub.cells[6:9]] == ["ОО", "Населённый пункт", "Класс/группа"]

    def merge_of(tc):
        merge = tc.tcPr.find(qn("w:vMerge"))
        return None if merge is None else merge.get(qn("w:val"), "continue")

    restart = [merge_of(tc) for tc in top_cells]
    cont = [merge_of(tc) for tc in sub_cells]
    assert restart == ["restart"] * 6 + [None, "restart"]
    assert cont == ["continue"] * 6 + [None, None, None, "continue"]


def appendix2_pieces(document) -> list:
    """The tables of Appendix 2: those whose first row names the duplicate's side."""
    return [
        table
        for table in document.tables
        if any("Информация о дубле" in cell.text for cell in table.rows[0].cells)
    ]


def long_appendix2(directory, texts, out, monkeypatch, pairs: int, per_piece: int):
    monkeypatch.setattr(render, "TABLE_PIECE_ROWS", per_piece)
    numbered = [make_pair(n, ["dolinsky"], organisation=f"Лицей {n}") for n in range(1, pairs + 1)]
    delta = dolinsky_delta(directory, numbered)
    return render_reports(delta, directory, texts, TEMPLATES, out, pdf=False)


def test_docx_long_appendix2_cut_into_pieces(directory, texts, tmp_path, monkeypatch):
    files = long_appendix2(directory, texts, tmp_path, monkeypatch, pairs=7, per_piece=3)
    document = docx.Document(files.spravka_docx)
    pieces = appendix2_pieces(document)

    assert [len(data_rows(piece, 2)) for piece in pieces] == [3, 3, 1]
    numbers = [row.cells[0].text for piece in pieces for row in data_rows(piece, 2)]
    assert numbers == [f"{n}." for n in range(1, 8)]
    for piece in pieces:
        header = list(piece.rows)[:2]
        assert [row._tr.trPr.find(qn("w:tblHeader")) is not None for row in header] == [True, True]
        assert table_cells(piece)[:2] == table_cells(pieces[0])[:2]
    # One paragraph between two pieces keeps them apart: two adjacent
    # tables would be read as one again.
    following = pieces[0]._tbl.getnext()
    assert following.tag == qn("w:p")
    assert following.getnext() is pieces[1]._tbl


def test_docx_piece_size_table_whole(directory, texts, tmp_path, monkeypatch):
    files = long_appendix2(directory, texts, tmp_path, monkeypatch, pairs=3, per_piece=3)

    pieces = appendix2_pieces(docx.Document(files.spravka_docx))

    assert [len(data_rows(piece, 2)) for piece in pieces] == [3]


def test_docx_agreement_words(january):
    _, files = january
    text = docx_text(files.spravka_docx)

    assert "выявлено 2 дубля" in text
    assert "устранены в 2-х муниципальных образованиях" in text
    assert "В 16-ти муниципальных образованиях дублей учётных записей нет" in text
    assert "устранён 1 дубль из 1 выявленного" in text


def test_docx_dates(january):
    _, files = january
    text = docx_text(files.spravka_docx)

    assert "за период с 02.09.2024 г. по 17.01.2025 г." in text
    assert "В срок до 24.01.2025 г. устранить" in text
    assert "на 17.10.2024 г. и на 17.01.2025 г." in text
    assert "г.." not in text


def test_docx_has_no_leftover_tags(january):
    _, files = january
    document = docx.Document(files.spravka_docx)
    body = document.element.xml

    assert "{{" not in body
    assert "{%" not in body
    assert document.core_properties.title.endswith("17.01.2025")


def test_docx_appendices_landscape(january):
    _, files = january
    sections = docx.Document(files.spravka_docx).sections

    assert len(sections) == 2
    assert sections[0].page_width < sections[0].page_height
    assert sections[1].page_width > sections[1].page_height


def test_first_monitoring_states_no_baseline(october):
    delta, files = october
    text = docx_text(files.spravka_docx)
    header = docx.Document(files.spravka_docx).tables[0].rows[0].cells[1].text

    assert delta.baseline_date is None
    assert "проведён впервые" in text
    assert "не проводился" in header
    assert "выявлено 3 дубля" in text
    assert "В 15-ти муниципальных образованиях" in text
    assert "устранены в" not in text


# --- HTML -------------------------------------------------------------------


def test_html_has_both_appendices(january):
    delta, files = january
    tree = lxml.html.fromstring(files.spravka_html.read_text(encoding="utf-8"))
    appendix1 = tree.get_element_by_id("appendix-1")
    appendix2 = tree.get_element_by_id("appendix-2")

    assert len(appendix1.xpath("./tbody/tr")) == len(delta.rows) + 1
    assert len(appendix2.xpath("./tbody/tr")) == 2
    header = appendix2.xpath("./thead/tr")
    assert len(header) == 2
    assert header[0].xpath("./th[@colspan='3']")[0].text_content() == "Информация о дубле"
    assert len(header[0].xpath("./th[@rowspan='2']")) == 7


def test_html_appendix1_numbers(january):
    delta, files = january
    tree = lxml.html.fromstring(files.spravka_html.read_text(encoding="utf-8"))
    expected = list(csv.DictReader(io.StringIO(appendix1_csv(delta))))

    rows = tree.get_element_by_id("appendix-1").xpath("./tbody/tr")
    actual = [[td.text_content() for td in row.xpath("./td")] for row in rows]
    assert actual == [[row[column] for column in APPENDIX1_NUMBERS] for row in expected]


def test_html_appendix1_highlighting(january):
    delta, files = january
    tree = lxml.html.fromstring(files.spravka_html.read_text(encoding="utf-8"))
    rows = tree.get_element_by_id("appendix-1").xpath("./tbody/tr")
    expected = {"red": RED, "partial": RED, "green": GREEN}

    for row, source in zip(rows[:-1], delta.rows, strict=True):
        style = row.xpath("./td")[0].get("style")
        if source.status in expected:
            assert f"background-color:#{expected[source.status]}" in style
        else:
            assert "background-color" not in style


def test_html_agreement_words(january):
    _, files = january
    text = html_text(files.spravka_html)

    assert "выявлено 2 дубля" in text
    assert "в 2-х муниципальных образованиях" in text
    assert "В 16-ти муниципальных образованиях" in text
    assert "24.01.2025 г." in text


# --- markup in names ----------------------------------------------------------


def test_markup_characters_render_literally(tmp_path, directory, texts):
    delta = dolinsky_delta(directory, [make_pair(1, ["dolinsky"], organisation=MARKUP_NAME)])

    files = render_reports(delta, directory, texts, TEMPLATES, tmp_path)

    document = docx.Document(files.spravka_docx)
    assert document.tables[1].rows[2].cells[2].text == MARKUP_NAME
    tree = lxml.html.fromstring(files.spravka_html.read_text(encoding="utf-8"))
    cell = tree.get_element_by_id("appendix-2").xpath("./tbody/tr/td")[2]
    assert cell.text_content() == MARKUP_NAME
    assert MARKUP_NAME in html_text(files.reminders_html["dolinsky"])
    assert MARKUP_NAME in files.reminders_text["dolinsky"].read_text(encoding="utf-8")


def test_markup_characters_in_texts(tmp_path, directory, texts):
    changed = {**texts, "signature": "Отдел <ЦОС> & «Ко»"}
    delta = dolinsky_delta(directory, [make_pair(1, ["dolinsky"])])

    files = render_reports(delta, directory, changed, TEMPLATES, tmp_path)

    assert "Отдел <ЦОС> & «Ко»" in docx_text(files.spravka_docx)
    assert "Отдел <ЦОС> & «Ко»" in html_text(files.spravka_html)
    assert "Отдел <ЦОС> & «Ко»" in files.reminders_text["dolinsky"].read_text(encoding="utf-8")


# --- edge cases -------------------------------------------------------------


def test_region_without_duplicates(quiet):
    _, files = quiet

    assert files.reminders_html == {}
    assert files.reminders_text == {}
    assert not (files.spravka_docx.parent / "reminders").exists()
    assert len(files.advice_html) == 18
    document = docx.Document(files.spravka_docx)
    # Appendix 1 and Appendix 3. Appendices 2 and 4 print a sentence in place of a table.
    assert len(document.tables) == 2
    text = docx_text(files.spravka_docx)
    assert "дублей учётных записей в АИС СГО не выявлено" in text
    assert "В 18-ти муниципальных образованиях дублей учётных записей нет" in text
    assert "в течение 7 дней" in text
    assert "образовательных организаций с дублями нет" in text
    assert "Ни на одну из этих дат дублей в регионе не было" in text
    assert "Учётные записи-дубли есть" not in text
    assert "дублирующихся учётных записей нет" in html_text(files.spravka_html)


def test_region_without_duplicates_trend(quiet):
    _, files = quiet
    table = docx.Document(files.spravka_docx).tables[1]

    assert table_cells(table) == [["Муниципальное образование", "17.01.2025"], ["ИТОГО", "0"]]


def test_region_without_duplicates_first_run(tmp_path, directory, texts):
    delta = quiet_delta(directory, baseline=None)

    files = render_reports(delta, directory, texts, TEMPLATES, tmp_path)

    assert "проведён впервые" in docx_text(files.spravka_docx)
    assert files.reminders_html == {}


def test_regional_row_gets_no_reminder(tmp_path, directory, texts):
    regional = make_row("regional", directory.no_municipality_row, 0, 1, 0, 1, "red")
    pairs = [
        make_pair(1, ["dolinsky"]),
        make_pair(2, ["regional"], organisation="ГБОУ Школа-интернат"),
    ]
    delta = dolinsky_delta(directory, pairs, extra_rows=[regional])
    delta.rows[0].current = delta.rows[0].new = 1

    files = render_reports(delta, directory, texts, TEMPLATES, tmp_path)

    assert sorted(files.reminders_html) == ["dolinsky"]
    assert not (tmp_path / "reminders" / "regional.html").exists()
    text = docx_text(files.spravka_docx)
    assert "1 дубль не относится ни к одному муниципальному образованию" in text
    assert "1) Городской округ «Долинский»." in text


def test_reminder_lists_own_pairs(january):
    _, files = january
    dolinsky = files.reminders_text["dolinsky"].read_text(encoding="utf-8")
    yuzhno = html_text(files.reminders_html["yuzhno_sakhalinsk"])

    assert "МБОУ СОШ №2 г.Долинск" in dolinsky
    assert "СГКСУВОУ зт" not in dolinsky
    assert "до 24.01.2025 г." in dolinsky
    assert "escalation-duplicates@example.org" in dolinsky
    assert "числится 1 дубль" in dolinsky
    assert "СГКСУВОУ зт" in yuzhno
    assert "МБОУ СОШ №2 г.Долинск" not in yuzhno


def test_new_organisation_ends_one_stop(january):
    # The date already ends with «г.», so the list adds no second full stop.
    _, files = january
    dolinsky = files.reminders_text["dolinsky"].read_text(encoding="utf-8")
    yuzhno = html_text(files.reminders_html["yuzhno_sakhalinsk"])

    assert "впервые на 17.01.2025 г.\n" in dolinsky
    assert "впервые на 17.01.2025 г." in yuzhno
    assert "г.." not in dolinsky
    assert "г.." not in yuzhno


def test_reminder_files_only_for_current(january, october):
    _, january_files = january
    _, october_files = october

    assert sorted(january_files.reminders_html) == ["dolinsky", "yuzhno_sakhalinsk"]
    assert sorted(october_files.reminders_text) == [
        "kholmsky",
        "yuzhno_kurilsky",
        "yuzhno_sakhalinsk",
    ]


def test_stale_reminders_removed(tmp_path, directory, texts):
    stale = tmp_path / "reminders" / "kholmsky.html"
    stale.parent.mkdir(parents=True)
    stale.write_text("old", encoding="utf-8")
    delta = dolinsky_delta(directory, [make_pair(1, ["dolinsky"])])

    render_reports(delta, directory, texts, TEMPLATES, tmp_path)

    assert not stale.exists()
    assert (tmp_path / "reminders" / "dolinsky.html").exists()


def test_failed_render_keeps_previous_files(tmp_path, directory, texts):
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    out = tmp_path / "out"
    delta = dolinsky_delta(directory, [make_pair(1, ["dolinsky"])])
    render_reports(delta, directory, texts, templates, out)
    before = {path: path.read_bytes() for path in out.rglob("*") if path.is_file()}
    (templates / "reminder.txt.j2").write_text("{{ no_such_variable }}", encoding="utf-8")
    changed = dolinsky_delta(directory, [make_pair(1, ["dolinsky"]), make_pair(2, ["dolinsky"])])

    with pytest.raises(jinja2.UndefinedError, match="no_such_variable"):
        render_reports(changed, directory, texts, templates, out)

    after = {path: path.read_bytes() for path in out.rglob("*") if path.is_file()}
    assert after == before


def test_render_leaves_no_temporary_files(january):
    _, files = january
    names = [path.name for path in files.spravka_docx.parent.rglob("*")]

    assert not [name for name in names if name.endswith(".tmp")]


def test_missing_text_raises(directory, texts):
    incomplete = {key: value for key, value in texts.items() if key != "escalation_email"}

    with pytest.raises(ConfigError, match="escalation_email"):
        build_context(quiet_delta(directory), directory, incomplete)


# --- context ----------------------------------------------------------------


def test_context_lists_by_status(sample_deltas, directory, texts):
    context = build_context(sample_deltas[JANUARY], directory, texts)

    def ids(rows):
        return [row["municipality_id"] for row in rows]

    assert ids(context["with_duplicates"]) == ["yuzhno_sakhalinsk", "dolinsky"]
    assert ids(context["cleared"]) == ["kholmsky", "yuzhno_kurilsky"]
    assert ids(context["partly_cleared"]) == ["yuzhno_sakhalinsk"]
    assert len(context["without_duplicates"]) == 16
    assert context["regional_row"] is None


def test_context_dates(sample_deltas, directory, texts):
    context = build_context(sample_deltas[JANUARY], directory, texts)

    assert context["monitoring_date"] == "17.01.2025 г."
    assert context["monitoring_date_plain"] == "17.01.2025"
    assert context["baseline_date"] == "17.10.2024 г."
    assert context["deadline"] == "24.01.2025 г."
    assert context["period_start"] == "02.09.2024 г."
    assert context["school_year"] == "2024/2025"


def test_context_without_baseline(sample_deltas, directory, texts):
    context = build_context(sample_deltas[OCTOBER], directory, texts)

    assert context["baseline_date"] is None
    assert context["baseline_date_plain"] is None
    assert context["period_start"] == "02.09.2024 г."


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (dt.date(2025, 1, 17), dt.date(2024, 9, 2)),
        (dt.date(2024, 10, 17), dt.date(2024, 9, 2)),
        (dt.date(2024, 9, 2), dt.date(2024, 9, 2)),
        (dt.date(2024, 9, 1), dt.date(2023, 9, 2)),
        (dt.date(2025, 7, 17), dt.date(2024, 9, 2)),
    ],
)
def test_school_year_start(day, expected):
    assert school_year_start(day, 9, 2) == expected


def test_report_files_round_trip(january):
    _, files = january

    data = json.loads(json.dumps(files.to_dict()))

    assert ReportFiles.from_dict(data) == files


# --- e-mail -----------------------------------------------------------------


def test_compose_with_spravka(january, directory, texts):
    delta, files = january

    messages = compose_messages(
        delta, directory, texts, RECIPIENTS, files, TEMPLATES, include_spravka=True
    )

    spravka = [m for m in messages if m.document == "spravka"]
    assert [m.recipient for m in spravka] == [
        "centre@example.org",
        "ministry@example.org",
        "uo-ys@example.org",
        "uo-dolinsk@example.org",
        "oks-dolinsk@example.org",
        "uo-kholmsk@example.org",
    ]
    for message in spravka:
        assert message.subject == (
            "Справка по результатам мониторинга дублей учётных записей от 17.01.2025"
        )
        assert message.attachments == [(files.spravka_docx, "Справка_дубли_17.01.2025.docx")]
        assert "Направляем справку" in message.text_body
        assert "Направляем справку" in message.html_body
    assert "appendix-2" in spravka[0].html_body


def test_compose_reminders(january, directory, texts):
    delta, files = january

    messages = compose_messages(
        delta, directory, texts, RECIPIENTS, files, TEMPLATES, include_spravka=True
    )

    reminders = [(m.document, m.recipient) for m in messages if m.document != "spravka"]
    assert reminders == [
        ("reminder:yuzhno_sakhalinsk", "uo-ys@example.org"),
        ("reminder:dolinsky", "uo-dolinsk@example.org"),
        ("reminder:dolinsky", "oks-dolinsk@example.org"),
    ]
    dolinsky = next(m for m in messages if m.document == "reminder:dolinsky")
    assert dolinsky.subject == "Напоминание: устранить дубли учётных записей до 24.01.2025"
    assert dolinsky.attachments == []
    assert dolinsky.text_body == files.reminders_text["dolinsky"].read_text(encoding="utf-8")
    assert "МБОУ СОШ №2 г.Долинск" in dolinsky.html_body


def test_compose_without_spravka(january, directory, texts):
    delta, files = january

    messages = compose_messages(
        delta, directory, texts, RECIPIENTS, files, TEMPLATES, include_spravka=False
    )

    assert [(m.document, m.recipient) for m in messages] == [
        ("reminder:yuzhno_sakhalinsk", "uo-ys@example.org"),
        ("reminder:dolinsky", "uo-dolinsk@example.org"),
        ("reminder:dolinsky", "oks-dolinsk@example.org"),
        ("advice:kholmsky", "uo-kholmsk@example.org"),
        ("advice:kholmsky", "Centre@example.org"),
    ]


def test_compose_advice_letter(january, directory, texts):
    delta, files = january

    messages = compose_messages(
        delta, directory, texts, RECIPIENTS, files, TEMPLATES, include_spravka=False
    )

    advice = next(m for m in messages if m.document == "advice:kholmsky")
    assert advice.subject == "Рекомендация: ежемесячно проверять дубли учётных записей (17.01.2025)"
    assert advice.text_body == files.advice_text["kholmsky"].read_text(encoding="utf-8")
    assert "каждый месяц формировать отчёт «Список учащихся-«дублей»" in advice.text_body
    assert "дублей учётных записей обучающихся/воспитанников нет" in advice.text_body
    assert "устранён 1 дубль, благодарим" in advice.text_body
    assert "escalation-duplicates@example.org" in html_text(files.advice_html["kholmsky"])
    assert advice.attachments == []


def test_advice_files_for_municipalities_without_duplicates(january, directory):
    _, files = january

    assert sorted(files.advice_text) == sorted(
        m.id for m in directory.municipalities if m.id not in ("dolinsky", "yuzhno_sakhalinsk")
    )
    assert not set(files.advice_html) & set(files.reminders_html)


def test_quarterly_compose_sends_no_advice(january, directory, texts):
    delta, files = january

    messages = compose_messages(
        delta, directory, texts, RECIPIENTS, files, TEMPLATES, include_spravka=True
    )

    assert not [m for m in messages if m.document.startswith("advice:")]


def test_compose_quiet_region(tmp_path, directory, texts):
    delta = quiet_delta(directory)
    files = render_reports(delta, directory, texts, TEMPLATES, tmp_path)

    with_spravka = compose_messages(
        delta, directory, texts, RECIPIENTS, files, TEMPLATES, include_spravka=True
    )
    monthly = compose_messages(
        delta, directory, texts, RECIPIENTS, files, TEMPLATES, include_spravka=False
    )

    assert {m.document for m in with_spravka} == {"spravka"}
    assert [m.document for m in monthly] == [
        "advice:yuzhno_sakhalinsk",
        "advice:dolinsky",
        "advice:dolinsky",
        "advice:kholmsky",
        "advice:kholmsky",
    ]


def test_compose_skips_municipality_without_address(january, directory, texts, caplog):
    delta, files = january
    recipients = {"regional": [], "municipalities": {"dolinsky": ["uo-dolinsk@example.org"]}}

    with caplog.at_level(logging.WARNING, logger=render.__name__):
        messages = compose_messages(
            delta, directory, texts, recipients, files, TEMPLATES, include_spravka=False
        )

    assert [m.recipient for m in messages] == ["uo-dolinsk@example.org"]
    assert "yuzhno_sakhalinsk" in caplog.text


def test_compose_requires_rendered_files(tmp_path, january, directory, texts):
    delta, files = january
    missing = ReportFiles(spravka_docx=tmp_path / "none.docx", spravka_html=tmp_path / "none.html")

    with pytest.raises(FileNotFoundError, match="render step"):
        compose_messages(
            delta, directory, texts, RECIPIENTS, missing, TEMPLATES, include_spravka=True
        )


# --- trend: Appendix 3 and the chart ------------------------------------------


def test_docx_appendix3_trend(january):
    _, files = january
    table = docx.Document(files.spravka_docx).tables[2]

    assert table_cells(table) == [
        ["Муниципальное образование", "17.10.2024", "17.01.2025"],
        ["Городской округ «Город Южно-Сахалинск»", "1", "1"],
        ["Городской округ «Долинский»", "0", "1"],
        ["Холмский городской округ", "1", "0"],
        ["Южно-Курильский городской округ", "1", "0"],
        ["ИТОГО", "3", "2"],
    ]


def test_docx_appendix3_grid_fits_columns(january):
    _, files = january
    table = docx.Document(files.spravka_docx).tables[2]._tbl
    grid = [column.get(qn("w:w")) for column in table.tblGrid.findall(qn("w:gridCol"))]
    first_row = table.findall(qn("w:tr"))[0].findall(qn("w:tc"))

    assert grid == [cell.tcPr.find(qn("w:tcW")).get(qn("w:w")) for cell in first_row]


def test_docx_trend_paragraph(january):
    _, files = january
    text = docx_text(files.spravka_docx)

    assert "по состоянию на 2 даты: 17.10.2024, 17.01.2025" in text
    assert "составляло соответственно 3 и 2" in text
    assert "Муниципальных образований без дублей на всех этих датах: 14" in text


def test_first_monitoring_trend_has_one_date(october):
    _, files = october
    text = docx_text(files.spravka_docx)

    assert "первый в 2024/2025 учебном году" in text
    assert docx.Document(files.spravka_docx).tables[2].rows[0].cells[1].text == "17.10.2024"


def test_docx_has_chart_picture(january):
    _, files = january
    document = docx.Document(files.spravka_docx)
    [shape] = document.inline_shapes
    images = [
        part.blob for part in document.part.package.parts if part.content_type == "image/png"
    ]

    assert images == [files.trend_chart.read_bytes()]
    assert round(shape.width.mm) == render.CHART_WIDTH_MM


def test_html_chart_is_data_uri(january):
    _, files = january
    tree = lxml.html.fromstring(files.spravka_html.read_text(encoding="utf-8"))
    image = tree.get_element_by_id("trend-chart")
    prefix, encoded = image.get("src").split(",", 1)

    assert prefix == "data:image/png;base64"
    assert base64.b64decode(encoded) == files.trend_chart.read_bytes()
    assert "по региону 3, 2 на 17.10.2024, 17.01.2025" in image.get("alt")


def test_html_appendix3_matches_docx(january):
    _, files = january
    tree = lxml.html.fromstring(files.spravka_html.read_text(encoding="utf-8"))
    table = tree.get_element_by_id("appendix-3")
    rows = [
        [cell.text_content() for cell in row.xpath("./td|./th")] for row in table.xpath(".//tr")
    ]

    assert rows == table_cells(docx.Document(files.spravka_docx).tables[2])


def test_mail_body_leaves_chart_out(january, directory, texts):
    delta, files = january

    messages = compose_messages(
        delta, directory, texts, RECIPIENTS, files, TEMPLATES, include_spravka=True
    )

    assert "data:image/png" not in messages[0].html_body
    assert "appendix-3" in messages[0].html_body


def test_chart_png_is_deterministic(january, directory, texts, tmp_path):
    delta, files = january
    # Draw the chart again instead of reusing the one drawn for the fixture.
    chart._draw.cache_clear()

    again = render_reports(delta, directory, texts, TEMPLATES, tmp_path)

    assert again.trend_chart.read_bytes() == files.trend_chart.read_bytes()


def test_chart_png_has_no_metadata(january):
    _, files = january
    data = files.trend_chart.read_bytes()

    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert set(png_chunk_types(data)) <= {b"IHDR", b"pHYs", b"IDAT", b"IEND"}
    width, height = FIGURE_SIZE_INCHES
    assert png_size(data) == (round(width * DPI), round(height * DPI))


def test_chart_sums_extra_lines():
    series = [(f"Округ {number}", [number, 0]) for number in range(1, MAX_LINES + 3)]
    captions = {
        "title": "Заголовок $x$",
        "x_label": "Дата",
        "y_label": "Дубли",
        "total_label": "Всего",
        "other_label": "Остальные",
    }

    many = trend_chart_png(["01.10.2024", "01.11.2024"], series, [55, 0], **captions)
    few = trend_chart_png(["01.10.2024", "01.11.2024"], series[:MAX_LINES], [36, 0], **captions)

    assert png_size(many) == png_size(few)
    assert many != few


def test_trend_without_stored_history(tmp_path, directory, texts):
    delta = dolinsky_delta(directory, [make_pair(1, ["dolinsky"])])

    files = render_reports(delta, directory, texts, TEMPLATES, tmp_path)

    table = docx.Document(files.spravka_docx).tables[2]
    assert table_cells(table) == [
        ["Муниципальное образование", "17.01.2025"],
        ["Городской округ «Долинский»", "1"],
        ["ИТОГО", "1"],
    ]


# --- organisations: Appendix 4 ---------------------------------------------------


def aged_delta(directory) -> Delta:
    """Долинский with three pairs first seen 92, 31 and 5 days before 17.01.2025."""
    pairs = [
        make_pair(1, ["dolinsky"], organisation="МБОУ СОШ № 1", first_seen="2024-10-17",
                  duplicate_organisation="МБОУ СОШ № 2"),
        make_pair(2, ["dolinsky"], organisation="МБОУ СОШ № 1", first_seen="2025-01-12",
                  duplicate_organisation="МБОУ СОШ № 3"),
        make_pair(3, ["dolinsky", "kholmsky"], organisation="МБОУ СОШ № 4",
                  first_seen="2024-12-17", duplicate_organisation="МАОУ Гимназия",
                  municipality_id="dolinsky", duplicate_municipality_id="kholmsky"),
    ]
    return dolinsky_delta(directory, pairs)


def test_docx_appendix4_days_open(tmp_path, directory, texts):
    files = render_reports(aged_delta(directory), directory, texts, TEMPLATES, tmp_path)

    table = docx.Document(files.spravka_docx).tables[3]

    assert table_cells(table)[1:] == [
        ["1.", "Городской округ «Долинский»", "МБОУ СОШ № 1", "2",
         "№ 1: с 17.10.2024 г., 92 дня; № 2: с 12.01.2025 г., 5 дней", "92"],
        ["2.", "Городской округ «Долинский»", "МБОУ СОШ № 2", "1", "№ 1: с 17.10.2024 г., 92 дня",
         "92"],
        ["3.", "Городской округ «Долинский»", "МБОУ СОШ № 4", "1", "№ 3: с 17.12.2024 г., 31 день",
         "31"],
        ["4.", "Городской округ «Долинский»", "МБОУ СОШ № 3", "1", "№ 2: с 12.01.2025 г., 5 дней",
         "5"],
        ["5.", "Холмский городской округ", "МАОУ Гимназия", "1", "№ 3: с 17.12.2024 г., 31 день",
         "31"],
    ]


def test_docx_appendix4_long_list_continues(tmp_path, directory, texts, monkeypatch):
    monkeypatch.setattr(render, "ORGANISATION_PAIRS_PER_ROW", 2)
    pairs = [make_pair(n, ["dolinsky"]) for n in range(1, 6)]
    files = render_reports(dolinsky_delta(directory, pairs), directory, texts, TEMPLATES, tmp_path)

    rows = table_cells(docx.Document(files.spravka_docx).tables[3])[1:]

    unknown = "дата выявления неизвестна"
    name = "Городской округ «Долинский»"
    for first in (0, 3):
        assert rows[first][:4] == [f"{first // 3 + 1}.", name, rows[first][2], "5"]
        assert rows[first][4] == f"№ 1: {unknown}; № 2: {unknown};"
        assert rows[first][5] == "—"
        assert rows[first + 1] == ["", "", "", "", f"№ 3: {unknown}; № 4: {unknown};", ""]
        assert rows[first + 2] == ["", "", "", "", f"№ 5: {unknown}", ""]
    assert [rows[0][2], rows[3][2]] == ["МБОУ СОШ № 1", "МБОУ СОШ № 2"]
    assert len(rows) == 6


def test_docx_oldest_pair_sentence(tmp_path, directory, texts):
    files = render_reports(aged_delta(directory), directory, texts, TEMPLATES, tmp_path)

    text = docx_text(files.spravka_docx)

    assert "Учётные записи-дубли есть в 5-ти образовательных организациях; по каждой из них" in text
    assert "Дольше всего, 92 дня (с 17.10.2024 г.), не устранён дубль № 1 приложения 2." in text


def test_html_appendix4_matches_docx(tmp_path, directory, texts):
    files = render_reports(aged_delta(directory), directory, texts, TEMPLATES, tmp_path)
    tree = lxml.html.fromstring(files.spravka_html.read_text(encoding="utf-8"))

    rows = tree.get_element_by_id("appendix-4").xpath("./tbody/tr")
    cells = [[td.text_content() for td in row.xpath("./td")] for row in rows]

    assert cells[0][4] == "№ 1: с 17.10.2024 г., 92 дня№ 2: с 12.01.2025 г., 5 дней"
    assert [row[2] for row in cells] == [
        row[2] for row in table_cells(docx.Document(files.spravka_docx).tables[3])[1:]
    ]


def test_reminder_lists_organisations(tmp_path, directory, texts):
    files = render_reports(aged_delta(directory), directory, texts, TEMPLATES, tmp_path)

    dolinsky = files.reminders_text["dolinsky"].read_text(encoding="utf-8")

    assert "Образовательные организации с дублями:" in dolinsky
    assert "1) МБОУ СОШ № 1 — 2 дубля, самый давний не устранён 92 дня;" in dolinsky
    assert "3) МБОУ СОШ № 4 — 1 дубль, не устранён 31 день;" in dolinsky
    assert "МАОУ Гимназия —" not in dolinsky
    assert "Выявлен впервые: 17.10.2024 г." in dolinsky


def test_january_appendix4_attributes_sides(january):
    _, files = january
    table = docx.Document(files.spravka_docx).tables[3]

    assert [(row[1], row[2], row[4]) for row in table_cells(table)[1:]] == [
        (
            "Городской округ «Город Южно-Сахалинск»",
            "МАОУ СОШ №8 им. генерал-лейтенанта В.Г. Асапова города Южно-Сахалинска",
            "№ 1: с 17.01.2025 г., 0 дней",
        ),
        ("Городской округ «Долинский»", "МБОУ СОШ № 1", "№ 2: с 17.01.2025 г., 0 дней"),
        ("Городской округ «Долинский»", "МБОУ СОШ №2 г.Долинск", "№ 2: с 17.01.2025 г., 0 дней"),
        ("Организации регионального подчинения", "СГКСУВОУ зт", "№ 1: с 17.01.2025 г., 0 дней"),
    ]


# --- register of pairs that cannot be eliminated -----------------------------------


def registered_delta(directory) -> Delta:
    pairs = [
        make_pair(1, ["dolinsky"]),
        make_pair(2, ["dolinsky"], organisation="МБОУ СОШ № 7", unresolvable=True),
    ]
    delta = dolinsky_delta(directory, pairs)
    delta.rows[0].unresolvable = delta.total.unresolvable = 1
    delta.register = [
        register_entry("current", numbers=[2], organisation="МБОУ СОШ № 7"),
        register_entry("resolved", organisation="МБОУ СОШ № 9", last_seen="2024-10-17"),
    ]
    return delta


def register_entry(status, *, numbers=(), organisation, last_seen=None) -> dict:
    return {
        "line": 2,
        "status": status,
        "pair_ids": [],
        "numbers": list(numbers),
        "organisation": organisation,
        "class_name": "5А",
        "duplicate_organisation": "МБОУ СОШ № 2",
        "duplicate_class_name": "5Б",
        "intersection_start": "2025-01-09",
        "reason": "учётные записи связаны с разными родителями",
        "reported_by": "УО Долинский",
        "letter": "№ 12-345 от 20.01.2025",
        "reported_on": "2025-01-21",
        "last_seen": last_seen,
    }


def test_docx_lists_register(tmp_path, directory, texts):
    files = render_reports(registered_delta(directory), directory, texts, TEMPLATES, tmp_path)

    text = docx_text(files.spravka_docx)

    assert (
        "1 дубль из приложения 2 нельзя устранить по техническим причинам; в приложении 1 он "
        "учтён в отдельной графе:"
    ) in text
    assert (
        "1) № 2 приложения 2: МБОУ СОШ № 7, 5А — МБОУ СОШ № 2, 5Б. Причина: учётные записи "
        "связаны с разными родителями. Письмо № 12-345 от 20.01.2025 (УО Долинский), дата "
        "сообщения 21.01.2025 г."
    ) in text
    assert "Дубль, о котором сообщалось как о неустранимом, больше не появляется" in text
    assert "в последний раз дубль был в отчёте на 17.10.2024 г." in text
    # Both lists end with a date, which ends with its own full stop.
    assert "г.." not in text


def test_docx_register_in_appendices(tmp_path, directory, texts):
    files = render_reports(registered_delta(directory), directory, texts, TEMPLATES, tmp_path)
    document = docx.Document(files.spravka_docx)

    assert document.tables[0].rows[1].cells[5].text == "1"
    assert document.tables[1].rows[3].cells[0].text == "2.*"


def test_html_lists_register(tmp_path, directory, texts):
    files = render_reports(registered_delta(directory), directory, texts, TEMPLATES, tmp_path)
    tree = lxml.html.fromstring(files.spravka_html.read_text(encoding="utf-8"))

    current = tree.get_element_by_id("register-current").text_content()
    resolved = tree.get_element_by_id("register-resolved").text_content()

    assert "Причина: учётные записи связаны с разными родителями" in current
    assert "Письмо № 12-345 от 20.01.2025" in current
    assert "МБОУ СОШ № 9" in resolved
    assert current.strip().endswith("21.01.2025 г.")
    assert resolved.strip().endswith("17.10.2024 г.")


def test_register_markup_literal(tmp_path, directory, texts):
    delta = registered_delta(directory)
    delta.register[0]["reason"] = MARKUP_NAME

    files = render_reports(delta, directory, texts, TEMPLATES, tmp_path)

    assert MARKUP_NAME in docx_text(files.spravka_docx)
    tree = lxml.html.fromstring(files.spravka_html.read_text(encoding="utf-8"))
    assert MARKUP_NAME in tree.get_element_by_id("register-current").text_content()


# --- agreement for 0, 1, 2, 5, 11 and 21 -----------------------------------------


def numbered_directory(tmp_path, count: int):
    """A region of ``count`` invented municipalities «Округ № 1» …"""
    municipalities = [
        {"id": f"m{number:02d}", "name": f"Тестовый округ № {number}", "short": f"Округ № {number}"}
        for number in range(1, count + 1)
    ]
    path = tmp_path / "municipalities.yaml"
    path.write_text(
        yaml.safe_dump({"region": {"id": "test", "name": "Тестовая область"},
                        "municipalities": municipalities}, allow_unicode=True),
        encoding="utf-8",
    )
    return load_directory(path)


def counted_delta(directory, red: int, green: int) -> Delta:
    """``red`` municipalities with one pair each, then ``green`` that removed their one pair.

    Each pair has the same school on both sides, so ``red`` is also the
    number of organisations with duplicates.
    """
    ids = directory.ids
    rows, pairs = [], []
    for position, municipality_id in enumerate(ids):
        name = directory.get(municipality_id).name
        if position < red:
            rows.append(make_row(municipality_id, name, 0, 1, 0, 1, "red"))
            school = f"Школа {position + 1}"
            pairs.append(
                make_pair(position + 1, [municipality_id], organisation=school,
                          duplicate_organisation=school)
            )
        elif position < red + green:
            rows.append(make_row(municipality_id, name, 1, 0, 1, 0, "green"))
        else:
            rows.append(make_row(municipality_id, name, 0, 0, 0, 0, "none"))
    return Delta(
        monitoring_date="2025-01-17",
        baseline_date="2024-10-17",
        rows=rows,
        total=make_row("", "ИТОГО", green, red, green, red, ""),
        current_pairs=pairs,
    )


# n: (pairs found, red list, green list, list without duplicates, organisations)
AGREEMENT = {
    1: (
        "выявлен 1 дубль учётных записей в следующем муниципальном образовании (в приложении 1 "
        "выделено красным):",
        "устранены в 1-м муниципальном образовании (в приложении 1 выделено зелёным)",
        "В 1-м муниципальном образовании дублей учётных записей нет:",
        "Учётные записи-дубли есть в 1-й образовательной организации; по ней в приложении 4",
    ),
    2: (
        "выявлено 2 дубля учётных записей в следующих муниципальных образованиях (в приложении 1 "
        "выделены красным):",
        "устранены в 2-х муниципальных образованиях (в приложении 1 выделены зелёным)",
        "В 2-х муниципальных образованиях дублей учётных записей нет:",
        "Учётные записи-дубли есть в 2-х образовательных организациях; по каждой из них",
    ),
    5: (
        "выявлено 5 дублей учётных записей в следующих муниципальных образованиях (в приложении 1 "
        "выделены красным):",
        "устранены в 5-ти муниципальных образованиях (в приложении 1 выделены зелёным)",
        "В 5-ти муниципальных образованиях дублей учётных записей нет:",
        "Учётные записи-дубли есть в 5-ти образовательных организациях; по каждой из них",
    ),
    11: (
        "выявлено 11 дублей учётных записей в следующих муниципальных образованиях (в приложении "
        "1 выделены красным):",
        "устранены в 11-ти муниципальных образованиях (в приложении 1 выделены зелёным)",
        "В 11-ти муниципальных образованиях дублей учётных записей нет:",
        "Учётные записи-дубли есть в 11-ти образовательных организациях; по каждой из них",
    ),
    21: (
        "выявлен 21 дубль учётных записей в следующих муниципальных образованиях (в приложении 1 "
        "выделены красным):",
        "устранены в 21-м муниципальном образовании (в приложении 1 выделено зелёным)",
        "В 21-м муниципальном образовании дублей учётных записей нет:",
        "Учётные записи-дубли есть в 21-й образовательной организации; по каждой из них",
    ),
}


@pytest.mark.parametrize("n", sorted(AGREEMENT))
def test_agreement_of_lists(tmp_path, texts, n):
    directory = numbered_directory(tmp_path, 2 * n)
    delta = counted_delta(directory, red=n, green=n)

    files = render_reports(delta, directory, texts, TEMPLATES, tmp_path / "out")

    text = docx_text(files.spravka_docx)
    for document_text in (text, flat(html_text(files.spravka_html))):
        for phrase in AGREEMENT[n]:
            assert phrase in document_text
        assert "г.." not in document_text
    assert f"{n}) Тестовый округ № {n}." in text


def test_agreement_without_any_list(tmp_path, texts):
    directory = numbered_directory(tmp_path, 1)
    delta = counted_delta(directory, red=0, green=0)

    files = render_reports(delta, directory, texts, TEMPLATES, tmp_path / "out")

    text = docx_text(files.spravka_docx)
    assert "дублей учётных записей в АИС СГО не выявлено" in text
    assert "В 1-м муниципальном образовании дублей учётных записей нет:" in text
    assert "в следующ" not in text
    assert "устранены в" not in text


# (pairs of one municipality, sentence of its reminder)
REMINDER_AGREEMENT = [
    (1, "числится 1 дубль учётных записей обучающихся/воспитанников. Просим до 24.01.2025 г. "
        "устранить его."),
    (2, "числятся 2 дубля учётных записей обучающихся/воспитанников. Просим до 24.01.2025 г. "
        "устранить их."),
    (5, "числится 5 дублей учётных записей обучающихся/воспитанников. Просим до 24.01.2025 г. "
        "устранить их."),
    (11, "числится 11 дублей учётных записей обучающихся/воспитанников. Просим до 24.01.2025 г. "
         "устранить их."),
    (21, "числится 21 дубль учётных записей обучающихся/воспитанников. Просим до 24.01.2025 г. "
         "устранить их."),
]


@pytest.mark.parametrize(
    ("count", "sentence"), REMINDER_AGREEMENT, ids=[str(count) for count, _ in REMINDER_AGREEMENT]
)
def test_agreement_of_reminder(tmp_path, directory, texts, count, sentence):
    pairs = [make_pair(number, ["dolinsky"]) for number in range(1, count + 1)]
    delta = dolinsky_delta(directory, pairs)

    files = render_reports(delta, directory, texts, TEMPLATES, tmp_path)

    assert sentence in files.reminders_text["dolinsky"].read_text(encoding="utf-8")
    assert sentence in html_text(files.reminders_html["dolinsky"])


@pytest.mark.parametrize(
    ("count", "phrase"),
    [
        (1, "1 дубль не относится ни к одному муниципальному образованию"),
        (2, "2 дубля не относятся ни к одному муниципальному образованию"),
        (5, "5 дублей не относятся ни к одному муниципальному образованию"),
        (11, "11 дублей не относятся ни к одному муниципальному образованию"),
        (21, "21 дубль не относится ни к одному муниципальному образованию"),
    ],
    ids=["1", "2", "5", "11", "21"],
)
def test_agreement_of_regional_row(tmp_path, directory, texts, count, phrase):
    regional = make_row("regional", directory.no_municipality_row, 0, count, 0, count, "red")
    pairs = [make_pair(number, ["regional"]) for number in range(1, count + 1)]
    delta = dolinsky_delta(directory, pairs, extra_rows=[regional])
    delta.rows[0].current = delta.rows[0].new = 0
    delta.rows[0].status = "none"

    files = render_reports(delta, directory, texts, TEMPLATES, tmp_path)

    assert phrase in docx_text(files.spravka_docx)
    assert phrase in html_text(files.spravka_html)


@pytest.mark.parametrize(
    ("previous", "eliminated", "current", "new", "phrase"),
    [
        (1, 1, 1, 1, "устранён 1 дубль из 1 выявленного на 17.10.2024 г., но на 17.01.2025 г. "
                     "остаётся 1 дубль, из них 1 новый."),
        (5, 2, 3, 0, "устранено 2 дубля из 5 выявленных на 17.10.2024 г., но на 17.01.2025 г. "
                     "остаются 3 дубля."),
        (11, 5, 21, 15, "устранено 5 дублей из 11 выявленных на 17.10.2024 г., но на 17.01.2025 г. "
                        "остаётся 21 дубль, из них 15 новых."),
        (21, 21, 2, 2, "устранён 21 дубль из 21 выявленного на 17.10.2024 г., но на 17.01.2025 г. "
                       "остаются 2 дубля, из них 2 новых."),
        (11, 11, 5, 5, "устранено 11 дублей из 11 выявленных на 17.10.2024 г., но на 17.01.2025 г. "
                       "остаётся 5 дублей, из них 5 новых."),
    ],
    ids=["1-of-1", "2-of-5", "5-of-11", "21-of-21", "11-of-11"],
)
def test_agreement_of_partial_removal(
    tmp_path, directory, texts, previous, eliminated, current, new, phrase
):
    pairs = [make_pair(number, ["dolinsky"]) for number in range(1, current + 1)]
    delta = dolinsky_delta(directory, pairs)
    delta.rows[0] = make_row(
        "dolinsky", "Городской округ «Долинский»", previous, current, eliminated, new, "partial"
    )

    files = render_reports(delta, directory, texts, TEMPLATES, tmp_path)

    assert f"частично в муниципальном образовании ГО «Долинский»: {phrase}" in docx_text(
        files.spravka_docx
    )
    assert phrase in html_text(files.spravka_html)


# --- PDF ----------------------------------------------------------------------------


def keep_first_page(pdf_path: Path, name: str) -> Path:
    """Write the first page of a PDF as tests/artifacts/<name>.png, for a person to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(pdf_path),
         str(ARTIFACTS / name)],
        check=True,
    )
    return ARTIFACTS / f"{name}.png"


def page_with(pdf_path: Path, words: str) -> int:
    """Return the 1-based number of the first page whose text contains ``words``."""
    pages = pdf_text(pdf_path, layout=False).split("\f")
    return next(number for number, page in enumerate(pages, 1) if words in page)


def page_colours(pdf_path: Path, page: int) -> set[tuple[int, int, int]]:
    from PIL import Image

    result = subprocess.run(
        ["pdftoppm", "-png", "-r", "30", "-f", str(page), "-l", str(page), str(pdf_path)],
        capture_output=True,
        check=True,
    )
    with Image.open(io.BytesIO(result.stdout)) as image:
        return {colour for _, colour in image.convert("RGB").getcolors(maxcolors=1 << 20)}


@needs_soffice
def test_pdf_written_beside_docx(january):
    _, files = january

    assert files.spravka_pdf == files.spravka_docx.with_name("spravka.pdf")
    assert files.spravka_pdf.read_bytes().startswith(b"%PDF")


@needs_soffice
def test_pdf_january_text(january):
    _, files = january
    text = flat(pdf_text(files.spravka_pdf))

    assert "выявлено 2 дубля учётных записей в следующих муниципальных образованиях" in text
    assert "устранены в 2-х муниципальных образованиях" in text
    assert "В 16-ти муниципальных образованиях дублей учётных записей нет" in text
    assert "за период с 02.09.2024 г. по 17.01.2025 г." in text
    assert "В срок до 24.01.2025 г. устранить дубли" in text
    assert "escalation-duplicates@example.org" in text
    for caption in ("Приложение 1", "Приложение 2", "Приложение 3", "Приложение 4"):
        assert caption in text


@needs_soffice
def test_pdf_appendix1_numbers(january):
    _, files = january
    lines = pdf_text(files.spravka_pdf, layout=True).splitlines()

    totals = [line.split() for line in lines if line.split()[:1] == ["ИТОГО"]]

    # Appendix 1, then Appendix 3.
    assert totals == [["ИТОГО", "3", "2", "3", "2", "0", "100,0"], ["ИТОГО", "3", "2"]]


@needs_soffice
def test_pdf_appendix1_highlighting(january):
    _, files = january
    page = page_with(files.spravka_pdf, "Приложение 1")

    colours = page_colours(files.spravka_pdf, page)

    assert tuple(bytes.fromhex(RED)) in colours
    assert tuple(bytes.fromhex(GREEN)) in colours


@needs_soffice
def test_pdf_long_appendix2_keeps_every_row(directory, texts, tmp_path, monkeypatch):
    files = long_appendix2(directory, texts, tmp_path, monkeypatch, pairs=7, per_piece=3)
    pdf.write_spravka_pdf(files.spravka_docx, files.spravka_docx.with_suffix(".pdf"))
    text = pdf_text(files.spravka_docx.with_suffix(".pdf"), layout=False)

    appendix2 = text[text.index("Приложение 2") :]
    positions = [flat(appendix2).index(f"Лицей {n} ") for n in range(1, 8)]
    assert positions == sorted(positions)
    assert flat(appendix2).count("Информация о дубле") == 3


@needs_soffice
def test_pdf_wide_numbers_on_one_line(directory, texts, tmp_path):
    pairs = [make_pair(10000, ["dolinsky"], pair_id="888888888888")]
    files = render_reports(dolinsky_delta(directory, pairs), directory, texts, TEMPLATES, tmp_path)
    pdf_path = pdf.write_spravka_pdf(files.spravka_docx, tmp_path / "spravka.pdf", pairs=1)
    words = pdf_text(pdf_path).split()

    assert "10000." in words
    assert "888888888888" in words


@needs_soffice
def test_pdf_october_text(october):
    _, files = october
    text = flat(pdf_text(files.spravka_pdf))

    assert "проведён впервые" in text
    assert "выявлено 3 дубля" in text
    assert "В 15-ти муниципальных образованиях" in text


@needs_soffice
def test_pdf_quiet_region_text(quiet):
    _, files = quiet
    text = flat(pdf_text(files.spravka_pdf))

    assert "дублей учётных записей в АИС СГО не выявлено" in text
    assert "В 18-ти муниципальных образованиях дублей учётных записей нет" in text
    assert "образовательных организаций с дублями нет" in text


@needs_soffice
def test_pdf_first_pages_kept(january, october, quiet):
    for name, (_, files) in (("january", january), ("october", october), ("quiet", quiet)):
        picture = keep_first_page(files.spravka_pdf, f"spravka_{name}_page1")

        assert picture.read_bytes().startswith(b"\x89PNG"), name


@needs_soffice
def test_pdf_markup_literal(tmp_path, directory, texts):
    delta = dolinsky_delta(directory, [make_pair(1, ["dolinsky"], organisation=MARKUP_NAME)])

    files = render_reports(delta, directory, texts, TEMPLATES, tmp_path, pdf=True)

    # Without layout, pdftotext keeps the text of one table cell together.
    assert flat(MARKUP_NAME) in flat(pdf_text(files.spravka_pdf, layout=False))
    with zipfile.ZipFile(files.spravka_docx) as archive:
        for name in archive.namelist():
            if name.endswith(".xml"):
                lxml.etree.fromstring(archive.read(name))


def test_render_without_soffice_skips_pdf(tmp_path, directory, texts, monkeypatch, caplog):
    stale = tmp_path / "spravka.pdf"
    stale.write_bytes(b"%PDF of an earlier render")
    monkeypatch.setattr(pdf, "find_soffice", lambda: None)
    delta = dolinsky_delta(directory, [make_pair(1, ["dolinsky"])])

    with caplog.at_level(logging.WARNING, logger="dupmon.pdf"):
        files = render_reports(delta, directory, texts, TEMPLATES, tmp_path, pdf=True)

    assert files.spravka_pdf is None
    assert not stale.exists()
    assert files.spravka_docx.exists()
    assert "soffice" in caplog.text


def test_render_without_pdf_removes_stale_one(tmp_path, directory, texts):
    stale = tmp_path / "spravka.pdf"
    stale.write_bytes(b"%PDF of an earlier render")

    files = render_reports(quiet_delta(directory), directory, texts, TEMPLATES, tmp_path)

    assert files.spravka_pdf is None
    assert not stale.exists()


def test_docx_rerender_same_bytes(january, directory, texts, tmp_path):
    delta, files = january
    time.sleep(2)  # zip timestamps have a resolution of two seconds
    again = render_reports(delta, directory, texts, TEMPLATES, tmp_path, pdf=False)
    assert Path(again.spravka_docx).read_bytes() == Path(files.spravka_docx).read_bytes()
