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

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence

from generator.config import BuildOptions
from generator.models import Corpus, Paper, Topics
from generator.runtime.cache import stage_dir
from generator.runtime.parallel import DEFAULT, Parallelism
from generator.website.bibtex import bibtex_entry, bibtex_file
from generator.website.datafiles import data_files
from generator.website.feeds import FeedEntry, absolute_url, latest_entries, make_feeds
from generator.website.latex_text import display_text
from generator.website.page_cache import BibCacheEntry, PageCache
from generator.website.page_model import InputDigests
from generator.website.paper_metadata import category_filters
from generator.website.search import SearchDoc, build_search_files

log = logging.getLogger(__name__)


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
    corpus: Corpus,
    options: BuildOptions,
    cache: PageCache | None = None,
    keys: Mapping[str, str] | None = None,
    digests: InputDigests | None = None,
) -> dict[str, bytes]:
    """`papers.bib`, or, when it would pass `data_shard_bytes`, its entries in parts of at most that size.

    Static hosts refuse big files (Cloudflare Pages: 25 MiB; papers.bib is 23.6 MB at 100k
    papers), so the entries (in the order of `bibtex_file`: by paper id) are cut between entries
    into `data/papers-0001.bib`, ... each with the file's header, and `papers.bib` is then a short
    BibTeX file of `@comment` lines naming the parts (BibTeX ignores it; a person reads it).
    """
    text = bib_file(corpus, options, cache, keys, digests)
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
    corpus: Corpus,
    options: BuildOptions,
    cache: PageCache | None = None,
    keys: Mapping[str, str] | None = None,
    digests: InputDigests | None = None,
) -> bytes:
    """`papers.bib` whole: a BibTeX entry per paper (entries of unchanged papers reused from `cache`).

    `keys`: each paper's citation key (the pages' `PageBuilder.cite_keys`); made here when not
    given. An entry is reused when the digest of what it is made by and from (`bibtex_entry`, the
    paper, its URL and key: `InputDigests.digest`, shared with the pages when `digests` is given)
    equals the cached one.
    """

    def url_for(paper: Paper) -> str:
        return absolute_url(options.site_url, paper.path)

    if cache is None:
        return bibtex_file(corpus.papers, url_for, keys=keys).encode("utf-8")
    made_from = digests or InputDigests()

    def entry(paper: Paper, *, url: str, key: str | None = None) -> str:
        digest = made_from.digest(bibtex_entry, paper.id, (paper, url, key))
        hit = cache.previous_bib.get(paper.id)
        text = hit.text if hit is not None and hit.key == digest else bibtex_entry(paper, url=url, key=key)
        cache.current_bib[paper.id] = BibCacheEntry(digest, text)
        return text

    text = bibtex_file(corpus.papers, url_for, entry, keys=keys)
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
