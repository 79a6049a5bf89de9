"""Write the Word template of the справка, include/templates/spravka.docx.

The template is an ordinary .docx with docxtpl (Jinja) tags, so an operator
can open and edit it in Word. dupmon.render fills it with the variables of
dupmon.render.build_context. The file is committed. Rerun this script only
to rebuild it from scratch, because that discards edits made in Word:

    .venv/bin/python tools/make_docx_template.py

Tags an editor must keep intact:

* ``{%p ... %}`` paragraphs (for, if, endfor, endif): each occupies a whole
  paragraph, which the render removes;
* ``{%tr ... %}`` rows in the tables: the loop over the rows of an appendix;
* ``{% cellbg row.color %}`` at the start of every cell of the Appendix 1
  data row: the red or green fill of the row.

Word's AutoFormat turns typed straight quotes into «» in Russian text, and
docxtpl only converts “” and ‘’ back. Type quotes inside tags with AutoFormat
off, or copy them from an existing tag.
"""

from __future__ import annotations

from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

OUT = Path(__file__).resolve().parent.parent / "include" / "templates" / "spravka.docx"

FONT = "Times New Roman"
BODY_SIZE = Pt(13)
TABLE_SIZE = Pt(10.5)
HEADER_FILL = "F2F2F2"

DUPLICATES = '"дубль", "дубля", "дублей"'
MUNICIPALITIES = '"муниципальном образовании", "муниципальных образованиях"'

# Paragraphs of the справка before the lists, as (text, style) pairs.
INTRODUCTION = [
    "{{ texts.legal_basis }} {{ texts.department }} провёл мониторинг дублирующихся учётных "
    "записей обучающихся и воспитанников в {{ texts.system_short }}.",
    "{{ texts.guidance }}",
    "Дублем в {{ texts.system_short }} называется вторая и каждая следующая учётная запись с "
    "ролью «Ученик/воспитанник», персональные данные которой совпадают с данными уже "
    "заведённого в систему человека. Так бывает, когда одного и того же ребёнка вносят в "
    "систему повторно, например при зачислении сразу в две образовательные организации.",
    "Из-за дублей орган управления образованием видит завышенную численность контингента, а "
    "сводные отчёты искажаются, порой на десятки процентов от числа обучающихся/воспитанников.",
    "Мониторинг определяет, сколько дублирующихся учётных записей есть в регионе, в каждом "
    "муниципальном образовании и в каждой образовательной организации, чтобы организовать их "
    "устранение.",
    "Для мониторинга в модуле «{{ texts.module }}» за период с {{ period_start }} по "
    "{{ monitoring_date }} сформирован отчёт «{{ texts.report_name }}». Этот отчёт доступен "
    "только на уровне органа управления образованием (модуль УО) и охватывает все "
    "подведомственные ему муниципальные образовательные организации.",
    "{% if baseline_date %}Сравнение отчётов на {{ baseline_date }} и на {{ monitoring_date }} "
    "показывает, сколько дублей устранено, и позволяет оценить работу по их устранению в "
    "каждом муниципальном образовании и в регионе в целом.{% else %}Мониторинг на "
    "{{ monitoring_date }} проведён впервые: данных предыдущего мониторинга для сравнения нет, "
    "поэтому все выявленные дубли учтены как новые.{% endif %}",
    "Число дублей учётных записей по муниципальным образованиям на {{ monitoring_date }} "
    "приведено в приложении 1, перечень дублей — в приложении 2.",
]

FINDINGS = [
    "{%p if total.current %}",
    'На {{ monitoring_date }} {{ total.current|plural("выявлен", "выявлено", "выявлено") }} '
    f"{{{{ total.current|count_phrase({DUPLICATES}) }}}} учётных записей"
    "{% if with_duplicates %}, они есть {{ with_duplicates|length|plural("
    '"в следующем муниципальном образовании", "в следующих муниципальных образованиях", '
    '"в следующих муниципальных образованиях") }} (в приложении 1 '
    '{{ with_duplicates|length|plural("выделено", "выделены", "выделены") }} красным):'
    "{% else %}.{% endif %}",
    "{%p for row in with_duplicates %}",
    'LIST:{{ loop.index }}) {{ row.municipality }}{{ ";" if not loop.last else "." }}',
    "{%p endfor %}",
    "{%p if regional_row and regional_row.current %}",
    f"{{{{ regional_row.current|count_phrase({DUPLICATES})|upper_first }}}} не относится ни к "
    "одному муниципальному образованию (строка «{{ regional_row.municipality }}» в "
    "приложении 1).",
    "{%p endif %}",
    "{%p else %}",
    "На {{ monitoring_date }} дублей учётных записей в {{ texts.system_short }} не выявлено.",
    "{%p endif %}",
    "{%p if cleared %}",
    "Все дубли, выявленные на {{ baseline_date }}, устранены "
    f"{{{{ cleared|length|locative_phrase({MUNICIPALITIES}) }}}} (в приложении 1 "
    '{{ cleared|length|plural("выделено", "выделены", "выделены") }} зелёным): '
    '{% for row in cleared %}{{ row.short }}{{ "; " if not loop.last else "." }}{% endfor %} '
    "К моменту мониторинга там устранено 100 % прежних дублей.",
    "{%p endif %}",
    "{%p for row in partly_cleared %}",
    "Дубли устранены частично в муниципальном образовании {{ row.short }}: "
    '{{ row.eliminated|plural("устранён", "устранено", "устранено") }} '
    f"{{{{ row.eliminated|count_phrase({DUPLICATES}) }}}} из {{{{ row.previous }}}} "
    '{{ row.previous|plural("выявленного", "выявленных", "выявленных") }} на '
    "{{ baseline_date }}, но на {{ monitoring_date }} "
    '{{ row.current|plural("остаётся", "остаются", "остаётся") }} '
    f"{{{{ row.current|count_phrase({DUPLICATES}) }}}}"
    '{% if row.new %}, из них {{ row.new }} {{ row.new|plural("новый", "новых", "новых") }}'
    "{% endif %}.",
    "{%p endfor %}",
    "{%p if without_duplicates %}",
    f"{{{{ without_duplicates|length|locative_phrase({MUNICIPALITIES})|upper_first }}}} дублей "
    "учётных записей нет:",
    "{%p for row in without_duplicates %}",
    'LIST:{{ loop.index }}) {{ row.municipality }}{{ ";" if not loop.last else "." }}',
    "{%p endfor %}",
    "{%p endif %}",
]

CONCLUSIONS = [
    "1. Дубли нужно устранять регулярно: чем длиннее промежуток пересечения учётных записей, "
    "тем вероятнее, что удалить дубль уже не получится.",
    "2. Специалистам муниципальных органов управления образованием, ответственным за работу "
    "{{ texts.system_short }}, рекомендуется раз в месяц формировать отчёт "
    "«{{ texts.report_name }}» и организовывать устранение дублей в подведомственных "
    "образовательных организациях.",
    "3. {% if total.current %}В срок до {{ deadline }} устранить дубли, перечисленные в "
    "приложении 2{% else %}Новые дубли, если они появятся, устранять в течение "
    "{{ texts.deadline_days|count_phrase('дня', 'дней', 'дней') }} после их выявления{% endif %}.",
    "4. Если дубль невозможно удалить на уровне образовательной организации, муниципальный "
    "орган управления образованием направляет письмо с описанием причины на адрес "
    "{{ texts.escalation_email }}.",
    "5. На уровне региона {{ texts.centre }} проводит мониторинг дублей раз в квартал.",
]

APPENDIX1_HEADER = [
    "Муниципальное образование",
    "Дублей на {% if baseline_date %}{{ baseline_date_plain }}{% else %}дату предыдущего "
    "мониторинга (не проводился){% endif %}",
    "Дублей на {{ monitoring_date_plain }}",
    "Устранено дублей",
    "Новых дублей",
    "Дублей, которые нельзя устранить по техническим причинам",
    "Устранено от числа на предыдущую дату, %",
]
APPENDIX1_FIELDS = [
    "municipality",
    "previous",
    "current",
    "eliminated",
    "new",
    "unresolvable",
    "percent_eliminated",
]
APPENDIX1_WIDTHS = [Cm(8.2), Cm(3.0), Cm(3.0), Cm(2.6), Cm(2.4), Cm(3.3), Cm(3.2)]

# Appendix 2: the columns under one header row, and the three columns that
# «Информация о дубле» spans on the first row.
APPENDIX2_TOP = [
    "№ п/п",
    "Управление",
    "ОО",
    "Населённый пункт",
    "Класс/группа",
    "Промежутки пересечения",
]
APPENDIX2_DUPLICATE = ["ОО", "Населённый пункт", "Класс/группа"]
APPENDIX2_LAST = "Код дубля"
APPENDIX2_FIELDS = [
    "{{ pair.number }}.{% if pair.unresolvable %}*{% endif %}",
    "{{ pair.authority }}",
    "{{ pair.organisation }}",
    "{{ pair.settlement }}",
    "{{ pair.class_name }}",
    "{{ pair.intersections }}",
    "{{ pair.duplicate_organisation }}",
    "{{ pair.duplicate_settlement }}",
    "{{ pair.duplicate_class_name }}",
    "{{ pair.pair_id }}",
]
APPENDIX2_WIDTHS = [
    Cm(1.3),
    Cm(3.4),
    Cm(3.8),
    Cm(2.4),
    Cm(1.8),
    Cm(3.0),
    Cm(3.8),
    Cm(2.4),
    Cm(1.8),
    Cm(2.0),
]


def set_style_font(style, size) -> None:
    style.font.name = FONT
    style.font.size = size
    fonts = style.element.get_or_add_rPr().get_or_add_rFonts()
    # Theme fonts (w:asciiTheme …) take precedence over named ones, so they go.
    for attribute in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(attribute), None)
    for attribute in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attribute), FONT)


def set_fonts(document: Document) -> None:
    normal = document.styles["Normal"]
    set_style_font(normal, BODY_SIZE)
    normal.paragraph_format.space_after = Pt(0)
    normal.paragraph_format.line_spacing = 1.15

    for name, size in (("Heading 1", Pt(14)), ("Heading 2", Pt(13))):
        style = document.styles[name]
        set_style_font(style, size)
        style.font.bold = True
        style.font.color.rgb = RGBColor(0, 0, 0)
        style.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
        style.paragraph_format.space_before = Pt(6)
        style.paragraph_format.space_after = Pt(6)


def add_text(
    document: Document,
    text: str,
    *,
    indent: bool = True,
    bold: bool = False,
    align=WD_ALIGN_PARAGRAPH.JUSTIFY,
):
    paragraph = document.add_paragraph()
    paragraph.alignment = align
    if indent:
        paragraph.paragraph_format.first_line_indent = Cm(1.25)
    paragraph.paragraph_format.space_after = Pt(4)
    run = paragraph.add_run(text)
    run.bold = bold
    return paragraph


def add_blocks(document: Document, blocks: list[str]) -> None:
    """Add paragraphs; a ``{%p`` tag gets a bare paragraph, ``LIST:`` a list item."""
    for block in blocks:
        if block.startswith("{%p"):
            document.add_paragraph(block)
        elif block.startswith("LIST:"):
            paragraph = add_text(
                document, block.removeprefix("LIST:"), indent=False, align=WD_ALIGN_PARAGRAPH.LEFT
            )
            paragraph.paragraph_format.left_indent = Cm(1.25)
            paragraph.paragraph_format.space_after = Pt(0)
        else:
            add_text(document, block)


def set_cell(
    cell, text: str, *, bold: bool = False, center: bool = False, fill: str | None = None
) -> None:
    cell.text = ""
    paragraph = cell.paragraphs[0]
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER if center else WD_ALIGN_PARAGRAPH.LEFT
    run = paragraph.add_run(text)
    run.bold = bold
    run.font.size = TABLE_SIZE
    cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
    if fill:
        shading = OxmlElement("w:shd")
        shading.set(qn("w:val"), "clear")
        shading.set(qn("w:color"), "auto")
        shading.set(qn("w:fill"), fill)
        cell._tc.get_or_add_tcPr().append(shading)


def repeat_as_header(row) -> None:
    """Mark a table row to repeat at the top of every page the table spans."""
    marker = OxmlElement("w:tblHeader")
    marker.set(qn("w:val"), "true")
    row._tr.get_or_add_trPr().append(marker)


def set_widths(table, widths) -> None:
    table.autofit = False
    for row in table.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = width


def tag_row(table, tag: str) -> None:
    """Fill a row with a ``{%tr %}`` tag; docxtpl replaces the whole row with it."""
    row = table.add_row()
    set_cell(row.cells[0], tag)


def add_appendix1(document: Document) -> None:
    add_text(document, "Приложение 1", indent=False, align=WD_ALIGN_PARAGRAPH.RIGHT)
    document.add_heading(
        "Число дублей учётных записей обучающихся/воспитанников в {{ texts.system_short }} по "
        "муниципальным образованиям на {{ monitoring_date }}",
        level=2,
    )
    table = document.add_table(rows=1, cols=len(APPENDIX1_HEADER))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, caption in zip(table.rows[0].cells, APPENDIX1_HEADER, strict=True):
        set_cell(cell, caption, bold=True, center=True, fill=HEADER_FILL)
    repeat_as_header(table.rows[0])

    tag_row(table, "{%tr for row in rows %}")
    data = table.add_row()
    for position, (cell, name) in enumerate(zip(data.cells, APPENDIX1_FIELDS, strict=True)):
        set_cell(cell, f"{{% cellbg row.color %}}{{{{ row.{name} }}}}", center=position > 0)
    tag_row(table, "{%tr endfor %}")

    total = table.add_row()
    for position, (cell, name) in enumerate(zip(total.cells, APPENDIX1_FIELDS, strict=True)):
        set_cell(cell, f"{{{{ total.{name} }}}}", bold=True, center=position > 0)
    set_widths(table, APPENDIX1_WIDTHS)

    legend = add_text(
        document,
        "Красным выделены муниципальные образования, в которых на {{ monitoring_date }} есть "
        "дубли, зелёным — устранившие все прежние дубли. Дубль, затрагивающий два "
        "муниципальных образования, учтён в строке каждого из них, а в строке "
        "«{{ total.municipality }}» — один раз. Знак «—» означает, что процент не "
        "вычисляется: на предыдущую дату дублей не было.",
        indent=False,
    )
    legend.runs[0].font.size = TABLE_SIZE
    legend.paragraph_format.space_before = Pt(4)


def add_appendix2(document: Document) -> None:
    columns = len(APPENDIX2_TOP) + len(APPENDIX2_DUPLICATE) + 1
    document.add_page_break()
    add_text(document, "Приложение 2", indent=False, align=WD_ALIGN_PARAGRAPH.RIGHT)
    document.add_heading(
        "Перечень образовательных организаций с дублирующимися учётными записями на "
        "{{ monitoring_date }}",
        level=2,
    )
    document.add_paragraph("{%p if pairs %}")
    table = document.add_table(rows=2, cols=columns)
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    top, sub = table.rows

    # Cells outside «Информация о дубле» span both header rows (w:vMerge).
    vertical = [*range(len(APPENDIX2_TOP)), columns - 1]
    captions = [*APPENDIX2_TOP, APPENDIX2_LAST]
    for position, caption in zip(vertical, captions, strict=True):
        merged = top.cells[position].merge(sub.cells[position])
        set_cell(merged, caption, bold=True, center=True, fill=HEADER_FILL)
    first, last = len(APPENDIX2_TOP), len(APPENDIX2_TOP) + len(APPENDIX2_DUPLICATE) - 1
    spanning = top.cells[first].merge(top.cells[last])
    set_cell(spanning, "Информация о дубле", bold=True, center=True, fill=HEADER_FILL)
    for offset, caption in enumerate(APPENDIX2_DUPLICATE):
        set_cell(sub.cells[first + offset], caption, bold=True, center=True, fill=HEADER_FILL)
    repeat_as_header(top)
    repeat_as_header(sub)

    tag_row(table, "{%tr for pair in pairs %}")
    data = table.add_row()
    for position, (cell, text) in enumerate(zip(data.cells, APPENDIX2_FIELDS, strict=True)):
        set_cell(cell, text, center=position == 0)
    tag_row(table, "{%tr endfor %}")
    set_widths(table, APPENDIX2_WIDTHS)

    note = add_text(
        document,
        "Персональные данные обучающихся в перечень не включены. Код дубля указывайте в письмах "
        "о дублях, которые невозможно удалить.{% if has_unresolvable %} Звёздочкой (*) отмечены "
        "дубли, которые нельзя устранить по техническим причинам.{% endif %}",
        indent=False,
    )
    note.runs[0].font.size = TABLE_SIZE
    note.paragraph_format.space_before = Pt(4)
    document.add_paragraph("{%p else %}")
    add_text(document, "На {{ monitoring_date }} дублирующихся учётных записей нет.")
    document.add_paragraph("{%p endif %}")


def landscape_section(document: Document) -> None:
    """Start the appendices on a new page in a landscape section."""
    portrait = document.sections[-1]
    section = document.add_section(WD_SECTION.NEW_PAGE)
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = portrait.page_height, portrait.page_width
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(1.5))


def build() -> Document:
    document = Document()
    set_fonts(document)
    section = document.sections[0]
    section.page_width, section.page_height = Cm(21.0), Cm(29.7)
    section.left_margin, section.right_margin = Cm(3.0), Cm(1.5)
    section.top_margin = section.bottom_margin = Cm(2.0)

    properties = document.core_properties
    properties.title = "Справка о мониторинге дублей учётных записей на {{ monitoring_date_plain }}"
    properties.author = "{{ texts.centre }}"

    document.add_heading(
        "Справка о результатах мониторинга дублей учётных записей обучающихся/воспитанников в "
        "{{ texts.system_short }} на {{ monitoring_date_plain }}",
        level=1,
    )
    add_blocks(document, INTRODUCTION)
    add_blocks(document, FINDINGS)
    add_text(document, "Выводы и предложения", indent=True, bold=True)
    add_blocks(document, CONCLUSIONS)
    signature = add_text(
        document, "{{ texts.signature }}", indent=False, align=WD_ALIGN_PARAGRAPH.LEFT
    )
    signature.paragraph_format.space_before = Pt(12)

    landscape_section(document)
    add_appendix1(document)
    add_appendix2(document)
    return document


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    build().save(OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
