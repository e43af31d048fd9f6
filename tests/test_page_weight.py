"""Lighter pages with the same features (issue 15 item 3): byte budgets on the seeds site, compact
HTML that renders the same, and the shared chrome of generated pages working in chromium.

Budgets are on the seeds site (521 papers): a paper page's own HTML and a listing's bytes per
entry. Before this work a seed paper page was 20.1 KB (Material's chrome about 15 KB of it).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from generator.plugin import compact_html
from generator.website.chrome import CHROME_SCRIPT, ROOT_MARK, SharedChrome, parts_of

PAPER_PAGE_BUDGET = 9_000
"""Bytes of a seed paper page's HTML, on average (the first seed paper: 20,118 before, 7,634 now)."""
LISTING_ENTRY_BUDGET = 350
"""Bytes per entry of a day's listing (93 entries on May 29; 450 before listings stopped repeating
every topic of a paper)."""


def _paper_pages(site: Path) -> list[Path]:
    return sorted(site.glob("papers/*/index.html"))


def test_paper_pages_are_within_budget(seed_site: Path) -> None:
    sizes = {path: path.stat().st_size for path in _paper_pages(seed_site)}
    assert len(sizes) == 521
    largest = max(sizes, key=sizes.__getitem__)
    assert sizes[largest] <= PAPER_PAGE_BUDGET + 2_000, (largest, sizes[largest])  # long abstracts
    assert sum(sizes.values()) / len(sizes) <= PAPER_PAGE_BUDGET


def test_listings_are_within_budget(seed_site: Path) -> None:
    day = seed_site / "dates" / "2025" / "05" / "29" / "index.html"
    html = day.read_text("utf-8")
    entries = html.count("<li><a href=")
    assert entries == 93
    listing = re.search(r"<ol>.*?</ol>", html, re.S)
    assert listing is not None
    assert len(listing.group(0).encode("utf-8")) / entries <= LISTING_ENTRY_BUDGET
    assert len(html.encode("utf-8")) - len(listing.group(0).encode("utf-8")) <= 6_000  # the page around it
    # A listing links the paper and its primary topic only (the paper page has the rest).
    for entry in re.findall(r"<li><a href=.*?</li>", html, re.S):
        assert entry.count("<a href=") <= 2, entry


def test_generated_pages_share_one_chrome(seed_site: Path) -> None:
    chrome = parts_of((seed_site / CHROME_SCRIPT).read_text("utf-8"))
    assert set(chrome) == {"header", "tabs", "nav", "toc", "footer"}
    assert re.findall(r'href="#([^"]+)"', chrome["toc"]) == ["abstract", "why-these-topics", "similar-papers", "cite"]
    assert 'class="md-header' in chrome["header"] and "data-ds-input" in chrome["header"]
    # Every link of the chrome is made from the root and leads to a file of the site.
    for link in re.findall(r'(?:href|src)="([^"]*)"', "".join(chrome.values())):
        if link.startswith(ROOT_MARK):
            target = seed_site / link[1:].split("#")[0]
            assert target.is_file() or (target / "index.html").is_file(), link
    lean = _paper_pages(seed_site) + sorted(seed_site.glob("dates/*/*/*/index.html"))
    lean += sorted(seed_site.glob("topics/*/index.html")) + sorted(seed_site.glob("digests/*/index.html"))
    papers = set(_paper_pages(seed_site))
    for path in lean:
        html = path.read_text("utf-8")
        assert "<!--pd:" not in html and "<!--/pd-->" not in html, path
        shared = ["header", "tabs", "nav", "toc", "footer"] if path in papers else ["header", "tabs", "nav", "footer"]
        assert re.findall(r'data-part="(\w+)"', html) == shared, path
        assert '<noscript><nav class="pd-nojs' in html, path
    # Hub pages keep Material's own chrome in the page.
    home = (seed_site / "index.html").read_text("utf-8")
    assert 'class="md-header' in home and "data-part=" not in home


def test_compact_html_keeps_what_a_browser_shows() -> None:
    html = (
        "<div>\n    <p>Two   words</p>\n\n   <a href='x'>link</a>\n  <b>bold</b>\n</div>\n"
        "<pre><code>  indented\n\n    code\n</code></pre>\n  <p>after</p>\n"
    )
    out = compact_html(html)
    assert "<pre><code>  indented\n\n    code\n</code></pre>" in out
    assert "\n    " not in out.replace("<pre><code>  indented\n\n    code\n</code></pre>", "")
    assert _text(out) == _text(html)
    assert len(out) < len(html)


def _text(html: str) -> str:
    """What a browser shows outside <pre>, white space collapsed as it does (pre kept verbatim)."""
    pieces = re.split(r"(<pre>.*?</pre>)", html, flags=re.S)
    shown = [p if i % 2 else re.sub(r"\s+", " ", _strip_tags(p)) for i, p in enumerate(pieces)]
    return re.sub(r" +", " ", "".join(shown)).strip()


def _strip_tags(html: str) -> str:
    out: list[str] = []

    class Text(HTMLParser):
        def handle_starttag(self, tag: str, attrs: Any) -> None:
            out.append(" " if tag in {"div", "p"} else "")

        def handle_data(self, data: str) -> None:
            out.append(data)

    Text().feed(html)
    return "".join(out)


def test_shared_chrome_serves_pages_at_every_depth() -> None:
    chrome = SharedChrome("site")

    def page(root: str, here: str) -> str:
        return (
            f'<!--pd:tabs--><a href="{root}">Home</a><a href="{root}/topics/">Topics</a>'
            f'<a href="{here}">By date</a><img src="{root}/assets/x.svg"><!--/pd-->'
        )

    first = chrome.share(page("../..", "../../dates/"), "papers/x/")
    deeper = chrome.share(page("../../../..", "../../../"), "dates/2025/05/29/")
    assert first == '<script src="../../assets/javascripts/chrome.js" data-part="tabs"></script>'
    assert deeper == '<script src="../../../../assets/javascripts/chrome.js" data-part="tabs"></script>'
    assert chrome.parts["tabs"] == (
        f'<a href="{ROOT_MARK}">Home</a><a href="{ROOT_MARK}topics/">Topics</a>'
        f'<a href="{ROOT_MARK}dates/">By date</a><img src="{ROOT_MARK}assets/x.svg">'
    )
    # A page whose part differs keeps its own, and external links stay as they are.
    own = chrome.share('<!--pd:tabs--><a href="https://example.org/">x</a><!--/pd-->', "papers/y/")
    assert own == '<a href="https://example.org/">x</a>'
    script = chrome.script()
    assert script is not None and parts_of(script.decode("utf-8")) == chrome.parts
    assert SharedChrome("site").script() is None


@pytest.mark.browser
def test_paper_page_chrome_works_in_chromium(browser: Any, site_url: str, seed_site: Path) -> None:
    paper = _paper_pages(seed_site)[0].parent.relative_to(seed_site).as_posix()
    errors: list[str] = []
    for viewport in ({"width": 1280, "height": 900}, {"width": 390, "height": 844}):
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(site_url + paper + "/")
        title = page.locator("article h1").inner_text()
        assert page.locator("[data-md-component=header-topic] .md-ellipsis").inner_text() == title
        assert (
            page.locator(".md-tabs__link").count() == 6 and page.locator(".md-nav--primary .md-nav__link").count() == 6
        )
        if viewport["width"] < 500:  # the drawer opens and its links work
            page.click("label.md-header__button[for=__drawer]")
            page.locator(".md-nav--primary .md-nav__link", has_text="Topics").click()
        else:  # the palette toggle works, and a tab leads to its page
            before = page.evaluate("document.body.getAttribute('data-md-color-scheme')")
            page.click("form[data-md-component=palette] label:not([hidden])")
            assert page.evaluate("document.body.getAttribute('data-md-color-scheme')") != before
            page.locator(".md-tabs__link", has_text="Topics").click()
        page.wait_for_url(site_url + "topics/")
        context.close()
    assert errors == []


@pytest.mark.browser
def test_paper_page_without_javascript_keeps_its_links(browser: Any, site_url: str, seed_site: Path) -> None:
    paper = _paper_pages(seed_site)[0].parent.relative_to(seed_site).as_posix()
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(site_url + paper + "/")
    links = page.locator("nav.pd-nojs a")
    assert links.count() == 6
    assert page.locator("article h1").count() == 1
    context.close()
