"""The built seeds site: strict build, every page present, every internal link resolves,
nothing loaded from another host, and a real browser can walk home -> topic -> paper ->
day -> digest and back."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "link" and values.get("rel") in ("canonical", "alternate"):
            tag = "a"  # a page address, not an asset the page loads
        for name, value in attrs:
            if value and ((tag == "a" and name == "href") or name == "src" or (tag == "link" and name == "href")):
                self.links.append((tag, value))


def links_of(html: str) -> list[tuple[str, str]]:
    parser = _Links()
    parser.feed(html)
    return parser.links


def test_seed_site_has_every_page(seed_site: Path) -> None:
    papers = json.loads((seed_site / "papers.json").read_text("utf-8"))["papers"]
    assert len(papers) == 521
    for paper in papers:
        assert (seed_site / paper["url"] / "index.html").is_file(), paper["url"]
        assert set(paper) >= {"id", "title", "abstract", "url", "dates", "appearances", "topics"}
        assert set(paper) <= {
            "id",
            "title",
            "abstract",
            "url",
            "arxiv_id",
            "authors",
            "dates",
            "appearances",
            "topics",
            "near_duplicates",
            "similar",
        }  # the last four only when known or any
    for hub in (
        "index.html",
        "topics/index.html",
        "dates/index.html",
        "digests/index.html",
        "week/index.html",
        "dates/2025/05/29/index.html",
        "dates/undated/index.html",
        "feed.xml",
        "rss.xml",
        "papers.bib",
    ):
        assert (seed_site / hub).is_file(), hub
    assert len(list((seed_site / "digests").glob("*/index.html"))) == 5


def check_links(site: Path, pages: list[Path]) -> tuple[list[str], list[str]]:
    """Internal links of `pages` that lead nowhere, and assets they load from other hosts."""
    broken: list[str] = []
    remote_assets: list[str] = []
    for page in pages:
        rel = page.relative_to(site).as_posix()
        base = "http://site/" + rel
        for tag, link in links_of(page.read_text("utf-8")):
            url = urlparse(urljoin(base, link))
            if url.scheme in ("mailto", "data", "javascript"):
                continue
            if url.netloc != "site":
                if tag in ("script", "link", "img"):
                    remote_assets.append(f"{rel}: {link}")
                continue
            target = site / unquote(url.path.lstrip("/"))
            if url.path.endswith("/"):
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{rel}: {link}")
    return broken, remote_assets


def test_every_internal_link_resolves_and_nothing_is_remote(seed_site: Path) -> None:
    pages = sorted(seed_site.rglob("*.html"))
    assert len(pages) > 521
    broken, remote_assets = check_links(seed_site, pages)
    assert broken == []
    assert remote_assets == []


def test_paper_pages_stay_out_of_the_nav(seed_site: Path) -> None:
    home = (seed_site / "index.html").read_text("utf-8")
    nav = home[home.find('<nav class="md-nav md-nav--primary"') :]
    nav = nav[: nav.find("</nav>")]
    assert "papers/" not in nav and "dates/2025" not in nav
    sizes = [p.stat().st_size for p in (seed_site / "papers").rglob("index.html")]
    assert max(sizes) < 3 * min(sizes) + 40_000  # no page carries the whole corpus


def test_math_kept_and_page_title_plain(seed_site: Path) -> None:
    papers = json.loads((seed_site / "papers.json").read_text("utf-8"))["papers"]
    paper = next(p for p in papers if "$t-J$" in p["title"])
    html = (seed_site / paper["url"] / "index.html").read_text("utf-8")
    assert '<span class="math">t&#45;J</span>' in html or '<span class="math">t-J</span>' in html
    found = re.search(r"<title>(.*?)</title>", html)
    assert found is not None
    title = found.group(1)
    assert title.startswith("Simulating the two-dimensional $t-J$ model") and "<span" not in title


@pytest.mark.browser
def test_browser_walks_the_groupings(browser, site_url: str) -> None:
    page = browser.new_page()
    failed: list[str] = []
    # Requests cut short by our own navigation are "aborted"; anything else failing is a defect.
    page.on(
        "requestfailed",
        lambda request: None if "ABORTED" in (request.failure or "") else failed.append(request.url),
    )
    page.goto(site_url)
    assert "papers" in page.locator("article").inner_text()
    # home -> topics overview -> a topic -> a paper
    page.locator("a.md-tabs__link", has_text="Topics").click()
    page.wait_for_url("**/topics/")
    page.locator("article table a").first.click()
    page.wait_for_url(re.compile(r".*/topics/[a-z-]+/$"))
    topic_title = page.locator("article h1").inner_text()
    page.locator("article ol li a[href*='papers/']").first.click()
    page.wait_for_url("**/papers/**")
    paper_title = page.locator("article h1").inner_text()
    assert paper_title and page.locator("text=Abstract").count() >= 1
    assert page.title().startswith(paper_title.strip()[:20])
    # paper -> its topic, back; paper -> its digest
    page.go_back()
    assert page.locator("article h1").inner_text() == topic_title
    page.go_forward()
    page.locator(".pd-paper-meta a[href*='digests/']").first.click()
    page.wait_for_url("**/digests/**")
    assert page.locator("article ol li").count() >= 1
    # home -> by date -> a day -> a paper
    page.goto(site_url)
    page.locator("a.md-tabs__link", has_text="By date").click()
    page.locator("article a[href*='2025/05/29']").first.click()
    page.wait_for_url("**/dates/2025/05/29/")
    assert "Papers of May 29, 2025" in page.locator("article h1").inner_text()
    page.locator("article ol li a[href*='papers/']").first.click()
    page.wait_for_url("**/papers/**")
    page.go_back()
    page.wait_for_url("**/dates/2025/05/29/")
    # math rendered by the site's own KaTeX
    papers = page.request.get(site_url + "papers.json").json()["papers"]
    math_paper = next(p for p in papers if "$t-J$" in p["title"])
    page.goto(site_url + math_paper["url"])
    assert page.locator("h1 .katex").count() == 1
    assert failed == []
    page.close()
