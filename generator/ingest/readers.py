"""Readers: turn source files into `Listing`s of raw records. All input I/O happens here.

A reader has one method, `read(path, name) -> (Listing, problems)`, and is registered for
file extensions in `READERS` (as Pelican's readers are): a new dump format is one new class.
Whole-file failures raise `SourceError`; problems with single entries are returned and the
entry is skipped or kept with a warning, never shifting the entries that follow.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
from collections.abc import Sequence
from pathlib import Path

from generator.errors import Problem, SourceError
from generator.ingest.listing import ListingReader
from generator.ingest.record_files import RecordFileReader
from generator.ingest.sniff import ContentReader
from generator.ingest.source_text import MAX_FILE_BYTES, Reader
from generator.models import Listing
from generator.text import normalise_text

log = logging.getLogger(__name__)


READERS: dict[str, Reader] = {
    ".txt": ContentReader(ListingReader()),
    ".yaml": RecordFileReader(),
    ".yml": RecordFileReader(),
    ".json": ContentReader(RecordFileReader()),
    ".jsonl": ContentReader(RecordFileReader()),
    # Real API formats (arXiv Atom and RSS, Hugging Face, arXiv snapshot) are chosen by content:
    # generator/ingest/sniff.py.
    ".xml": ContentReader(None),
    ".atom": ContentReader(None),
    ".rss": ContentReader(None),
}


def find_source_files(
    paths: Sequence[Path], exclude: Sequence[Path] = ()
) -> tuple[list[tuple[Path, str]], list[Problem]]:
    """Expand files and folders into (path, name) pairs sorted by name; names are relative to their folder.

    Inside a folder, hidden files and folders (`.paper-digest/`, `.git/`) and the `exclude`d
    folders (the built site, the cache) are never read: a sources folder over the whole project
    must not read the site's own `papers.json`. A name is what pages show: one that is not UTF-8
    or holds control or invisible characters is shown cleaned, with a warning.
    """
    found: dict[str, Path] = {}
    problems: list[Problem] = []
    excluded = [folder.resolve() for folder in exclude]
    for given in paths:
        if given.is_dir():
            inside = [folder for folder in excluded if folder.is_relative_to(given.resolve()) and folder.exists()]
            for folder in inside:
                problems.append(Problem("warning", str(given), None, f"holds {folder}, which is not read as sources"))
            for path in sorted(given.rglob("*")):
                relative = path.relative_to(given)
                if (
                    path.suffix.lower() not in READERS
                    or any(part.startswith(".") for part in relative.parts)
                    or any(path.resolve().is_relative_to(folder) for folder in inside)
                    or not path.is_file()
                ):
                    continue
                name = _clean_name(relative.as_posix(), path, problems)
                if name in found and found[name] != path:
                    problems.append(Problem("error", _shown(path), None, f"another source is named {name!r}; skipped"))
                    continue
                found[name] = path
        elif given.is_file():
            if given.suffix.lower() not in READERS:
                problems.append(
                    Problem("error", _shown(given), None, f"unsupported file type {_shown(given.suffix)!r}; skipped")
                )
                continue
            found.setdefault(_clean_name(given.name, given, problems), given)
        else:
            problems.append(Problem("error", _shown(given), None, "sources path does not exist"))
    return sorted(((path, name) for name, path in found.items()), key=lambda pair: pair[1]), problems


def _shown(path: Path | str) -> str:
    """A path as text that can be printed and written (bytes that are not UTF-8 become U+FFFD)."""
    return os.fsencode(path).decode("utf-8", "replace")


def _clean_name(name: str, path: Path, problems: list[Problem]) -> str:
    """A source's name as pages show it: valid UTF-8, no control or invisible characters."""
    cleaned = "/".join(normalise_text(part) or "_" for part in _shown(name).split("/"))
    if cleaned != name:
        problems.append(
            Problem(
                "warning",
                _shown(path),
                None,
                f"the file name is not UTF-8 or holds control or invisible characters; shown as {cleaned!r}",
            )
        )
    return cleaned


def read_sources(
    paths: Sequence[Path], cache_dir: Path | None = None, exclude: Sequence[Path] = ()
) -> tuple[list[Listing], list[Problem]]:
    """Read every source file under `paths`; a file that cannot be read is reported and skipped.

    With `cache_dir` (the read stage's folder from `cache.stage_dir`, which is only ever used by
    the same code), a file whose path, name and bytes were read before is not parsed again: its
    listing and problems come from `cache_dir/<digest>.pickle` (files no longer read are removed;
    a damaged cache file is ignored). `exclude`: folders never read (see `find_source_files`).
    """
    files, problems = find_source_files(paths, exclude)
    listings: list[Listing] = []
    used: set[str] = set()
    for path, name in files:
        reader = READERS[path.suffix.lower()]
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise SourceError(
                    _shown(path), None, f"{size / 2**20:.0f} MiB, over the limit of {MAX_FILE_BYTES // 2**20} MiB "
                    "for one source file (split it)"
                )  # fmt: skip
            cached = None
            if cache_dir is not None:
                digest = hashlib.blake2b(
                    repr((str(path), name)).encode() + path.read_bytes(), digest_size=16
                ).hexdigest()
                used.add(digest)
                cached = _read_cached(cache_dir / f"{digest}.pickle")
            if cached is not None:
                listing, found = cached
            else:
                listing, found = reader.read(path, name)
                if cache_dir is not None:
                    _write_cached(cache_dir / f"{digest}.pickle", (listing, found))
        except SourceError as exc:
            problems.append(Problem("error", exc.path, exc.line, f"{exc.message}; file skipped"))
            continue
        except OSError as exc:
            problems.append(Problem("error", _shown(path), None, f"cannot read: {exc.strerror}; file skipped"))
            continue
        listings.append(listing)
        problems.extend(found)
    if cache_dir is not None and cache_dir.is_dir():
        for stale in cache_dir.glob("*.pickle"):
            if stale.stem not in used:
                stale.unlink(missing_ok=True)
    return listings, problems


def _read_cached(path: Path) -> tuple[Listing, list[Problem]] | None:
    try:
        with path.open("rb") as handle:
            value = pickle.load(handle)  # our own file in our cache dir
    except FileNotFoundError:
        return None
    except Exception:  # a damaged cache file only costs a parse
        return None
    if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], Listing)):
        return None
    return value[0], list(value[1])


def _write_cached(path: Path, value: tuple[Listing, list[Problem]]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("paper-digest: cannot write the read cache %s: %s", path, exc)
