"""Math that cannot hurt (issue 19 item 2): `$...$` in an untrusted title or abstract reaches
KaTeX only when it is short, shallow and uses no command that paints outside its line.

Fast tests check `generator.website.escaping`'s limits (MATH_MAX_LENGTH, MATH_MAX_DEPTH,
MATH_DENIED_COMMANDS) and that digest.js repeats them. Browser tests build a site whose papers
carry math nested 200 deep, `\\frac` and `\\sqrt` 150 deep, `\\rule{4000px}{4000px}`,
`\\colorbox` and `\\Huge`, open every page in chromium, and check that no tab crashes, that the
hostile math shows as literal text and that the one ordinary formula is typeset within a few
lines; a hand-written page then feeds the same math to digest.js directly (as a page built
before the limits would), which must refuse it too, and digest.css must clip allowed but tall
math to about three lines.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, copy_project, run_cli

from generator.website.escaping import (
    MATH_DENIED_COMMANDS,
    MATH_MAX_DEPTH,
    MATH_MAX_LENGTH,
    _escape_plain,
    escape_text,
    math_is_safe,
    split_math,
)

DIGEST_JS = ROOT / "theme_overrides" / "assets" / "javascripts" / "digest.js"


def nested(opening: str, middle: str, closing: str, depth: int) -> str:
    return opening * depth + middle + closing * depth


DEEP_SUBSCRIPTS = nested("x_{", "x", "}", 200)
"""803 bytes with its `$`s: the title that crashed a visitor's tab."""
DEEP_FRAC = nested(r"\frac{", "1", "}{2}", 150)
DEEP_SQRT = nested(r"\sqrt{", "x", "}", 150)

HOSTILE = {
    "deep-subscripts": f"Deep subscripts ${DEEP_SUBSCRIPTS}$ for theorem proving",
    "deep-frac": f"Deep fractions ${DEEP_FRAC}$ for theorem proving",
    "deep-sqrt": f"Deep roots ${DEEP_SQRT}$ for theorem proving",
    "rule": r"A rule $\rule{4000px}{4000px}$ that covers the page",
    "colorbox": r"A banner $\colorbox{red}{\text{Your session expired: log in again}}$ in red",
    "huge": r"Shouting $\Huge X$ in a title",
}
"""Paper id -> title whose math must show as literal text."""
ORDINARY = {"ordinary": "Sorting in $O(n^2)$ time, or better"}
"""Paper id -> title whose math KaTeX typesets."""


# ------------------------------------------------------------------------- escaping limits


def is_math(text: str) -> bool:
    return 'class="math' in escape_text(text)


def test_the_tab_crashing_title_is_literal_text() -> None:
    title = f"${DEEP_SUBSCRIPTS}$"
    assert len(title.encode()) == 803
    assert escape_text(title) == _escape_plain(title)
    assert split_math(f"a {title} b") == [(False, f"a {title} b")]


@pytest.mark.parametrize("tex", [DEEP_FRAC, DEEP_SQRT, nested(r"\left(", "x", r"\right)", 20)])
def test_deep_fractions_and_roots_are_literal_text(tex: str) -> None:
    assert not math_is_safe(tex)
    assert escape_text(f"Title ${tex}$ end") == _escape_plain(f"Title ${tex}$ end")


@pytest.mark.parametrize(
    ("opening", "closing"),
    [
        ("x_{", "}"),
        (r"\frac{1}{", "}"),
        (r"\sqrt{", "}"),
        (r"\left(", r"\right)"),
        (r"\sqrt[", "]{x}"),
        (r"\xrightarrow[", "]{f}"),
    ],
)
def test_nesting_deeper_than_the_bound_is_refused(opening: str, closing: str) -> None:
    """A short piece (so the length bound is not what refuses it) one level too deep."""
    assert math_is_safe(nested(opening, "x", closing, MATH_MAX_DEPTH))
    assert is_math(f"${nested(opening, 'x', closing, MATH_MAX_DEPTH)}$")
    assert not math_is_safe(nested(opening, "x", closing, MATH_MAX_DEPTH + 1))
    assert not is_math(f"${nested(opening, 'x', closing, MATH_MAX_DEPTH + 1)}$")


def test_escaped_braces_and_balanced_groups_side_by_side_are_not_depth() -> None:
    assert math_is_safe(r"\{" * 40)
    assert math_is_safe("{a}" * 40)
    assert math_is_safe(r"\xi[0,1) " * 12)  # a bracket that is no optional argument opens nothing
    assert math_is_safe("}" * 20 + "{x}")  # stray closers (a KaTeX error) do not lower the bound
    assert not math_is_safe("}" * 20 + nested("{", "x", "}", MATH_MAX_DEPTH + 1))


def test_longer_than_the_bound_is_refused() -> None:
    assert MATH_MAX_LENGTH == 300
    assert is_math("$" + "x" * MATH_MAX_LENGTH + "$")
    assert not is_math("$" + "x" * (MATH_MAX_LENGTH + 1) + "$")
    assert not is_math("$$" + "x" * (MATH_MAX_LENGTH + 1) + "$$")


@pytest.mark.parametrize("command", sorted(MATH_DENIED_COMMANDS))
def test_each_denied_command_makes_the_piece_literal(command: str) -> None:
    text = f"Title ${command}{{2em}}{{X}} y$ and $z^2$"
    assert (
        escape_text(text)
        == _escape_plain(f"Title ${command}{{2em}}{{X}} y$ and ") + '<span class="math">z&#94;2</span>'
    )
    display = f"$${command} x$$"
    assert escape_text(display) == _escape_plain(display)


def test_the_reported_commands_are_denied() -> None:
    reported = r"\rule \colorbox \fcolorbox \Huge \huge \LARGE \Large \large \htmlStyle \htmlClass \href \url"
    more = r"\vrule \hrule \kern \hskip \mkern \raisebox \boxed"
    assert set((reported + " " + more).split()) <= MATH_DENIED_COMMANDS


@pytest.mark.parametrize("tex", [r"\@firstoftwo{a}{b}", r"\html@mathml{a}{b}", r"\df@tag"])
def test_internal_commands_are_refused(tex: str) -> None:
    assert not math_is_safe(tex)


@pytest.mark.parametrize(
    "tex",
    [
        "O(n^2)",
        r"\frac{a}{b}",
        r"\mathcal{O}(\sqrt{n}\log n)",
        r"e^{-2 K (p_{comp} - 0.5)^2}",
        r"\left(\frac{1}{2}\right)^{k}",
        r"\sqrt[3]{x}",
        r"\mathbb{R}^d \times \mathfrak{g}",
        r"a \neq b \not\in c \coloneqq d",
        r"\small x \normalsize y",
        r"\hugeness \rules \colorful \ending",  # names that only start like denied ones
        r"\{x\} \, \quad \! x",
    ],
)
def test_ordinary_math_stays_math(tex: str) -> None:
    assert math_is_safe(tex)
    assert escape_text(f"${tex}$") == f'<span class="math">{_escape_plain(tex)}</span>'


def test_refused_math_joins_the_text_around_it() -> None:
    assert split_math(r"a $\Huge x$ b $y$ c") == [(False, r"a $\Huge x$ b "), (True, "$y$"), (False, " c")]
    assert split_math(r"$\rule{1em}{1em}$") == [(False, r"$\rule{1em}{1em}$")]


def test_digest_js_applies_the_same_limits() -> None:
    """digest.js repeats the limits for pages built before them: its numbers and list match."""
    script = DIGEST_JS.read_text("utf-8")
    assert re.search(r"var MATH_MAX_LENGTH = (\d+);", script)[1] == str(MATH_MAX_LENGTH)  # type: ignore[index]
    assert re.search(r"var MATH_MAX_DEPTH = (\d+);", script)[1] == str(MATH_MAX_DEPTH)  # type: ignore[index]
    block = re.search(r"var DENIED = new Set\(\((.*?)\)\.split", script, re.DOTALL)
    assert block is not None
    names = "".join(json.loads(literal) for literal in re.findall(r'"(?:[^"\\]|\\.)*"', block[1])).split()
    assert {"\\" + name for name in names} == MATH_DENIED_COMMANDS
    for option in ("trust: false", 'strict: "ignore"', "maxSize: 1,", "maxExpand: 1000,", "throwOnError: false"):
        assert option in script, option


# ------------------------------------------------------------------------------- in chromium


@pytest.fixture(scope="module")
def math_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose only source is a JSON record file of the hostile and ordinary titles."""
    project = copy_project(tmp_path_factory.mktemp("math") / "project", sources=False)
    records = [
        {"id": key, "date": "2025-06-02", "title": title, "abstract": f"The abstract repeats it: {title}."}
        for key, title in {**HOSTILE, **ORDINARY}.items()
    ]
    (project / "content" / "sources" / "2025-06-02-math.json").write_text(json.dumps(records), "utf-8")
    result = run_cli("build", "-f", str(project / "mkdocs.yml"), cwd=project)
    assert result.returncode == 0, result.stderr[-4000:]
    return project


@pytest.fixture(scope="module")
def math_url(math_project: Path, serve: Callable[[Path], str]) -> str:
    return serve(math_project / "site")


@pytest.fixture(scope="module")
def paper_urls(math_project: Path) -> dict[str, str]:
    """Title -> path of its paper page (relative to the site root)."""
    papers = json.loads((math_project / "site" / "papers.json").read_text("utf-8"))["papers"]
    return {paper["title"]: paper["url"] for paper in papers}


@pytest.fixture
def page(browser: Any) -> Iterator[tuple[Any, list[str]]]:
    """A fresh 1280x800 page; its crashes and uncaught script errors are recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    problems: list[str] = []
    page.on("crash", lambda _page: problems.append("crash"))
    page.on("pageerror", lambda error: problems.append(str(error)))
    yield page, problems
    context.close()


MEASURE = """() => {
  const lineHeight = (el) => {
    const block = el.closest("h1, h2, h3, p, li, div, td") || document.body;
    const style = getComputedStyle(block);
    const value = parseFloat(style.lineHeight);
    return Number.isNaN(value) ? 1.2 * parseFloat(style.fontSize) : value;
  };
  const katex = [...document.querySelectorAll(".katex")].map((el) => {
    const range = document.createRange();
    range.selectNodeContents(el.querySelector(".katex-html") || el);
    const box = range.getBoundingClientRect();
    return {height: box.height, width: box.width, line: lineHeight(el), text: el.textContent.slice(0, 80)};
  });
  const links = {};
  for (const a of document.querySelectorAll("article a[href*='papers/']")) {
    const path = new URL(a.href).pathname;
    (links[path] = links[path] || []).push({text: a.textContent, katex: a.querySelectorAll(".katex").length});
  }
  const h1 = document.querySelector("article h1");
  return {
    katex, links, viewport: window.innerWidth,
    h1: h1 ? h1.textContent : "", h1Katex: h1 ? h1.querySelectorAll(".katex").length : 0,
    articleKatex: document.querySelectorAll("article .katex").length,
    scrollWidth: document.documentElement.scrollWidth,
    errors: document.querySelectorAll(".katex-error").length,
  };
}"""


def visit(page: Any, url: str) -> dict[str, Any]:
    page.goto(url, wait_until="load")
    page.wait_for_function("() => document.readyState === 'complete'")
    page.wait_for_timeout(100)  # let digest.js typeset
    assert page.evaluate("1 + 1") == 2, f"{url}: the page no longer answers"
    return dict(page.evaluate(MEASURE))


def assert_math_fits(found: dict[str, Any], where: str) -> None:
    for box in found["katex"]:
        assert box["height"] <= 3 * box["line"], (where, box)
        assert box["width"] <= found["viewport"], (where, box)
    assert found["scrollWidth"] <= found["viewport"], (where, "the page scrolls sideways")
    assert found["errors"] == 0, where


@pytest.mark.browser
@pytest.mark.slow
def test_home_page_lists_hostile_math_as_text_and_typesets_the_ordinary(
    page: tuple[Any, list[str]], math_url: str, paper_urls: dict[str, str]
) -> None:
    browser_page, problems = page
    found = visit(browser_page, math_url)
    assert_math_fits(found, "home")
    listed = found["links"]
    for title in HOSTILE.values():
        path = "/" + paper_urls[title]
        assert path in listed, (title[:40], sorted(listed))
        for link in listed[path]:
            assert link["katex"] == 0, title[:40]
            assert " ".join(title.split()) in " ".join(link["text"].split()), (title[:40], link["text"][:120])
    for title in ORDINARY.values():
        links = listed["/" + paper_urls[title]]
        assert all(link["katex"] == 1 for link in links), links
        assert all("O(n2)" in link["text"] and "$" not in link["text"] for link in links), links
    assert found["katex"], "no math typeset on the home page"
    assert all(box["text"].startswith("O(n") for box in found["katex"]), found["katex"]
    assert problems == []


@pytest.mark.browser
@pytest.mark.slow
def test_paper_pages_show_hostile_math_literally_and_stay_alive(
    page: tuple[Any, list[str]], math_url: str, paper_urls: dict[str, str]
) -> None:
    browser_page, problems = page
    for title in HOSTILE.values():
        url = math_url + paper_urls[title]
        found = visit(browser_page, url)
        assert_math_fits(found, url)
        assert found["articleKatex"] == 0, url
        assert " ".join(title.split()) in " ".join(found["h1"].split()), (url, found["h1"][:120])
    for title in ORDINARY.values():
        url = math_url + paper_urls[title]
        found = visit(browser_page, url)
        assert_math_fits(found, url)
        assert found["h1Katex"] == 1, url
        assert "$" not in found["h1"], url
    assert problems == []


GATE_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8">
<link rel="stylesheet" href="../assets/vendor/katex/katex.min.css">
<link rel="stylesheet" href="../assets/stylesheets/digest.css">
</head><body><article class="md-typeset" style="font-size: 16px; line-height: 1.6">
{spans}
</article>
<script src="../assets/vendor/katex/katex.min.js"></script>
<script src="../assets/javascripts/digest.js"></script>
</body></html>
"""
"""A page with math spans written straight into it, as a page built without the limits had."""
TALL_BUT_ALLOWED = nested(r"\displaystyle\frac{1}{", "2", "}", MATH_MAX_DEPTH)
"""Eight full-size fractions deep: allowed, about eight lines tall, so digest.css clips it."""


@pytest.mark.browser
@pytest.mark.slow
def test_digest_js_refuses_what_escaping_would_and_css_clips_tall_math(
    page: tuple[Any, list[str]], math_project: Path, math_url: str
) -> None:
    pieces = {
        "deep-subscripts": DEEP_SUBSCRIPTS,
        "deep-frac": DEEP_FRAC,
        "deep-sqrt": DEEP_SQRT,
        "rule": r"\rule{4000px}{4000px}",
        "colorbox": r"\colorbox{red}{\text{Your session expired}}",
        "huge": r"\Huge X",
        "kern": r"\kern-30em FAKE",
        "href": r"\href{https://example.org}{x}",
        "short-deep": nested("x_{", "x", "}", MATH_MAX_DEPTH + 1),
        "ordinary": "O(n^2)",
        "builtins": r"a \neq b \not\in c \coloneqq d",
        "tall": TALL_BUT_ALLOWED,
    }
    spans = "\n".join(
        f'<p>Before <span class="math" id="{key}">{html.escape(tex)}</span> after.</p>' for key, tex in pieces.items()
    )
    gate = math_project / "site" / "math-gate"
    gate.mkdir(exist_ok=True)
    (gate / "index.html").write_text(GATE_PAGE.format(spans=spans), "utf-8")
    browser_page, problems = page
    browser_page.goto(math_url + "math-gate/", wait_until="load")
    browser_page.wait_for_timeout(100)
    assert browser_page.evaluate("1 + 1") == 2
    state = browser_page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll("span.math")].map((el) => {
          const bases = [...el.querySelectorAll(".katex-html > .base")].map((b) => b.getBoundingClientRect());
          return [el.id, {
            rendered: el.dataset.rendered, katex: el.querySelectorAll(".katex").length,
            errors: el.querySelectorAll(".katex-error").length, text: el.textContent,
            tallest: Math.max(0, ...bases.map((b) => b.height)),
            line: parseFloat(getComputedStyle(el.closest("p")).lineHeight),
          }];
        }))"""
    )
    for key, tex in pieces.items():
        if key in {"ordinary", "builtins", "tall"}:
            assert state[key]["rendered"] == "1" and state[key]["katex"] == 1, (key, state[key])
            assert state[key]["errors"] == 0, (key, state[key])
            assert state[key]["tallest"] <= 3.2 * state[key]["line"], (key, state[key])
        else:
            assert state[key]["rendered"] == "literal", (key, state[key]["rendered"])
            assert state[key]["katex"] == 0, key
            assert state[key]["text"] == f"${tex}$", key
    assert state["tall"]["tallest"] > 2 * state["tall"]["line"], "the tall fraction should need clipping"
    assert problems == []
