"""axe-core over the built seeds site in chromium (issue 18, item 4): no serious or critical
violation on the home page, the topics index, a topic page, a paper page and the open search
panel with results, in the light and the dark scheme, on a desktop and a phone screen.

axe-core is an npm package: scripts/test.sh installs it into node_modules/ (git-ignored)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import launch_chromium

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
VIEWS = {
    "home": "",
    "topics": "topics/",
    "topic": "topics/theorem-proving/",
    "paper": "papers/simulating-the-twodimensional-tj-model-at-finite-doping-with-3d4408b0/",  # with math
    "search": "?q=quantum%20spin",
}
SCHEMES = ("default", "slate")
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.is_file():
        pytest.fail("axe-core is not installed: run scripts/test.sh (npm install into node_modules/)")
    return AXE.read_text("utf-8")


@pytest.fixture(scope="module")
def contexts() -> Iterator[dict[str, Any]]:
    """One browser context per screen size, for the whole module, in a chromium of this module's own.

    Not conftest's session-wide `browser`: that would keep Playwright's event loop running from this
    module (first in alphabetical order) on, and tests that start Playwright themselves
    (test_bench_hosting) cannot while it runs."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        made = {name: browser.new_context(viewport={"width": w, "height": h}) for name, (w, h) in SIZES.items()}
        yield made
        browser.close()


def violations(page: Any, axe_source: str) -> list[str]:
    """The serious and critical axe-core violations of the page as it is now, one line each."""
    page.add_script_tag(content=axe_source)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {node['target']} {node['failureSummary'].splitlines()[-1].strip()}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
        for node in v["nodes"]
    ]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("view", VIEWS)
def test_no_serious_axe_violation(
    view: str, scheme: str, size: str, contexts: dict[str, Any], site_url: str, axe_source: str
) -> None:
    page = contexts[size].new_page()
    try:
        response = page.goto(site_url + VIEWS[view])
        assert response is not None and response.status == 200
        # Colours are measured as they end up: no transition may be half-way when axe reads them.
        page.add_style_tag(content="*, *::before, *::after { transition: none !important; animation: none !important }")
        # Material's palette toggle sets this attribute; so does the saved choice on load.
        page.evaluate(f"document.body.setAttribute('data-md-color-scheme', '{scheme}')")
        page.wait_for_load_state("networkidle")  # KaTeX and the chrome script, where the page loads them
        page.evaluate("document.fonts.ready.then(() => true)")
        if view == "search":
            page.locator(".ds__result").first.wait_for(state="visible")  # ?q= opens the panel with results
            page.wait_for_selector('[data-ds-root][data-ds-state="ready"]', state="attached")
            assert page.locator("[data-ds-panel]").is_visible()
            assert page.locator(".ds__result mark").count() > 0
        assert page.evaluate("document.body.getAttribute('data-md-color-scheme')") == scheme
        assert violations(page, axe_source) == []
    finally:
        page.close()
