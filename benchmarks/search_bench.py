"""Measure search in a real browser: time to the first result and the bytes a query fetches.

Used by the benchmark harnesses (no test asserts a time). Drives Debian's chromium with
Playwright, cold: a fresh browser context, so the time includes fetching lunr.js, the manifest
and the index pieces (digest-search.js starts loading when the box gets focus, just before
typing). The selectors are parameters so that Material's own search can be timed the same way
(`input_selector=".md-search__input"`, `result_selector=".md-search-result__item"`).

- `time_first_result(url, query)`: seconds from pressing `/` (right after the page's load
  event) and typing `query` to the first visible result.
- `serve_site(site)`: a loopback HTTP server for a built site that gzips responses for clients
  that accept it, as static hosts do (so an emulated slow link carries the gzipped bytes).
- `measure_visit(url, site, queries)`: one visit typing each query in turn (the first right
  after the load event), with per query the time to the first result, to the expected paper
  being the first result, and the requests made (paths, raw and gzip bytes), optionally over an
  emulated link (`network=(megabits per second, latency ms)`).

    python -m benchmarks.search_bench http://127.0.0.1:8000/ "neural scaling laws"
    python -m benchmarks.search_bench --site site/ "language models" "graph neural" --network 10,40
"""

from __future__ import annotations

import argparse
import functools
import http.server
import io
import json
import shutil
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.static_server import gzipped

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

_ARM_VISIT = """
([resultSelector, target, text]) => {
  const box = document.querySelector('[data-ds-root]');
  const input = document.querySelector('[data-ds-input]');
  const clock = {
    start: performance.now(), typed: null, any: null, first: null, firstHref: null, target: null, changed: 0,
  };
  window.__digestClock = clock;
  const check = () => {
    const hit = document.querySelector(resultSelector);
    if (!hit || !hit.getClientRects().length) return;
    const now = performance.now();
    if (clock.any === null) clock.any = now;
    const link = hit.querySelector('a') || hit.closest('a');
    const href = link ? link.getAttribute('href') || '' : '';
    if (box && box.getAttribute('data-ds-query') !== text) return;  // results of a text typed on the way
    if (clock.first === null) { clock.first = now; clock.firstHref = href; }
    else if (href !== clock.firstHref) { clock.changed += 1; clock.firstHref = href; }
    if (target && clock.target === null && href.endsWith(target)) clock.target = now;
  };
  if (window.__digestObserver) window.__digestObserver.disconnect();
  const observer = new MutationObserver(check);
  observer.observe(document.documentElement, { childList: true, subtree: true, attributes: true });
  window.__digestObserver = observer;
  if (window.__digestTyped) input.removeEventListener('input', window.__digestTyped);
  window.__digestTyped = () => { clock.typed = performance.now(); };
  input.addEventListener('input', window.__digestTyped);
  return clock.start;
}
"""

_SETTLED = """
() => {
  const box = document.querySelector('[data-ds-root]');
  const input = document.querySelector('[data-ds-input]');
  return box.getAttribute('data-ds-state') === 'ready' && box.getAttribute('data-ds-query') === input.value;
}
"""


def _chromium(executable: str | None) -> str:
    chromium = executable or shutil.which("chromium")
    if chromium is None:
        raise RuntimeError("chromium is not on PATH (Debian package `chromium`)")
    return chromium


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

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(executable), args=list(CHROMIUM_ARGS))
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


class _GzipHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files as they are, gzipped (`static_server.gzipped`) for clients that accept gzip; no log lines."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def send_head(self) -> Any:
        path = Path(self.translate_path(self.path))
        if path.is_dir() and self.path.split("?", 1)[0].endswith("/"):
            path = path / "index.html"
        if "gzip" not in (self.headers.get("Accept-Encoding") or "") or not path.is_file():
            return super().send_head()  # redirects, listings, 404s and clients without gzip
        data = gzipped(path)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        return io.BytesIO(data)


class _QuietServer(http.server.ThreadingHTTPServer):
    """Closing a browser mid-response is expected here: no traceback for a dropped connection."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def serve_site(site: Path, *, compress: bool = True) -> Iterator[str]:
    """Serve `site` on 127.0.0.1 (gzipping responses when `compress`); yields its base URL."""
    handler_class = _GzipHandler if compress else http.server.SimpleHTTPRequestHandler
    handler = functools.partial(handler_class, directory=str(site))
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class Typed:
    """One query of a visit: the text typed and, optionally, the url (site-relative) of the paper expected first."""

    text: str
    target: str | None = None


def file_of(site: Path, base_url: str, url: str) -> Path | None:
    """The file of `site` that serves `url` (under `base_url`), or None."""
    if not url.startswith(base_url):
        return None
    rel = urllib.parse.unquote(urllib.parse.urlsplit(url).path)[len(urllib.parse.urlsplit(base_url).path) :]
    path = site / rel
    if rel == "" or rel.endswith("/"):
        path = path / "index.html"
    return path if path.is_file() else None


def measure_visit(
    url: str,
    site: Path,
    queries: Sequence[Typed],
    *,
    network: tuple[float, float] | None = None,
    timeout: float = 120.0,
    executable: str | None = None,
    browser: Any = None,
    paste: bool = False,
) -> list[dict[str, Any]]:
    """One cold visit of `url` typing each of `queries` in turn; per query, times and the files fetched.

    The first query is typed right after the page's load event (`/` then the text), like a
    visitor who starts at once; the next ones replace the box's text once the previous one has
    settled (the box's `data-ds-state` is `ready` for the typed text). Per query, in seconds
    from the first key: `typed_s` (the last key's input event), `any_s` (the first visible
    result, perhaps for a text typed on the way), `first_s` (the first visible result for the
    whole text: the box's `data-ds-query` is that text), `target_s` (the expected paper shown
    first), `changed` (times the first result for the whole text changed after it appeared),
    `settled_s`; `rank_ms` (the page's ranking time); and `fetched`, the requests made from the
    first key until it settled (path, raw bytes and gzip bytes of the served file, start and end
    in seconds), summed in `requests`, `bytes` and `gzip_bytes`. `network` emulates a link of
    that many megabits per second and that latency (milliseconds) each way. With `paste`, each
    text arrives in one input event (as pasted) instead of key by key.
    """
    from playwright.sync_api import sync_playwright

    def run(browser: Any) -> list[dict[str, Any]]:
        context = browser.new_context()
        try:
            page = context.new_page()
            if network is not None:
                cdp = context.new_cdp_session(page)
                cdp.send("Network.enable")
                rate = network[0] * 1e6 / 8
                cdp.send(
                    "Network.emulateNetworkConditions",
                    {"offline": False, "latency": network[1], "downloadThroughput": rate, "uploadThroughput": rate},
                )
            requests: list[tuple[float, str]] = []
            finished: dict[str, float] = {}
            page.on("request", lambda request: requests.append((time.perf_counter(), request.url)))
            page.on("requestfinished", lambda request: finished.setdefault(request.url, time.perf_counter()))
            page.goto(url, wait_until="load")
            page.locator("[data-ds-input]").first.wait_for(state="attached")
            out = []
            for n, query in enumerate(queries):
                mark = len(requests)
                started = page.evaluate(_ARM_VISIT, [".ds__result", query.target or "", query.text])
                typed = time.perf_counter()
                if n == 0:
                    page.keyboard.press("/")
                else:
                    page.keyboard.press("Control+A")
                if paste:
                    page.keyboard.insert_text(query.text)
                else:
                    page.keyboard.type(query.text)
                page.wait_for_function(_SETTLED, timeout=timeout * 1000)
                settled = page.evaluate("() => performance.now()")
                page.wait_for_timeout(100)  # a request started as it settled is counted too
                clock = page.evaluate("() => window.__digestClock")
                fetched: list[dict[str, Any]] = []
                for when, request_url in requests[mark:]:
                    path = file_of(site, url, request_url)
                    if path is None:
                        continue
                    end = finished.get(request_url)
                    fetched.append(
                        {
                            "path": path.relative_to(site).as_posix(),
                            "bytes": path.stat().st_size,
                            "gzip_bytes": len(gzipped(path)),
                            "start_s": round(when - typed, 3),
                            "end_s": None if end is None else round(end - typed, 3),
                        }
                    )

                def since(value: float | None, started: float = started) -> float | None:
                    return None if value is None else round((value - started) / 1000, 3)

                out.append(
                    {
                        "text": query.text,
                        "target": query.target,
                        "typed_s": since(clock["typed"]),
                        "any_s": since(clock["any"]),
                        "first_s": since(clock["first"]),
                        "target_s": since(clock["target"]),
                        "changed": clock["changed"],
                        "settled_s": since(settled),
                        "results": page.locator(".ds__result").count(),
                        "rank_ms": page.locator("[data-ds-root]").get_attribute("data-ds-rank-ms"),
                        "requests": len(fetched),
                        "bytes": sum(f["bytes"] for f in fetched),
                        "gzip_bytes": sum(f["gzip_bytes"] for f in fetched),
                        "fetched": fetched,
                    }
                )
            return out
        finally:
            context.close()

    if browser is not None:
        return run(browser)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=_chromium(executable), args=list(CHROMIUM_ARGS))
        try:
            return run(launched)
        finally:
            launched.close()


def main(argv: list[str] | None = None) -> None:
    """Command line: time to the first result of a query (`URL QUERY`), or measure a visit of a built site."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("args", nargs="+", help="URL QUERY, or with --site the queries of one visit")
    parser.add_argument("--site", type=Path, help="measure a visit of this built site, served on loopback")
    parser.add_argument("--network", help="emulated link: megabits per second,latency ms (e.g. 10,40)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--input-selector", default="[data-ds-input]")
    parser.add_argument("--result-selector", default=".ds__result")
    args = parser.parse_args(argv)
    if args.site is None:
        if len(args.args) != 2:
            parser.error("expected URL QUERY (or --site SITE QUERY...)")
        url, query = args.args
        times = [
            time_first_result(url, query, input_selector=args.input_selector, result_selector=args.result_selector)
            for _ in range(args.repeat)
        ]
        print(json.dumps({"url": url, "query": query, "seconds": [round(t, 3) for t in times]}))
        return
    network = None
    if args.network:
        rate, latency = (float(v) for v in args.network.split(","))
        network = (rate, latency)
    with serve_site(args.site) as url:
        visit = measure_visit(url, args.site, [Typed(text) for text in args.args], network=network)
    print(json.dumps(visit, indent=1))


if __name__ == "__main__":
    main()
