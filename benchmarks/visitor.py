"""What a visitor fetches and waits for: a static server that gzips like a host, and search timed in chromium.

- `serve(site)`: a threaded static server on 127.0.0.1 that answers as a static host does:
  compressible types (HTML, CSS, JS, JSON, XML, SVG, text) gzipped when the client accepts gzip
  (`Content-Encoding: gzip`; a precompressed `X.gz` beside `X` is sent as it is), everything
  else as stored. Every response is logged (`Served`: when, path, status, body bytes as sent,
  the file's own bytes, gzipped or not), so the bytes a query costs are what went over the wire.
- `SearchUI`: the selectors of a search box, in one place (`DIGEST_UI` for the site's own search,
  `ANCHOR_UI` for the Pagefind page the benchmark adds).
- `measure_search`: one query in a fresh browser context (empty cache): the page loaded, then
  `/` pressed and the query entered in one input event (as pasted), either as soon as the load
  event fired (`settled=False`) or once the page has had no request in flight for a second;
  optionally over an emulated link (`Link`, through the Chrome DevTools Protocol). Reports the
  seconds to the first visible result and to the expected title being the first result, whether
  it is first once the query has settled (no request in flight and the list unchanged for a
  moment), and the requests and bytes served from pressing `/` until then.
- `measure_visit`: several queries typed one after another on one page (bytes in total).

Times come from the page's own clock (`performance.now()`), so Playwright's round trips are
not counted; bytes come from the server's log. Nothing here asserts a time.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks.static_server import StaticServer, summarize

CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking")
"""Flags for chromium in containers and CI (as in tests/conftest.py)."""


QUIET_SECONDS = 0.5
"""A query has settled once no request was in flight and its result list unchanged for this long (loopback)."""
QUIET_SECONDS_SLOW = 1.0
"""The same over an emulated slow link."""
SETTLE_SECONDS = 1.0
"""A page has settled once no request was in flight for this long after its load event."""
SETTLE_TIMEOUT = 30.0
NO_RESULT_SECONDS = 5.0
"""Quiet time after which a query with no result at all is given up on (before its timeout)."""
CLEAR_TIMEOUT = 10.0


@dataclass(frozen=True)
class SearchUI:
    """Where a search box lives on a page: what is measured, in one place."""

    name: str
    page: str
    """Site-relative path of the page the visit starts on."""
    input: str
    """The text box (CSS selector)."""
    results: str
    """One result (CSS selector); a visible match counts as a result shown."""
    focus_key: str = "/"
    """Key that puts the cursor in the box from anywhere on the page."""


DIGEST_UI = SearchUI("digest", "", "[data-ds-input]", "[data-ds-results] li")
"""The site's own search (theme_overrides/partials/digest-search.html, digest-search.js), from the home page."""
ANCHOR_UI = SearchUI("pagefind", "pagefind_anchor/bench.html", "[data-ds-input]", "[data-ds-results] li")
"""Pagefind's JS API on the benchmark's page (`ANCHOR_PAGE`), with the same selectors."""


@dataclass(frozen=True)
class Link:
    """An emulated network link (Chrome DevTools Protocol `Network.emulateNetworkConditions`)."""

    megabits: float
    latency_ms: float

    @property
    def bytes_per_second(self) -> float:
        return self.megabits * 1e6 / 8

    @property
    def label(self) -> str:
        return f"{self.megabits:g} Mbps / {self.latency_ms:g} ms"


SLOW_LINK = Link(10, 40)


@dataclass(frozen=True)
class Query:
    """A query typed into the box; `expected` is a title that should come first (or None)."""

    name: str
    text: str
    expected: str | None = None


# ---------------------------------------------------------------- the server


# ---------------------------------------------------------------- the browser

_ARM = """
([results, expected]) => {
  const norm = (s) => (s || '').toLowerCase().replace(/\\s+/g, ' ').trim();
  const want = norm(expected);
  const clock = { start: performance.now(), first: null, target: null, last: performance.now(),
                  firstText: null, count: 0, changes: 0, isTarget: false };
  const check = () => {
    const items = Array.from(document.querySelectorAll(results)).filter((e) => e.getClientRects().length);
    const text = items.length ? norm(items[0].textContent) : null;
    if (items.length !== clock.count || text !== clock.firstText) {
      clock.last = performance.now();
      if (clock.first !== null && text !== clock.firstText) clock.changes += 1;
      clock.count = items.length;
      clock.firstText = text;
    }
    if (items.length && clock.first === null) clock.first = performance.now();
    clock.isTarget = Boolean(want && text !== null && text.includes(want));
    if (clock.isTarget && clock.target === null) clock.target = performance.now();
  };
  if (window.__hbObserver) window.__hbObserver.disconnect();
  const observer = new MutationObserver(check);
  observer.observe(document.documentElement, { childList: true, subtree: true, characterData: true, attributes: true });
  window.__hbObserver = observer;
  window.__hbClock = clock;
  check();
  return clock.first !== null;
}
"""

_CLOCK = "() => Object.assign({ now: performance.now() }, window.__hbClock)"
_CLEARED = "([results]) => !Array.from(document.querySelectorAll(results)).some((e) => e.getClientRects().length)"


class _InFlight:
    """Requests of a browser context not yet finished, and when the last one started or ended."""

    def __init__(self, context: Any) -> None:
        self.count = 0
        self.last = time.monotonic()
        context.on("request", self._start)
        context.on("requestfinished", self._end)
        context.on("requestfailed", self._end)

    def _start(self, request: Any) -> None:
        self.count += 1
        self.last = time.monotonic()

    def _end(self, request: Any) -> None:
        self.count = max(0, self.count - 1)
        self.last = time.monotonic()


def chromium_path(executable: str | None = None) -> str:
    chromium = executable or shutil.which("chromium")
    if chromium is None:
        raise RuntimeError("chromium is not on PATH (Debian package `chromium`)")
    return chromium


@contextlib.contextmanager
def browser(executable: str | None = None) -> Iterator[Any]:
    """Headless chromium (Debian's, through Playwright) for the duration of the block."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(executable), args=list(CHROMIUM_ARGS))
        try:
            yield launched
        finally:
            launched.close()


def _open(chromium: Any, server: StaticServer, ui: SearchUI, link: Link | None, settled: bool) -> tuple[Any, Any, Any]:
    context = chromium.new_context()
    page = context.new_page()
    if link is not None:
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": link.latency_ms,
                "downloadThroughput": link.bytes_per_second,
                "uploadThroughput": link.bytes_per_second,
            },
        )
    flight = _InFlight(context)
    page.goto(server.url + ui.page, wait_until="load")
    page.locator(ui.input).first.wait_for(state="attached")
    if settled:
        _wait_quiet(page, flight, server, SETTLE_SECONDS, SETTLE_TIMEOUT)
    return context, page, flight


def _wait_quiet(page: Any, flight: _InFlight, server: StaticServer, quiet: float, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page.wait_for_timeout(50)
        now = time.monotonic()
        if flight.count == 0 and now - max(flight.last, server.log.last) >= quiet:
            return True
    return False


def _enter(
    page: Any,
    flight: _InFlight,
    server: StaticServer,
    ui: SearchUI,
    query: Query,
    *,
    focus: bool,
    quiet: float,
    timeout: float,
) -> dict[str, Any]:
    """Enter `query` into the box and wait until it has settled; its times, result and bytes."""
    stale = page.evaluate(_ARM, [ui.results, query.expected or ""])  # results left from before: no timing
    mark = time.monotonic()
    if focus:
        page.keyboard.press(ui.focus_key)
    page.keyboard.insert_text(query.text)
    deadline = mark + timeout
    settled = False
    clock: dict[str, Any] = {}
    while True:
        page.wait_for_timeout(50)
        clock = page.evaluate(_CLOCK)
        now = time.monotonic()
        idle = min(now - max(flight.last, server.log.last), (clock["now"] - clock["last"]) / 1000)
        if flight.count == 0 and idle >= (quiet if clock["first"] is not None else NO_RESULT_SECONDS):
            settled = True
            break
        if now >= deadline:
            break

    def since(value: float | None) -> float | None:
        return None if value is None else round((value - clock["start"]) / 1000, 3)

    entries = server.log.since(mark)
    first_s = since(clock["first"])
    before_first = [e for e in entries if first_s is not None and e.at <= mark + first_s]
    out: dict[str, Any] = {
        "query": query.name,
        "text": query.text,
        "first_s": first_s,
        "settled": settled,
        "settled_s": round(time.monotonic() - mark, 2),
        "results": clock["count"],
        "first_changes": clock["changes"],
        "first_result": (clock["firstText"] or "")[:160],
        "bytes_before_first": sum(e.bytes for e in before_first),
        "stale_results": bool(stale),
        **summarize(entries),
    }
    if query.expected:
        out["target_s"] = since(clock["target"])
        out["expected_first"] = bool(clock["isTarget"])
    return out


def measure_search(
    chromium: Any,
    server: StaticServer,
    ui: SearchUI,
    query: Query,
    *,
    settled: bool,
    link: Link | None = None,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """One query on a fresh page in a fresh context (see the module docstring)."""
    context, page, flight = _open(chromium, server, ui, link, settled)
    try:
        quiet = QUIET_SECONDS if link is None else QUIET_SECONDS_SLOW
        result = _enter(page, flight, server, ui, query, focus=True, quiet=quiet, timeout=timeout)
    finally:
        context.close()
    return {"page": "settled" if settled else "cold", "link": link.label if link else "loopback", **result}


def measure_visit(
    chromium: Any,
    server: StaticServer,
    ui: SearchUI,
    queries: Sequence[Query],
    *,
    link: Link | None = None,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """`queries` typed one after another on one settled page (the box emptied in between); bytes in total."""
    context, page, flight = _open(chromium, server, ui, link, True)
    quiet = QUIET_SECONDS if link is None else QUIET_SECONDS_SLOW
    runs = []
    try:
        for n, query in enumerate(queries):
            if n:
                page.keyboard.press("Control+A")
                page.keyboard.press("Backspace")
                with contextlib.suppress(Exception):  # a list that is not emptied: the run below says so
                    page.wait_for_function(_CLEARED, arg=[ui.results], timeout=CLEAR_TIMEOUT * 1000)
            runs.append(_enter(page, flight, server, ui, query, focus=n == 0, quiet=quiet, timeout=timeout))
    finally:
        context.close()
    return {
        "link": link.label if link else "loopback",
        "queries": runs,
        "requests": sum(r["requests"] for r in runs),
        "bytes": sum(r["bytes"] for r in runs),
        "raw_bytes": sum(r["raw_bytes"] for r in runs),
    }


@dataclass
class SearchPlan:
    """What `measure_ui` runs: the queries on each kind of page and link, and the visit."""

    queries: list[Query]
    visit: list[Query]
    links: list[Link | None] = field(default_factory=lambda: [None, SLOW_LINK])
    timeout: float = 120.0
    repeat: int = 1
    """Fresh pages per query, page and link; the run with the median first-result time is reported."""


def median_run(tries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Of repeated runs of one query, the one with the median first-result time (no result counts as
    slowest), with every try's times, and `expected_first` only when the expected title came first in all."""
    if len(tries) == 1:
        return dict(tries[0])
    ranked = sorted(tries, key=lambda r: float("inf") if r["first_s"] is None else r["first_s"])
    run = dict(ranked[(len(ranked) - 1) // 2], repeats=len(tries), first_s_all=[r["first_s"] for r in tries])
    if "expected_first" in run:
        run["expected_first"] = all(r["expected_first"] for r in tries)
        run["target_s_all"] = [r["target_s"] for r in tries]
    return run


def measure_ui(chromium: Any, server: StaticServer, ui: SearchUI, plan: SearchPlan, say: Any = None) -> dict[str, Any]:
    """Every query of `plan` cold and settled on each link, then the visit; one unmeasured visit first
    (fills the server's gzip cache and the OS file cache, as a host's would be)."""
    measure_visit(chromium, server, ui, plan.visit, timeout=plan.timeout)
    runs = []
    for link in plan.links:
        for settled in (False, True):
            for query in plan.queries:
                tries = [
                    measure_search(chromium, server, ui, query, settled=settled, link=link, timeout=plan.timeout)
                    for _ in range(max(1, plan.repeat))
                ]
                run = median_run(tries)
                runs.append(run)
                if say is not None:
                    say(_line(ui, run))
    visit = measure_visit(chromium, server, ui, plan.visit, timeout=plan.timeout)
    if say is not None:
        say(
            f"    {ui.name}: visit of {len(plan.visit)} queries: {visit['bytes'] / 1e3:,.0f} KB "
            f"in {visit['requests']} requests"
        )
    return {"ui": asdict(ui), "runs": runs, "visit": visit}


def _line(ui: SearchUI, run: dict[str, Any]) -> str:
    first = "none" if run["first_s"] is None else f"{run['first_s']:.2f} s"
    text = (
        f"    {ui.name}: {run['query']}, {run['page']} page, {run['link']}: first result {first}, "
        f"{run['bytes'] / 1e3:,.0f} KB in {run['requests']} requests"
    )
    if "expected_first" in run:
        text += f", expected first: {run['expected_first']}"
    return text if run["settled"] else text + " (not settled at the timeout)"
