"""What the built seeds site loads: every reference resolves, KaTeX only where there is math,
the project's scripts deferred, the home page titled by the site name (issue 18, item 6)."""

from __future__ import annotations

import html.parser
import re
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest

ORIGIN = "http://site.invalid/"
CSS_URL = re.compile(r"url\(\s*(['\"]?)([^'\")]+)\1\s*\)")
MATH_SPAN = '<span class="math'
KATEX_JS = "assets/vendor/katex/katex.min.js"
KATEX_CSS = "assets/vendor/katex/katex.min.css"
OWN_SCRIPTS = ("assets/javascripts/digest.js", "assets/javascripts/digest-search.js", KATEX_JS)


class _Refs(html.parser.HTMLParser):
    """Every href/src of a page, and its <script> and stylesheet elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.refs: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.styles: list[str] = []
        self.title: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in ("href", "src"):
            value = found.get(name)
            if value is not None:
                self.refs.append(value)
        if tag == "script" and found.get("src"):
            self.scripts.append(found)
        if tag == "link" and found.get("rel") == "stylesheet" and found.get("href"):
            self.styles.append(str(found["href"]))
        self._in_title = tag == "title" and not self.title  # the page's, not a chart's <title>

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)


def parse(page: Path) -> _Refs:
    refs = _Refs()
    refs.feed(page.read_text("utf-8"))
    return refs


def target(site: Path, page: Path, ref: str) -> Path | None:
    """The file `ref` (from `page`) names in the site, or None when it is not a file of this site."""
    base = ORIGIN + page.relative_to(site).as_posix()
    url = urljoin(base, ref)
    if not url.startswith(ORIGIN):  # another host, mailto:, data:, ...
        return None
    path = unquote(urlsplit(url).path[len(urlsplit(ORIGIN).path) :])
    found = site / path
    return found / "index.html" if path == "" or path.endswith("/") else found


@pytest.fixture(scope="module")
def pages(seed_site: Path) -> dict[Path, _Refs]:
    return {page: parse(page) for page in sorted(seed_site.rglob("*.html"))}


def test_every_reference_in_pages_and_stylesheets_resolves(seed_site: Path, pages: dict[Path, _Refs]) -> None:
    missing: set[str] = set()
    checked = 0
    for page, refs in pages.items():
        for ref in refs.refs:
            file = target(seed_site, page, ref)
            if file is not None:
                checked += 1
                if not file.is_file():
                    missing.add(f"{page.relative_to(seed_site)} -> {ref}")
    for sheet in sorted(seed_site.rglob("*.css")):
        for _, ref in CSS_URL.findall(sheet.read_text("utf-8")):
            if ref.startswith(("data:", "#")):
                continue
            file = target(seed_site, sheet, ref)
            if file is not None:
                checked += 1
                if not file.is_file():
                    missing.add(f"{sheet.relative_to(seed_site)} -> {ref}")
    assert checked > 10_000  # every page's links, scripts and styles, and the fonts of the stylesheets
    assert sorted(missing) == []


def test_katex_fonts_are_woff2_only_and_all_shipped(seed_site: Path) -> None:
    css = (seed_site / KATEX_CSS).read_text("utf-8")
    fonts = [ref for _, ref in CSS_URL.findall(css)]
    assert len(fonts) == 20
    assert all(ref.endswith(".woff2") for ref in fonts)
    assert all((seed_site / "assets/vendor/katex" / ref).is_file() for ref in fonts)


def test_katex_only_on_pages_with_math(seed_site: Path, pages: dict[Path, _Refs]) -> None:
    with_math = without_math = 0
    for page, refs in pages.items():
        has_math = MATH_SPAN in page.read_text("utf-8")
        scripts = [str(s["src"]) for s in refs.scripts]
        loads = (any(s.endswith(KATEX_JS) for s in scripts), any(h.endswith(KATEX_CSS) for h in refs.styles))
        assert loads == (has_math, has_math), page.relative_to(seed_site)
        with_math += has_math
        without_math += not has_math
    assert with_math >= 20 and without_math >= 500  # the seeds have both kinds


def test_the_projects_scripts_are_deferred(seed_site: Path, pages: dict[Path, _Refs]) -> None:
    seen = 0
    for page, refs in pages.items():
        for script in refs.scripts:
            if str(script["src"]).endswith(OWN_SCRIPTS):
                seen += 1
                assert "defer" in script, (page.relative_to(seed_site), script)
    assert seen >= 2 * len(pages) - 2  # digest.js and digest-search.js on every page but 404s without them


def test_home_page_title_is_the_site_name_and_its_first_screen_is_papers_and_topics(
    seed_site: Path, pages: dict[Path, _Refs]
) -> None:
    home = seed_site / "index.html"
    assert "".join(pages[home].title).strip() == "paper-digest"
    text = home.read_text("utf-8")
    newest = text[text.index('class="pd-home__newest"') : text.index('class="pd-home__topics"')]
    assert newest.count("<li>") == 10  # a bounded number of the newest papers...
    assert re.search(r'<a class="md-button" href="digests/[^"]+/">All 93 papers of this digest</a>', newest)
    topics = text[text.index('class="pd-home__topics"') :]
    assert topics[: topics.index("</ul>")].count("<li>") == 18  # ...and every topic, before anything else
    assert text.index("pd-home__topics") < text.index(">Recent digests</h2>")
    other = seed_site / "topics" / "index.html"
    assert "".join(pages[other].title).strip() == "Topics - paper-digest"
