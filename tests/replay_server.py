"""A test HTTP server on 127.0.0.1 that replays recorded answers and records what it was asked.

Routes match a path and the exact query parameters (in any order); each route answers with its
replies in turn, the last one again once the others are used up. A reply can break off its
body (a Content-Length larger than what is sent, then the connection closed).
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

SHARED = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
"""The real-format fixtures (`../shared/fixtures` beside the clone), read in place."""
OWN = Path(__file__).resolve().parent / "fixtures" / "fetch"
"""This project's own small fixtures for the fetch tests."""


@dataclass(frozen=True)
class Reply:
    """One recorded answer."""

    body: bytes
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    truncate: int | None = None
    """Send only this many bytes of the body (announcing all of them), then close the connection."""


@dataclass(frozen=True)
class Request:
    """One request the server received."""

    at: float
    """`time.monotonic()` when it arrived."""
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class Route:
    path: str
    query: dict[str, list[str]] | None
    replies: list[Reply]
    used: int = 0


def query_of(url: str) -> tuple[str, dict[str, list[str]]]:
    """The path and the parsed query of a URL (blank values kept, as `id_list=` is)."""
    parts = urlsplit(url)
    return parts.path, parse_qs(parts.query, keep_blank_values=True)


@dataclass
class ReplayServer:
    """Start with `with ReplayServer() as server:`; `server.url` is its address."""

    routes: list[Route] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    _httpd: http.server.ThreadingHTTPServer | None = None

    def add(self, path: str, *replies: Reply, query: dict[str, list[str]] | None = None) -> None:
        """Answer `path` (with exactly `query`, or any query when None) with `replies` in turn."""
        self.routes.append(Route(path, query, list(replies)))

    def add_url(self, url: str, *replies: Reply) -> None:
        """Answer the path and query of a recorded request URL."""
        path, query = query_of(url)
        self.add(path, *replies, query=query)

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def _reply(self, path: str, query: dict[str, list[str]]) -> Reply:
        for route in self.routes:
            if route.path == path and (route.query is None or route.query == query):
                reply = route.replies[min(route.used, len(route.replies) - 1)]
                route.used += 1
                return reply
        return Reply(b"no recorded answer for this request", 404)

    def __enter__(self) -> ReplayServer:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path, query = query_of(self.path)
                server.requests.append(Request(time.monotonic(), path, query, dict(self.headers.items())))
                reply = server._reply(path, query)
                self.send_response(reply.status)
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body if reply.truncate is None else reply.body[: reply.truncate])
                self.wfile.flush()
                if reply.truncate is not None:
                    self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()


def dead_url() -> str:
    """An address on 127.0.0.1 where nothing listens (a port just given back)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def arxiv_recordings() -> Iterator[tuple[str, Reply, str]]:
    """The real arXiv API answers of `../shared/fixtures/arxiv-api`: (request URL, reply, file name)."""
    folder = SHARED / "arxiv-api"
    for entry in json.loads((folder / "responses.json").read_text("utf-8")):
        yield entry["request"], Reply((folder / entry["file"]).read_bytes(), entry["status"]), entry["file"]
