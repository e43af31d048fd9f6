"""Browser tests of the header search (digest-search.js) on the built seeds site, in chromium."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

SEED_TITLE = "A Solvable Model of Neural Scaling Laws"
"""A title from content/sources/000_*.txt."""
OTHER_SEED_TITLE = "Quantum Spin Glass in the Two-Dimensional Disordered Heisenberg Model"
"""The start of another seed title, searched for from a paper page (a deeper URL)."""


def fetch_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def search_site(site_url: str) -> str:
    """The seeds site, checked to load our search script (mkdocs.yml `extra_javascript`)."""
    with urllib.request.urlopen(site_url, timeout=10) as response:
        home = response.read().decode("utf-8")
    if "digest-search.js" not in home or "data-ds-root" not in home:
        pytest.fail(
            "the seeds site does not load the search: theme_overrides/main.html (or mkdocs.yml extra_javascript) "
            "must load assets/javascripts/digest-search.js and assets/stylesheets/digest-search.css"
        )
    return site_url


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; fails the test on any uncaught script error."""
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == []


def search(page: Any, text: str) -> None:
    box = page.locator("[data-ds-input]")
    box.click()
    box.fill("")
    box.press_sequentially(text)
    answered(page)
    page.locator(".ds__result").first.wait_for(state="visible")


def answered(page: Any) -> None:
    """Wait until the shown results answer the text now in the box."""
    page.wait_for_function(
        "() => { const root = document.querySelector('[data-ds-root]');"
        " return root.getAttribute('data-ds-query') === root.querySelector('[data-ds-input]').value; }"
    )


def wait_all_parts(page: Any) -> None:
    """Wait until every index part is loaded and merged into the results."""
    page.wait_for_selector('[data-ds-root][data-ds-state="ready"]', state="attached")


def test_title_words_find_the_paper_and_enter_opens_it(page: Any, search_site: str) -> None:
    page.goto(search_site)
    search(page, "solvable model neural scal")  # last word still being typed: a prefix
    wait_all_parts(page)
    first = page.locator(".ds__result").first
    assert first.locator(".ds__title").text_content() == SEED_TITLE
    assert first.locator("mark").count() >= 4  # matched words highlighted
    href = first.locator("a").get_attribute("href")
    assert href.startswith(search_site + "papers/")
    page.locator("[data-ds-input]").press("Enter")
    page.wait_for_url(href)
    expect(page.locator("h1").first).to_contain_text(SEED_TITLE)
    expect(page).to_have_title(re.compile(re.escape(SEED_TITLE)))

    # From the paper page (two levels down) links still resolve against the site root.
    search(page, OTHER_SEED_TITLE.lower())
    wait_all_parts(page)
    first = page.locator(".ds__result").first
    assert first.locator(".ds__title").text_content().startswith(OTHER_SEED_TITLE)
    other = first.locator("a").get_attribute("href")
    assert other.startswith(search_site + "papers/")
    first.locator("a").click()
    page.wait_for_url(other)
    expect(page.locator("h1").first).to_contain_text(OTHER_SEED_TITLE)


def test_arrows_move_and_escape_closes(page: Any, search_site: str) -> None:
    page.goto(search_site)
    search(page, "language models")
    wait_all_parts(page)
    box = page.locator("[data-ds-input]")
    box.press("ArrowDown")
    box.press("ArrowDown")
    selected = page.locator('.ds__result[aria-selected="true"]')
    assert selected.count() == 1
    assert selected.get_attribute("data-ds-index") == "1"
    box.press("ArrowUp")
    assert selected.get_attribute("data-ds-index") == "0"
    box.press("Escape")
    assert page.locator("[data-ds-panel]").is_hidden()


def test_user_syntax_does_not_break_the_query(page: Any, search_site: str) -> None:
    page.goto(search_site)
    # lunr's query syntax characters are only separators here: these are four plain words.
    search(page, "neural~ +scaling^ laws: -solvable*")
    wait_all_parts(page)
    assert page.locator(".ds__result .ds__title").first.text_content() == SEED_TITLE


def test_topic_filter_narrows_to_that_topic(page: Any, search_site: str) -> None:
    manifest = fetch_json(search_site + "search/manifest.json")
    stores = [fetch_json(search_site + part["docs"]) for part in manifest["parts"]]
    papers = [doc for store in stores for doc in store]
    matching = [doc for doc in papers if "model" in (doc[1] + " " + doc[4]).lower()]
    # A topic held by some, not all, of the papers matching "model".
    counts: dict[str, int] = {}
    for doc in matching:
        for slug in doc[3]:
            counts[slug] = counts.get(slug, 0) + 1
    slug = min((s for s, n in counts.items() if 0 < n < len(matching)), key=lambda s: (-counts[s], s))
    name = dict(map(tuple, manifest["topics"]))[slug]
    topic_urls = {search_site + doc[0] for doc in papers if slug in doc[3]}
    dates = {search_site + doc[0]: doc[2] for doc in papers}

    page.goto(search_site)
    search(page, "model")
    wait_all_parts(page)
    before = page.locator(".ds__status").text_content()
    page.locator("[data-ds-topic]").select_option(slug)
    page.wait_for_function(f"() => document.querySelector('[data-ds-status]').textContent !== {json.dumps(before)}")
    answered(page)
    results = page.locator(".ds__result")
    assert 0 < results.count() < len(matching)
    for i in range(results.count()):
        result = results.nth(i)
        assert result.locator("a").get_attribute("href") in topic_urls
        assert name in result.locator(".ds__topic").all_text_contents()
        href = result.locator("a").get_attribute("href")
        shown = result.locator("time").all_text_contents()
        assert shown == ([dates[href]] if dates[href] else [])  # the date, when the paper has one

    # With no words at all the filter alone lists that topic's papers.
    page.locator("[data-ds-input]").fill("")
    answered(page)
    hrefs = set(page.locator(".ds__result a").evaluate_all("links => links.map(a => a.href)"))
    assert hrefs and hrefs <= topic_urls


def test_slash_and_s_focus_the_box(page: Any, search_site: str) -> None:
    page.goto(search_site)
    box = page.locator("[data-ds-input]")
    assert box.is_visible()
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.hasAttribute('data-ds-input')")
    assert box.input_value() == ""  # the key itself is not typed into the box
    page.keyboard.press("Escape")
    assert not page.evaluate("document.activeElement.hasAttribute('data-ds-input')")
    page.keyboard.press("s")
    assert page.evaluate("document.activeElement.hasAttribute('data-ds-input')")


def test_untrusted_text_is_never_markup(page: Any, search_site: str) -> None:
    page.goto(search_site)
    search(page, "model")
    wait_all_parts(page)
    # Only our own elements inside results: titles, topics and snippets are text nodes and <mark>s.
    tags = page.locator(".ds__results").evaluate(
        "list => [...new Set([...list.querySelectorAll('*')].map(e => e.tagName.toLowerCase()))].sort()"
    )
    assert set(tags) <= {"li", "a", "div", "time", "span", "p", "mark"}


def test_date_range_narrows_to_those_days(page: Any, search_site: str) -> None:
    manifest = fetch_json(search_site + "search/manifest.json")
    stores = [fetch_json(search_site + part["docs"]) for part in manifest["parts"]]
    dated = [doc[2] for store in stores for doc in store if doc[2] and "model" in doc[1].lower()]
    assert dated, "the seeds have dated listings"
    last = max(dated)
    page.goto(search_site)
    search(page, "model")
    wait_all_parts(page)
    total = page.locator(".ds__result").count()
    page.locator("[data-ds-from]").fill(last)
    page.locator("[data-ds-to]").fill(last)
    page.locator("[data-ds-to]").dispatch_event("change")
    answered(page)
    dates = page.locator(".ds__result time").all_text_contents()
    assert dates and len(dates) == page.locator(".ds__result").count() <= total
    assert set(dates) == {last}


def test_title_chunks_answer_before_the_month_parts(page: Any, search_site: str) -> None:
    """With every month part unreachable, the title chunks alone still find a paper by its title."""
    manifest = fetch_json(search_site + "search/manifest.json")
    assert sum(chunk["count"] for chunk in manifest["title_parts"]) == manifest["count"]
    month_files = {search_site + part[key] for part in manifest["parts"] for key in ("index", "docs")}
    page.route(lambda url: url in month_files, lambda route: route.abort())
    page.goto(search_site)
    search(page, "solvable model neural scal")
    wait_all_parts(page)  # the month parts failed; the title chunks loaded
    first = page.locator(".ds__result").first
    assert first.locator(".ds__title").text_content() == SEED_TITLE
    assert first.locator(".ds__title mark").count() >= 4
    assert first.locator(".ds__snippet").count() == 0  # the excerpt lives in the month part
    href = first.locator("a").get_attribute("href")
    assert href.startswith(search_site + "papers/")
    # Filters alone list papers from the title chunks too.
    slug = manifest["topics"][0][0]
    page.locator("[data-ds-input]").fill("")
    page.locator("[data-ds-topic]").select_option(slug)
    answered(page)
    expect(page.locator(".ds__result").first).to_be_visible()


def test_month_part_result_replaces_the_title_only_one(page: Any, search_site: str) -> None:
    page.goto(search_site)
    search(page, "solvable model neural scal")
    wait_all_parts(page)
    results = page.locator(".ds__result")
    titles = results.locator(".ds__title").all_text_contents()
    assert titles.count(SEED_TITLE) == 1  # listed once, not once per part
    assert results.first.locator(".ds__snippet").count() == 1  # the full result, with its excerpt
