"""HTML tables, as the report engine writes them (also when saved as .xls)."""

from __future__ import annotations

import lxml.html

from dupmon.readers.grid import Grid, cell_text, check_cells
from dupmon.readers.textcodec import decode_text


def read_html(data: bytes) -> list[Grid]:
    return read_html_text(decode_text(data))


def read_html_text(text: str) -> list[Grid]:
    """Read every top-level table; text outside tables becomes one-cell rows.

    The report puts its header block (title, authority, period) in
    paragraphs above the table, so those lines are kept as rows of the first
    grid, where the layout module looks for them.
    """
    parser = lxml.html.HTMLParser(no_network=True, huge_tree=False, remove_comments=True)
    document = lxml.html.document_fromstring(text, parser=parser)
    for junk in document.xpath("//script|//style"):
        junk.drop_tree()

    tables = [t for t in document.iter("table") if next(t.iterancestors("table"), None) is None]
    preamble = _text_before(document, tables[0]) if tables else _lines(document.text_content())
    grids = []
    for index, table in enumerate(tables):
        rows = _expand_table(table)
        if index == 0:
            rows = [[line] for line in preamble] + rows
        grids.append(Grid(name=f"table {index + 1}", rows=rows))
    if not grids:
        grids.append(Grid(name="document", rows=[[line] for line in preamble]))
    return grids


def _lines(text: str) -> list[str]:
    return [line for line in (cell_text(part) for part in text.splitlines()) if line]


def _text_before(document, table) -> list[str]:
    lines: list[str] = []
    for element in document.iter():
        if element is table:
            break
        if element.tag in ("p", "div", "h1", "h2", "h3", "h4", "span", "b", "td", "th", "font"):
            if any(a is table for a in element.iterancestors()):
                continue
            own = cell_text(element.text or "")
            if own:
                lines.append(own)
            for child in element:
                tail = cell_text(child.tail or "")
                if tail:
                    lines.append(tail)
    return lines


def _expand_table(table) -> list[list[str]]:
    """Lay a table's cells out on a grid, copying rowspan and colspan cells."""
    grid: dict[tuple[int, int], str] = {}
    row_index = 0
    for tr in table.xpath("./tr|./thead/tr|./tbody/tr|./tfoot/tr"):
        col = 0
        for cell in tr.iterchildren("td", "th"):
            while (row_index, col) in grid:
                col += 1
            # A cell with no child elements has only its own text, and most
            # cells of the report are such; itertext is for the others.
            text = cell_text(cell.text or "" if len(cell) == 0 else " ".join(cell.itertext()))
            rowspan = _span(cell.get("rowspan"))
            colspan = _span(cell.get("colspan"))
            if rowspan == 1 and colspan == 1:
                grid[(row_index, col)] = text
                col += 1
                continue
            check_cells("table", len(grid) + rowspan * colspan)
            for dr in range(rowspan):
                for dc in range(colspan):
                    grid[(row_index + dr, col + dc)] = text
            col += colspan
        row_index += 1

    height = max((r for r, _ in grid), default=-1) + 1
    width = max((c for _, c in grid), default=-1) + 1
    check_cells("table", height * width)
    return [[grid.get((r, c), "") for c in range(width)] for r in range(height)]


def _span(value: str | None) -> int:
    # Browsers cap rowspan at 65534 and colspan at 1000; a larger or broken
    # value is treated as 1 rather than allowed to blow the grid up.
    try:
        span = int(value) if value else 1
    except ValueError:
        return 1
    return span if 1 <= span <= 1000 else 1
