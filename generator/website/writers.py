"""Writers: templates -> pages, papers.json, feeds, BibTeX, search files. All output I/O is here.

Generated pages are HTML fragments rendered by Jinja2 (escaping every untrusted value), not
Markdown: Python-Markdown took 2 ms for a paper page and 20-25 ms for a 100-paper listing,
most of a 10k-paper build. Each is stored as the bytes of a `.md` page (front matter, then the
HTML) so that it is one of MkDocs' pages, and is also returned as a `RenderedPage`, which the
plugin hands to MkDocs directly instead of having the page read and converted (plugin.py).

Files are written as they are rendered into a new tree directory by a `TreeWriter` (pages
into pack files, other files as files; unchanged ones are carried over, not rewritten), which
is swapped in with one atomic symlink replacement. A build that fails before the swap leaves
the previous tree untouched; one that fails after it (in MkDocs) swaps the previous tree back
(`restore_tree`), which is kept until the build is over (`finish_tree`).
"""

from __future__ import annotations

import functools
import hashlib
import html
import itertools
import json
import logging
import marshal
import os
import pickle
import re
import shutil
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import jinja2
from markdown.extensions.toc import slugify, unique
from markupsafe import Markup

from generator.config import BuildOptions
from generator.models import Corpus, Paper, Topics
from generator.runtime.cache import stage_dir
from generator.runtime.parallel import DEFAULT, Parallelism
from generator.website.bibtex import bibtex_entry, bibtex_file, bibtex_key
from generator.website.datafiles import data_files
from generator.website.escaping import escape_attribute, escape_text, front_matter_value
from generator.website.feeds import FeedEntry, absolute_url, latest_entries, make_feeds
from generator.website.latex_text import display_text
from generator.website.pages import KeyedPage, Linker, PageSpec
from generator.website.paper_metadata import category_filters
from generator.website.search import SearchDoc, build_search_files

log = logging.getLogger(__name__)

TREE_LINK = "generated"
"""Name of the symlink (inside the cache dir) that points at the current generated tree."""


def _finalize(value: Any) -> Any:
    """Escape every template value that is not already `Markup` (the one escaping point)."""
    if isinstance(value, Markup):
        return value
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return str(value)
    return escape_text(str(value))


@functools.cache
def template_environment() -> jinja2.Environment:
    """The Jinja2 environment for page templates: strict, every output value escaped by `_finalize`.

    `_finalize` sees every `{{ ... }}` value and escapes all that is not `Markup`, so Jinja's own
    autoescaping is off: it only re-wrapped each already escaped value (two more calls and a copy
    per expression, a quarter of a listing page's rendering). A macro's output is template HTML
    made of finalized values; call sites mark it `| safe`.
    """
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("generator", "templates"),
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # one build renders each template many times; no need to stat it each time
    )
    env.filters["fm"] = front_matter_value
    env.filters["attr"] = escape_attribute
    return env


@dataclass(frozen=True)
class RenderedPage:
    """A generated page as the plugin gives it to MkDocs, bypassing Markdown."""

    meta: dict[str, Any]
    """Front matter: HTML-escaped strings (Material prints `title` and `description` as they are)."""
    toc: tuple[tuple[int, str, str], ...]
    """(level, id, HTML text) of each heading, in order."""
    body_start: int
    """Offset of the HTML body in the file's bytes (after the front matter)."""


_HEADING = re.compile(r"<h([1-6])((?: class=\"[^\"]*\")?)>(.*?)</h\1>", re.S)
_TAG = re.compile(r"<[^>]*>")


def _add_heading_ids(body: str) -> tuple[str, tuple[tuple[int, str, str], ...]]:
    """Give each heading the id Python-Markdown's `toc` extension would, and list them."""
    used: set[str] = set()
    toc: list[tuple[int, str, str]] = []

    def add_id(match: re.Match[str]) -> str:
        level, attrs, inner = match.groups()
        text = _TAG.sub("", inner).strip()
        anchor = unique(_heading_slug(text), used)
        toc.append(_shared((int(level), anchor, text)))
        return f'<h{level} id="{anchor}"{attrs}>{inner}</h{level}>'

    return _HEADING.sub(add_id, body), tuple(toc)


_SHARED: dict[Any, Any] = {}
_SHARED_LIMIT = 4096


def _shared(value: Any) -> Any:
    """One object for values that recur on many pages (section headings, `hide` lists).

    What the plugin keeps of every page stays in memory for the whole build: at 100k papers,
    a copy of "Abstract", "Similar papers" ... per page was about half of it (90 MB).
    """
    known = _SHARED.get(value)
    if known is not None:
        return known
    if len(_SHARED) < _SHARED_LIMIT:
        _SHARED[value] = value
    return value


@functools.lru_cache(maxsize=1024)
def _heading_slug(text: str) -> str:
    """The id Python-Markdown's `toc` gives a heading's text; most headings recur on many pages."""
    return slugify(html.unescape(text), "-") or "section"


def _front_matter(meta: dict[str, Any]) -> str:
    lines = ["---"]
    for key, value in meta.items():
        if isinstance(value, list | tuple):
            lines.append(f"{key}:")
            lines.extend(f"  - {front_matter_value(item)}" for item in value)
        else:
            lines.append(f"{key}: {front_matter_value(value)}")
    lines.append("---\n")
    return "\n".join(lines)


def render_page(spec: PageSpec, options: BuildOptions) -> tuple[bytes, RenderedPage]:
    """One page's file bytes (front matter + HTML) and what the plugin needs of it."""
    template = template_environment().get_template(spec.template)  # cached by Jinja (auto_reload is off)
    link = Linker(spec.path, options.directory_urls)
    context = {"link": link, **spec.context}
    if spec.template == "paper.html.j2":
        paper: Paper = spec.context["paper"]
        context["bibtex"] = bibtex_entry(
            paper, url=absolute_url(options.site_url, paper.path), key=spec.context.get("cite_key")
        )
    body, toc = _add_heading_ids(template.render(context))
    meta = {key: value for key, value in spec.meta.items() if value}
    head = _front_matter(meta).encode("utf-8")
    escaped = {
        key: _shared(tuple(str(escape_attribute(v)) for v in value))
        if isinstance(value, list | tuple)
        else str(escape_attribute(value))
        for key, value in meta.items()
    }
    return head + body.encode("utf-8"), RenderedPage(escaped, toc, len(head))


class CacheEntry(NamedTuple):
    """A page of a previous build, as the page cache keeps it."""

    key: str
    """The key of everything the page showed (`KeyedPage.key`)."""
    digest: str
    """The digest of its bytes (the tree's index finds the bytes by it)."""
    page: RenderedPage
    """What the plugin needs of it."""


class BibCacheEntry(NamedTuple):
    """A paper's entry of a previous `papers.bib`."""

    fingerprint: tuple[Any, ...]
    """Everything the entry is made of (title, authors, first date, arXiv id, URL)."""
    base_key: str
    """Its citation key before a disambiguator was added to make it unique ("" when not made here)."""
    key: str | None
    """The key it was written with."""
    text: str
    """The entry."""


class PageCache:
    """Which pages the previous build wrote, with the keys of what they showed.

    A page whose key is unchanged is carried over from the previous tree (a hard link) instead
    of being made and rendered: after one day is added, most paper and listing pages are.
    `cache_dir` is the pages stage's folder for these options (`page_cache_dir`), so it only
    ever holds what the same code made with the same options; a corrupt file is ignored. It is
    saved after the new tree is swapped in.
    """

    FILE = "pages.pickle"
    BIB_FILE = "bib.pickle"
    HEADER_KIND = "paper-digest-pages"
    """In each file's header: a file that has another is not ours."""

    def __init__(self, cache_dir: Path) -> None:
        self.path = cache_dir / self.FILE
        self.bib_path = cache_dir / self.BIB_FILE
        self.previous: dict[str, CacheEntry] = self._load(self.path) or {}
        self.current: dict[str, CacheEntry] = {}
        self.pickled: list[bytes] = []
        """Parts of this build's entries that a worker pickled already (`add_pickled`); not in `current`."""
        self.previous_bib: dict[str, BibCacheEntry] = self._load(self.bib_path) or {}
        """BibTeX of `papers.bib` by paper id: (what the entry is made of, base key, key, entry)."""
        self.current_bib: dict[str, BibCacheEntry] = {}
        self._bib_stash: Path | None = None
        for stale in cache_dir.glob("bib.*.tmp"):  # stashed by a build that failed
            stale.unlink(missing_ok=True)

    def _load(self, path: Path) -> Any:
        try:
            with path.open("rb") as handle:
                header = pickle.load(handle)  # our own file in our cache dir
                if not isinstance(header, dict) or header.get("kind") != self.HEADER_KIND:
                    return None
                entries: dict[str, Any] = {}
                for _ in range(header["parts"]):
                    entries.update(pickle.load(handle))
                return entries
        except FileNotFoundError:
            pass
        except Exception as exc:  # a damaged cache only costs a full render
            log.info("paper-digest: page cache %s ignored (%s)", path, exc)
        return None

    PART = 10_000
    """Entries pickled at a time: one pickle of 100k entries took three times ten of 10k (its memo
    of every object grows past the CPU caches), which made the writing stage grow faster than the corpus."""

    @classmethod
    def pickle_parts(cls, entries: dict[str, Any]) -> Iterator[bytes]:
        """`entries` as pickles of at most `PART` entries each, in the order made (read back by key only)."""
        items = list(entries.items())
        for start in range(0, len(items), cls.PART):
            yield pickle.dumps(dict(items[start : start + cls.PART]), protocol=pickle.HIGHEST_PROTOCOL)

    def _dump(self, entries: dict[str, Any], path: Path, pickled: Sequence[bytes] = ()) -> None:
        """A header, then each part's pickle one after the other: `pickled` ones as they are, then `entries`.

        Parts are written one after the other, not gathered into one more pickle first (copying
        60 MB of parts into it cost as much as pickling half of them); `pickle.dump` straight into
        the file was 40% slower than writing each part's bytes.
        """
        parts = len(pickled) + -(-len(entries) // self.PART)
        header = {"kind": self.HEADER_KIND, "parts": parts}
        with path.open("wb") as handle:
            handle.write(pickle.dumps(header, protocol=pickle.HIGHEST_PROTOCOL))
            for part in itertools.chain(pickled, self.pickle_parts(entries)):
                handle.write(part)

    def add_pickled(self, parts: Sequence[bytes]) -> dict[str, CacheEntry]:
        """Take entries a worker made and pickled (`pickle_parts`): saved as they are; returns them."""
        entries: dict[str, CacheEntry] = {}
        for part in parts:
            entries.update(pickle.loads(part))
        self.pickled.extend(parts)
        return entries

    def stash_bib(self) -> None:
        """Write this build's BibTeX entries to a side file now and free them (and the previous ones).

        They are done once `papers.bib` is made; kept in memory until `save` they were 60-140 MB
        at 100k papers through the pages and search stages.
        """
        self.bib_path.parent.mkdir(parents=True, exist_ok=True)
        stash = self.bib_path.with_suffix(f".{os.getpid()}.tmp")
        self._dump(self.current_bib, stash)
        self._bib_stash = stash
        self.current_bib, self.previous_bib = {}, {}

    def save(self) -> None:
        """Write the pages and BibTeX entries of this build atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        self._dump(self.current, tmp, self.pickled)
        if self._bib_stash is None:
            self.stash_bib()
        assert self._bib_stash is not None
        os.replace(self._bib_stash, self.bib_path)
        self._bib_stash = None
        os.replace(tmp, self.path)


def page_options(options: BuildOptions) -> list[Any]:
    """The options a page's bytes depend on besides its key (BibTeX entries too: `site_url`)."""
    return [options.site_name, options.site_url, options.directory_urls, options.similar_count, options.page_size]


def page_cache_dir(options: BuildOptions) -> Path:
    """The pages stage's cache folder for these options and this code (`cache.stage_dir`)."""
    return stage_dir(options.cache_dir, "pages", page_options(options))


def carry_over(page: KeyedPage, writer: TreeWriter, cache: PageCache, rendered: dict[str, RenderedPage]) -> bool:
    """Hard-link `page` from the previous tree when the cache has it with the same key."""
    if page.key is None:
        return False
    hit = cache.previous.get(page.path)
    if hit is None or hit.key != page.key or not writer.reuse_page(page.path, hit.digest):
        return False
    rendered[page.path] = hit.page
    cache.current[page.path] = hit
    return True


def render_keyed(
    pages: Iterable[KeyedPage],
    options: BuildOptions,
    writer: TreeWriter,
    rendered: dict[str, RenderedPage],
    cache: PageCache | None = None,
) -> None:
    """Make, render and write each page; record it in `cache` for the next build."""
    for page in pages:
        data, result = render_page(page.make(), options)
        digest = writer.write_page(page.path, data)
        rendered[page.path] = result
        if cache is not None and page.key is not None:
            cache.current[page.path] = CacheEntry(page.key, digest, result)


def papers_json(corpus: Corpus, options: BuildOptions) -> Iterator[tuple[str, bytes]]:
    """`papers.json`, or the data shards and their index when the records do not fit in `data_shard_bytes`."""
    return data_files(corpus, options.data_shard_bytes)


def feed_files(corpus: Corpus, options: BuildOptions) -> dict[str, bytes]:
    """`feed.xml` (Atom) and `rss.xml` for the whole digest, and `topics/<slug>/feed.xml` per topic."""
    # Only the newest `feed_size` papers of each feed become entries: the papers are put in
    # feed order once, and each topic takes its first ones in one pass (entries for all 100k
    # papers, sorted once per feed, cost 2 s).
    topic_name = {topic.slug: topic.name for topic in corpus.topics.topics}
    assignments = corpus.topics.assignments

    def names(paper: Paper) -> list[str]:
        return [topic_name[a.slug] for a in assignments.get(paper.id, ()) if a.slug in topic_name]

    dated = sorted(
        (paper for paper in corpus.papers if paper.last_date is not None),
        key=lambda paper: (-paper.last_date.toordinal(), paper.id),  # type: ignore[union-attr]
    )
    limit = max(options.feed_size, 0)

    def entries(papers: Iterable[Paper]) -> list[FeedEntry]:
        chosen = list(papers)
        return latest_entries(chosen, {paper.id: names(paper) for paper in chosen}, options.site_url, None)

    every = entries(dated[:limit])
    newest = dated[0].last_date if dated else None
    in_topic: dict[str, list[Paper]] = {topic.name: [] for topic in corpus.topics.topics}
    for paper in dated:  # each topic's newest papers, in one pass
        for name in dict.fromkeys(names(paper)):
            members = in_topic.get(name)
            if members is not None and len(members) < limit:
                members.append(paper)
    atom, rss = make_feeds(
        every,
        title=options.site_name,
        site_url=options.site_url,
        feed_url_atom="feed.xml",
        feed_url_rss="rss.xml",
        description=f"The newest papers of {options.site_name}",
        limit=options.feed_size,
        updated=newest,
        author=options.site_author or options.site_name,
    )
    files = {"feed.xml": atom, "rss.xml": rss}
    for topic in corpus.topics.topics:
        topic_atom, _ = make_feeds(
            entries(in_topic[topic.name]),
            title=f"{options.site_name}: {topic.name}",
            site_url=options.site_url,
            feed_url_atom=f"topics/{topic.slug}/feed.xml",
            feed_url_rss=f"topics/{topic.slug}/rss.xml",
            description=topic.description,
            limit=options.feed_size,
            updated=newest,
            author=options.site_author or options.site_name,
        )
        files[f"topics/{topic.slug}/feed.xml"] = topic_atom
    return files


BIB_SHARD = "data/papers-{:04d}.bib"
"""Name of the n-th part of papers.bib when it is split (1-based)."""


def bib_files(
    corpus: Corpus, options: BuildOptions, cache: PageCache | None = None, keys: Mapping[str, str] | None = None
) -> dict[str, bytes]:
    """`papers.bib`, or, when it would pass `data_shard_bytes`, its entries in parts of at most that size.

    Static hosts refuse big files (Cloudflare Pages: 25 MiB; papers.bib is 23.6 MB at 100k
    papers), so the entries (in the order of `bibtex_file`: by paper id) are cut between entries
    into `data/papers-0001.bib`, ... each with the file's header, and `papers.bib` is then a short
    BibTeX file of `@comment` lines naming the parts (BibTeX ignores it; a person reads it).
    """
    text = bib_file(corpus, options, cache, keys)
    limit = options.data_shard_bytes
    if len(text) <= limit:
        return {"papers.bib": text}
    header, _, body = text.partition(b"\n@")
    entries = [b"@" + entry for entry in body.split(b"\n\n@")]
    parts: list[list[bytes]] = [[]]
    size = len(header)
    for entry in entries:
        if parts[-1] and size + len(entry) + 2 > limit:
            parts.append([])
            size = len(header)
        parts[-1].append(entry)
        size += len(entry) + 2
    files = {
        BIB_SHARD.format(n): header + b"\n" + b"\n\n".join(part).rstrip(b"\n") + b"\n"
        for n, part in enumerate(parts, start=1)
    }
    index = "".join(f"@comment{{{name}: {len(part)} entries}}\n" for name, part in zip(files, parts, strict=True))
    files["papers.bib"] = (
        f"% BibTeX of the paper digest: {len(entries)} entries in {len(parts)} parts "
        f"(each at most {limit:,} bytes), generated by paper-digest.\n{index}"
    ).encode()
    return files


def bib_file(
    corpus: Corpus, options: BuildOptions, cache: PageCache | None = None, keys: Mapping[str, str] | None = None
) -> bytes:
    """`papers.bib` whole: a BibTeX entry per paper (keys and entries of unchanged papers reused from `cache`).

    `keys`: each paper's citation key (the pages' `PageBuilder.cite_keys`); made here when not given.
    """

    def url_for(paper: Paper) -> str:
        return absolute_url(options.site_url, paper.path)

    if cache is None:
        return bibtex_file(corpus.papers, url_for, keys=keys).encode("utf-8")

    def fingerprint(paper: Paper) -> tuple[Any, ...]:
        # Everything an entry is made of (bibtex.py: title, authors, first date, arXiv id, URL).
        return (paper.id, paper.title, paper.authors, paper.first_date, paper.arxiv_id, paper.primary_category,
                url_for(paper))  # fmt: skip

    fingerprints = {paper.id: fingerprint(paper) for paper in corpus.papers}

    base_keys: dict[str, str] = {}

    def key_for(paper: Paper) -> str:
        hit = cache.previous_bib.get(paper.id)
        if hit is not None and hit.fingerprint == fingerprints[paper.id] and hit.base_key:
            base_keys[paper.id] = hit.base_key
        else:
            base_keys[paper.id] = bibtex_key(paper)
        return base_keys[paper.id]

    def entry(paper: Paper, *, url: str, key: str | None = None) -> str:
        hit = cache.previous_bib.get(paper.id)
        fp = fingerprints[paper.id]
        reuse = hit is not None and hit.fingerprint == fp and hit.key == key
        text = hit.text if hit is not None and reuse else bibtex_entry(paper, url=url, key=key)
        cache.current_bib[paper.id] = BibCacheEntry(fp, base_keys.get(paper.id, ""), key, text)
        return text

    text = bibtex_file(corpus.papers, url_for, entry, key_for, keys)
    cache.stash_bib()
    return text.encode("utf-8")


def search_docs(papers: Sequence[Paper], topics: Topics) -> list[SearchDoc]:
    """What search sees of each paper: its page, text, first and newest dates and topic names."""
    names = {topic.slug: topic.name for topic in topics.topics}
    docs = []
    for paper in papers:
        slugs = tuple(a.slug for a in topics.assignments.get(paper.id, ()) if a.slug in names)
        # arXiv categories join the topic filter (paper_metadata.py); authors are searchable words.
        extra_names, extra_slugs, words = category_filters(paper)
        docs.append(
            SearchDoc(
                id=paper.id,
                url=paper.path,
                title=display_text(paper.title),
                abstract=display_text(paper.abstract),
                date=paper.last_date,
                topics=tuple(names[s] for s in slugs) + extra_names,
                topic_slugs=slugs + extra_slugs,
                first_date=paper.first_date,
                words=words,
            )
        )
    return docs


def search_files(corpus: Corpus, options: BuildOptions, parallel: Parallelism = DEFAULT) -> dict[str, bytes]:
    """The prebuilt search files, reusing unchanged segments from the cache."""
    docs = search_docs(corpus.papers, corpus.topics)
    return build_search_files(docs, cache_dir=stage_dir(options.cache_dir, "search"), parallel=parallel)


@dataclass(frozen=True)
class WriteStats:
    """What `write_tree` did."""

    root: Path
    """The directory now holding the generated tree."""
    written: int
    """Files whose bytes changed or are new."""
    unchanged: int
    """Files carried over without rewriting them."""
    removed: int
    """Files of the previous tree that are gone."""
    previous: Path | None = None
    """The tree this one replaced: kept until the build is over (`finish_tree`/`restore_tree`)."""
    files: tuple[str, ...] = ()
    """Every file and page of the tree by its docs-root path, sorted."""
    pages: dict[str, PageEntry] = field(default_factory=dict)
    """Where each page's bytes are: [pack file name in `root/pages/`, offset, length, digest]."""


def _digest(data: bytes | bytearray) -> str:
    return hashlib.sha1(data).hexdigest()


def current_tree(cache_dir: Path) -> Path | None:
    """The directory of the current generated tree, if a build has swapped one in."""
    link = cache_dir / TREE_LINK
    return link.resolve() if link.is_dir() else None


PACK_DIR = "pages"
"""Folder of the page packs inside a tree."""

PAGES_INDEX = ".pages.marshal"
"""Index of the packed pages inside a tree: path -> [pack, offset, length, digest], in `marshal`'s
format (our own file, read by the next build: seven times faster to write than JSON at 100k pages)."""

COMPACT_BELOW = 0.25
"""A carried-over pack whose live pages fill less than this share of it is rewritten."""

PACK_PAGES = 1000
"""Pages per pack file: small enough that a pack goes dead with the pages of a few weeks."""

PageEntry = list[Any]
"""Where a page's bytes are: [pack file name, offset, length, digest]."""


WriterPart = tuple[dict[str, str], dict[str, PageEntry], list[str], int, int]
"""What a worker's writer put into the new tree: files, pages, old packs linked, written and unchanged counts."""


class TreeWriter:
    """Writes a new generated tree, then swaps it in atomically (`commit`).

    Pages (the `.md` files MkDocs renders, tens of thousands) are appended to a few pack
    files instead of one file each: creating a small file costs 0.4-0.6 ms of system time on
    this machine type, 40-60 s at 100k papers. Packs are immutable: a page whose bytes did not
    change keeps its place in its old pack, which is hard-linked into the new tree, so it is
    not rewritten; a pack mostly holding pages that changed is compacted at `commit`. Other
    files (feeds, papers.json, search parts) are plain files, hard-linked when unchanged.

    Nothing replaces the current tree before `commit`; `abort` drops the new one. A writer
    copied into a forked worker writes its share into the same new tree (its own packs) and
    hands its index back with `collect`, which the parent `absorb`s.
    """

    def __init__(self, cache_dir: Path) -> None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        self.cache_dir = cache_dir
        self.old_root = current_tree(cache_dir)
        self.old_manifest: dict[str, str] = {}
        self.old_pages: dict[str, PageEntry] = {}
        if self.old_root is not None:
            try:
                self.old_manifest = json.loads((self.old_root / ".manifest.json").read_text("utf-8"))
                self.old_pages = _read_index(self.old_root)
            except (OSError, ValueError, EOFError, TypeError):
                pass  # an incomplete old tree: nothing is carried over
        for stale in cache_dir.glob("tree-*"):
            if stale != self.old_root:
                shutil.rmtree(stale, ignore_errors=True)
        self.root = cache_dir / f"tree-{uuid.uuid4().hex[:12]}"
        (self.root / PACK_DIR).mkdir(parents=True)
        self.manifest: dict[str, str] = {}
        self.pages: dict[str, PageEntry] = {}
        self.written = 0
        self.unchanged = 0
        self._dirs: set[Path] = set()
        self._linked: set[str] = set()
        self._pack: Any = None
        self._pack_name = ""
        self._pack_size = 0
        self._pack_count = 0

    def write(self, rel: str, data: bytes | bytearray) -> str:
        """Put one file into the new tree; returns the digest of its bytes."""
        digest = _digest(data)
        target = self._target(rel)
        self.manifest[rel] = digest
        if self.old_root is not None and self.old_manifest.get(rel) == digest:
            try:
                os.link(self.old_root / rel, target)
                self.unchanged += 1
                return digest
            except OSError:
                pass
        target.write_bytes(data)
        self.written += 1
        return digest

    def write_page(self, rel: str, data: bytes) -> str:
        """Put one page into the new tree's packs; returns the digest of its bytes."""
        digest = _digest(data)
        if not self.reuse_page(rel, digest):
            self._append(rel, data, digest)
            self.written += 1
        return digest

    def _append(self, rel: str, data: bytes, digest: str) -> None:
        if self._pack is not None and self._pack_count >= PACK_PAGES:
            self._close_pack()
        if self._pack is None:
            self._pack_name = f"{uuid.uuid4().hex[:16]}.pack"
            self._pack = (self.root / PACK_DIR / self._pack_name).open("wb")
            self._pack_size = 0
            self._pack_count = 0
        self._pack.write(data)
        self.pages[rel] = [self._pack_name, self._pack_size, len(data), digest]
        self._pack_size += len(data)
        self._pack_count += 1

    def reuse_page(self, rel: str, digest: str) -> bool:
        """Keep a page of the previous tree where it is, if it is there with `digest`."""
        old = self.old_pages.get(rel)
        if old is None or old[3] != digest or not self._link_pack(old[0]):
            return False
        self.pages[rel] = old
        self.unchanged += 1
        return True

    def _link_pack(self, name: str) -> bool:
        if name in self._linked:
            return True
        assert self.old_root is not None
        try:
            os.link(self.old_root / PACK_DIR / name, self.root / PACK_DIR / name)
        except FileExistsError:
            pass  # linked by another worker
        except OSError:
            return False
        self._linked.add(name)
        return True

    def _target(self, rel: str) -> Path:
        target = self.root / rel
        if target.parent not in self._dirs:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(target.parent)
        return target

    def _close_pack(self) -> None:
        if self._pack is not None:
            self._pack.close()
            self._pack = None

    def collect(self) -> WriterPart:
        """This writer's files, pages, linked packs and counts since the last `collect`, reset (a worker's share)."""
        self._close_pack()
        part = (self.manifest, self.pages, sorted(self._linked), self.written, self.unchanged)
        self.manifest, self.pages, self.written, self.unchanged = {}, {}, 0, 0
        return part

    def absorb(self, part: WriterPart) -> None:
        """Count the files, pages and old packs a worker put into this tree."""
        manifest, pages, linked, written, unchanged = part
        self.manifest.update(manifest)
        self.pages.update(pages)
        self._linked.update(linked)
        self.written += written
        self.unchanged += unchanged

    def _compact(self) -> None:
        """Rewrite the live pages of carried-over packs that are mostly dead, then drop those packs."""
        live: dict[str, int] = defaultdict(int)
        for name, _, length, _ in self.pages.values():
            live[name] += length
        sparse = set()
        for name in self._linked:
            size = (self.root / PACK_DIR / name).stat().st_size
            if size and live[name] < COMPACT_BELOW * size:
                sparse.add(name)
        if not sparse:
            return
        for rel in sorted(rel for rel, entry in self.pages.items() if entry[0] in sparse):
            name, offset, length, digest = self.pages[rel]
            with (self.root / PACK_DIR / name).open("rb") as handle:
                handle.seek(offset)
                self._append(rel, handle.read(length), digest)
            self.unchanged -= 1  # carried over, but rewritten now
            self.written += 1
        for name in sparse:
            (self.root / PACK_DIR / name).unlink()
            self._linked.discard(name)

    def commit(self) -> WriteStats:
        """Swap the new tree in; the previous one stays until the build is over."""
        self._close_pack()
        self._compact()
        self._close_pack()
        manifest = dict(sorted(self.manifest.items()))
        pages = self.pages  # not sorted: read by key, and its pack names differ every build anyway
        (self.root / PAGES_INDEX).write_bytes(marshal.dumps(pages))
        (self.root / ".manifest.json").write_text(json.dumps(manifest, sort_keys=True), "utf-8")
        link_tmp = self.cache_dir / f".{TREE_LINK}.tmp"
        if link_tmp.is_symlink() or link_tmp.exists():
            link_tmp.unlink()
        link_tmp.symlink_to(self.root.name)
        os.replace(link_tmp, self.cache_dir / TREE_LINK)
        # If MkDocs fails after this, the caller puts the previous tree back (`restore_tree`);
        # otherwise `finish_tree` or the next build removes it.
        removed = len((set(self.old_manifest) | set(self.old_pages)) - (set(manifest) | set(pages)))
        return WriteStats(
            self.root,
            self.written,
            self.unchanged,
            removed,
            previous=self.old_root,
            files=tuple(sorted([*manifest, *pages])),
            pages=pages,
        )

    def abort(self) -> None:
        """Drop the new tree; the current one stays."""
        self._close_pack()
        shutil.rmtree(self.root, ignore_errors=True)


def _read_index(root: Path) -> dict[str, PageEntry]:
    pages = marshal.loads((root / PAGES_INDEX).read_bytes())
    if not isinstance(pages, dict):
        raise TypeError(f"{root / PAGES_INDEX} is not a page index")
    return pages


def read_tree(root: Path) -> dict[str, bytes]:
    """Every file of a generated tree by its docs-root path, pages read out of their packs."""
    manifest = json.loads((root / ".manifest.json").read_text("utf-8"))
    files = {rel: (root / rel).read_bytes() for rel in manifest}
    pages = _read_index(root)
    packs: dict[str, bytes] = {}
    for rel, (name, offset, length, _) in pages.items():
        if name not in packs:
            packs[name] = (root / PACK_DIR / name).read_bytes()
        files[rel] = packs[name][offset : offset + length]
    return dict(sorted(files.items()))


def finish_tree(stats: WriteStats) -> None:
    """The build that wrote `stats.root` succeeded: delete the tree it replaced."""
    if stats.previous is not None and stats.previous != stats.root:
        shutil.rmtree(stats.previous, ignore_errors=True)


def restore_tree(stats: WriteStats) -> None:
    """The build that wrote `stats.root` failed later: swap the previous tree back in atomically."""
    cache_dir = stats.root.parent
    link = cache_dir / TREE_LINK
    if stats.previous is None or not stats.previous.is_dir():
        if link.is_symlink() and link.resolve() == stats.root.resolve():
            link.unlink()
    else:
        link_tmp = cache_dir / f".{TREE_LINK}.tmp"
        if link_tmp.is_symlink() or link_tmp.exists():
            link_tmp.unlink()
        link_tmp.symlink_to(stats.previous.name)
        os.replace(link_tmp, link)
    if stats.root != stats.previous:
        shutil.rmtree(stats.root, ignore_errors=True)
