"""Page keys: a page is reused when the maker and the inputs it is made from are unchanged.

The oracle is the page's made spec (template, context, front matter): whenever a change of the
corpus changes a page's spec, its key must change too (else the page cache would carry over a
stale page); and a change that no page shows keeps every key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from pathlib import Path
from typing import Any

import pytest

from generator.build import load_corpus
from generator.config import BuildOptions
from generator.models import Corpus, Paper, Similarity, SimilarPaper, Topics
from generator.runtime.parallel import IN_PROCESS
from generator.website.page_cache import PageCache
from generator.website.page_model import InputDigests, LazyPage, PageSpec, content_key
from generator.website.pages import PageBuilder, make_day_page, make_digest_page
from generator.website.writers import bib_file

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    options = BuildOptions(
        sources=(ROOT / "content" / "sources",),
        cache_dir=tmp_path_factory.mktemp("cache"),
        topics_file=ROOT / "content" / "topics.yml",
    )
    made, _ = load_corpus(options, parallel=IN_PROCESS)
    return made


def pages_of(corpus: Corpus) -> dict[str, tuple[str, str]]:
    """Every reusable page: (its key, a digest of its made spec)."""
    builder = PageBuilder(corpus)
    out = {}
    for group in builder.groups():
        for page in builder.lazy_pages(group):
            if page.reusable:
                spec = page.spec()
                made = content_key((spec.path, spec.template, spec.context, spec.meta))
                out[page.path] = (builder.input_digests.key(page), made)
    return out


def changed(before: dict[str, tuple[str, str]], after: dict[str, tuple[str, str]]) -> tuple[set[str], set[str]]:
    """The pages whose keys changed and those whose specs changed (pages of both builds)."""
    common = before.keys() & after.keys()
    keys = {path for path in common if before[path][0] != after[path][0]}
    specs = {path for path in common if before[path][1] != after[path][1]}
    return keys, specs


def with_paper(corpus: Corpus, paper_id: str, **fields: Any) -> Corpus:
    papers = tuple(dataclasses.replace(p, **fields) if p.id == paper_id else p for p in corpus.papers)
    return dataclasses.replace(corpus, papers=papers)


def shown_as_similar(corpus: Corpus) -> str:
    """A paper some other paper lists as similar."""
    for similar in corpus.similarity.similar.values():
        if similar:
            return similar[0].id
    raise AssertionError("the shipped corpus has similar papers")


def test_the_same_corpus_gives_the_same_keys_from_new_objects(corpus: Corpus) -> None:
    before = pages_of(corpus)
    copies = tuple(dataclasses.replace(p) for p in corpus.papers)  # equal papers, other objects
    after = pages_of(dataclasses.replace(corpus, papers=copies))
    assert before == after
    assert len(before) > len(corpus.papers)  # paper pages and listings


def test_a_title_change_changes_exactly_the_pages_that_show_it(corpus: Corpus) -> None:
    target = shown_as_similar(corpus)
    before = pages_of(corpus)
    keys, specs = changed(before, pages_of(with_paper(corpus, target, title="A title no paper had")))
    assert specs <= keys  # never a stale page
    assert keys == specs  # and only the pages that show the title
    assert f"papers/{target}.md" in keys
    assert any(path.startswith("papers/") and path != f"papers/{target}.md" for path in keys)  # a similar list
    assert any(path.startswith("dates/") for path in keys) and any(path.startswith("digests/") for path in keys)
    assert len(keys) < len(before) / 10


@pytest.mark.parametrize(
    "change",
    [
        "abstract",
        "a new day",
        "similar scores",
        "topics",
        "an arXiv id",
    ],
)
def test_every_page_whose_spec_changes_gets_a_new_key(corpus: Corpus, change: str) -> None:
    target = shown_as_similar(corpus)
    paper = next(p for p in corpus.papers if p.id == target)
    if change == "abstract":
        after = with_paper(corpus, target, abstract=paper.abstract + " One more sentence.")
    elif change == "a new day":
        appearance = dataclasses.replace(paper.appearances[0], date=dt.date(2031, 1, 1))
        after = with_paper(corpus, target, appearances=(*paper.appearances, appearance))
    elif change == "similar scores":
        similar = {
            pid: tuple(SimilarPaper(s.id, round(s.score / 2, 4)) for s in refs)
            for pid, refs in corpus.similarity.similar.items()
        }
        after = dataclasses.replace(corpus, similarity=Similarity(corpus.similarity.near_duplicates, similar))
    elif change == "topics":
        assignments = dict(corpus.topics.assignments)
        assignments[target] = tuple(reversed(assignments.get(target, ())))[:1]
        after = dataclasses.replace(corpus, topics=Topics(corpus.topics.topics, assignments))
    else:
        after = with_paper(corpus, target, arxiv_id="2501.00001")
    keys, specs = changed(pages_of(corpus), pages_of(after))
    assert specs, "the change shows on some page"
    assert specs <= keys


def test_a_page_maker_must_be_a_module_level_function() -> None:
    digests = InputDigests()
    day = (None, (), (), True)
    assert digests.key(LazyPage("dates/undated.md", make_day_page, day))  # the rule the pages follow

    def local(*inputs: Any) -> PageSpec:
        return make_day_page(*inputs)

    class Maker:
        def make(self, *inputs: Any) -> PageSpec:
            return make_day_page(*inputs)

    outside = {"read": 0}

    def reads_outside(*inputs: Any) -> PageSpec:
        outside["read"] += 1
        return make_day_page(*inputs)

    for maker in (
        local,  # could read what its enclosing function holds
        lambda *inputs: make_day_page(*inputs),
        functools.partial(make_day_page, None),  # the bound argument is not in the key
        Maker().make,  # could read the instance
        reads_outside,
    ):
        with pytest.raises(TypeError, match="module-level function"):
            digests.key(LazyPage("dates/undated.md", maker, day))


def test_keys_tell_inputs_apart() -> None:
    digests = InputDigests()
    paper = Paper("p1", "A title", "An abstract.", ())
    twin = Paper("p1", "A title", "An abstract.", ())

    def key(*inputs: Any) -> str:
        return digests.key(LazyPage("dates/undated.md", make_day_page, inputs))

    assert key(paper, 1) == key(twin, 1)  # by value, not by identity
    assert key(paper, 1) != key(dataclasses.replace(paper, abstract="Another abstract."), 1)
    assert key((paper,), 1) != key([paper], 1)
    assert key((1, 2), 3) != key((1,), 2, 3) != key(1, (2, 3))
    assert key("a\x1fb") != key("a", "b")
    assert digests.key(LazyPage("dates/2025/01/01.md", make_day_page, (paper,))) != key(paper)  # the path
    assert digests.key(LazyPage("dates/undated.md", make_digest_page, (paper,))) != key(paper)  # the maker


def test_a_bibtex_entry_is_reused_only_when_what_it_is_made_from_is_unchanged(corpus: Corpus, tmp_path: Path) -> None:
    options = BuildOptions(sources=(ROOT / "content" / "sources",), cache_dir=tmp_path)
    first = PageCache(tmp_path / "pages")
    before = bib_file(corpus, options)
    assert bib_file(corpus, options, first) == before
    first.save()
    target = corpus.papers[0].id
    changes: list[dict[str, Any]] = [
        {"arxiv_id": "2501.00001"},
        {"primary_category": "cs.XX"},  # shown beside an arXiv id
        {"authors": ("Ada Lovelace",)},
        {"title": "Another title"},
    ]
    for change in changes:  # one after the other, each build reusing the previous one's entries
        corpus = with_paper(corpus, target, **change)
        fresh = bib_file(corpus, options)
        assert fresh != before  # the change shows in papers.bib
        cache = PageCache(tmp_path / "pages")
        assert bib_file(corpus, options, cache) == fresh  # and is not served stale
        cache.save()
        before = fresh
