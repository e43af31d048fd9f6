"""Hostile input stays harmless: a site built from tests/fixtures/hostile/ runs none of it.

The fixture's titles, abstracts, authors and a source file name carry script tags, event
attributes, `javascript:` links, template syntax, Markdown control characters, entities,
bidi/zero-width characters, NUL, a 2,000-character title and `$` as math and as money.
The generated Markdown and the built HTML are checked as files; then chromium visits every
page and the search results, and no dialog may open, no element may carry an `on*`
attribute or a `javascript:` link, no script may be there that a clean page lacks, and every
title must show literally.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import copy_project, run_cli

from generator.ingest.readers import read_sources
from generator.text import normalise_text
from generator.website.chrome import CHROME_SCRIPT
from generator.website.escaping import split_math
from generator.website.tree import read_tree

FIXTURE = Path(__file__).parent / "fixtures" / "hostile"
HOSTILE_FILE_NAME = "2025-05-30-<img src=x onerror=alert(3)>.txt"
"""The fixture's listing is also copied under this name: file names reach pages too."""
TEMPLATE_MARKERS = ("{{ 7", "{% include", "{# c", "{% raw", "javascript:")
"""Template syntax and links that must never reach the generated Markdown's body as written."""
FORBIDDEN_TAGS = {"script", "img", "iframe", "object", "embed", "body", "base", "form", "meta", "link"}
"""Raw HTML tags that neither the templates nor the charts write into the Markdown."""


@pytest.fixture(scope="module")
def hostile_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project built from the hostile fixture only (`paper-digest build`, as a user runs it)."""
    project = copy_project(tmp_path_factory.mktemp("hostile") / "project", sources=False)
    sources = project / "content" / "sources"
    for path in FIXTURE.iterdir():
        if path.suffix in {".yaml", ".txt"}:
            shutil.copy(path, sources / path.name)
    shutil.copy(FIXTURE / "2025-05-29-hostile.txt", sources / HOSTILE_FILE_NAME)
    result = run_cli("build", "-f", str(project / "mkdocs.yml"), cwd=project)
    assert result.returncode == 0, result.stderr[-4000:]
    return project


@pytest.fixture(scope="module")
def papers(hostile_project: Path) -> list[dict[str, Any]]:
    data = json.loads((hostile_project / "site" / "papers.json").read_text("utf-8"))
    return list(data["papers"])


def fixture_titles() -> list[str]:
    listings, problems = read_sources([FIXTURE])
    assert problems == []
    return [normalise_text(record.title) for listing in listings for record in listing.records]


def literal_pieces(title: str) -> list[str]:
    """The parts of a title that must show character for character (math is typeset by KaTeX)."""
    return [piece.strip() for is_math, piece in split_math(title) if not is_math and piece.strip()]


def collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def html_pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if "assets" not in p.relative_to(site).parts)


# ------------------------------------------------------------------------------ as files


def test_every_hostile_record_becomes_a_paper(papers: list[dict[str, Any]]) -> None:
    titles = fixture_titles()
    assert sorted(p["title"] for p in papers) == sorted(titles)
    assert any(len(title) == 2000 for title in titles)
    assert all("\x00" not in t and "\u202e" not in t and "\u200b" not in t for t in titles)


def test_generated_markdown_keeps_hostile_text_inert(hostile_project: Path) -> None:
    tree = read_tree(hostile_project / ".paper-digest" / "generated")
    pages = sorted(rel for rel in tree if rel.endswith(".md"))
    assert len(pages) > 20
    for page in pages:
        text = tree[page].decode("utf-8")
        _, front, body = text.split("---\n", 2)
        meta = yaml.safe_load(front)
        for key, value in meta.items():
            if isinstance(value, str):
                assert "<" not in value and ">" not in value, (page, key, value)
        # The BibTeX block is raw HTML (Markdown leaves it alone) holding HTML-escaped text.
        prose = re.sub(r"(?s)<pre><code[^>]*>.*?</code></pre>", "", body)
        for marker in TEMPLATE_MARKERS:
            assert marker not in prose, (page, marker)
        tags = parse_tags(body)
        assert not {tag for tag, _ in tags} & FORBIDDEN_TAGS, (page, tags)
        for tag, attrs in tags:
            for name, value in attrs.items():
                assert not name.startswith("on"), (page, tag, name)
                assert not (value or "").strip().lower().startswith("javascript:"), (page, tag)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def parse_tags(markup: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every start tag in `markup` with its attributes."""
    parser = _Tags()
    parser.feed(markup)
    parser.close()
    return parser.tags


class _Page(HTMLParser):
    """Script-capable markup of one HTML page, and the text of its h1 and title."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.live: list[str] = []
        self.scripts: list[str] = []
        self.inline_scripts: list[str] = []
        self.h1 = ""
        self.title = ""
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.startswith("on"):
                self.live.append(f"<{tag} {name}={value!r}>")
            url = (value or "").strip().lower()
            if name in {"href", "src", "action", "formaction", "xlink:href"} and url.startswith(
                ("javascript:", "vbscript:", "data:text/html")
            ):
                self.live.append(f"<{tag} {name}={value!r}>")
        if tag in {"iframe", "object", "embed", "base", "frame"}:
            self.live.append(f"<{tag}>")
        if tag == "script":
            found = dict(attrs)
            self.scripts.append(found.get("src") or f"inline {found.get('type')} {found.get('id')}")
        if tag in {"h1", "title", "script"} and self._in is None:
            self._in = tag

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "h1":
            self.h1 += data
        elif self._in == "title":
            self.title += data
        elif self._in == "script":
            self.inline_scripts.append(data)


def parse_page(path: Path) -> _Page:
    parsed = _Page()
    parsed.feed(path.read_text("utf-8"))
    parsed.close()
    return parsed


def script_name(src: str) -> str:
    """A script's identity regardless of the page's depth (`../../assets/x.js` -> `assets/x.js`)."""
    return re.sub(r"^(\.\./|\./|/)+", "", src)


def test_built_html_has_no_live_markup(hostile_project: Path) -> None:
    site = hostile_project / "site"
    clean = parse_page(site / "about" / "index.html")
    # Generated pages also load the chrome they share (generator/website/chrome.py), which holds no page's text.
    # KaTeX (vendored) is loaded only by pages with math, which about/ is not.
    own_scripts = {script_name(s) for s in clean.scripts} | {CHROME_SCRIPT, "assets/vendor/katex/katex.min.js"}
    chrome = (site / CHROME_SCRIPT).read_text("utf-8")
    assert "alert" not in chrome and "7*7" not in chrome and "onerror" not in chrome
    pages = html_pages(site)
    assert len(pages) > 30
    for path in pages:
        parsed = parse_page(path)
        name = path.relative_to(site).as_posix()
        assert parsed.live == [], name
        assert {script_name(s) for s in parsed.scripts} <= own_scripts, name
        for script in parsed.inline_scripts:
            assert "alert" not in script and "7*7" not in script, name


def test_titles_show_literally_in_built_html(hostile_project: Path, papers: list[dict[str, Any]]) -> None:
    site = hostile_project / "site"
    for paper in papers:
        parsed = parse_page(site / paper["url"] / "index.html")
        heading, title = collapse(parsed.h1), collapse(parsed.title)
        for piece in literal_pieces(paper["title"]):
            assert piece in heading, (paper["id"], piece, heading[:300])
        assert paper["title"] in title, (paper["id"], title[:300])
        if "{{ 7*7 }}" in paper["title"]:
            assert "49" not in heading


def test_hostile_file_name_shows_literally(hostile_project: Path) -> None:
    site = hostile_project / "site"
    # The digest is named from its date and kind (generator/ingest/source_names.py); the file name is
    # shown, literally, only as its page's "source file" note.
    digests = {path: parse_page(path) for path in sorted((site / "digests").glob("*/index.html"))}
    named = [path for path, page in digests.items() if collapse(page.h1) == "Daily papers, May 30, 2025"]
    assert len(named) == 1
    shown = html.unescape(re.sub(r"<[^>]*>", "", named[0].read_text("utf-8")))  # the page's text, tags dropped
    assert f"source file {HOSTILE_FILE_NAME}" in collapse(shown)


# ---------------------------------------------------------------------------- in chromium

# Everything a page may say about itself, gathered in the page after its scripts have run.
INSPECT = """() => {
  const live = [];
  for (const el of document.querySelectorAll("*")) {
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      if (name.startsWith("on")) live.push(`<${el.tagName} ${attr.name}>`);
      if (["href", "src", "action", "formaction", "xlink:href"].includes(name)
          && /^\\s*(javascript|vbscript):/i.test(attr.value)) live.push(`<${el.tagName} ${name}=${attr.value}>`);
    }
  }
  for (const el of document.querySelectorAll("iframe, object, embed, frame")) live.push(`<${el.tagName}>`);
  const scripts = [...document.scripts].map(
    (s) => s.src ? new URL(s.src).pathname : `inline ${s.type} ${s.id}`);
  const inline = [...document.scripts].filter((s) => !s.src).map((s) => s.textContent);
  const links = {};
  for (const a of document.querySelectorAll("article a[href*='papers/']")) {
    const path = new URL(a.href).pathname;
    (links[path] = links[path] || []).push(a.textContent.replace(/\\s+/g, " ").trim());
  }
  const h1 = document.querySelector("article h1");
  return {live, scripts, inline, links, h1: h1 ? h1.textContent.replace(/\\s+/g, " ").trim() : ""};
}"""


@pytest.fixture(scope="module")
def hostile_url(hostile_project: Path, serve: Callable[[Path], str]) -> str:
    return serve(hostile_project / "site")


@pytest.fixture
def page(browser: Any) -> Iterator[tuple[Any, list[str], list[str]]]:
    """A fresh page with every dialog and uncaught script error recorded."""
    context = browser.new_context()
    page = context.new_page()
    dialogs: list[str] = []
    errors: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page, dialogs, errors
    context.close()


def visit(page: Any, url: str) -> dict[str, Any]:
    page.goto(url, wait_until="load")
    page.wait_for_timeout(50)  # let image errors and KaTeX run
    return dict(page.evaluate(INSPECT))


def assert_inert(found: dict[str, Any], own_scripts: set[str], where: str) -> None:
    assert found["live"] == [], where
    assert set(found["scripts"]) <= own_scripts, (where, sorted(set(found["scripts"]) - own_scripts))
    for script in found["inline"]:
        assert "alert" not in script and "7*7" not in script, where


@pytest.fixture(scope="module")
def own_scripts(browser: Any, hostile_url: str) -> set[str]:
    """The scripts of a clean page of the same site, plus lunr.js which the search loads on use, KaTeX
    (vendored), which pages with math and the search load, and the chrome generated pages share
    (generator/website/chrome.py, checked to hold no page's text above)."""
    context = browser.new_context()
    try:
        found = visit(context.new_page(), hostile_url + "about/")
    finally:
        context.close()
    assert len(found["scripts"]) >= 3
    katex = "/assets/vendor/katex/katex.min.js"
    return {*found["scripts"], "/assets/javascripts/vendor/lunr.min.js", katex, "/" + CHROME_SCRIPT}


@pytest.mark.browser
def test_pages_run_no_hostile_script_and_show_titles_literally(
    page: tuple[Any, list[str], list[str]],
    hostile_project: Path,
    hostile_url: str,
    own_scripts: set[str],
    papers: list[dict[str, Any]],
) -> None:
    browser_page, dialogs, errors = page
    site = hostile_project / "site"
    titles = {"/" + paper["url"]: paper["title"] for paper in papers}
    urls = [hostile_url + p.relative_to(site).parent.as_posix() + "/" for p in html_pages(site)]
    urls = [url.replace("/./", "/") for url in urls if not url.endswith("404.html/")]
    listed = set()
    for url in urls:
        found = visit(browser_page, url)
        assert_inert(found, own_scripts, url)
        path = "/" + url.removeprefix(hostile_url)
        if path in titles:  # a paper page: its own title as the heading
            for piece in literal_pieces(titles[path]):
                assert piece in found["h1"], (url, piece)
        for target, texts in found["links"].items():
            if target not in titles or target == path:
                continue
            listed.add(target)
            for text in texts:
                for piece in literal_pieces(titles[target]):
                    assert piece in text, (url, target, piece, text[:200])
    assert listed == set(titles), "some hostile papers are listed on no page"
    assert dialogs == []
    assert errors == []


RESULT_TAGS = {"li", "a", "div", "time", "span", "p", "mark"} | {
    *("math", "semantics", "annotation", "mrow", "mi", "mn", "mo", "mtext", "mspace", "msup", "msub"),
    *("msubsup", "mfrac", "msqrt", "mroot", "mover", "munder", "munderover", "mpadded", "mstyle"),
    *("menclose", "mtable", "mtr", "mtd", "svg", "path", "line"),
}
"""What digest-search.js builds a result from (titles and abstracts are text inside it), and what KaTeX
typesets safe math into (its HTML and MathML: digest.js renders it with `trust: false`)."""
SEARCHES = {
    "script": "<script>alert(1)</script> Script tags for theorem proving",
    "include templates": '{{ 7*7 }} {% include "x" %} {# c #} templates in theorem proving',
    "onerror listing": "<img src=x onerror=alert(2)> Listing <body onload=alert(2)> events",
    "backticks": "1995. A list-like title with `backticks` and ``double ticks``",
    "entities": "> Quote-like title with &amp;lt; and &#60;script&#62; entities",
}


@pytest.mark.browser
def test_search_results_are_inert_and_literal(
    page: tuple[Any, list[str], list[str]], hostile_project: Path, hostile_url: str, own_scripts: set[str]
) -> None:
    browser_page, dialogs, errors = page
    header = (hostile_project / "theme_overrides" / "partials" / "digest-search.html").read_text("utf-8")
    if "data-ds-input" not in header:
        pytest.skip("the header search box (data-ds-input) is not in theme_overrides yet")
    visit(browser_page, hostile_url)
    box = browser_page.locator("[data-ds-input]")
    for query, title in SEARCHES.items():
        box.click()
        box.fill("")
        box.press_sequentially(query)
        browser_page.locator(".ds__result").first.wait_for(state="visible")
        shown = [collapse(t) for t in browser_page.locator(".ds__result .ds__title").all_text_contents()]
        assert title in shown, (query, shown)
        found = dict(browser_page.evaluate(INSPECT))
        assert_inert(found, own_scripts, f"search {query!r}")
        tags = parse_tags(browser_page.locator(".ds__results").inner_html())
        assert {tag for tag, _ in tags} <= RESULT_TAGS, (query, tags)
        assert not [name for _, attrs in tags for name in attrs if name.startswith("on")], query
    assert dialogs == []
    assert errors == []
