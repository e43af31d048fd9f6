"""Measure search latency in a real browser: seconds from typing into the header box to the first result.

Used by the benchmark harness (no test asserts a time). Drives Debian's chromium with
Playwright, cold: a fresh browser, so the time includes fetching lunr.js, the manifest and the
first index part (digest-search.js starts loading when the box gets focus, just before typing).
The selectors are parameters so that Material's own search can be timed the same way
(`input_selector=".md-search__input"`, `result_selector=".md-search-result__item"`).

    python -m generator.search_bench http://127.0.0.1:8000/ "neural scaling laws"
"""

from __future__ import annotations

import argparse
import json
import shutil

CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking")
"""Flags for chromium in containers and CI (as in tests/conftest.py)."""

_ARM = """
([resultSelector]) => {
  window.__digestFirstResult = null;
  const seen = () => {
    const hit = document.querySelector(resultSelector);
    if (hit && hit.getClientRects().length && window.__digestFirstResult === null) {
      window.__digestFirstResult = performance.now();
    }
    return window.__digestFirstResult !== null;
  };
  if (!seen()) {
    const observer = new MutationObserver(() => { if (seen()) observer.disconnect(); });
    observer.observe(document.documentElement, { childList: true, subtree: true, attributes: true });
  }
  return performance.now();
}
"""


def time_first_result(
    url: str,
    query: str,
    *,
    input_selector: str = "[data-ds-input]",
    result_selector: str = ".ds__result",
    timeout: float = 120.0,
    executable: str | None = None,
) -> float:
    """Seconds from focusing the header search box (`/`) and typing `query` to the first visible result.

    Opens `url` in a fresh headless chromium (`executable`, default `chromium` on PATH), waits
    for the page's load event, then presses `/`, types `query` and waits at most `timeout`
    seconds for an element matching `result_selector`. The clock runs in the page
    (`performance.now()`), so Playwright's own round trips are not counted.
    """
    from playwright.sync_api import sync_playwright

    chromium = executable or shutil.which("chromium")
    if chromium is None:
        raise RuntimeError("chromium is not on PATH (Debian package `chromium`)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page()
            page.goto(url, wait_until="load")
            page.locator(input_selector).first.wait_for(state="attached")
            started: float = page.evaluate(_ARM, [result_selector])
            page.keyboard.press("/")
            page.locator(input_selector).first.wait_for(state="visible")
            page.keyboard.type(query)
            page.wait_for_function("() => window.__digestFirstResult !== null", timeout=timeout * 1000)
            first: float = page.evaluate("() => window.__digestFirstResult")
            return (first - started) / 1000.0
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> None:
    """Command line: print the time to the first result for each repetition as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("url")
    parser.add_argument("query")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--input-selector", default="[data-ds-input]")
    parser.add_argument("--result-selector", default=".ds__result")
    args = parser.parse_args(argv)
    times = [
        time_first_result(
            args.url, args.query, input_selector=args.input_selector, result_selector=args.result_selector
        )
        for _ in range(args.repeat)
    ]
    print(json.dumps({"url": args.url, "query": args.query, "seconds": [round(t, 3) for t in times]}))


if __name__ == "__main__":
    main()
