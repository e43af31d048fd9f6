"""Tests of the SVG charts: well-formed, escaped, linked, deterministic, theme-friendly."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from generator.website.charts import topic_bar_chart, topic_timeline_chart

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


def test_bar_chart_is_well_formed_linked_and_labelled():
    svg = topic_bar_chart(COUNTS)
    root = ET.fromstring(svg)  # raises on malformed XML
    links = [a.get("href") for a in root.iter(f"{SVG}a")]
    assert links == ["theorem-proving/", "evil/", "empty/"]
    texts = _texts(root)
    assert "Theorem Proving & Formal Mathematics" in texts
    assert "29" in texts and "0" in texts
    assert "Theorem Proving & Formal Mathematics: 29 papers" in texts
    bars = [r for r in root.iter(f"{SVG}rect")]
    widths = [float(r.get("width", "0")) for r in bars]
    assert widths[0] > widths[1] > widths[2] == 0


def test_hostile_names_are_escaped():
    for svg in (topic_bar_chart(COUNTS), topic_timeline_chart(SERIES, NAMES)):
        assert "<script>" not in svg
        assert "&lt;script&gt;" in svg
        root = ET.fromstring(svg)
        assert not list(root.iter("script")) and not list(root.iter(f"{SVG}script"))
        # The escaped name reads back as the original text.
        assert any(HOSTILE in t for t in _texts(root))


def test_hostile_slug_stays_inside_its_attribute():
    svg = topic_bar_chart([('x" onload="alert(1)', "X", 1)])
    root = ET.fromstring(svg)
    (link,) = root.iter(f"{SVG}a")
    assert set(link.attrib) == {"href"}
    assert "onload" not in "".join(root.itertext())


def test_text_follows_the_theme_and_there_is_no_javascript():
    for svg in (topic_bar_chart(COUNTS), topic_timeline_chart(SERIES, NAMES)):
        assert "fill:currentColor" in svg
        assert "<script" not in svg and "javascript:" not in svg.lower()
        assert "\n\n" not in svg and "\n    " not in svg  # one raw HTML block in Markdown


def test_timeline_grid_by_day_and_by_month():
    svg = topic_timeline_chart(SERIES, NAMES)
    root = ET.fromstring(svg)
    cells = [r for r in root.iter(f"{SVG}rect")]
    assert len(cells) == 2 * 3  # two topics x three days
    titles = _texts(root)
    assert "Theorem Proving & Formal Mathematics, 2025-05-27: 3 papers" in titles
    assert f"{HOSTILE}, 2025-05-28: 5 papers" in titles
    assert "May 27" in titles
    assert [a.get("href") for a in root.iter(f"{SVG}a")] == ["theorem-proving/", "evil/"]
    long = topic_timeline_chart({"a": [(dt.date(2024, 11, 5), 2), (dt.date(2025, 2, 1), 1)]}, {"a": "A"})
    root = ET.fromstring(long)
    assert len(list(root.iter(f"{SVG}rect"))) == 4  # Nov, Dec, Jan, Feb
    assert "A, 2024-11: 2 papers" in _texts(root)


def test_charts_are_deterministic_and_handle_nothing():
    assert topic_bar_chart(COUNTS) == topic_bar_chart(list(COUNTS))
    assert topic_timeline_chart(SERIES, NAMES) == topic_timeline_chart(dict(reversed(SERIES.items())), NAMES)
    for svg in (topic_bar_chart([]), topic_timeline_chart({}, {}), topic_timeline_chart({"a": []}, {"a": "A"})):
        root = ET.fromstring(svg)
        assert "No " in "".join(root.itertext())
