"""Choose a source file's reader by its content: the real API formats are recognised by their
first bytes, root element or keys, whatever the file's extension; anything else goes to the
reader its extension is registered with (`readers.READERS`).

| content | reader |
| --- | --- |
| XML whose root is an Atom `<feed>` | `arxiv_atom` (arXiv API answer) |
| XML whose root is `<rss>` | `arxiv_rss` (arXiv announcement feed) |
| a JSON list whose items hold a `paper` object | `hf_daily` (Hugging Face Daily Papers) |
| JSON Lines whose first line has snapshot keys (`authors_parsed`, `versions`...) | `arxiv_snapshot` |
| anything else | the extension's reader: listing dumps (`.txt`), record files (`.yaml`, `.json`, `.jsonl`) |
"""

from __future__ import annotations

import json
from pathlib import Path

from generator.errors import Problem, SourceError
from generator.ingest import arxiv_atom, arxiv_rss, arxiv_snapshot, fields, hf_daily
from generator.ingest.source_text import Reader, decode_text
from generator.ingest.xmlparse import parse_xml
from generator.models import Listing

XML_SUFFIXES = frozenset({".xml", ".atom", ".rss"})
"""Extensions whose files must be XML (an arXiv API answer or an RSS feed)."""

_XML_STARTS = (b"<?xml", b"<feed", b"<rss")


class ContentReader:
    """A reader that looks at the content first, then falls back to `fallback` (the reader of the
    file's extension; None for the XML extensions, which have no other reader)."""

    def __init__(self, fallback: Reader | None) -> None:
        self.fallback = fallback

    def read(self, path: Path, name: str) -> tuple[Listing, list[Problem]]:
        """Read `path` with the reader its content calls for (see the module docstring)."""
        data = path.read_bytes()
        head = data[:4096].removeprefix(b"\xef\xbb\xbf").lstrip()
        shown = str(path)
        if head.startswith(_XML_STARTS) or (path.suffix.lower() in XML_SUFFIXES and head.startswith(b"<")):
            decode_text(path, data)  # empty, binary or not UTF-8: the same messages as other files
            return self._read_xml(shown, name, data)
        if path.suffix.lower() in XML_SUFFIXES or self.fallback is None:
            decode_text(path, data)
            raise SourceError(shown, 1, "expected XML (an arXiv API answer or an arXiv RSS feed)")
        if hf_daily.looks_like_hf(head):
            text = decode_text(path, data)
            try:
                parsed = json.loads(text, parse_int=lambda digits: int(digits) if len(digits) <= 20 else digits)
            except json.JSONDecodeError as exc:
                raise SourceError(shown, exc.lineno, f"invalid JSON: {exc.msg}") from None
            except RecursionError:
                raise SourceError(shown, None, "invalid JSON: nested too deeply") from None
            maker = fields.RecordMaker(name, shown)
            return hf_daily.read_hf(parsed, maker), maker.problems
        if head.startswith(b"{") and arxiv_snapshot.looks_like_snapshot(_first_line(data)):
            maker = fields.RecordMaker(name, shown)
            return arxiv_snapshot.read_snapshot(decode_text(path, data), maker), maker.problems
        return self.fallback.read(path, name)

    @staticmethod
    def _read_xml(path: str, name: str, data: bytes) -> tuple[Listing, list[Problem]]:
        """An Atom or RSS file's listing; any other XML is a `SourceError`."""
        root = parse_xml(path, data)
        maker = fields.RecordMaker(name, path)
        if arxiv_atom.is_atom(root):
            return arxiv_atom.read_atom(root, maker), maker.problems
        if arxiv_rss.is_rss(root):
            return arxiv_rss.read_rss(root, maker), maker.problems
        raise SourceError(path, 1, f"XML root <{root.tag[:60]}> is neither an Atom feed (arXiv API) nor an RSS feed")


def _first_line(data: bytes) -> bytes:
    """The first non-empty line of `data` (at most 1 MiB of it), BOM removed."""
    for line in data[: 2**20].removeprefix(b"\xef\xbb\xbf").splitlines():
        if line.strip():
            return line
    return b""
