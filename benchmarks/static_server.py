"""A static file server for the benchmarks: gzip as a host serves it, and a log of every file a visitor fetched."""

from __future__ import annotations

import contextlib
import email.utils
import functools
import gzip
import http.server
import io
import mimetypes
import os
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
