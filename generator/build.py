"""The one build: sources -> corpus -> pages -> generated tree. The plugin and the CLI call this.

Read and model everything first (readers, records, dates, similarity, topics, pages), then
render and write; nothing is written until every stage has succeeded.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .config import BuildOptions
from .dates import resolve_dates
from .errors import DigestError, Problem
from .models import Corpus
from .pages import PageBuilder
from .readers import read_sources
from .records import build_sources, merge_records
from .similarity import find_similarity
from .taxonomy import load_taxonomy
from .topics import assign_topics
from .writers import (
    RenderedPage,
    WriteStats,
    bib_file,
    feed_files,
    papers_json,
    render_pages,
    search_files,
    write_tree,
)

log = logging.getLogger(__name__)

STAGES = ("read", "merge", "similarity", "topics", "pages", "search index", "writing")


@dataclass
class StageTimer:
    """Wall-clock seconds per stage; shows progress on a terminal and log lines elsewhere."""

    timings: dict[str, float] = field(default_factory=dict)
    show_progress: bool = field(default_factory=lambda: sys.stderr.isatty())
    logger: logging.Logger = log
    """Where the log lines go when there is no terminal (the plugin passes a logger MkDocs shows)."""

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time one stage and report it."""
        if self.show_progress:
            sys.stderr.write(f"\rpaper-digest: {name}…" + " " * 20)
            sys.stderr.flush()
        start = time.perf_counter()
        yield
        elapsed = time.perf_counter() - start
        self.timings[name] = self.timings.get(name, 0.0) + elapsed
        if self.show_progress:
            sys.stderr.write(f"\rpaper-digest: {name} done in {elapsed:.2f} s" + " " * 20 + "\n")
            sys.stderr.flush()
        else:
            self.logger.info("paper-digest: %s done in %.2f s", name, elapsed)


@dataclass(frozen=True)
class GenerateResult:
    """What one generation produced."""

    corpus: Corpus
    """The modelled corpus."""
    problems: list[Problem]
    """Every problem found in the input, in source order."""
    timings: dict[str, float]
    """Seconds per stage."""
    stats: WriteStats
    """What the writer changed."""
    files: dict[str, bytes] = field(default_factory=dict)
    """Every generated file's bytes, keyed by docs-root path (what the tree holds)."""
    pages: dict[str, RenderedPage] = field(default_factory=dict)
    """The generated pages, for the plugin to give MkDocs without Markdown."""

    @property
    def tree(self) -> Path:
        """Directory of the generated Markdown and static files."""
        return self.stats.root


def load_corpus(options: BuildOptions, timer: StageTimer | None = None) -> tuple[Corpus, list[Problem]]:
    """Read, merge, date, compare and classify: the whole corpus, without writing anything."""
    timer = timer or StageTimer(show_progress=False)
    with timer.stage("read"):
        listings, problems = read_sources(list(options.sources))
    with timer.stage("merge"):
        dates, date_problems = resolve_dates(listings, options.settings, options.year)
        papers, merge_problems = merge_records(listings, dates)
        sources = build_sources(listings, papers, options.settings)
    problems += date_problems + merge_problems
    if not papers:
        raise DigestError(
            "no papers found in the sources: " + ", ".join(str(path) for path in options.sources)
        )
    with timer.stage("similarity"):
        similarity = find_similarity(papers)
    with timer.stage("topics"):
        taxonomy = load_taxonomy(options.topics_file) if options.topics_file else None
        topics = assign_topics(papers, taxonomy)
    corpus = Corpus(tuple(papers), tuple(sources), similarity, topics)
    return corpus, problems


def render_files(
    corpus: Corpus, options: BuildOptions, timer: StageTimer, pages: dict[str, RenderedPage] | None = None
) -> dict[str, bytes]:
    """Every generated file's bytes, keyed by path relative to the docs root (pages also into `pages`)."""
    with timer.stage("pages"):
        # Specs are made one at a time as they are rendered: holding every page's context at
        # once cost about 6 KB a paper (0.6 GB of peak memory at 100k papers).
        specs = PageBuilder(
            corpus,
            page_size=options.page_size,
            similar_count=options.similar_count,
            site_name=options.site_name,
            directory_urls=options.directory_urls,
        ).pages()
        files = render_pages(specs, options, pages)
        files["papers.json"] = papers_json(corpus)
        files.update(feed_files(corpus, options))
        files["papers.bib"] = bib_file(corpus, options)
    with timer.stage("search index"):
        files.update(search_files(corpus, options))
    return files


def generate(options: BuildOptions, timer: StageTimer | None = None) -> GenerateResult:
    """Model the corpus, render every file in memory, then swap the generated tree in."""
    timer = timer or StageTimer()
    corpus, problems = load_corpus(options, timer)
    pages: dict[str, RenderedPage] = {}
    files = render_files(corpus, options, timer, pages)
    with timer.stage("writing"):
        stats = write_tree(files, options.cache_dir)
    log.info(
        "paper-digest: %d papers, %d files (%d written, %d unchanged, %d removed)",
        len(corpus.papers),
        len(files),
        stats.written,
        stats.unchanged,
        stats.removed,
    )
    return GenerateResult(corpus, problems, dict(timer.timings), stats, files, pages)
