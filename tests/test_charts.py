"""Tests of the SVG charts: well-formed, escaped, labelled, without links, deterministic, theme-friendly."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from generator.website.charts import _ticks, timeline_grid, topic_bar_chart, topic_timeline_chart

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script> & Co'

COUNTS = [
    ("theorem-proving", "Theorem Proving & Formal Mathematics", 29),
    ("evil", HOSTILE, 3),
    ("empty", "Empty", 0),
]
DAY = dt.date(2025, 5, 27)
SERIES = {
    "theorem-proving": [(DAY, 3), (DAY + dt.timedelta(days=2), 1)],
    "evil": [(DAY + dt.timedelta(days=1), 5)],
}
NAMES = {"theorem-proving": "Theorem Proving & Formal Mathematics", "evil": HOSTILE}


def _texts(root: ET.Element) -> list[str]:
    return ["".join(e.itertext()) for e in root.iter() if e.tag in (f"{SVG}text", f"{SVG}title")]


def test_bar_chart_is_well_formed_labelled_and_has_no_links():
    svg = topic_bar_chart(COUNTS)
    root = ET.fromstring(svg)  # raises on malformed XML
    assert root.get("role") == "img" and root.get("aria-label")
    assert list(root.iter(f"{SVG}a")) == []  # no link inside role="img": the table beside it links
    texts = _texts(root)
    assert "Theorem Proving & Formal Mathematics" in texts
    assert "29" in texts and "0" in texts
    assert "Theorem Proving & Formal Mathematics: 29 papers" in texts
    assert "Topic" in texts and "Papers" in texts  # both axes labelled
    assert [t for t in texts if t in {"0", "10", "20", "30"}] == ["0", "0", "10", "20", "30"]  # a count, then ticks
    bars = [r for r in root.iter(f"{SVG}rect")]
    widths = [float(r.get("width", "0")) for r in bars]
    assert widths[0] > widths[1] > widths[2] == 0
    assert widths[0] == 290.0  # 29 of the axis's 30 over 300 px


def test_charts_are_shown_at_their_own_size():
    """Never scaled down below their size (text stays 13 px on a phone); the bar chart fits 390 px."""
    for svg in (topic_bar_chart(COUNTS), topic_timeline_chart(SERIES, NAMES)):
        root = ET.fromstring(svg)
        box = str(root.get("viewBox")).split()
        assert [root.get("width"), root.get("height")] == box[2:]
    assert float(str(ET.fromstring(topic_bar_chart(COUNTS)).get("width"))) <= 360


def test_ticks_are_round_and_few():
    assert _ticks(1) == [0, 1]
    assert _ticks(5) == [0, 1, 2, 3, 4, 5]
    assert _ticks(6) == [0, 2, 4, 6]
    assert _ticks(29) == [0, 10, 20, 30]
    assert _ticks(93) == [0, 20, 40, 60, 80, 100]
    assert _ticks(2600) == [0, 1000, 2000, 3000]


def test_hostile_names_are_escaped():
    for svg in (topic_bar_chart(COUNTS), topic_timeline_chart(SERIES, NAMES)):
        assert "<script>" not in svg
        assert "&lt;script&gt;" in svg
        root = ET.fromstring(svg)
        assert not list(root.iter("script")) and not list(root.iter(f"{SVG}script"))
        # The escaped name reads back as the original text.
        assert any(HOSTILE in t for t in _texts(root))


def test_hostile_slug_never_reaches_the_chart():
    svg = topic_bar_chart([('x" onload="alert(1)', "X", 1)])
    root = ET.fromstring(svg)
    assert "onload" not in svg
    assert all("onload" not in e.attrib for e in root.iter())


def test_text_follows_the_theme_and_there_is_no_javascript():
    for svg in (topic_bar_chart(COUNTS), topic_timeline_chart(SERIES, NAMES)):
        assert "fill:currentColor" in svg
        assert "<script" not in svg and "javascript:" not in svg.lower()
        assert "\n\n" not in svg and "\n    " not in svg  # one raw HTML block in Markdown


def test_timeline_grid_by_day_and_by_month():
    svg = topic_timeline_chart(SERIES, NAMES)
    root = ET.fromstring(svg)
    assert list(root.iter(f"{SVG}a")) == []
    cells = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(cells) == 2 * 3  # two topics x three days
    titles = _texts(root)
    assert "Theorem Proving & Formal Mathematics, 2025-05-27: 3 papers" in titles
    assert f"{HOSTILE}, 2025-05-28: 5 papers" in titles
    # Every column labelled when there is room, and both axes.
    assert [t for t in titles if t.startswith("May ")] == ["May 27", "May 28", "May 29"]
    assert "Topic" in titles and "Day first seen" in titles
    long = topic_timeline_chart({"a": [(dt.date(2024, 11, 5), 2), (dt.date(2025, 2, 1), 1)]}, {"a": "A"})
    root = ET.fromstring(long)
    assert len([r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]) == 4  # Nov .. Feb
    assert "A, 2024-11: 2 papers" in _texts(root)
    assert "Month first seen" in _texts(root)


def test_timeline_has_a_legend_of_its_shades():
    root = ET.fromstring(topic_timeline_chart(SERIES, NAMES))  # the largest cell holds 5
    texts = _texts(root)
    assert "Papers:" in texts
    start = texts.index("Papers:")
    assert texts[start + 1 :] == ["0", "1", "2", "4", "5"]  # 0, 1, then a quarter, a half, three quarters, all
    swatches = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is None]
    assert [r.get("fill-opacity") for r in swatches] == [None, "0.36", "0.52", "0.84", "1.00"]
    # The cells use the same shades: 3 papers of the largest 5.
    assert '<rect class="pd-mark" x="211" y="24" width="42" height="18" rx="2" fill-opacity="0.68">' in str(
        topic_timeline_chart(SERIES, NAMES)
    )


def test_many_columns_get_thinned_labels():
    first = dt.date(2025, 1, 1)
    series = {"a": [(first + dt.timedelta(days=i), 1) for i in range(60)]}
    root = ET.fromstring(topic_timeline_chart(series, {"a": "A"}))
    labels = [t for t in _texts(root) if t[:3] in {"Jan", "Feb", "Mar"} and "," not in t]
    # 60 columns of 9.3 px; "Jan 10" is 6 characters, 42 px with its gap: every fifth column.
    days = [first + dt.timedelta(days=i) for i in range(0, 60, 5)]
    assert labels == [f"{day:%b} {day.day}" for day in days]


def test_timeline_grid_holds_the_numbers():
    grid = timeline_grid(SERIES, NAMES)
    assert grid is not None
    assert grid.slugs == ("theorem-proving", "evil")
    assert grid.long_columns == ("2025-05-27", "2025-05-28", "2025-05-29")
    assert grid.counts == ((3, 0, 1), (0, 5, 0))
    assert grid.axis_title == "Day first seen"
    assert timeline_grid({}, {}) is None


def test_charts_are_deterministic_and_handle_nothing():
    assert topic_bar_chart(COUNTS) == topic_bar_chart(list(COUNTS))
    assert topic_timeline_chart(SERIES, NAMES) == topic_timeline_chart(dict(reversed(SERIES.items())), NAMES)
    for svg in (topic_bar_chart([]), topic_timeline_chart({}, {}), topic_timeline_chart({"a": []}, {"a": "A"})):
        root = ET.fromstring(svg)
        assert "No " in "".join(root.itertext())
