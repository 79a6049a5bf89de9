"""Documents of dupmon.render: the справка in DOCX and HTML, reminders and e-mails.

The sample-date tests run the real chain (ingest, validate, normalise,
snapshot, delta) on the bundled exports; the edge cases build Delta objects
by hand. All data is invented and every address is under example.org.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import shutil
from pathlib import Path

import docx
import jinja2
import lxml.html
import pytest
import yaml
from docx.oxml.ns import qn

from dupmon import render
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

ROOT = Path(__file__).resolve().parents[2]
REGION_DIR = ROOT / "include" / "config" / "regions" / "sakhalin"
TEMPLATES = ROOT / "include" / "templates"
SAMPLES = ROOT / "include" / "sample_exports"
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
    return deltas


@pytest.fixture(scope="module")
def january(sample_deltas, directory, texts, tmp_path_factory):
    """The January справка rendered once, with the paths of its files."""
    out = tmp_path_factory.mktemp("january")
    delta = sample_deltas[JANUARY]
    return delta, render_reports(delta, directory, texts, TEMPLATES, out)


@pytest.fixture(scope="module")
def october(sample_deltas, directory, texts, tmp_path_factory):
    out = tmp_path_factory.mktemp("october")
    delta = sample_deltas[OCTOBER]
    return delta, render_reports(delta, directory, texts, TEMPLATES, out)


# --- helpers ----------------------------------------------------------------


def make_row(municipality_id, name, previous, current, eliminated, new, status):
    return MunicipalityRow(
        municipality_id=municipality_id,
        municipality=name,
        previous=previous,
        current=current,
        eliminated=eliminated,
        new=new,
        unresolvable=0,
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


def test_region_without_duplicates(tmp_path, directory, texts):
    delta = quiet_delta(directory)

    files = render_reports(delta, directory, texts, TEMPLATES, tmp_path)

    assert files.reminders_html == {}
    assert files.reminders_text == {}
    assert not (tmp_path / "reminders").exists()
    document = docx.Document(files.spravka_docx)
    assert len(document.tables) == 1
    text = docx_text(files.spravka_docx)
    assert "дублей учётных записей в АИС СГО не выявлено" in text
    assert "В 18-ти муниципальных образованиях дублей учётных записей нет" in text
    assert "в течение 7 дней" in text
    assert "дублирующихся учётных записей нет" in html_text(files.spravka_html)


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

    assert {m.document for m in messages} == {"reminder:yuzhno_sakhalinsk", "reminder:dolinsky"}
    assert len(messages) == 3


def test_compose_quiet_region(tmp_path, directory, texts):
    delta = quiet_delta(directory)
    files = render_reports(delta, directory, texts, TEMPLATES, tmp_path)

    with_spravka = compose_messages(
        delta, directory, texts, RECIPIENTS, files, TEMPLATES, include_spravka=True
    )
    reminders_only = compose_messages(
        delta, directory, texts, RECIPIENTS, files, TEMPLATES, include_spravka=False
    )

    assert {m.document for m in with_spravka} == {"spravka"}
    assert reminders_only == []


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
