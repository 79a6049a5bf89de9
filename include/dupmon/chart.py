"""The trend chart of the справка: pairs per municipality at each monitoring date, as PNG.

The PNG is the same bytes for the same data and matplotlib version: the
size and resolution are fixed, the style is matplotlib's default (a user's
matplotlibrc is ignored), and the file carries no software name or time.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence

# 16 x 9.7 cm: the text width of the справка's portrait page is 16.5 cm.
FIGURE_SIZE_INCHES = (6.3, 3.8)
DPI = 200
# Lines beyond this many municipalities are summed into one «other» line,
# so that the legend stays readable.
MAX_LINES = 8
TOTAL_COLOUR = "#000000"


def trend_chart_png(
    dates: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
    total: Sequence[int],
    *,
    title: str,
    x_label: str,
    y_label: str,
    total_label: str,
    other_label: str,
) -> bytes:
    """Draw the pairs of each series and the total at each date and return the PNG bytes.

    ``dates`` are the x-axis labels, evenly spaced; ``series`` pairs a
    legend label with one count per date. The captions come from the
    templates, so this module contains no document text. The same
    arguments give the same bytes, so recent charts are reused.
    """
    return _draw(
        tuple(dates),
        tuple((label, tuple(counts)) for label, counts in series),
        tuple(total),
        (title, x_label, y_label, total_label, other_label),
    )


@functools.lru_cache(maxsize=16)
def _draw(
    dates: tuple[str, ...],
    series: tuple[tuple[str, tuple[int, ...]], ...],
    total: tuple[int, ...],
    captions: tuple[str, str, str, str, str],
) -> bytes:
    import matplotlib.style
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    title, x_label, y_label, total_label, other_label = captions
    lines = _limit_lines(series, other_label)
    positions = list(range(len(dates)))
    with matplotlib.style.context("default"), rc_context({"font.size": 8}):
        figure = Figure(figsize=FIGURE_SIZE_INCHES, dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        for label, counts in lines:
            axes.plot(
                positions,
                list(counts),
                marker="o",
                markersize=4,
                linewidth=1.5,
                label=_literal(label),
            )
        axes.plot(
            positions,
            list(total),
            marker="s",
            markersize=4,
            linewidth=2.2,
            linestyle="--",
            color=TOTAL_COLOUR,
            label=_literal(total_label),
        )
        axes.set_title(_literal(title), fontsize=9)
        axes.set_xlabel(_literal(x_label))
        axes.set_ylabel(_literal(y_label))
        axes.set_xticks(positions, [_literal(day) for day in dates])
        if len(dates) > 6:
            axes.tick_params(axis="x", labelrotation=45)
        axes.set_xlim(-0.5, max(len(dates) - 0.5, 0.5))
        highest = max([*total, *(max(counts, default=0) for _, counts in lines), 1])
        axes.set_ylim(0, highest * 1.15 + 0.5)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(axis="y", linewidth=0.5, alpha=0.5)
        figure.legend(loc="outside lower center", ncols=2, fontsize=7, frameon=False)

        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _limit_lines(
    series: Sequence[tuple[str, Sequence[int]]], other_label: str
) -> list[tuple[str, list[int]]]:
    if len(series) <= MAX_LINES:
        return [(label, list(counts)) for label, counts in series]
    kept = [(label, list(counts)) for label, counts in series[: MAX_LINES - 1]]
    rest = [counts for _, counts in series[MAX_LINES - 1 :]]
    summed = [sum(values) for values in zip(*rest, strict=True)]
    return [*kept, (other_label, summed)]


def _literal(text: str) -> str:
    # matplotlib reads text between two $ signs as a formula.
    return str(text).replace("$", r"\$")
