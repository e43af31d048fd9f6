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
from dataclasses import dataclass, field, replace
from pathlib import Path

from generator.analysis.similarity import find_similarity_and_text
from generator.analysis.taxonomy import load_taxonomy
from generator.analysis.topics import assign_topics
from generator.config import BuildOptions
from generator.errors import DigestError, Problem
from generator.ingest.dates import resolve_dates
from generator.ingest.readers import read_sources
from generator.ingest.records import build_sources, merge_records
from generator.models import Corpus
from generator.runtime.cache import stage_dir
from generator.runtime.parallel import DEFAULT, IN_PROCESS, Forked, Parallelism, take_in_turn
from generator.runtime.processes import gc_paused, gc_thawed, release_free_memory
from generator.website.page_cache import PageCache, carry_over, page_cache_dir, render_keyed
from generator.website.page_model import PageGroup, check_page_owners
from generator.website.pages import PageBuilder
from generator.website.render import RenderedPage
from generator.website.tree import TreeWriter, WriterPart, WriteStats
from generator.website.writers import bib_files, feed_files, papers_json, search_files

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
        """Directory of the generated tree: the page packs (front matter + HTML) and the other generated files."""
        return self.stats.root


def load_corpus(
    options: BuildOptions, timer: StageTimer | None = None, parallel: Parallelism = DEFAULT
) -> tuple[Corpus, list[Problem]]:
    """Read, merge, date, compare and classify: the whole corpus, without writing anything."""
    timer = timer or StageTimer(show_progress=False)
    if options.cache_dir.exists() and not options.cache_dir.is_dir():
        raise DigestError(f"cache_dir {options.cache_dir} is a file; it must be a folder (or not exist yet)")
    with timer.stage("read"), gc_paused():
        listings, problems = read_sources(
            list(options.sources), stage_dir(options.cache_dir, "read"), exclude=options.not_sources
        )
        read = {listing.source for listing in listings} | {r.source for lst in listings for r in lst.records}
        problems += [
            Problem("warning", "mkdocs.yml", None, f"overrides: {name!r} names no source that was read; ignored")
            for name in sorted(set(options.settings) - read)
        ]
    with timer.stage("merge"), gc_paused():
        dates, date_problems = resolve_dates(listings, options.settings, options.year)
        papers, merge_problems = merge_records(listings, dates)
        sources = build_sources(listings, papers, options.settings, merge_problems)
    del listings, dates  # the raw records (150 MB at 100k papers) are not needed any more
    problems += date_problems + merge_problems
    if not papers:
        raise DigestError("no papers found in the sources: " + ", ".join(str(path) for path in options.sources))
    with timer.stage("similarity"):
        # The text model is fitted once, here, and handed to topics (`analysis.textmodel`).
        similarity, text = find_similarity_and_text(papers, cache_dir=stage_dir(options.cache_dir, "similarity"))
    with timer.stage("topics"):
        taxonomy = load_taxonomy(options.topics_file) if options.topics_file else None
        topics = assign_topics(
            papers, taxonomy, cache_dir=stage_dir(options.cache_dir, "topics"), parallel=parallel, text=text
        )
    del text
    corpus = Corpus(tuple(papers), tuple(sources), similarity, topics)
    return corpus, problems


class _PageJob:
    """The pages a build writes, as tasks `parallel.take_in_turn` hands to this process and a forked
    worker: the page groups (in `builder.groups()` order) and, as task 0, `papers.json` and the feeds.
    """

    def __init__(
        self, builder: PageBuilder, options: BuildOptions, writer: TreeWriter, cache: PageCache | None
    ) -> None:
        self.builder = builder
        self.groups = builder.groups()
        self.options = options
        self.writer = writer
        self.cache = cache
        self.tasks = range(len(self.groups) + 1)
        self.rendered: dict[str, RenderedPage] = {}
        """Every page this process (or, in a worker, the worker) wrote."""
        self.carried: list[str] = []
        """The pages of `rendered` carried over from the previous tree."""

    def do(self, task: int) -> None:
        """Write one task's files."""
        if task == 0:
            write_data_files(self.builder.corpus, self.options, self.writer)
        else:
            group = self.groups[task - 1]
            self.carried += write_group(self.builder, group, self.options, self.writer, self.rendered, self.cache)

    def start_share(self) -> None:
        """In a forked worker, before its first task: its cache entries are the ones it makes."""
        if self.cache is not None:
            self.cache.current = {}

    def worker_share(self) -> WorkerResult:
        """In the forked worker, after its last task: what the parent lacks.

        Its cache entries go back pickled in the parts the cache file is made of: the parent
        unpickles them once for their pages and saves the same bytes, instead of pickling them
        again at the end.
        """
        cache, rendered = self.cache, self.rendered
        for path in self.carried:  # the parent has these already (`cache.previous`): send back only their paths
            del rendered[path]
            if cache is not None:
                del cache.current[path]
        parts: list[bytes] = []
        if cache is not None:
            for path in cache.current:  # sent inside the entries
                del rendered[path]
            parts = list(cache.pickle_parts(cache.current))
        return self.writer.collect(), self.carried, rendered, parts


WorkerResult = tuple[WriterPart, list[str], dict[str, RenderedPage], list[bytes]]
"""A worker's share: its tree part, the pages it carried over, the uncached pages it rendered, and the
cache entries of those it rendered, pickled (`PageCache.pickle_parts`)."""


def write_group(
    builder: PageBuilder,
    group: PageGroup,
    options: BuildOptions,
    writer: TreeWriter,
    rendered: dict[str, RenderedPage],
    cache: PageCache | None = None,
) -> list[str]:
    """Write one group's pages: carried over when what a page is made from is unchanged (its key,
    `page_model.InputDigests`), else made and rendered; returns those carried over."""
    carried = []
    digests = builder.input_digests
    for page in builder.lazy_pages(group):
        key = digests.key(page) if cache is not None and page.reusable else None
        if cache is not None and key is not None and carry_over(page.path, key, writer, cache, rendered):
            carried.append(page.path)
        else:
            render_keyed(((page.spec(), key),), options, writer, rendered, cache)
    return carried


def write_data_files(corpus: Corpus, options: BuildOptions, writer: TreeWriter) -> None:
    """`papers.json` (or the data shards and their index) and the feeds."""
    for rel, data in papers_json(corpus, options):
        writer.write(rel, data)
    for rel, data in feed_files(corpus, options).items():
        writer.write(rel, data)


def write_pages(
    builder: PageBuilder,
    options: BuildOptions,
    writer: TreeWriter,
    cache: PageCache | None = None,
    parallel: Parallelism = DEFAULT,
) -> dict[str, RenderedPage]:
    """Write every page, `papers.json`, the feeds and `papers.bib`; returns the pages for the plugin.

    A page is carried over from the previous tree when its key is unchanged, else rendered. From
    `parallel.pages_from` papers one forked worker shares the work with this process (which
    first writes `papers.bib`): one worker, not two, because a worker soon holds a copy-on-write
    copy of most of this process's heap (every object it reads gets its reference count written).
    Without cyclic garbage collection: rendering makes no cycles worth collecting (measured: the
    same peak memory), while the collector kept rescanning the growing `rendered` and cache
    entries (100k papers: 27.5 -> 24.4 s for the pages).
    """
    job = _PageJob(builder, options, writer, cache)

    def write_bib() -> None:
        for rel, data in bib_files(builder.corpus, options, cache, builder.cite_keys, builder.input_digests).items():
            writer.write(rel, data)

    with gc_paused():  # also while the worker's share is unpickled and merged in
        if len(builder.corpus.papers) < parallel.pages_from:
            parallel = IN_PROCESS
        parallel = replace(parallel, processes=min(parallel.processes, 2))  # one worker at most (above)
        worker = Forked(job.worker_share, before=job.start_share)
        shares = take_in_turn(job.tasks, job.do, worker, parallel, first_here=write_bib)
        pages = job.rendered
        for part, carried, rendered, entries in shares:
            writer.absorb(part)
            pages.update(rendered)
            if cache is not None:
                for path, entry in cache.add_pickled(entries).items():
                    pages[path] = entry.page
                for path in carried:
                    hit = cache.previous[path]
                    pages[path] = hit.page
                    cache.current[path] = hit
    return pages


def write_files(
    corpus: Corpus,
    options: BuildOptions,
    timer: StageTimer,
    writer: TreeWriter,
    cache: PageCache | None = None,
    parallel: Parallelism = DEFAULT,
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
        pages = write_pages(builder, options, writer, cache, parallel)
    # The page builder's lookups and memos (topic references, citation keys, the papers' digests)
    # are not needed by the search stage, whose peak is this process: let them go first.
    del builder
    # The pages stage freed hundreds of MB (papers.json alone is 200 MB at 100k papers) that
    # the C allocator keeps; hand it back before the search stage, whose peak is this process.
    release_free_memory()
    with timer.stage("search index"):
        for rel, data in search_files(corpus, options, parallel).items():
            writer.write(rel, data)
    return pages


def generate(
    options: BuildOptions, timer: StageTimer | None = None, *, commit: bool = True, parallel: Parallelism = DEFAULT
) -> GenerateResult:
    """Model the corpus, write every file into a new tree, then swap it in (or, without `commit`, drop it).

    `parallel` says how many processes the stages may use and from what sizes (`generator.runtime.parallel`).
    """
    timer = timer or StageTimer()
    with gc_thawed():  # what the stages froze goes back to the collector when the build is over
        corpus, problems = load_corpus(options, timer, parallel)
        check_page_owners(corpus)  # before anything is written
        writer = TreeWriter(options.cache_dir)
        cache = PageCache(page_cache_dir(options))
        try:
            pages = write_files(corpus, options, timer, writer, cache, parallel)
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
