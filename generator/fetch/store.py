"""Where fetched answers go: one file per source and day, written whole or not at all.

A file is written to a hidden temporary name in the folder (the readers never read hidden
files) and renamed over its final name, so a failed or killed fetch leaves no partial file and
the folder as it was. Fetching a day that is already on disk again is idempotent:

- the same items as the file holds (compared item by item, not byte by byte, since an API's
  answer also carries the time it was made): nothing is written;
- different items (Hugging Face's list grows during the day; upvotes change): the file is
  replaced by the new answer plus every item of the old file that the new answer no longer
  has, so a paper once published from that day is never dropped.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from generator.fetch.answers import AnswerKind, InvalidAnswer
from generator.fetch.client import FetchError


@dataclass(frozen=True)
class Saved:
    """What saving an answer did."""

    path: Path
    """The source file."""
    outcome: Literal["new", "unchanged", "updated"]
    """A new file; the file already held these items; the file was replaced."""
    items: int
    """Items (papers) in the file now."""
    kept: int = 0
    """Items of the old file that the new answer no longer had, kept."""


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a hidden temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def save_answer(folder: Path, name: str, body: bytes, kind: AnswerKind) -> Saved:
    """Save `body` as `folder/name`, idempotently (see the module docstring)."""
    path = folder / name
    new_items = kind.items(body)
    if path.is_dir():
        raise FetchError(f"{path}: is a folder; nothing written")
    if not path.exists():
        _write(path, body)
        return Saved(path, "new", len({key for key, _ in new_items}))
    try:
        old = path.read_bytes()
        old_items = kind.items(old)
    except (OSError, InvalidAnswer) as exc:
        raise FetchError(f"{path}: already there and not a readable {kind.name} ({exc}); left as it is") from None
    if old == body or old_items == new_items:
        return Saved(path, "unchanged", len({key for key, _ in old_items}))
    combined = kind.union([body, old])
    new_keys = {key for key, _ in new_items}
    kept = len({key for key, _ in old_items} - new_keys)
    _write(path, combined)
    return Saved(path, "updated", len(new_keys) + kept, kept)


def _write(path: Path, data: bytes) -> None:
    try:
        write_atomically(path, data)
    except OSError as exc:
        raise FetchError(f"{path}: cannot write ({exc.strerror or exc}); nothing written") from None
