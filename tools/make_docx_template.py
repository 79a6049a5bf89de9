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
* ``{%tc ... %}`` cells in Appendix 3: the loop over the monitoring dates,
  one column per date (dupmon.render gives each date column the width of
  the cell between the two tags);
* ``{% cellbg row.color %}`` at the start of every cell of the Appendix 1
  data row: the red or green fill of the row;
* ``{{ trend_chart }}`` alone in its paragraph: the trend chart.

Word's AutoFormat turns typed straight quotes into «» in Russian text, and
docxtpl only converts “” and ‘’ back. Type quotes inside tags with AutoFormat
off, or copy them from an existing tag.
"""

from __future__ import annotations

from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_ROW_HEIGHT_RULE, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

OUT = Path(__file__).resolve().parent.parent / "include" / "templates" / "spravka.docx"

FONT = "Times New Roman"
BODY_SIZE = Pt(13)
TABLE_SIZE = Pt(10.5)
HEADER_SIZE = Pt(9.5)
HEADER_FILL = "F2F2F2"

DUPLICATES = '"дубль", "дубля", "дублей"'
DAYS = '"день", "дня", "дней"'
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
    "{% if with_duplicates %} {{ with_duplicates|length|one_or_many("
    '"в следующем муниципальном образовании", "в следующих муниципальных образованиях") }} '
    '(в приложении 1 {{ with_duplicates|length|one_or_many("выделено", "выделены") }} '
    "красным):{% else %}.{% endif %}",
    "{%p for row in with_duplicates %}",
    'LIST:{{ loop.index }}) {{ row.municipality }}{{ ";" if not loop.last else "." }}',
    "{%p endfor %}",
    "{%p if regional_row and regional_row.current %}",
    f"{{{{ regional_row.current|count_phrase({DUPLICATES})|upper_first }}}} "
    '{{ regional_row.current|plural("не относится", "не относятся", "не относятся") }} ни к '
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

# The register of pairs that cannot be eliminated: those current now, and
# those that have left the report. Each entry ends with a date, which ends
# with its own full stop («г.»), so the last entry adds none.
REGISTER = [
    "{%p if register_current %}",
    "По письмам муниципальных органов управления образованием "
    f"{{{{ total.unresolvable|count_phrase({DUPLICATES}) }}}} из приложения 2 нельзя устранить "
    'по техническим причинам; в приложении 1 {{ total.unresolvable|one_or_many("он учтён", '
    '"они учтены") }} в отдельной графе:',
    "{%p for entry in register_current %}",
    'LIST:{{ loop.index }}) № {{ entry.numbers|join(", ") }} приложения 2: '
    "{{ entry.organisation }}{% if entry.class_name %}, {{ entry.class_name }}{% endif %} — "
    "{{ entry.duplicate_organisation }}{% if entry.duplicate_class_name %}, "
    "{{ entry.duplicate_class_name }}{% endif %}. Причина: {{ entry.reason }}. Письмо "
    "{{ entry.letter }}{% if entry.reported_by %} ({{ entry.reported_by }}){% endif %}, дата "
    'сообщения {{ entry.reported_on|date_ru }}{{ ";" if not loop.last else "" }}',
    "{%p endfor %}",
    "{%p endif %}",
    "{%p if register_resolved %}",
    '{{ register_resolved|length|one_or_many("Дубль, о котором сообщалось как о неустранимом, '
    'больше не появляется в отчёте и считается устранённым:", "Дубли, о которых сообщалось '
    'как о неустранимых, больше не появляются в отчёте и считаются устранёнными:") }}',
    "{%p for entry in register_resolved %}",
    "LIST:{{ loop.index }}) {{ entry.organisation }}{% if entry.class_name %}, "
    "{{ entry.class_name }}{% endif %} — {{ entry.duplicate_organisation }}"
    "{% if entry.duplicate_class_name %}, {{ entry.duplicate_class_name }}{% endif %}: письмо "
    "{{ entry.letter }}{% if entry.reported_by %} ({{ entry.reported_by }}){% endif %}, "
    "причина: {{ entry.reason }}; в последний раз дубль был в отчёте на "
    '{{ entry.last_seen|date_ru }}{{ ";" if not loop.last else "" }}',
    "{%p endfor %}",
    "{%p endif %}",
]

# The trend over the school year with its chart, and the organisations.
TREND = [
    "{% if trend.dates|length > 1 %}В {{ trend.school_year }} учебном году сохранены результаты "
    "мониторинга по состоянию на "
    '{{ trend.dates|length|count_phrase("дату", "даты", "дат") }}: '
    '{{ trend.dates|join(", ") }}. Число дублей по региону на эти даты составляло '
    'соответственно {{ trend.total[:-1]|join(", ") }} и {{ trend.total[-1] }}. Динамика по '
    "муниципальным образованиям показана на графике и в приложении 3.{% else %}Мониторинг на "
    "{{ monitoring_date }} — первый в {{ trend.school_year }} учебном году, поэтому график и "
    "приложение 3 содержат одну дату; динамика появится после следующего мониторинга."
    "{% endif %}",
    "{%p if trend_chart %}",
    "CENTER:{{ trend_chart }}",
    "{%p endif %}",
    "{%p if organisations %}",
    "Учётные записи-дубли есть {{ organisations|length|locative_phrase("
    '"образовательной организации", "образовательных организациях", feminine=True) }}; '
    '{{ organisations|length|one_or_many("по ней", "по каждой из них") }} в приложении 4 '
    "указаны дубли и число дней, прошедших с их первого выявления в этом учебном году."
    "{% if oldest_pair and oldest_pair.days %} Дольше всего, "
    f"{{{{ oldest_pair.days|count_phrase({DAYS}) }}}} "
    "(с {{ oldest_pair.first_seen|date_ru }}), "
    "не устранён дубль № {{ oldest_pair.number }} приложения 2.{% endif %}",
    "{%p endif %}",
]

# Warnings about the data (validation warnings, a suspicious drop in the
# count); the section is left out when there are none.
NOTES = [
    "{%p if notes %}",
    "HEADING:Замечания к данным мониторинга",
    "{%p for note in notes %}",
    "LIST:– {{ note }}",
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
    "орган управления образованием направляет письмо с описанием причины и кодом дубля на "
    "адрес {{ texts.escalation_email }}; такой дубль вносится в реестр и учитывается в "
    "приложении 1 в отдельной графе.",
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
# Appendix 3: a column per monitoring date between the two {%tc %} cells.
# The dates are written bottom to top, so twelve monthly dates fit the page.
APPENDIX3_NAME_WIDTH = Cm(8.0)
APPENDIX3_DATE_WIDTH = Cm(1.3)
APPENDIX3_TAG_WIDTH = Cm(0.5)
APPENDIX3_HEADER_HEIGHT = Cm(2.6)

APPENDIX4_HEADER = [
    "№ п/п",
    "Муниципальное образование",
    "ОО",
    "Дублей",
    "Дубли: № в приложении 2, дата первого выявления, срок",
    "Наибольший срок, дней",
]
# The rows of dupmon.render.organisation_table: a long list of pairs goes on
# in rows of its own, each but the last ending with a semicolon.
APPENDIX4_FIELDS = [
    "{{ row.number }}",
    "{{ row.municipality }}",
    "{{ row.organisation }}",
    "{{ row.count }}",
    "{% for pair in row.pairs %}№ {{ pair.number }}: {% if pair.first_seen %}с "
    f"{{{{ pair.first_seen|date_ru }}}}, {{{{ pair.days|count_phrase({DAYS}) }}}}"
    "{% else %}дата выявления неизвестна{% endif %}"
    '{{ "; " if not loop.last else (";" if row.continues else "") }}{% endfor %}',
    "{{ row.max_days }}",
]
APPENDIX4_CENTERED = {0, 3, 5}
APPENDIX4_WIDTHS = [Cm(1.6), Cm(5.0), Cm(7.0), Cm(2.0), Cm(7.2), Cm(3.0)]

# 26.7 cm: the text width of the landscape page. The number column fits
# "10000." and the last one a pair id of 12 digits, each on one line.
APPENDIX2_WIDTHS = [
    Cm(1.8),
    Cm(3.0),
    Cm(3.5),
    Cm(2.45),
    Cm(1.8),
    Cm(3.1),
    Cm(3.5),
    Cm(2.45),
    Cm(1.8),
    Cm(3.3),
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
    """Add paragraphs: bare ones for ``{%p`` tags, list items, centred ones and body text.

    ``LIST:`` starts a list item, ``CENTER:`` a centred paragraph and ``HEADING:`` a bold
    one.
    """
    for block in blocks:
        if block.startswith("{%p"):
            document.add_paragraph(block)
        elif block.startswith("CENTER:"):
            text = block.removeprefix("CENTER:")
            paragraph = add_text(document, text, indent=False, align=WD_ALIGN_PARAGRAPH.CENTER)
            paragraph.paragraph_format.space_before = Pt(6)
        elif block.startswith("HEADING:"):
            add_text(document, block.removeprefix("HEADING:"), indent=True, bold=True)
        elif block.startswith("LIST:"):
            paragraph = add_text(
                document, block.removeprefix("LIST:"), indent=False, align=WD_ALIGN_PARAGRAPH.LEFT
            )
            paragraph.paragraph_format.left_indent = Cm(1.25)
            paragraph.paragraph_format.space_after = Pt(0)
        else:
            add_text(document, block)


def set_cell(
    cell,
    text: str,
    *,
    bold: bool = False,
    center: bool = False,
    fill: str | None = None,
    size=TABLE_SIZE,
) -> None:
    cell.text = ""
    paragraph = cell.paragraphs[0]
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER if center else WD_ALIGN_PARAGRAPH.LEFT
    run = paragraph.add_run(text)
    run.bold = bold
    run.font.size = size
    cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
    if fill:
        shading = OxmlElement("w:shd")
        shading.set(qn("w:val"), "clear")
        shading.set(qn("w:color"), "auto")
        shading.set(qn("w:fill"), fill)
        cell._tc.get_or_add_tcPr().append(shading)


def set_header_cell(cell, text: str) -> None:
    set_cell(cell, text, bold=True, center=True, fill=HEADER_FILL, size=HEADER_SIZE)


def repeat_as_header(row) -> None:
    """Mark a table row to repeat at the top of every page the table spans."""
    marker = OxmlElement("w:tblHeader")
    marker.set(qn("w:val"), "true")
    row._tr.get_or_add_trPr().append(marker)


def set_widths(table, widths) -> None:
    """Set the width of every cell and of the grid columns, which LibreOffice lays out by."""
    table.autofit = False
    for column, width in zip(table.columns, widths, strict=True):
        column.width = width
    for row in table.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = width


def rotate_text(cell) -> None:
    """Write a cell's text bottom to top, so that a date fits a narrow column."""
    direction = OxmlElement("w:textDirection")
    direction.set(qn("w:val"), "btLr")
    cell._tc.get_or_add_tcPr().append(direction)


def set_height(row, height) -> None:
    row.height = height
    row.height_rule = WD_ROW_HEIGHT_RULE.AT_LEAST


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
        set_header_cell(cell, caption)
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
        set_header_cell(merged, caption)
    first, last = len(APPENDIX2_TOP), len(APPENDIX2_TOP) + len(APPENDIX2_DUPLICATE) - 1
    spanning = top.cells[first].merge(top.cells[last])
    set_header_cell(spanning, "Информация о дубле")
    for offset, caption in enumerate(APPENDIX2_DUPLICATE):
        set_header_cell(sub.cells[first + offset], caption)
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


def add_appendix3(document: Document) -> None:
    document.add_page_break()
    add_text(document, "Приложение 3", indent=False, align=WD_ALIGN_PARAGRAPH.RIGHT)
    document.add_heading(
        "Число дублей учётных записей по муниципальным образованиям на даты мониторинга "
        "{{ trend.school_year }} учебного года",
        level=2,
    )
    table = document.add_table(rows=1, cols=4)
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    header = table.rows[0]
    set_header_cell(header.cells[0], "Муниципальное образование")
    set_cell(header.cells[1], "{%tc for day in trend.dates %}")
    set_header_cell(header.cells[2], "{{ day }}")
    rotate_text(header.cells[2])
    set_cell(header.cells[3], "{%tc endfor %}")
    set_height(header, APPENDIX3_HEADER_HEIGHT)
    repeat_as_header(header)

    tag_row(table, "{%tr for row in trend.rows %}")
    data = table.add_row()
    set_cell(data.cells[0], "{{ row.municipality }}")
    set_cell(data.cells[1], "{%tc for count in row.counts %}")
    set_cell(data.cells[2], "{{ count }}", center=True)
    set_cell(data.cells[3], "{%tc endfor %}")
    tag_row(table, "{%tr endfor %}")

    total = table.add_row()
    set_cell(total.cells[0], "{{ total.municipality }}", bold=True)
    set_cell(total.cells[1], "{%tc for count in trend.total %}")
    set_cell(total.cells[2], "{{ count }}", bold=True, center=True)
    set_cell(total.cells[3], "{%tc endfor %}")
    set_widths(
        table,
        [APPENDIX3_NAME_WIDTH, APPENDIX3_TAG_WIDTH, APPENDIX3_DATE_WIDTH, APPENDIX3_TAG_WIDTH],
    )

    note = add_text(
        document,
        "{% if trend.rows %}Муниципальных образований без дублей на всех этих датах: "
        "{{ trend.quiet_count }}, в таблицу они не включены. Дубль, затрагивающий два "
        "муниципальных образования, учтён в строке каждого из них, а в строке "
        "«{{ total.municipality }}» — один раз.{% else %}Ни на одну из этих дат дублей в регионе "
        "не было.{% endif %}",
        indent=False,
    )
    note.runs[0].font.size = TABLE_SIZE
    note.paragraph_format.space_before = Pt(4)


def add_appendix4(document: Document) -> None:
    document.add_page_break()
    add_text(document, "Приложение 4", indent=False, align=WD_ALIGN_PARAGRAPH.RIGHT)
    document.add_heading(
        "Образовательные организации с дублями учётных записей на {{ monitoring_date }} и срок, "
        "в течение которого дубли не устранены",
        level=2,
    )
    document.add_paragraph("{%p if organisations %}")
    table = document.add_table(rows=1, cols=len(APPENDIX4_HEADER))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, caption in zip(table.rows[0].cells, APPENDIX4_HEADER, strict=True):
        set_header_cell(cell, caption)
    repeat_as_header(table.rows[0])

    tag_row(table, "{%tr for row in organisation_table %}")
    data = table.add_row()
    for position, (cell, text) in enumerate(zip(data.cells, APPENDIX4_FIELDS, strict=True)):
        set_cell(cell, text, center=position in APPENDIX4_CENTERED)
    tag_row(table, "{%tr endfor %}")
    set_widths(table, APPENDIX4_WIDTHS)

    note = add_text(
        document,
        "Срок отсчитывается от первой даты мониторинга этого учебного года, на которую дубль был "
        "в отчёте, до {{ monitoring_date }} и указан в днях. Организация учтена в строке своего "
        "муниципального образования, поэтому дубль между организациями двух муниципальных "
        "образований указан у обеих.",
        indent=False,
    )
    note.runs[0].font.size = TABLE_SIZE
    note.paragraph_format.space_before = Pt(4)
    document.add_paragraph("{%p else %}")
    add_text(document, "На {{ monitoring_date }} образовательных организаций с дублями нет.")
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
    add_blocks(document, REGISTER)
    add_blocks(document, TREND)
    add_blocks(document, NOTES)
    add_text(document, "Выводы и предложения", indent=True, bold=True)
    add_blocks(document, CONCLUSIONS)
    # The signature stays on the page of the last conclusion.
    document.paragraphs[-1].paragraph_format.keep_with_next = True
    signature = add_text(
        document, "{{ texts.signature }}", indent=False, align=WD_ALIGN_PARAGRAPH.LEFT
    )
    signature.paragraph_format.space_before = Pt(12)

    landscape_section(document)
    add_appendix1(document)
    add_appendix2(document)
    add_appendix3(document)
    add_appendix4(document)
    return document


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    build().save(OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
