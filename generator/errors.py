"""The exception hierarchy and the problem records every stage reports instead of raising."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from generator.text import INVISIBLE


class DigestError(Exception):
    """Base class of every error paper-digest raises on purpose."""


class ConfigError(DigestError):
    """The configuration is unusable (a bad value, an unknown key, a missing file)."""


def printable(text: str) -> str:
    """`text` as it can be printed and written: lone UTF-16 surrogates (from a JSON `\\ud800` or a
    file name that is not UTF-8) become U+FFFD, and control and invisible characters are shown
    as escapes (`\\x1b`), so a message cannot move a terminal's cursor or hide its own text."""
    if _UNPRINTABLE.search(text) is None:
        return text
    text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


_UNPRINTABLE = re.compile(f"[{INVISIBLE}\r]")


class SourceError(DigestError):
    """A source file, or a place in it, cannot be read."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = path = printable(path)
        self.line = line
        self.message = message = printable(message)
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")


@dataclass(frozen=True)
class Problem:
    """Something wrong with the input, reported with its place; the build goes on without it."""

    level: Literal["error", "warning"]
    """`error`: data was skipped (a file or a record). `warning`: data was kept, with a caveat."""
    path: str
    """The source file (as given in the configuration), or `mkdocs.yml` for configuration problems."""
    line: int | None
    """1-based line in the file, when known."""
    message: str
    """What is wrong, for a person."""
    record: int | None = None
    """1-based record number for structured files (YAML/JSON), when the line is not known."""

    def __post_init__(self) -> None:
        # Messages quote the input, which may hold what cannot be printed (see `printable`).
        object.__setattr__(self, "path", printable(self.path))
        object.__setattr__(self, "message", printable(self.message))

    def __str__(self) -> str:
        place = self.path
        if self.line is not None:
            place += f":{self.line}"
        if self.record is not None:
            place += f" (record {self.record})"
        return f"{place}: {self.message}"
