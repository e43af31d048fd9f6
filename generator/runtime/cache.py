"""The one cache rule: a stage's cache is a folder named by the stage, its options and the code.

Every stage that keeps work between builds (read, similarity, topics, search, pages) gets its
folder from `stage_dir`: `<cache root>/<stage>-cache/<options>-<code>/`, where `<options>` is a
digest of the options the stage reads and `<code>` is `code_fingerprint()`, a digest of every
file of the installed `generator` package (its Python files, templates and data, in sorted
path order) and of the versions of Python and of the libraries whose results are cached. A
cache entry made by other code is therefore never read: editing a threshold, a template or a
text helper, or upgrading paper-digest or one of those libraries, gives new folders, and the
other code's folders of the stage are removed when it is asked for (so they do not pile up).
Nobody bumps a version by hand.

Inside its folder a stage keeps its own format and its own keys of its input (a file's bytes,
a paper's title and abstract, a segment's docs, a page's key), and treats a missing, damaged
or foreign file as nothing cached: a corrupt cache costs a rebuild, never a failure.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import platform
import shutil
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

log = logging.getLogger(__name__)

PACKAGE = Path(__file__).resolve().parents[1]
"""The installed `generator` package: what `code_fingerprint` hashes."""

LIBRARIES = (
    "datasketch",
    "jinja2",
    "lunr",
    "markdown",
    "markupsafe",
    "mkdocs-material",
    "numpy",
    "python-slugify",
    "pyyaml",
    "scikit-learn",
    "scipy",
)
"""Distributions whose code makes what the stages cache (parsing, tokens, models, search
segments, page HTML and heading ids): an upgrade of any of them invalidates every cache."""

KEEP_OPTIONS = 2
"""Folders of one stage kept for the current code: the one in use and the most recently used
other options (`mkdocs serve` builds with its own `site_url`, so serve and build alternate)."""


def _package_files(package: Path) -> Iterator[tuple[str, Path]]:
    """Every file of `package` by its relative POSIX path; bytecode and hidden files left out."""
    for folder, dirs, files in os.walk(package):
        dirs[:] = [d for d in dirs if d != "__pycache__" and not d.startswith(".")]
        for name in files:
            if name.startswith(".") or name.endswith((".pyc", ".pyo")):
                continue
            path = Path(folder) / name
            yield path.relative_to(package).as_posix(), path


def _library_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


def fingerprint_of(package: Path) -> str:
    """A digest of the bytes of every file of `package` (with their paths) and of the library versions."""
    digest = hashlib.blake2b(digest_size=10)
    for rel, path in sorted(_package_files(package)):
        data = path.read_bytes()
        digest.update(f"{rel}\0{len(data)}\0".encode("utf-8", "surrogateescape"))
        digest.update(data)
    versions = {name: _library_version(name) for name in LIBRARIES}
    versions["python"] = platform.python_version()
    digest.update(json.dumps(versions, sort_keys=True).encode())
    return digest.hexdigest()


@functools.cache
def code_fingerprint() -> str:
    """`fingerprint_of` this package, computed once per process (1.3 MB of files: a few ms)."""
    return fingerprint_of(PACKAGE)


def options_key(options: object) -> str:
    """A short digest of a stage's options (JSON values: strings, numbers, booleans, None, lists)."""
    text = json.dumps(options, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def stage_dir(root: Path, stage: str, options: object = None) -> Path:
    """The folder for `stage`'s cache under the cache root `root`, for these options and this code.

    Made when missing. Everything else in `<root>/<stage>-cache/` is removed but the folders of
    the same code for the `KEEP_OPTIONS - 1` most recently used other options: other code's
    folders, files of caches from before this rule, anything else. Failing to make or clean it
    is only logged (the stage then finds nothing cached and may fail to write: a slower build).
    """
    base = root / f"{stage}-cache"
    fingerprint = code_fingerprint()
    folder = base / f"{options_key(options)}-{fingerprint}"
    try:
        if base.exists() and not base.is_dir():
            base.unlink()
        folder.mkdir(parents=True, exist_ok=True)
        now = time.time_ns()  # not the file system's coarse clock: two calls a moment apart differ
        os.utime(folder, ns=(now, now))  # most recently used: what `KEEP_OPTIONS` goes by
        others = []
        for entry in base.iterdir():
            if entry == folder:
                continue
            if entry.name.endswith(f"-{fingerprint}") and entry.is_dir() and not entry.is_symlink():
                others.append(entry)
            else:
                _remove(entry)
        others.sort(key=lambda entry: entry.stat().st_mtime_ns, reverse=True)
        for entry in others[KEEP_OPTIONS - 1 :]:
            _remove(entry)
    except OSError as error:
        log.warning("paper-digest: cache folder %s: %s", folder, error)
    return folder


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)
