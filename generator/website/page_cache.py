"""The page cache: what the previous build rendered, by path, and when it may be reused.

A page is carried over (hard-linked from the previous tree) when its key (`page_model.InputDigests`:
a digest of the function that makes it and the inputs it is made from) equals the cached one; the cache lives in
the pages stage's folder for these options and this code (`cache.stage_dir`), so a change of code,
templates or options starts it afresh. BibTeX entries are cached beside it (`bib.pickle`).
"""

from __future__ import annotations

import itertools
import logging
import os
import pickle
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from generator.config import BuildOptions
from generator.runtime.cache import stage_dir
from generator.website.page_model import PageSpec
from generator.website.render import RenderedPage, render_page
from generator.website.tree import TreeWriter

log = logging.getLogger(__name__)


class CacheEntry(NamedTuple):
    """A page of a previous build, as the page cache keeps it."""

    key: str
    """The digest of what the page was made by and from (`page_model.InputDigests.key`)."""
    digest: str
    """The digest of its bytes (the tree's index finds the bytes by it)."""
    page: RenderedPage
    """What the plugin needs of it."""


class BibCacheEntry(NamedTuple):
    """A paper's entry of a previous `papers.bib`."""

    key: str
    """The digest of what the entry was made by and from (`page_model.InputDigests.digest`)."""
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
        """BibTeX of `papers.bib` by paper id: (the digest of what the entry is made from, the entry)."""
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
    """The options a page's bytes depend on besides its spec (BibTeX entries too: `site_url`)."""
    return [options.site_name, options.site_url, options.directory_urls, options.similar_count, options.page_size]


def page_cache_dir(options: BuildOptions) -> Path:
    """The pages stage's cache folder for these options and this code (`cache.stage_dir`)."""
    return stage_dir(options.cache_dir, "pages", page_options(options))


def carry_over(path: str, key: str, writer: TreeWriter, cache: PageCache, rendered: dict[str, RenderedPage]) -> bool:
    """Hard-link the page at `path` from the previous tree when the cache has it with the same key."""
    hit = cache.previous.get(path)
    if hit is None or hit.key != key or not writer.reuse_page(path, hit.digest):
        return False
    rendered[path] = hit.page
    cache.current[path] = hit
    return True


def render_keyed(
    pages: Iterable[tuple[PageSpec, str | None]],
    options: BuildOptions,
    writer: TreeWriter,
    rendered: dict[str, RenderedPage],
    cache: PageCache | None = None,
) -> None:
    """Render and write each page spec; record it under its key (when it has one) for the next build."""
    for spec, key in pages:
        data, result = render_page(spec, options)
        digest = writer.write_page(spec.path, data)
        rendered[spec.path] = result
        if cache is not None and key is not None:
            cache.current[spec.path] = CacheEntry(key, digest, result)
