"""Charts for the topics pages: pure functions that return SVG text (no JavaScript).

The SVG is meant to be inlined in a page, so that it follows the theme:
text uses `currentColor`, and marks use Material's accent colour through a CSS variable with a
fixed fallback, which reads on light and dark backgrounds alike. Every piece of text that
reaches the SVG (topic names come from a user's file) is XML-escaped, coordinates are
formatted with fixed precision, and no ids are generated, so the output is deterministic and
two charts can share a page. The output has no blank lines and no indentation (a hub page's
template places it as it is).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
    ".pd-chart .pd-empty{fill:none;stroke:currentColor;stroke-opacity:.3}"
    ".pd-chart .pd-axis{stroke:currentColor;stroke-opacity:.6}"
    "</style>"
)


def topic_bar_chart(counts: Sequence[tuple[str, str, int]]) -> str:
    """Horizontal bars of papers per topic, in the given order, each name above its bar.

    `counts` holds (slug, name, count). The chart is 360 px wide, so that it is shown at full size
    (13 px text) on a 390 px phone; the x axis has a few round ticks and is labelled "Papers". There
    are no links inside it (it is an image to assistive technology): the table beside it links.
    """
    if not counts:
        return _empty_svg("Papers per topic", "No topics yet.")
    largest = max(max(c for _, _, c in counts), 1)
    left, bar_width, row, top = 8, 300, 34, 22
    ticks = _ticks(largest)
    scale = bar_width / ticks[-1]
    axis_y = top + row * len(counts) + 4
    height = axis_y + 36
    width = left + bar_width + 52
    label = f"Papers per topic: a bar for each of {len(counts)} topics; the table lists the numbers"
    parts = [_open_svg(width, height, label)]
    parts.append(f'<text x="{left}" y="13" font-weight="bold">Topic</text>')
    for i, (_, name, count) in enumerate(counts):
        y = top + i * row
        length = scale * max(count, 0)
        parts.append(f'<text x="{left}" y="{_n(y + 11)}">{escape(_shorten(name))}</text>')
        parts.append(
            f'<rect class="pd-mark" x="{left}" y="{_n(y + 16)}" '
            f'width="{_n(max(length, 1.5 if count else 0))}" height="12" rx="2">'
            f"<title>{escape(f'{name}: {_papers(count)}')}</title></rect>"
        )
        parts.append(f'<text x="{_n(left + length + 5)}" y="{_n(y + 26.5)}">{count}</text>')
    parts.append(f'<line class="pd-axis" x1="{left}" x2="{left + bar_width}" y1="{axis_y}" y2="{axis_y}"/>')
    for tick in ticks:
        x = left + tick * scale
        parts.append(f'<line class="pd-axis" x1="{_n(x)}" x2="{_n(x)}" y1="{axis_y}" y2="{axis_y + 4}"/>')
        anchor = "start" if tick == 0 else "middle"
        parts.append(f'<text x="{_n(x)}" y="{axis_y + 16}" text-anchor="{anchor}" font-size="12">{tick}</text>')
    parts.append(f'<text x="{left + bar_width // 2}" y="{axis_y + 32}" text-anchor="middle">Papers</text>')
    parts.append("</svg>")
    return "\n".join(parts)


@dataclass(frozen=True)
class TimelineGrid:
    """Papers per topic (rows) and day, month or years (columns): what the timeline draws and its table lists."""

    slugs: tuple[str, ...]
    """Row order: the topics of `names` first, in its order, then the others by slug."""
    names: tuple[str, ...]
    """Each row's display name."""
    columns: tuple[str, ...]
    """Each column's short label (`May 29`, `May 2025`, `2025`)."""
    long_columns: tuple[str, ...]
    """Each column's full label (`2025-05-29`, `2025-05`, `1900–1916`)."""
    unit: str
    """`day`, `month` or `year`: what one column stands for."""
    counts: tuple[tuple[int, ...], ...]
    """counts[row][column]."""

    @property
    def axis_title(self) -> str:
        """The x axis's label."""
        return {"day": "Day first seen", "month": "Month first seen"}.get(self.unit, "Year first seen")


def timeline_grid(series: Mapping[str, Sequence[tuple[dt.date, int]]], names: Mapping[str, str]) -> TimelineGrid | None:
    """The grid of `topic_timeline_chart`, or None when there is no dated paper.

    `series` maps a topic slug to (date, count) pairs; `names` maps slugs to display names and
    sets the row order (slugs missing from `names` follow, alphabetically). Days are used when
    the dates span at most two months, months up to ten years, years beyond (`MAX_COLUMNS`).
    """
    rows = [slug for slug in names if slug in series]
    rows += sorted(slug for slug in series if slug not in names)
    dates = sorted({d for slug in rows for d, _ in series[slug]})
    if not rows or not dates:
        return None
    scale = _Scale.spanning(dates[0], dates[-1])
    columns = scale.columns(dates[0], dates[-1])
    index = {c: i for i, c in enumerate(columns)}
    grid = [[0] * len(columns) for _ in rows]
    for r, slug in enumerate(rows):
        for day, count in series[slug]:
            grid[r][index[scale.bucket(day)]] += max(count, 0)
    return TimelineGrid(
        tuple(rows),
        tuple(names.get(slug, slug) for slug in rows),
        tuple(scale.label(c, long=False) for c in columns),
        tuple(scale.label(c, long=True) for c in columns),
        scale.unit,
        tuple(tuple(line) for line in grid),
    )


def topic_timeline_chart(series: Mapping[str, Sequence[tuple[dt.date, int]]], names: Mapping[str, str]) -> str:
    """A heat-map grid of papers per topic (rows) and day, month or years (columns), with a legend.

    See `timeline_grid` for the arguments. Both axes are labelled ("Topic", and the day, month or
    year first seen); column labels are thinned so that they never overlap; the legend maps the
    shades to paper counts. No links inside (the table of the numbers under it links).
    """
    grid = timeline_grid(series, names)
    if grid is None:
        return _empty_svg("Papers per topic over time", "No dated papers yet.")
    largest = max(max(line) for line in grid.counts) or 1
    label_width, row, top = 210, 22, 22
    cell = max(6.0, min(44.0, 560 / len(grid.columns)))
    width = max(label_width + cell * len(grid.columns) + 16, 330)
    axis_y = top + row * len(grid.slugs)
    legend_y = axis_y + 40
    height = legend_y + 22
    label = f"Papers per topic over time: {len(grid.slugs)} topics by {grid.unit}; the table below lists the numbers"
    parts = [_open_svg(width, height, label)]
    parts.append(f'<text x="{label_width - 8}" y="13" text-anchor="end" font-weight="bold">Topic</text>')
    for r, name in enumerate(grid.names):
        y = top + r * row
        parts.append(
            f'<text x="{_n(label_width - 8)}" y="{_n(y + row / 2)}" text-anchor="end" '
            f'dominant-baseline="middle">{escape(_shorten(name, 30))}<title>{escape(name)}</title></text>'
        )
        for c, count in enumerate(grid.counts[r]):
            x = label_width + c * cell
            tooltip = f"{name}, {grid.long_columns[c]}: {_papers(count)}"
            shape = f'x="{_n(x + 1)}" y="{_n(y + 2)}" width="{_n(cell - 2)}" height="{_n(row - 4)}" rx="2"'
            if count:
                parts.append(
                    f'<rect class="pd-mark" {shape} fill-opacity="{_shade(count, largest):.2f}">'
                    f"<title>{escape(tooltip)}</title></rect>"
                )
            else:
                parts.append(f'<rect class="pd-empty" {shape}><title>{escape(tooltip)}</title></rect>')
    # Label every n-th column so that labels never overlap (about 6 px a character at 11 px, 6 px apart).
    widest = max(len(text) for text in grid.columns) * 6 + 6
    step = max(1, math.ceil(widest / cell))
    for c in range(0, len(grid.columns), step):
        x = label_width + c * cell + cell / 2
        text = escape(grid.columns[c])
        parts.append(f'<text x="{_n(x)}" y="{_n(axis_y + 14)}" text-anchor="middle" font-size="12">{text}</text>')
    centre = label_width + cell * len(grid.columns) / 2
    parts.append(f'<text x="{_n(centre)}" y="{_n(axis_y + 30)}" text-anchor="middle">{grid.axis_title}</text>')
    parts.extend(_legend(legend_y, largest))
    parts.append("</svg>")
    return "\n".join(parts)


def _legend(y: float, largest: int) -> list[str]:
    """The colour scale: an empty cell for 0, then the shades of up to five counts up to `largest`."""
    values = sorted({1, largest, *(max(1, round(largest * k / 4)) for k in (1, 2, 3))})
    parts = [f'<text x="8" y="{_n(y + 13)}">Papers:</text>']
    x = 64.0
    swatches = [(0, '<rect class="pd-empty"')] + [
        (v, f'<rect class="pd-mark" fill-opacity="{_shade(v, largest):.2f}"') for v in values
    ]
    for value, opening in swatches:
        parts.append(f'{opening} x="{_n(x)}" y="{_n(y + 2)}" width="16" height="14" rx="2"/>')
        parts.append(f'<text x="{_n(x + 20)}" y="{_n(y + 13)}" font-size="12">{value}</text>')
        x += 30 + 7 * len(str(value))
    return parts


def _shade(count: int, largest: int) -> float:
    """The fill opacity of a cell of `count` papers (0.2 plus 0.8 of its share of the largest count)."""
    return 0.2 + 0.8 * count / max(largest, 1)


def _ticks(largest: int) -> list[int]:
    """Round ticks from 0 to at least `largest`: a step of 1, 2 or 5 times a power of ten, at most six ticks."""
    step, factors = 1, (2, 2.5, 2)
    i = 0
    while largest > 5 * step:
        step = round(step * factors[i % 3])
        i += 1
    return list(range(0, -(-largest // step) * step + 1, step))


def _open_svg(width: float, height: float, label: str) -> str:
    """The opening tag and the shared style: the chart is shown at its own size, never scaled down
    (its text stays legible; a chart wider than the page scrolls in its box, digest.css), as an
    image with a text label."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="pd-chart" role="img" '
        f'aria-label={quoteattr(label)} viewBox="0 0 {_n(width)} {_n(height)}" '
        f'width="{_n(width)}" height="{_n(height)}" style="{FONT}">\n{_STYLE}'
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


def _shorten(name: str, limit: int = MAX_LABEL_CHARS) -> str:
    """The name, cut at a word boundary with an ellipsis when longer than `limit` characters."""
    if len(name) <= limit:
        return name
    cut = name[: limit - 1]
    if " " in cut[limit // 2 :]:
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
