"""The one build: sources -> corpus -> pages -> generated tree. The plugin and the CLI call this.

Read and model everything first (readers, records, dates, similarity, topics, pages), then
render and write; nothing is written until every stage has succeeded.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import multiprocessing
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .config import BuildOptions
from .dates import resolve_dates
from .errors import DigestError, Problem
from .models import Corpus
from .pages import KeyedPage, PageBuilder
from .processes import fork_is_safe
from .readers import read_sources
from .records import build_sources, merge_records
from .similarity import find_similarity
from .taxonomy import load_taxonomy
from .topics import assign_topics
from .writers import (
    CacheEntry,
    PageCache,
    PageEntry,
    RenderedPage,
    TreeWriter,
    WriteStats,
    bib_file,
    carry_over,
    feed_files,
    papers_json,
    render_keyed,
    render_settings,
    search_files,
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
    pages: dict[str, RenderedPage] = field(default_factory=dict)
    """The generated pages, for the plugin to give MkDocs without Markdown."""

    @property
    def tree(self) -> Path:
        """Directory of the generated Markdown and static files."""
        return self.stats.root


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a stage builds many objects that form no cycles.

    Each time the heap grows by a quarter the collector walks all of it: reading and merging
    100k papers spent 2 s of their 9 s in it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_corpus(options: BuildOptions, timer: StageTimer | None = None) -> tuple[Corpus, list[Problem]]:
    """Read, merge, date, compare and classify: the whole corpus, without writing anything."""
    timer = timer or StageTimer(show_progress=False)
    with timer.stage("read"), gc_paused():
        listings, problems = read_sources(list(options.sources), options.cache_dir / "read-cache")
    with timer.stage("merge"), gc_paused():
        dates, date_problems = resolve_dates(listings, options.settings, options.year)
        papers, merge_problems = merge_records(listings, dates)
        sources = build_sources(listings, papers, options.settings)
    problems += date_problems + merge_problems
    if not papers:
        raise DigestError(
            "no papers found in the sources: " + ", ".join(str(path) for path in options.sources)
        )
    with timer.stage("similarity"):
        similarity = find_similarity(papers, cache_dir=options.cache_dir / "similarity-cache")
    with timer.stage("topics"):
        taxonomy = load_taxonomy(options.topics_file) if options.topics_file else None
        topics = assign_topics(papers, taxonomy, cache_dir=options.cache_dir / "topics-cache")
    corpus = Corpus(tuple(papers), tuple(sources), similarity, topics)
    return corpus, problems


PARALLEL_PAGES = 2000
"""From this many pages to render on, they are rendered by forked worker processes."""

RENDER_CHUNK = 250
"""Pages per task given to a worker."""


_JOB: tuple[list[KeyedPage], BuildOptions, TreeWriter, PageCache | None] | None = None
"""What forked page workers inherit (set just before the pool forks them)."""

WriterPart = tuple[dict[str, str], dict[str, PageEntry], int, int]
WorkerResult = tuple[WriterPart, dict[str, RenderedPage], dict[str, CacheEntry]]


def _render_range(bounds: tuple[int, int]) -> WorkerResult:
    """In a forked worker: render pages [start, stop) of the list to render into the shared new tree."""
    assert _JOB is not None
    todo, options, writer, cache = _JOB
    rendered: dict[str, RenderedPage] = {}
    if cache is not None:
        cache.current = {}
    render_keyed(todo[bounds[0] : bounds[1]], options, writer, rendered, cache)
    return writer.collect(), rendered, cache.current if cache is not None else {}


def write_pages(
    builder: PageBuilder, options: BuildOptions, writer: TreeWriter, cache: PageCache | None = None, workers: int = 2
) -> dict[str, RenderedPage]:
    """Write every page: carried over from the previous tree when its key is unchanged, else rendered.

    Many pages to render (a cold build of a big corpus) are rendered by `workers` forked processes.
    """
    global _JOB
    pages: dict[str, RenderedPage] = {}
    todo = [
        page
        for group in builder.groups()
        for page in builder.keyed_pages(group)
        if cache is None or not carry_over(page, writer, cache, pages)
    ]
    if workers < 2 or len(todo) < PARALLEL_PAGES or not fork_is_safe():
        render_keyed(todo, options, writer, pages, cache)
        return pages
    _JOB = (todo, options, writer, cache)
    ranges = [(start, min(start + RENDER_CHUNK, len(todo))) for start in range(0, len(todo), RENDER_CHUNK)]
    gc.freeze()  # forked workers share the heap copy-on-write; frozen objects are not touched by their GC
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            for part, rendered, entries in pool.map(_render_range, ranges):
                writer.absorb(part)
                pages.update(rendered)
                if cache is not None:
                    cache.current.update(entries)
    finally:
        gc.unfreeze()
        _JOB = None
    return pages


def write_files(
    corpus: Corpus, options: BuildOptions, timer: StageTimer, writer: TreeWriter, cache: PageCache | None = None
) -> dict[str, RenderedPage]:
    """Render every generated file into `writer`'s new tree; returns the pages for the plugin."""
    with timer.stage("pages"):
        builder = PageBuilder(
            corpus,
            page_size=options.page_size,
            similar_count=options.similar_count,
            site_name=options.site_name,
            directory_urls=options.directory_urls,
        )
        pages = write_pages(builder, options, writer, cache)
        writer.write("papers.json", papers_json(corpus))
        for rel, data in feed_files(corpus, options).items():
            writer.write(rel, data)
        writer.write("papers.bib", bib_file(corpus, options, cache))
    # The pages stage freed hundreds of MB (papers.json alone is 200 MB at 100k papers) that
    # the C allocator keeps; hand it back before the search workers fork from this process.
    release_free_memory()
    with timer.stage("search index"):
        for rel, data in search_files(corpus, options).items():
            writer.write(rel, data)
    return pages


def release_free_memory() -> None:
    """Return freed heap memory to the system (glibc's `malloc_trim`); a no-op elsewhere."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def generate(options: BuildOptions, timer: StageTimer | None = None, *, commit: bool = True) -> GenerateResult:
    """Model the corpus, write every file into a new tree, then swap it in (or, without `commit`, drop it)."""
    timer = timer or StageTimer()
    corpus, problems = load_corpus(options, timer)
    writer = TreeWriter(options.cache_dir)
    cache = PageCache(options.cache_dir / "pages-cache", render_settings(options))
    try:
        pages = write_files(corpus, options, timer, writer, cache)
    except BaseException:
        writer.abort()  # nothing was swapped in: the previous tree stays current
        raise
    with timer.stage("writing"), gc_paused():
        if not commit:
            writer.abort()
            stats = WriteStats(writer.root, writer.written, writer.unchanged, 0)
        else:
            stats = writer.commit()
            cache.save()
    log.info(
        "paper-digest: %d papers, %d files (%d written, %d unchanged, %d removed)",
        len(corpus.papers),
        stats.written + stats.unchanged,
        stats.written,
        stats.unchanged,
        stats.removed,
    )
    return GenerateResult(corpus, problems, dict(timer.timings), stats, pages)
