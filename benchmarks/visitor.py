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
import email.utils
import functools
import gzip
import http.server
import io
import mimetypes
import os
import shutil
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking")
"""Flags for chromium in containers and CI (as in tests/conftest.py)."""

GZIP_LEVEL = 6
"""gzip level of the server (the usual default of nginx and of hosts that compress on the fly)."""
COMPRESSIBLE = (
    "text/",
    "application/json",
    "application/javascript",
    "application/x-javascript",
    "application/xml",
    "application/manifest+json",
    "image/svg+xml",
)
"""Content types a static host gzips (prefixes); fonts, images and Pagefind's own packed files are not."""
_EXTRA_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".bib": "text/plain",
    ".xml": "application/xml",
    ".webmanifest": "application/manifest+json",
}

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


@dataclass(frozen=True)
class Served:
    """One response of the server."""

    at: float
    """`time.monotonic()` when the request was answered."""
    path: str
    """Site-relative path of the file (or the request path when no file answered it)."""
    status: int
    bytes: int
    """Body bytes sent (gzipped size when sent gzipped)."""
    raw_bytes: int
    """The file's own size (0 when no file was sent)."""
    gzip: bool


class ServerLog:
    """The responses of one server, in order (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: list[Served] = []

    def add(self, entry: Served) -> None:
        with self._lock:
            self.entries.append(entry)

    def since(self, moment: float) -> list[Served]:
        with self._lock:
            return [e for e in self.entries if e.at >= moment]

    @property
    def last(self) -> float:
        with self._lock:
            return self.entries[-1].at if self.entries else 0.0


def compressible(content_type: str) -> bool:
    """Whether a static host would gzip a response of this content type."""
    return content_type.split(";")[0].strip().lower().startswith(COMPRESSIBLE)


def content_type(path: Path) -> str:
    kind = _EXTRA_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
    return kind or "application/octet-stream"


@functools.lru_cache(maxsize=65536)
def _gzipped(path: str, mtime_ns: int, size: int) -> bytes:
    return gzip.compress(Path(path).read_bytes(), GZIP_LEVEL, mtime=0)


def gzipped(path: Path) -> bytes:
    """The file's bytes gzipped at `GZIP_LEVEL` (cached while the file is unchanged)."""
    stat = path.stat()
    return _gzipped(str(path), stat.st_mtime_ns, stat.st_size)


class GzipHandler(http.server.SimpleHTTPRequestHandler):
    """A static host on loopback: gzip for compressible types when accepted, a log line per response."""

    server: StaticServer

    def parse_request(self) -> bool:
        self._path: Path | None = None  # the file answering this request, once `send_head` knows it
        return super().parse_request()

    def send_response(self, code: int, message: str | None = None) -> None:
        self._status, self._length, self._gzip = code, 0, False
        super().send_response(code, message)

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() == "content-length":
            self._length = int(value)
        elif keyword.lower() == "content-encoding":
            self._gzip = value == "gzip"
        super().send_header(keyword, value)

    def end_headers(self) -> None:
        # Logged before the headers go out: once a client has the response, its entry is in the log.
        path = getattr(self, "_path", None)
        body = 0 if self._status == 304 or self.command == "HEAD" else self._length
        raw = path.stat().st_size if path is not None and self._status == 200 else 0
        self.server.log.add(Served(time.monotonic(), self._rel(path), self._status, body, raw, self._gzip))
        super().end_headers()

    def _file(self) -> Path | None:
        """The file this GET answers with (index.html of a folder URL), or None."""
        url_path = urllib.parse.urlsplit(self.path).path
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            if not url_path.endswith("/"):
                return None  # the base class redirects to the slash URL
            path = path / "index.html"
        return path if path.is_file() else None

    def _rel(self, path: Path | None) -> str:
        if path is None:
            return urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
        return path.relative_to(self.directory).as_posix()

    def _not_modified(self, mtime: float) -> bool:
        since = self.headers.get("If-Modified-Since")
        if not since or self.headers.get("If-None-Match"):
            return False
        try:
            when = email.utils.parsedate_to_datetime(since)
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
        return when.timestamp() >= int(mtime)

    def send_head(self) -> Any:
        path = self._path = self._file()
        accepts = "gzip" in (self.headers.get("Accept-Encoding") or "").lower()
        kind = content_type(path) if path is not None else ""
        packed = path.with_name(path.name + ".gz") if path is not None else None
        if path is None or not accepts or not (compressible(kind) or (packed is not None and packed.is_file())):
            return super().send_head()  # as stored: redirects, 404s, 304s, files a host does not compress
        stat = path.stat()
        if self._not_modified(stat.st_mtime):
            self.send_response(304)
            self.end_headers()
            return None
        data = packed.read_bytes() if packed is not None and packed.is_file() else gzipped(path)
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Last-Modified", self.date_time_string(int(stat.st_mtime)))
        self.send_header("Vary", "Accept-Encoding")
        self.end_headers()
        return io.BytesIO(data)

    def guess_type(self, path: str | os.PathLike[str]) -> str:
        return content_type(Path(path))


class StaticServer(http.server.ThreadingHTTPServer):
    """The loopback host: one thread per connection, a log of every response, no tracebacks for
    connections a closing browser drops."""

    daemon_threads = True

    def __init__(self, site: Path) -> None:
        self.log = ServerLog()
        super().__init__(("127.0.0.1", 0), functools.partial(GzipHandler, directory=str(site)))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def serve(site: Path) -> Iterator[StaticServer]:
    """Serve `site` on 127.0.0.1 (a free port) for the duration of the block."""
    server = StaticServer(site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def summarize(entries: Sequence[Served], *, top: int = 5) -> dict[str, Any]:
    """Requests, bytes as sent and the files' own bytes of `entries`; the largest files and each folder's share."""
    by_path: dict[str, int] = {}
    by_folder: dict[str, int] = {}
    for e in entries:
        by_path[e.path] = by_path.get(e.path, 0) + e.bytes
        folder = e.path.split("/", 1)[0] if "/" in e.path else "(top level)"
        by_folder[folder] = by_folder.get(folder, 0) + e.bytes
    largest = sorted(by_path.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return {
        "requests": len(entries),
        "bytes": sum(e.bytes for e in entries),
        "raw_bytes": sum(e.raw_bytes for e in entries),
        "not_found": sorted({e.path for e in entries if e.status == 404}),
        "largest": [{"path": p, "bytes": b} for p, b in largest],
        "by_folder": dict(sorted(by_folder.items(), key=lambda kv: -kv[1])),
    }


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
