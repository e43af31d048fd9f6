"""Asking each API for its answer: Hugging Face daily papers, the arXiv API (paged), arXiv RSS.

Each fetcher returns a `Fetched`: the file name the answer is stored under (source and day)
and the checked answer, nothing written yet. The day in the name is the answer's own: the day
asked for (Hugging Face), the day arXiv made the answer (the feed's `<updated>`, UTC), the
day of the announcement (RSS `pubDate`); the clock's UTC date only when the answer has none.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slugify import slugify

from generator.fetch.answers import ATOM, AnswerKind, ArxivAtom, ArxivRss, InvalidAnswer, JsonList
from generator.fetch.client import Answer, Client, FetchError

log = logging.getLogger(__name__)

HF_ENDPOINT = "https://huggingface.co/api/daily_papers"
ARXIV_ENDPOINT = "https://export.arxiv.org/api/query"
RSS_ENDPOINT = "https://rss.arxiv.org/rss/"
ARXIV_INTERVAL = 3.0
"""Seconds between two requests to one host: the arXiv API's terms ask for one request every 3 s."""
ARXIV_PAGE_SIZE = 100
"""Results asked for per arXiv API request."""


@dataclass(frozen=True)
class Fetched:
    """A checked answer, ready to be saved."""

    name: str
    """The source file's name: `<source>-<YYYY-MM-DD>.<ext>`."""
    body: bytes
    """The answer as received (for a paged query, the pages' entries in one feed)."""
    kind: AnswerKind
    """What the answer is."""
    items: int
    """Papers in it; 0 is an empty day, and nothing is saved."""
    url: str
    """The (first) URL asked."""


def _utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _one_line(text: str, limit: int = 200) -> str:
    """Text from a server, safe to print: one line, control characters escaped, cut at `limit`."""
    text = " ".join(text.split())[:limit]
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def _check(answer: Answer, detail: Callable[[bytes], str | None]) -> None:
    """Fail unless the answer is a 200; say what the server said it was when it said."""
    if answer.status == 200:
        return
    said = None
    with contextlib.suppress(InvalidAnswer, ValueError, RecursionError):
        said = detail(answer.body)
    raise FetchError(f"{answer.url}: HTTP {answer.status}" + (f": {_one_line(said)}" if said else ""))


def _items(kind: AnswerKind, answer: Answer) -> int:
    try:
        return len({key for key, _ in kind.items(answer.body)})
    except InvalidAnswer as exc:
        raise FetchError(f"{answer.url}: the answer is not a {kind.name}: {exc}") from None


def _json_error(body: bytes) -> str | None:
    import json

    data: Any = json.loads(body)
    return str(data["error"]) if isinstance(data, dict) and "error" in data else None


def fetch_hf(client: Client, day: dt.date | None = None, endpoint: str | None = None) -> Fetched:
    """The Hugging Face daily papers of `day` (default: today, UTC): `hf-<day>.json`."""
    day = day or _utc_today()
    kind = JsonList()
    answer = client.get(endpoint or HF_ENDPOINT, {"date": day.isoformat()})
    _check(answer, _json_error)
    return Fetched(f"hf-{day.isoformat()}.json", answer.body, kind, _items(kind, answer), answer.url)


def _arxiv_page(kind: ArxivAtom, answer: Answer) -> Any:
    try:
        root = kind.root(answer.body)
    except InvalidAnswer as exc:
        if answer.status != 200:
            raise FetchError(f"{answer.url}: HTTP {answer.status}") from None
        raise FetchError(f"{answer.url}: the answer is not an {kind.name}: {exc}") from None
    error = kind.error(root)
    if error is not None:
        raise FetchError(f"{answer.url}: the arXiv API reports an error: {_one_line(error)}")
    _check(answer, lambda body: None)
    return root


def query_slug(query: str) -> str:
    """The query as a file-name part: `cat:cs.LG` -> `cat-cs-lg` (at most 60 characters)."""
    return slugify(query, max_length=60, word_boundary=True) or "query"


def fetch_arxiv(
    client: Client,
    query: str,
    max_results: int,
    *,
    endpoint: str | None = None,
    sort: str = "submittedDate",
    page_size: int = ARXIV_PAGE_SIZE,
) -> Fetched:
    """Up to `max_results` results of an arXiv API search, `page_size` a request (as far apart as the
    client's interval), until `max_results` or `opensearch:totalResults`; pages' duplicates dropped by id:
    `arxiv-<query slug>-<day>.xml`."""
    kind = ArxivAtom()
    url = endpoint or ARXIV_ENDPOINT
    pages: list[bytes] = []
    start, target = 0, max_results
    first_url = ""
    made: dt.date | None = None
    while start < target:
        size = min(page_size, target - start)
        params: dict[str, str | int] = {
            "search_query": query,
            "id_list": "",
            "sortBy": sort,
            "sortOrder": "descending",
            "start": start,
            "max_results": size,
        }
        answer = client.get(url, params)
        root = _arxiv_page(kind, answer)
        if not pages:
            first_url = answer.url
            total = kind.total(root)
            target = min(max_results, total) if total is not None else max_results
            made = _date(root.findtext(f"{ATOM}updated"))
        count = kind.count(root)
        if count == 0 and start > 0:
            log.warning("%s: an empty page before the end (%d of %d results); stopping here", answer.url, start, target)
            break
        pages.append(answer.body)
        start += size
        if count == 0:
            break
    body = kind.union(pages)
    items = len({key for key, _ in kind.items(body)})
    day = made or _utc_today()
    return Fetched(f"arxiv-{query_slug(query)}-{day.isoformat()}.xml", body, kind, items, first_url)


def _date(text: str | None) -> dt.date | None:
    """The UTC date of an ISO time such as `2026-04-12T22:09:27Z`, or None."""
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.astimezone(dt.UTC).date() if when.tzinfo else when.date()


def fetch_rss(client: Client, category: str, endpoint: str | None = None) -> Fetched:
    """arXiv's announcements of `category` (`cs.LG`, `cs.CL+cs.LG`): `rss-<category>-<day>.xml`."""
    kind = ArxivRss()
    answer = client.get((endpoint or RSS_ENDPOINT).rstrip("/") + "/" + category)
    _check(answer, lambda body: None)
    try:
        root = kind.root(answer.body)
    except InvalidAnswer as exc:
        raise FetchError(f"{answer.url}: the answer is not an {kind.name}: {exc}") from None
    day = None
    if published := kind.published(root):
        try:
            day = email.utils.parsedate_to_datetime(published).date()
        except (TypeError, ValueError):
            day = None
    day = day or _utc_today()
    return Fetched(f"rss-{category}-{day.isoformat()}.xml", answer.body, kind, _items(kind, answer), answer.url)
