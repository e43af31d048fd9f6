"""How one paper's appearances in several formats become one entry (used by `records.merge_records`).

Three rules, all stateless (they depend on the sources in the corpus only, never on an earlier
build), so the same sources always give the same pages:

1. **Same paper.** Beyond the existing rules (equal title and abstract, or a shared arXiv id or
   `id`), an appearance without an arXiv id (a text dump, a record file without one) is the
   paper whose arXiv appearances have the same title, ignoring case, punctuation and spacing,
   when exactly one arXiv id has that title (two arXiv papers with one title: not merged, a
   warning says so).
2. **One URL.** The page id is what the appearances *without* an arXiv id give by the old rule
   (their `id`, else the title-derived id of the earliest of them); only a paper seen with
   arXiv ids alone is `papers/<arXiv id>/`. So a paper first published from a text dump keeps
   its URL when it later arrives from arXiv or Hugging Face, as long as the dump stays in the
   corpus. (Adding a dump to a paper that was published from arXiv alone moves it to the dump's
   id: backfill old dumps before publishing their papers' arXiv appearances.)
3. **Richest metadata wins.** Each field (title, abstract, authors, categories, DOI, journal
   reference, comment, arXiv date, code link) comes from the first appearance that has it, in
   the order arXiv API, arXiv snapshot, arXiv RSS, Hugging Face, then record files and text
   dumps (`FORMAT_RANK`), and within one format in appearance order (date, source, position).
   Upvotes are the most any Hugging Face day gave. Record files and text dumps share a rank, so
   a corpus without the new formats merges exactly as before.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from generator.models import Metadata, RawRecord

FORMAT_RANK = {"arxiv-atom": 0, "arxiv-snapshot": 1, "arxiv-rss": 2, "hf-daily": 3}
"""Which format's metadata wins (lower first); every other layout ranks `OTHER_RANK`."""
OTHER_RANK = 4

_RICH_FIELDS = tuple(f.name for f in fields(Metadata) if f.name not in ("categories", "primary_category", "upvotes"))
"""The `Metadata` fields taken from the richest record that has them: all but the categories (taken
together with the primary one) and the upvotes (the most any record gave); a new field needs no entry."""


def title_links(entries: Sequence[tuple[str | None, str]]) -> tuple[list[tuple[int, int]], list[tuple[int, list[str]]]]:
    """Pairs of entry indexes to merge by title (rule 1), and the entries whose title several
    arXiv ids share (index, the ids), from each entry's (arXiv id or None, title key)."""
    first_of_id: dict[str, int] = {}
    ids_by_title: dict[str, set[str]] = defaultdict(set)
    for index, (paper_id, key) in enumerate(entries):
        if paper_id and key:
            first_of_id.setdefault(paper_id, index)
            ids_by_title[key].add(paper_id)
    links: list[tuple[int, int]] = []
    ambiguous: list[tuple[int, list[str]]] = []
    for index, (paper_id, key) in enumerate(entries):
        if paper_id or not key or key not in ids_by_title:
            continue
        ids = sorted(ids_by_title[key])
        if len(ids) == 1:
            links.append((first_of_id[ids[0]], index))
        else:
            ambiguous.append((index, ids))
    return links, ambiguous


def id_entries(group: Sequence[Any]) -> Sequence[Any]:
    """The entries that decide the page id (rule 2): those without an arXiv id, if any, else all."""
    bare = [entry for entry in group if not entry.record.arxiv_id]
    return bare or group


def by_richness(group: Sequence[Any], layouts: Sequence[str]) -> list[Any]:
    """`group` (in appearance order) sorted by format rank, appearance order kept within a rank."""
    order = sorted(range(len(group)), key=lambda i: (FORMAT_RANK.get(layouts[i], OTHER_RANK), i))
    return [group[i] for i in order]


def merged_metadata(records: Sequence[RawRecord]) -> dict[str, Any]:
    """The `Paper` fields of rule 3 from `records` sorted by richness (see `by_richness`)."""
    result: dict[str, Any] = {}
    for record in records:
        if record.categories:
            result["categories"] = record.categories
            result["primary_category"] = record.primary_category
            break
    for name in _RICH_FIELDS:
        result[name] = next((getattr(r, name) for r in records if getattr(r, name) is not None), None)
    votes = [r.upvotes for r in records if r.upvotes is not None]
    result["upvotes"] = max(votes) if votes else None
    return result
