"""Charts for the topics pages: pure functions that return SVG text (no JavaScript).

The SVG is meant to be inlined in a page, so that its links work and it follows the theme:
text uses `currentColor`, and marks use Material's accent colour through a CSS variable with a
fixed fallback, which reads on light and dark backgrounds alike. Every piece of text that
reaches the SVG (topic names come from a user's file) is XML-escaped, coordinates are
formatted with fixed precision, and no ids are generated, so the output is deterministic and
two charts can share a page. The output has no blank lines and no indentation, so Markdown
keeps it as one raw HTML block.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

log = logging.getLogger(__name__)

ACCENT = "var(--md-accent-fg-color, #526cfe)"
"""Fill of bars and cells: the theme's accent, or Material's default indigo accent."""
FONT = "font-family: var(--md-text-font-family, sans-serif); font-size: 13px"
MAX_LABEL_CHARS = 42
"""Longer names are shortened with an ellipsis; the full name is in the tooltip."""
_STYLE = (
    "<style>"
    ".pd-chart text{fill:currentColor}"
    f".pd-chart .pd-mark{{fill:{ACCENT}}}"
    ".pd-chart a:hover .pd-mark,.pd-chart a:focus .pd-mark{fill-opacity:.7}"
    ".pd-chart a:hover text,.pd-chart a:focus text{text-decoration:underline}"
    ".pd-chart .pd-empty{fill:none;stroke:currentColor;stroke-opacity:.18}"
    "</style>"
)


def topic_bar_chart(counts: Sequence[tuple[str, str, int]], href: Callable[[str], str] | None = None) -> str:
    """Horizontal bars of papers per topic, in the given order; each bar links to its topic.

    `counts` holds (slug, name, count). `href` gives the link for a slug, relative to the
    page the chart is on (default `<slug>/`, right for the topics overview page).
    """
    href = href or _href
    label_width, bar_width, row, top = 300, 360, 26, 8
    if not counts:
        return _empty_svg("Papers per topic", "No topics yet.")
    largest = max(max(c for _, _, c in counts), 1)
    height = top * 2 + row * len(counts)
    width = label_width + bar_width + 60
    parts = [_open_svg(width, height, "Papers per topic")]
    for i, (slug, name, count) in enumerate(counts):
        y = top + i * row
        length = bar_width * max(count, 0) / largest
        tooltip = f"{name}: {_papers(count)}"
        parts.append(f"<a href={quoteattr(href(slug))}>")
        parts.append(f"<title>{escape(tooltip)}</title>")
        parts.append(
            f'<text x="{_n(label_width - 8)}" y="{_n(y + row / 2)}" text-anchor="end" '
            f'dominant-baseline="middle">{escape(_shorten(name))}</text>'
        )
        parts.append(
            f'<rect class="pd-mark" x="{_n(label_width)}" y="{_n(y + 4)}" '
            f'width="{_n(max(length, 1.5 if count else 0))}" height="{_n(row - 8)}" rx="2"/>'
        )
        parts.append(
            f'<text x="{_n(label_width + length + 6)}" y="{_n(y + row / 2)}" dominant-baseline="middle">{count}</text>'
        )
        parts.append("</a>")
    parts.append("</svg>")
    return "\n".join(parts)


def topic_timeline_chart(
    series: Mapping[str, Sequence[tuple[dt.date, int]]],
    names: Mapping[str, str],
    href: Callable[[str], str] | None = None,
) -> str:
    """A heat-map grid of papers per topic (rows) and day or month (columns).

    `series` maps a topic slug to (date, count) pairs; `names` maps slugs to display names and
    sets the row order (slugs missing from `names` follow, alphabetically). Days are used when
    the dates span at most two months, months otherwise. Row labels link to `href(slug)`
    (default `<slug>/`).
    """
    href = href or _href
    rows = [slug for slug in names if slug in series]
    rows += sorted(slug for slug in series if slug not in names)
    dates = sorted({d for slug in rows for d, _ in series[slug]})
    if not rows or not dates:
        return _empty_svg("Papers per topic over time", "No dated papers yet.")
    scale = _Scale.spanning(dates[0], dates[-1])
    columns = scale.columns(dates[0], dates[-1])
    index = {c: i for i, c in enumerate(columns)}
    grid = [[0] * len(columns) for _ in rows]
    for r, slug in enumerate(rows):
        for day, count in series[slug]:
            grid[r][index[scale.bucket(day)]] += max(count, 0)
    largest = max(max(line) for line in grid) or 1
    label_width, row, top = 300, 22, 8
    cell = max(6.0, min(28.0, 560 / len(columns)))
    axis = 22
    width = label_width + cell * len(columns) + 16
    height = top + row * len(rows) + axis + 4
    parts = [_open_svg(width, height, "Papers per topic over time")]
    for r, slug in enumerate(rows):
        y = top + r * row
        name = names.get(slug, slug)
        parts.append(f"<a href={quoteattr(href(slug))}>")
        parts.append(f"<title>{escape(name)}</title>")
        parts.append(
            f'<text x="{_n(label_width - 8)}" y="{_n(y + row / 2)}" text-anchor="end" '
            f'dominant-baseline="middle">{escape(_shorten(name))}</text>'
        )
        parts.append("</a>")
        for c, count in enumerate(grid[r]):
            x = label_width + c * cell
            tooltip = f"{name}, {scale.label(columns[c], long=True)}: {_papers(count)}"
            shape = f'x="{_n(x + 1)}" y="{_n(y + 2)}" width="{_n(cell - 2)}" height="{_n(row - 4)}" rx="2"'
            if count:
                opacity = 0.2 + 0.8 * count / largest
                parts.append(
                    f'<rect class="pd-mark" {shape} fill-opacity="{opacity:.2f}">'
                    f"<title>{escape(tooltip)}</title></rect>"
                )
            else:
                parts.append(f'<rect class="pd-empty" {shape}><title>{escape(tooltip)}</title></rect>')
    # Label every n-th column so that labels (about 48px wide) never overlap.
    step = max(1, math.ceil(48 / cell))
    baseline = top + row * len(rows) + 15
    for c in range(0, len(columns), step):
        x = label_width + c * cell + cell / 2
        label = escape(scale.label(columns[c], long=False))
        parts.append(f'<text x="{_n(x)}" y="{_n(baseline)}" text-anchor="middle" font-size="11">{label}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _open_svg(width: float, height: float, label: str) -> str:
    """The opening tag (responsive: scales down to the page width) and the shared style."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="pd-chart" role="img" '
        f'aria-label={quoteattr(label)} viewBox="0 0 {_n(width)} {_n(height)}" '
        f'width="100%" style="max-width: {_n(width)}px; {FONT}">\n{_STYLE}'
    )


def _empty_svg(label: str, message: str) -> str:
    """A small chart that says there is nothing to show."""
    return "\n".join(
        [
            _open_svg(400, 40, label),
            f'<text x="8" y="24">{escape(message)}</text>',
            "</svg>",
        ]
    )


def _href(slug: str) -> str:
    """The relative link to a topic page (slugs are already URL-safe; quote anyway)."""
    return quote(slug, safe="-_.~") + "/"


def _shorten(name: str) -> str:
    """The name, cut at a word boundary with an ellipsis when longer than `MAX_LABEL_CHARS`."""
    if len(name) <= MAX_LABEL_CHARS:
        return name
    cut = name[: MAX_LABEL_CHARS - 1]
    if " " in cut[MAX_LABEL_CHARS // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:&·-") + "…"


def _papers(count: int) -> str:
    """`1 paper`, `3 papers`."""
    return f"{count} paper" if count == 1 else f"{count} papers"


def _n(value: float) -> str:
    """A coordinate with at most one decimal and no trailing zeros (stable across platforms)."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


MAX_COLUMNS = 120
"""The timeline has at most this many columns: days up to two months, then months up to ten
years, then years (several to a column when the span is longer than 120 years)."""


@dataclass(frozen=True)
class _Scale:
    """What one column of the timeline stands for: a day, a month, or `step` years from `origin`."""

    unit: str
    step: int = 1
    origin: int = 1

    @classmethod
    def spanning(cls, first: dt.date, last: dt.date) -> _Scale:
        """The finest scale that shows first..last in at most `MAX_COLUMNS` columns."""
        if (last - first).days <= 62:
            return cls("day")
        if (last.year - first.year) * 12 + last.month - first.month < MAX_COLUMNS:
            return cls("month")
        return cls("year", math.ceil((last.year - first.year + 1) / MAX_COLUMNS), first.year)

    def bucket(self, day: dt.date) -> dt.date:
        """The column a date falls in (its first day)."""
        if self.unit == "day":
            return day
        if self.unit == "month":
            return day.replace(day=1)
        return dt.date(self.origin + (day.year - self.origin) // self.step * self.step, 1, 1)

    def columns(self, first: dt.date, last: dt.date) -> list[dt.date]:
        """Every column from first's to last's."""
        if self.unit == "day":
            return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
        if self.unit == "year":
            return [dt.date(year, 1, 1) for year in range(self.bucket(first).year, last.year + 1, self.step)]
        months: list[dt.date] = []
        year, month = first.year, first.month
        while (year, month) <= (last.year, last.month):
            months.append(dt.date(year, month, 1))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return months

    def label(self, column: dt.date, long: bool) -> str:
        """`May 29` / `2025-05-29` for days, `May 2025` / `2025-05` for months, `2025` or
        `1900` / `1900–1916` for years (never locale-dependent)."""
        if self.unit == "year":
            last = min(column.year + self.step - 1, dt.MAXYEAR)
            return f"{column.year}–{last}" if long and last != column.year else str(column.year)
        if self.unit == "month":
            return f"{column.year:04d}-{column.month:02d}" if long else f"{_MONTHS[column.month - 1]} {column.year}"
        return column.isoformat() if long else f"{_MONTHS[column.month - 1]} {column.day}"


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
