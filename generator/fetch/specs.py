"""The `feeds` option: which feeds `paper-digest fetch` (with no source named) fetches.

In `mkdocs.yml`, under the plugin, a list with one mapping per feed, each naming exactly one
source:

    feeds:
      - hf: daily                 # Hugging Face daily papers, today's (UTC) list
      - arxiv: "cat:cs.LG"        # an arXiv API search query
        max: 200                  #   at most this many results (default 100)
        sort: submittedDate       #   submittedDate (default), lastUpdatedDate or relevance
      - rss: cs.CL                # arXiv's daily announcements of a category (cs.CL+cs.LG combines)
        endpoint: https://...     # any feed: another address for its API (a mirror, a test server)

Validated with MkDocs' config machinery: every mistake of every item is reported at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from mkdocs.config import base
from mkdocs.config import config_options as c

Kind = Literal["hf", "arxiv", "rss"]
KINDS: tuple[Kind, ...] = ("hf", "arxiv", "rss")
SORTS = ("submittedDate", "lastUpdatedDate", "relevance")
"""The arXiv API's `sortBy` values (always in descending order: newest or most relevant first)."""
DEFAULT_MAX = 100
"""Results of an arXiv query when `max` is not given."""
MAX_MAX = 10000
"""The most results one arXiv query may fetch (the API serves at most 30,000 in all, slowly)."""
CATEGORY = re.compile(r"[A-Za-z][A-Za-z-]*(?:\.[A-Za-z][A-Za-z-]*)?(?:\+[A-Za-z][A-Za-z-]*(?:\.[A-Za-z][A-Za-z-]*)?)*")
"""An arXiv category (`cs.LG`, `hep-th`), or several joined with `+`, as the RSS address takes them."""
_KEYS = {"hf", "arxiv", "rss", "max", "sort", "endpoint"}


@dataclass(frozen=True)
class FeedSpec:
    """One feed to fetch."""

    kind: Kind
    """Which API: Hugging Face daily papers, the arXiv API, arXiv RSS."""
    value: str
    """`daily` (hf), the search query (arxiv) or the category (rss)."""
    max: int = DEFAULT_MAX
    """The most results of an arXiv query."""
    sort: str = SORTS[0]
    """The arXiv query's `sortBy`."""
    endpoint: str | None = None
    """Another address for the API, or None for the public one."""

    def describe(self) -> str:
        """`kind value`, as the command line would name it."""
        return f"{self.kind} {self.value}"


def check_category(category: str) -> str | None:
    """Why `category` is not an arXiv category (or None when it is one)."""
    if CATEGORY.fullmatch(category):
        return None
    return f"{category!r} is not an arXiv category such as cs.LG or hep-th"


def check_endpoint(endpoint: str) -> str | None:
    """Why `endpoint` is not an http(s) address (or None when it is one)."""
    if re.match(r"https?://[^/\s]+", endpoint) and not any(ch.isspace() for ch in endpoint):
        return None
    return f"endpoint {endpoint!r} is not an http:// or https:// address"


def parse_feed(item: object) -> tuple[FeedSpec | None, list[str]]:
    """One item of `feeds`: the spec, or None and every problem found."""
    if not isinstance(item, dict):
        return None, [f"expected a mapping such as {{hf: daily}}, got {item!r}"]
    problems = [f"unknown key {key!r}" for key in item if key not in _KEYS]
    kinds = [key for key in KINDS if key in item]
    if len(kinds) != 1:
        problems.append(f"name exactly one of hf, arxiv, rss (found {', '.join(kinds) or 'none'})")
        return None, problems
    kind = kinds[0]
    value = item[kind]
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{kind}: expected a non-empty string, got {value!r}")
        return None, problems
    value = value.strip()
    if kind == "hf" and value != "daily":
        problems.append(f"hf: the only feed is 'daily', got {value!r}")
    if kind == "rss" and (why := check_category(value)):
        problems.append(f"rss: {why}")
    for key in ("max", "sort"):
        if key in item and kind != "arxiv":
            problems.append(f"{key!r} applies to arxiv feeds only")
    max_results = item.get("max", DEFAULT_MAX)
    if isinstance(max_results, bool) or not isinstance(max_results, int) or not 1 <= max_results <= MAX_MAX:
        problems.append(f"max: expected a whole number from 1 to {MAX_MAX}, got {max_results!r}")
    sort = item.get("sort", SORTS[0])
    if sort not in SORTS:
        problems.append(f"sort: expected one of {', '.join(SORTS)}, got {sort!r}")
    endpoint = item.get("endpoint")
    if endpoint is not None and (not isinstance(endpoint, str) or (why := check_endpoint(endpoint))):
        problems.append(why if isinstance(endpoint, str) and why else f"endpoint: expected a string, got {endpoint!r}")
    if problems:
        return None, problems
    return FeedSpec(kind, value, max_results, sort, endpoint), []


class FeedsOption(c.BaseConfigOption[list[FeedSpec]]):
    """The `feeds` list (see the module docstring); unset is no feeds."""

    def __init__(self) -> None:
        super().__init__()
        self.default = []

    def run_validation(self, value: object) -> list[FeedSpec]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise base.ValidationError(f"expected a list of feeds such as [{{hf: daily}}], got {value!r}")
        specs: list[FeedSpec] = []
        problems: list[str] = []
        for number, item in enumerate(value, 1):
            spec, found = parse_feed(item)
            problems += [f"feed {number}: {problem}" for problem in found]
            if spec is not None:
                specs.append(spec)
        if problems:
            raise base.ValidationError("; ".join(problems))
        return specs
