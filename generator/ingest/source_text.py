"""What every reader shares: the reader interface, decoding a file's bytes, and the length limits.

A file is decoded as UTF-8 (a BOM dropped, undecodable bytes and control characters reported
with their line); titles and abstracts longer than MAX_TITLE_CHARS / MAX_ABSTRACT_CHARS are cut
with an ellipsis and a warning (`limit_lengths`), so no record costs unbounded work later.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from generator.errors import Problem, SourceError
from generator.models import Listing
from generator.text import normalise_text


class Reader(Protocol):
    """The reader contract: read one file into a listing, reporting per-entry problems."""

    def read(self, path: Path, name: str) -> tuple[Listing, list[Problem]]:
        """Read `path` (shown to people as `name`); raise `SourceError` if nothing can be read."""
        ...


_CONTROL_BYTES = bytes([*range(9), *range(14, 32)])
"""Bytes that make a file look binary when they are many (tab, line ends, VT, FF are text)."""


def decode_text(path: Path, data: bytes) -> str:
    """Decode UTF-8 text (BOM allowed); raise `SourceError` for empty, binary or non-UTF-8 files."""
    if not data.replace(b"\xef\xbb\xbf", b"").strip(b" \t\r\n\x00"):
        raise SourceError(str(path), None, "empty file")
    head = data[:4096]
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    if controls > max(8, len(head) // 10):
        raise SourceError(str(path), None, "binary file (not a text listing)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SourceError(str(path), line, f"not UTF-8 text (byte 0x{data[exc.start]:02x})") from None


def split_lines(text: str) -> list[str]:
    """Lines without their ends (LF, CRLF or CR), trailing space and control characters removed."""
    return [normalise_text(line) for line in re.split(r"\r\n|\r|\n", text)]


def limit_lengths(title: str, abstract: str, warn: Callable[[str], None]) -> tuple[str, str]:
    """Title and abstract cut to `MAX_TITLE_CHARS` and `MAX_ABSTRACT_CHARS` (see `cut_text`), with a warning."""
    if len(title) > MAX_TITLE_CHARS:
        warn(f"title of {len(title):,} characters cut to {MAX_TITLE_CHARS:,}: {title[:60]!r}")
        title = cut_text(title, MAX_TITLE_CHARS)
    if len(abstract) > MAX_ABSTRACT_CHARS:
        warn(f"abstract of {len(abstract):,} characters cut to {MAX_ABSTRACT_CHARS:,}: {title[:60]!r}")
        abstract = cut_text(abstract, MAX_ABSTRACT_CHARS)
    return title, abstract


MAX_FILE_BYTES = 64 * 2**20
"""A larger source file is refused before it is read (split it): 64 MiB, 600 times a day's listing."""


MAX_TITLE_CHARS = 2000
"""Longer titles are cut at a word boundary, with "…" and a warning (arXiv titles stay under 300)."""


MAX_ABSTRACT_CHARS = 10_000
"""Longer abstracts are cut the same way (arXiv allows 1,920 characters)."""


def cut_text(text: str, limit: int) -> str:
    """`text` when at most `limit` characters, else cut at a word boundary and ended with "…"."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    space = head.rfind(" ", limit // 2)
    return (head[:space] if space > 0 else head).rstrip() + "…"
