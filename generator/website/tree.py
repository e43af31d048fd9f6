"""The generated tree: pages packed into a few files, data files beside them, swapped in atomically.

`TreeWriter` writes a new tree in the cache folder (`tree-<n>/`), hard-linking unchanged pages and
files from the current one; `finish_tree` makes it current (one rename of the `current` link) only
when the whole build succeeded, so a failed build leaves the previous site's tree as it was.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import shutil
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TREE_LINK = "generated"
"""Name of the symlink (inside the cache dir) that points at the current generated tree."""


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
