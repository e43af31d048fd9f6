"""A polite HTTP client for the fetch command: one GET at a time, throttled, retried, bounded.

Every request carries a User-Agent naming the project, its version and its URL; requests to
one host are spaced at least `interval` seconds apart, measured from the end of the previous
answer (the arXiv API asks for one request every three seconds); a 429, a 5xx or a broken
connection (refused, reset, timed out, a body shorter than its Content-Length) is retried with
exponential backoff, honouring the server's `Retry-After`; an answer larger than
`max_bytes` is refused while it arrives. Any other status is handed back to the caller, who
knows what that API's error answers look like. Failures are `FetchError`s with one line
that names the URL.
"""

from __future__ import annotations

import email.utils
import importlib.metadata
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
import tenacity

from generator.errors import DigestError

log = logging.getLogger(__name__)

PROJECT_URL = "https://github.com/paper-digest/paper-digest"
"""Where the project lives, named in the User-Agent so an API's operators can see who asks."""
MAX_ANSWER_BYTES = 64 * 2**20
"""The largest answer accepted: the size of the largest source file the readers read."""
MAX_RETRY_AFTER = 600.0
"""A server that asks to wait longer than this (seconds) makes the fetch fail instead."""
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
"""Statuses worth asking again for (rate limited, or the server or a proxy in trouble)."""


class FetchError(DigestError):
    """A fetch that failed: the message is one line, naming what was asked for."""


def user_agent() -> str:
    """`paper-digest/<version> (+<project URL>)`, the version from the installed package."""
    try:
        version = importlib.metadata.version("paper-digest")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return f"paper-digest/{version} (+{PROJECT_URL})"


@dataclass(frozen=True)
class Politeness:
    """How a client paces and retries its requests; tests pass small numbers."""

    interval: float = 0.0
    """Seconds between the end of one answer and the next request to the same host."""
    timeout: float = 30.0
    """Seconds to connect, and seconds to wait for each piece of the answer."""
    attempts: int = 5
    """Requests in all for one URL (the first and the retries)."""
    backoff: float = 2.0
    """The first retry waits this long, each further one twice as long (at most `max_backoff`)."""
    max_backoff: float = 60.0
    """The longest wait between retries when the server gives no `Retry-After`."""
    max_bytes: int = MAX_ANSWER_BYTES
    """Answers larger than this are refused."""


@dataclass(frozen=True)
class Answer:
    """What a server answered: its final status and body."""

    url: str
    """The URL asked for, with its query."""
    status: int
    """The HTTP status."""
    body: bytes
    """The whole body, as received."""


class _Retry(Exception):
    """A failure worth retrying; `after` is the server's Retry-After in seconds, if it gave one."""

    def __init__(self, message: str, after: float | None = None) -> None:
        super().__init__(message)
        self.after = after


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """The wait a `Retry-After` header asks for, in seconds: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass
class Client:
    """Fetches URLs politely (see the module docstring); one per run, shared by every feed."""

    politeness: Politeness = field(default_factory=Politeness)
    """The pacing and retry settings."""
    sleep: Callable[[float], None] = time.sleep
    """How to wait (tests record the waits instead)."""
    clock: Callable[[], float] = time.monotonic
    """The clock the interval is measured on."""
    _session: requests.Session = field(default_factory=requests.Session, repr=False)
    _last: dict[str, float] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._session.headers["User-Agent"] = user_agent()

    def close(self) -> None:
        """Close the connections kept open."""
        self._session.close()

    def get(self, url: str, params: Mapping[str, str | int] | None = None) -> Answer:
        """GET `url` (with `params`), paced and retried as the politeness settings say."""
        full = requests.Request("GET", url, params=dict(params or {})).prepare().url or url
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(max(1, self.politeness.attempts)),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(_Retry),
            sleep=self.sleep,
            before_sleep=lambda state: log.warning(
                "%s: %s; retrying in %.1f s",
                full,
                state.outcome.exception() if state.outcome else "failed",
                state.upcoming_sleep,
            ),
            reraise=True,
        )
        try:
            return retrying(self._attempt, full)
        except _Retry as exc:
            attempts = self.politeness.attempts
            raise FetchError(f"{full}: {exc} (gave up after {attempts} attempt{'s' * (attempts != 1)})") from None

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retry) and exc.after is not None:
            return exc.after
        backoff = self.politeness.backoff * 2 ** (state.attempt_number - 1)
        return float(min(backoff, self.politeness.max_backoff))

    def _attempt(self, url: str) -> Answer:
        host = urlsplit(url).netloc
        if host in self._last:
            ahead = self._last[host] + self.politeness.interval - self.clock()
            if ahead > 0:
                self.sleep(ahead)
        try:
            return self._request(url)
        finally:
            self._last[host] = self.clock()

    def _request(self, url: str) -> Answer:
        timeout = self.politeness.timeout
        try:
            with self._session.get(url, timeout=(timeout, timeout), stream=True, allow_redirects=True) as response:
                if response.status_code in RETRY_STATUSES:
                    status = f"HTTP {response.status_code} {response.reason or ''}".rstrip()
                    after = retry_after_seconds(response.headers.get("Retry-After"))
                    if after is not None and after > MAX_RETRY_AFTER:
                        raise FetchError(f"{url}: {status}; the server asks to wait {after:.0f} s, too long")
                    raise _Retry(status, after)
                body = self._read(response)
                return Answer(url, response.status_code, body)
        except requests.exceptions.Timeout as exc:
            raise _Retry(f"timed out ({type(exc).__name__})") from None
        except requests.exceptions.ConnectionError as exc:
            raise _Retry(f"connection failed ({_reason(exc)})") from None
        except requests.exceptions.ChunkedEncodingError as exc:
            raise _Retry(f"the answer broke off ({_reason(exc)})") from None
        except requests.exceptions.RequestException as exc:
            raise FetchError(f"{url}: {_reason(exc)}") from None

    def _read(self, response: requests.Response) -> bytes:
        limit = self.politeness.max_bytes
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > limit:
            raise FetchError(f"{response.url}: the answer is {int(length)} bytes, over the limit of {limit}")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(chunk_size=65536):
            size += len(chunk)
            if size > limit:
                raise FetchError(f"{response.url}: the answer is over the limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests error (`[Errno 111] Connection refused`), as one short line."""
    seen = {id(exc)}
    while (inner := exc.__cause__ or exc.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        exc = inner
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:200]
