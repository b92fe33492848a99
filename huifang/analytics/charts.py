"""Report charts as PNG images, drawn on the server for mails (a mail client runs no script):
a line per count over the trend's buckets, and bars of one KPI per value of a dimension.

Drawn with matplotlib's object API (no ``pyplot``: no global figure state, safe in a worker's
threads); a ``Figure`` saved as PNG uses the Agg renderer, no display.
Labels are Chinese by default, so the first CJK font found among ``CJK_FONTS``
is put before matplotlib's own; without one (the Debian package ``fonts-wqy-microhei`` or
``fonts-noto-cjk`` gives one) the chart is still drawn, with boxes for the characters no font
has.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from functools import lru_cache

from matplotlib import font_manager
from matplotlib.figure import Figure

from .kpis import KPIS, Row

logger = logging.getLogger(__name__)

CJK_FONTS = (
    "WenQuanYi Micro Hei",
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Droid Sans Fallback",
)
COLOURS = ("#2563eb", "#16a34a", "#d97706", "#dc2626")
SIZE = (7.2, 3.2)  # inches, at DPI: 720 × 320 pixels, the width of a mail
DPI = 100
MAX_BARS = 15


@lru_cache(maxsize=1)
def fonts() -> list[str]:
    """The families to draw with: the CJK fonts installed, then matplotlib's default."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    found = [name for name in CJK_FONTS if name in installed]
    if not found:
        logger.warning("no CJK font found (%s): charts show boxes for Chinese", CJK_FONTS[0])
    return [*found, "DejaVu Sans"]


def _figure() -> Figure:
    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _styled(figure: Figure, title: str) -> None:
    for text in figure.findobj(match=lambda o: hasattr(o, "set_fontfamily")):
        text.set_fontfamily(fonts())  # type: ignore[attr-defined]
    figure.suptitle(title, fontfamily=fonts(), fontsize=11)


def trend_chart(rows: Sequence[Row], title: str, kpis: Sequence[str]) -> bytes | None:
    """Lines of the ``kpis`` over the buckets; ``None`` for fewer than two buckets."""
    if len(rows) < 2:
        return None
    figure = _figure()
    axes = figure.add_subplot()
    labels = [str(row.label)[5:] for row in rows]  # MM-DD: the year is in the title
    for colour, key in zip(COLOURS, kpis, strict=False):
        values = [row.values.get(key) for row in rows]
        axes.plot(
            range(len(labels)),  # positions: the labels go on the ticks below
            [float("nan") if v is None else v for v in values],
            marker="o",
            markersize=3,
            color=colour,
            label=str(KPIS[key].label),
        )
    axes.legend(prop={"family": fonts(), "size": 8}, frameon=False)
    axes.grid(axis="y", alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    step = max(1, len(labels) // 10)
    axes.set_xticks(range(0, len(labels), step), labels[::step], fontsize=8)
    _styled(figure, title)
    return _png(figure)


def bar_chart(rows: Sequence[Row], title: str, kpi: str) -> bytes | None:
    """Horizontal bars of ``kpi`` per row, the largest first (at most ``MAX_BARS``); ``None``
    when no row has a value."""
    known = [(row.label, row.values.get(kpi)) for row in rows]
    pairs = sorted(((str(lab), v) for lab, v in known if v is not None), key=lambda p: -p[1])
    if not pairs:
        return None
    pairs = pairs[:MAX_BARS][::-1]
    figure = _figure()
    figure.set_figheight(max(2.0, 0.6 + 0.25 * len(pairs)))
    axes = figure.add_subplot()
    axes.barh([p[0] for p in pairs], [p[1] for p in pairs], color=COLOURS[0])
    axes.set_xlabel(str(KPIS[kpi].label), fontfamily=fonts(), fontsize=9)
    axes.grid(axis="x", alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    for label in axes.get_yticklabels():
        label.set_fontfamily(fonts())
        label.set_fontsize(8)
    _styled(figure, title)
    return _png(figure)
