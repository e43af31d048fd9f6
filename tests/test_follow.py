"""Follow and cite on the built seeds site: feeds, per-topic feeds, this week, BibTeX, meta."""

from __future__ import annotations

import json
import re
from pathlib import Path

import feedparser
import pytest


def _papers(site: Path) -> list[dict]:
    return json.loads((site / "papers.json").read_text("utf-8"))["papers"]


def test_site_feeds_parse_and_are_newest_first(seed_site: Path) -> None:
    for name in ("feed.xml", "rss.xml"):
        feed = feedparser.parse((seed_site / name).read_bytes())
        assert not feed.bozo, feed.get("bozo_exception")
        entries = feed.entries
        assert 0 < len(entries) <= 50
        dates = [e.get("published_parsed") or e.get("updated_parsed") for e in entries]
        assert dates == sorted(dates, reverse=True)
        first = entries[0]
        assert first.title and "/papers/" in first.link and first.get("tags")
    # only dated papers are in feeds, and the newest day comes first
    atom = feedparser.parse((seed_site / "feed.xml").read_bytes())
    newest_ids = {p["url"] for p in _papers(seed_site) if "2025-05-29" in p["dates"]}
    assert any(entry.link.endswith(tuple(newest_ids)) for entry in atom.entries[:5])


def test_per_topic_feeds_and_alternate_links(seed_site: Path) -> None:
    topic_feeds = sorted((seed_site / "topics").glob("*/feed.xml"))
    assert len(topic_feeds) >= 18
    for path in topic_feeds:
        assert not feedparser.parse(path.read_bytes()).bozo, path
    topic_page = (seed_site / "topics" / "theorem-proving" / "index.html").read_text("utf-8")
    # "alternate feed": Material fetches sitemap.xml next to a link whose rel is exactly "alternate"
    assert re.search(r'<link rel="alternate feed" type="application/atom\+xml"[^>]*href="feed.xml"', topic_page)
    home = (seed_site / "index.html").read_text("utf-8")
    assert 'type="application/atom+xml"' in home and 'type="application/rss+xml"' in home


def test_week_page_groups_the_last_seven_days(seed_site: Path) -> None:
    week = (seed_site / "week" / "index.html").read_text("utf-8")
    assert "May 29, 2025" in week and "May 28, 2025" in week
    assert week.index("May 29, 2025") < week.index("May 28, 2025")
    per_day = sum(1 for p in _papers(seed_site) if set(p["dates"]) & {"2025-05-28", "2025-05-29"})
    assert week.count('href="../papers/') >= per_day
    home = (seed_site / "index.html").read_text("utf-8")
    assert 'href="week/"' in home


def test_bibtex_on_paper_pages_and_papers_bib(seed_site: Path) -> None:
    paper = next(p for p in _papers(seed_site) if "$t-J$" in p["title"])
    html = (seed_site / paper["url"] / "index.html").read_text("utf-8")
    assert "pd-copy" in html and "@misc{" in html
    assert "title = {{Simulating the two-dimensional $t-J$ model" in html.replace("&#36;", "$")
    bib = (seed_site / "papers.bib").read_text("utf-8")
    assert bib.count("@misc{") == len(_papers(seed_site))
    assert bib.count("{") == bib.count("}")


def test_share_meta_on_paper_pages(seed_site: Path) -> None:
    paper = _papers(seed_site)[0]
    html = (seed_site / paper["url"] / "index.html").read_text("utf-8")
    assert '<meta property="og:title"' in html and '<meta name="twitter:card"' in html
    found = re.search(r'<meta name="description" content="([^"]*)"', html)
    assert found is not None
    description = found.group(1)
    assert description and len(description) <= 200
    sitemap = "".join(path.read_text("utf-8") for path in seed_site.glob("sitemap-papers-*.xml"))
    assert all(f"/{p['url']}</loc>" in sitemap for p in _papers(seed_site))
    assert "sitemap-papers-0001.xml</loc>" in (seed_site / "sitemap.xml").read_text("utf-8")  # the index


@pytest.mark.browser
def test_copy_bibtex_button(browser, site_url: str) -> None:
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    paper = page.request.get(site_url + "papers.json").json()["papers"][0]
    page.goto(site_url + paper["url"])
    page.locator("button.pd-copy").click()
    page.wait_for_timeout(300)
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("@misc{") and "url" in copied and copied.count("{") == copied.count("}")
    context.close()
