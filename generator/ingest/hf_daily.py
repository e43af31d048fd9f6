"""Reader of Hugging Face Daily Papers answers (`GET /api/daily_papers?date=YYYY-MM-DD`).

The answer is a JSON list of items `{paper: {id, authors: [{name}], publishedAt, title,
summary, upvotes, githubRepo, ai_keywords, ...}, publishedAt, title, summary, ...}`. Taken:
`paper.id` (the arXiv id), `paper.title` (else the item's), `paper.summary` (else the item's),
`paper.authors[].name`, `paper.upvotes`, `paper.githubRepo` (an http(s) URL) and
`paper.publishedAt` (the arXiv day, metadata). The item's top-level `publishedAt` is the day
the paper was on the daily page: the appearance's date, so the file's digest has that day.
"""

from __future__ import annotations

from typing import Any

from generator.ingest import fields
from generator.models import Listing

LAYOUT = "hf-daily"


def looks_like_hf(head: bytes) -> bool:
    """True when the start of a JSON text may be a Daily Papers answer: a list that mentions a
    `paper` key early (record files have `title` at the top of each record, never `paper`)."""
    return head.lstrip().startswith(b"[") and b'"paper"' in head[:4096]


def read_hf(data: Any, maker: fields.RecordMaker) -> Listing:
    """The listing of a parsed Daily Papers answer; items that are not papers are reported and skipped."""
    if not isinstance(data, list):
        from generator.errors import SourceError

        raise SourceError(maker.path, 1, "expected a JSON list of Daily Papers items")
    for number, item in enumerate(data, start=1):
        _item(item, number, maker)
    return Listing(maker.name, maker.path, LAYOUT, tuple(maker.records))


def _item(item: Any, number: int, maker: fields.RecordMaker) -> None:
    """Read one item into `maker`."""
    paper = item.get("paper") if isinstance(item, dict) else None
    if not isinstance(paper, dict):
        maker.problem("error", None, number, "item without a `paper` object; skipped")
        return
    paper_id = fields.arxiv_id(paper.get("id"))
    if paper.get("id") is not None and paper_id is None:
        maker.problem("warning", None, number, f"paper.id is not an arXiv id; kept without one: "
                                               f"{str(paper.get('id'))[:40]!r}")  # fmt: skip
    listed = fields.iso_day(item.get("publishedAt"))
    if item.get("publishedAt") is not None and listed is None:
        maker.problem("warning", None, number, "publishedAt is not an ISO date; left undated")
    authors = paper.get("authors")
    names = [a.get("name") for a in authors if isinstance(a, dict)] if isinstance(authors, list) else []
    title = paper.get("title") if isinstance(paper.get("title"), str) else item.get("title")
    summary = paper.get("summary") if isinstance(paper.get("summary"), str) else item.get("summary")
    repo = paper.get("githubRepo")
    code_url = fields.http_url(repo)
    if repo not in (None, "") and code_url is None:
        maker.problem("warning", None, number, "paper.githubRepo is not an http(s) URL; ignored")
    maker.add(
        None,
        number,
        title,
        summary,
        arxiv_id=paper_id,
        authors=fields.clean_names(names),
        upvotes=fields.upvotes(paper.get("upvotes")),
        code_url=code_url,
        published=fields.iso_day(paper.get("publishedAt")),
        date=listed,
    )
