"""Browser tests of how search results look and behave (issue 18, item 3): math typeset as on the
pages, dates as pages write them, undated papers saying so, a reason when no shown word is
highlighted, plain links without nested interactive roles, and the box an icon on a phone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import checked_page

pytestmark = pytest.mark.browser

MATH_TITLE = "Simulating the two-dimensional $t-J$ model at finite doping with neural quantum states"
"""A seed title with math (content/sources/)."""
UNDATED_TITLE = "A Solvable Model of Neural Scaling Laws"
"""A seed title from a trending listing, which has no date."""
DATED_TITLE = "Mamo: a Mathematical Modeling Benchmark with Solvers"
"""A seed title from the daily listing of May 29, 2025."""


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh 1280x800 page; fails the test on any uncaught script error."""
    with checked_page(browser, viewport={"width": 1280, "height": 800}) as made:
        yield made


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A fresh 390x844 page (a phone)."""
    with checked_page(browser, viewport={"width": 390, "height": 844}, has_touch=True) as made:
        yield made


def search(page: Any, text: str) -> None:
    """Type `text` into the (open) box and wait until the results answer it and every file is in."""
    box = page.locator("[data-ds-input]")
    box.fill(text)
    page.wait_for_function(
        "() => { const root = document.querySelector('[data-ds-root]');"
        " return root.getAttribute('data-ds-query') === root.querySelector('[data-ds-input]').value"
        " && root.getAttribute('data-ds-state') === 'ready'; }"
    )
    page.locator(".ds__result").first.wait_for(state="visible")


def result(page: Any, title_start: str) -> Any:
    """The shown result whose title starts with `title_start`."""
    return page.locator(".ds__result").filter(has=page.locator(".ds__title", has_text=title_start)).first


def test_math_in_results_is_typeset_and_katex_loads_only_then(page: Any, site_url: str) -> None:
    page.goto(site_url + "about/")  # a page without math: no KaTeX
    assert page.evaluate("typeof katex") == "undefined"
    assert page.locator("link[href$='katex.min.css']").count() == 0
    page.locator("[data-ds-input]").click()
    search(page, "mamo modeling benchmark solvers")
    assert page.locator(".ds__results .math").count() == 0
    assert page.evaluate("typeof katex") == "undefined"  # no math in these results: still none
    search(page, "t-J model finite doping")
    first = result(page, "Simulating the two-dimensional")
    first.locator(".katex").first.wait_for(state="attached")
    assert first.locator(".ds__title .katex").count() == 1
    assert first.locator(".ds__title .math").get_attribute("data-rendered") == "1"
    assert "$" not in first.locator(".ds__title .katex-html").text_content()
    assert page.locator("link[href$='katex.min.css']").count() == 1


def test_dates_read_as_on_pages_and_undated_papers_say_so(page: Any, site_url: str) -> None:
    page.goto(site_url)
    page.locator("[data-ds-input]").click()
    search(page, DATED_TITLE.lower())
    when = result(page, "Mamo").locator(".ds__when")
    assert when.text_content() == "May 29, 2025"
    assert when.get_attribute("datetime") == "2025-05-29"
    search(page, UNDATED_TITLE.lower())
    assert result(page, UNDATED_TITLE).locator(".ds__when").text_content() == "Undated"


def test_a_result_without_a_highlighted_word_says_why_it_matched(page: Any, site_url: str) -> None:
    page.goto(site_url)
    page.locator("[data-ds-input]").click()
    search(page, "curation")  # a word of a topic's name: papers listed under it match by it
    rows = page.locator(".ds__result").evaluate_all(
        """items => items.map(item => ({
            title: item.querySelectorAll('.ds__title mark, .ds__snippet mark').length,
            topic: item.querySelectorAll('.ds__topic mark').length,
            why: (item.querySelector('.ds__why') || {}).textContent || null,
        }))"""
    )
    assert len(rows) == 10
    for row in rows:
        if row["title"]:
            assert row["why"] is None, row
        elif row["topic"]:
            assert row["why"] == "matched topic", row
        else:
            assert row["why"] == "matched further in the abstract", row
    whys = [row["why"] for row in rows if row["why"]]
    assert "matched topic" in whys and "matched further in the abstract" in whys  # both, in the seeds


def test_results_are_plain_links_and_arrows_move_the_focus(page: Any, site_url: str) -> None:
    page.goto(site_url)
    page.locator("[data-ds-input]").click()
    search(page, "language models")
    roles = page.locator("[data-ds-panel]").evaluate(
        "panel => [...panel.querySelectorAll('[role]')].map(e => e.getAttribute('role'))"
    )
    assert roles == []  # no listbox/option around the links
    assert page.locator(".ds__result > a.ds__link").count() == page.locator(".ds__result").count() == 10
    assert page.locator(".ds__result a").count() == 10  # one link a result, nothing interactive inside it
    box = page.locator("[data-ds-input]")
    box.press("ArrowDown")
    box.page.keyboard.press("ArrowDown")
    focused = page.evaluate("document.activeElement.closest('.ds__result').getAttribute('data-ds-index')")
    assert focused == "1"
    assert page.locator(".ds__result--active").get_attribute("data-ds-index") == "1"
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    assert page.evaluate("document.activeElement.hasAttribute('data-ds-input')")
    page.keyboard.press("ArrowDown")
    href = page.evaluate("document.activeElement.href")
    page.keyboard.press("Enter")
    page.wait_for_url(href)


def test_on_a_phone_the_box_is_an_icon_that_opens_it(phone: Any, site_url: str) -> None:
    phone.goto(site_url)
    toggle = phone.locator("[data-ds-toggle]")
    assert toggle.is_visible() and phone.locator("[data-ds-input]").is_hidden()
    assert toggle.get_attribute("aria-expanded") == "false"
    name = phone.locator(".md-header__topic .md-ellipsis").first
    box = name.bounding_box()
    assert name.evaluate("el => el.scrollWidth <= el.clientWidth")  # the site name is not cut short
    assert box["width"] >= 100
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    assert phone.evaluate("document.activeElement.hasAttribute('data-ds-input')")
    bar = phone.locator(".ds__bar").bounding_box()
    assert bar["width"] >= 360  # opened over the header, nearly the screen's width
    search(phone, "spin glass")
    assert phone.locator(".ds__panel").bounding_box()["width"] >= 360
    phone.keyboard.press("Escape")
    assert phone.locator("[data-ds-input]").is_hidden() and toggle.is_visible()
    assert re.fullmatch(r"false", toggle.get_attribute("aria-expanded"))
