"""Readers: turn source files into `Listing`s of raw records. All input I/O happens here.

A reader has one method, `read(path, name) -> (Listing, problems)`, and is registered for
file extensions in `READERS` (as Pelican's readers are): a new dump format is one new class.
Whole-file failures raise `SourceError`; problems with single entries are returned and the
entry is skipped or kept with a warning, never shifting the entries that follow.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import pickle
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import yaml

from generator.errors import Problem, SourceError
from generator.ingest.sniff import ContentReader
from generator.models import Listing, RawRecord
from generator.text import normalise_text

log = logging.getLogger(__name__)

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_HEADER_DATE = re.compile(r"^([A-Za-z]{3,9})\.?\s+(\d{1,2})(?:,?\s+(\d{4}))?$")
_HEADER_LINES = (
    re.compile(r"^new$", re.I),
    re.compile(r"^get trending papers in your email inbox\b.*$", re.I),
    re.compile(r"^subscribe$", re.I),
    re.compile(r"^by\s*ak and the research community$", re.I),
)
_SUBSCRIBE = re.compile(r"^subscribe(?=\S)", re.I)
# A sentence boundary: ". " or "! " then a capital; "?" is left out because titles ask questions.
_SENTENCE_END = re.compile(
    r"(?<!\bvs)(?<!\be\.g)(?<!\bi\.e)(?<!\bal)(?<!\bFig)(?<!\bEq)(?<!\bet)[.!][\"')\]]?\s+[A-Z(\"']"
)
_ABSTRACT_OPENERS = re.compile(
    r"^(we|in this|this (paper|work|study|article)|here,? we|recent|despite|although|while|"
    r"large language models|the |a |an |our )\b",
    re.I,
)
_ARXIV_ID = re.compile(r"^(?:arxiv:)?(\d{4}\.\d{4,5}|[a-z][a-z.\-]*/\d{7})(?:v\d+)?$", re.I)


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


def parse_header_date(line: str) -> tuple[int, int] | None:
    """(month, day) from a header date line such as `May 29`, or None."""
    match = _HEADER_DATE.match(line.strip())
    if not match or match.group(3):
        return None
    month = MONTHS.get(match.group(1).lower())
    day = int(match.group(2))
    if month is None or not 1 <= day <= 31:
        return None
    return month, day


def looks_like_abstract(line: str) -> bool | None:
    """True for abstract-shaped text, False for title-shaped, None when the shape does not say."""
    if len(line) >= 300:  # checked first: most lines are long abstracts and the regex is costly
        return True
    sentences = len(_SENTENCE_END.findall(line))
    if sentences >= 2 or (sentences >= 1 and line.endswith(".")):
        return True
    if len(line) <= 250 and sentences == 0 and not line.endswith("."):
        # A short, cut-off abstract has a title's length but a sentence's opening.
        return None if len(line) >= 100 and _ABSTRACT_OPENERS.match(line) else False
    return None


class ListingReader:
    """Reader for scraped listing pages (`.txt`): layout A (search/trending) and B (daily)."""

    def read(self, path: Path, name: str) -> tuple[Listing, list[Problem]]:
        """Read a listing dump; see `pair_entries` for how titles and abstracts are told apart."""
        lines = split_lines(decode_text(path, path.read_bytes()))
        numbered = [(number, line) for number, line in enumerate(lines, start=1) if line]
        if not numbered:
            raise SourceError(str(path), None, "empty file")
        layout, header_date, body = self._split_header(path, numbered)
        problems: list[Problem] = []
        records = list(self._pair_entries(name, str(path), body, problems))
        if not records:
            raise SourceError(str(path), None, f"no papers found in this {layout} listing")
        return Listing(name, str(path), layout, tuple(records), header_date), problems

    def _split_header(
        self, path: Path, numbered: list[tuple[int, str]]
    ) -> tuple[str, tuple[int, int] | None, list[tuple[int, str]]]:
        """Recognise the layout by its header lines; return (layout, header date, body lines)."""
        index = 0
        seen: list[str] = []
        header_date: tuple[int, int] | None = None
        while index < len(numbered) and index < 8:
            line = numbered[index][1]
            if any(pattern.match(line) for pattern in _HEADER_LINES):
                seen.append(line.lower())
            elif seen and header_date is None and parse_header_date(line):
                header_date = parse_header_date(line)
            else:
                break
            index += 1
        body = numbered[index:]
        if body and _SUBSCRIBE.match(body[0][1]):
            # Layout A glues the first title to the "Subscribe" button's label.
            number, line = body[0]
            body = [(number, _SUBSCRIBE.sub("", line).strip()), *body[1:]]
            seen.append("subscribe")
        if not any(line.startswith("get trending papers") for line in seen):
            first = numbered[0]
            raise SourceError(
                str(path),
                first[0],
                f"unknown layout: expected a listing page header, found {first[1][:60]!r}",
            )
        layout = "listing-b" if (header_date or "new" in seen or any("byak" in s for s in seen)) else "listing-a"
        return layout, header_date, body

    def _pair_entries(
        self, name: str, path: str, body: Sequence[tuple[int, str]], problems: list[Problem]
    ) -> Iterator[RawRecord]:
        """Pair titles with abstracts by shape, expecting alternation when the shape is unclear."""
        position = 0
        pending: tuple[int, str] | None = None
        for number, line in body:
            shape = looks_like_abstract(line)
            is_abstract = (pending is not None) if shape is None else shape
            if pending is None and is_abstract and shape is None:
                is_abstract = False
            if is_abstract and pending is None:
                problems.append(Problem("error", path, number, "abstract without a title; skipped"))
                continue
            if is_abstract and pending is not None:
                position += 1
                yield self._record(name, path, pending, line, position, problems)
                pending = None
                continue
            if pending is not None:
                position += 1
                yield self._record(name, path, pending, "", position, problems)
            pending = (number, line)
        if pending is not None:
            position += 1
            yield self._record(name, path, pending, "", position, problems)

    @staticmethod
    def _record(
        name: str, path: str, title_line: tuple[int, str], abstract: str, position: int, problems: list[Problem]
    ) -> RawRecord:
        """The record of a title line and its abstract line ("" when none followed)."""
        number, line = title_line
        title, abstract = limit_lengths(
            line, abstract, lambda message: problems.append(Problem("warning", path, number, message))
        )
        if not abstract:
            problems.append(Problem("warning", path, number, f"title without an abstract: {title[:80]!r}"))
        return RawRecord(name, number, position, title, abstract, normalised=True)


def limit_lengths(title: str, abstract: str, warn: Callable[[str], None]) -> tuple[str, str]:
    """Title and abstract cut to `MAX_TITLE_CHARS` and `MAX_ABSTRACT_CHARS` (see `cut_text`), with a warning."""
    if len(title) > MAX_TITLE_CHARS:
        warn(f"title of {len(title):,} characters cut to {MAX_TITLE_CHARS:,}: {title[:60]!r}")
        title = cut_text(title, MAX_TITLE_CHARS)
    if len(abstract) > MAX_ABSTRACT_CHARS:
        warn(f"abstract of {len(abstract):,} characters cut to {MAX_ABSTRACT_CHARS:,}: {title[:60]!r}")
        abstract = cut_text(abstract, MAX_ABSTRACT_CHARS)
    return title, abstract


class _YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that an impossible date (`2025-02-30`) or an absurd integer
    stays text.

    PyYAML raises ValueError for an impossible date, and `str()` for an integer of over 4300
    digits, losing the whole file; as text, the one record's field is reported and ignored.
    """

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> Any:
        try:
            value = super().construct_yaml_int(node)
        except ValueError:
            return self.construct_scalar(node)
        return value if value.bit_length() <= 64 else self.construct_scalar(node)


_YamlLoader.add_constructor("tag:yaml.org,2002:timestamp", _YamlLoader.construct_yaml_timestamp)
_YamlLoader.add_constructor("tag:yaml.org,2002:int", _YamlLoader.construct_yaml_int)


def _parse_json_int(digits: str) -> int | str:
    """A JSON integer; an absurdly long one stays text (int() refuses over 4300 digits)."""
    return int(digits) if len(digits) <= 20 else digits


def _load_yaml(text: str) -> tuple[Any, Any]:
    """(node, data) of a one-document YAML text, composed once (nodes give records' lines)."""
    loader = _YamlLoader(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def _reason(exc: Exception) -> str:
    """A person's reason for a JSON or YAML loading failure other than a syntax error."""
    if isinstance(exc, json.JSONDecodeError):
        return exc.msg
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if "integer string conversion" in str(exc):
        return "a number has too many digits"
    return str(exc)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(value: Any) -> bool:
    """True for text (or a list holding text) with UTF-16 surrogates, which only JSON and YAML
    escapes such as `\\ud800` can make: a lone one cannot be written out."""
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    return isinstance(value, list) and any(isinstance(v, str) and _SURROGATE.search(v) for v in value)


def _join_surrogates(value: Any) -> Any:
    """Escaped surrogate pairs (YAML's `\\ud83d\\ude80`) joined into their character; lone
    surrogates are left for `normalise_text` to remove."""
    if isinstance(value, list):
        return [_join_surrogates(v) for v in value]
    if isinstance(value, str) and _SURROGATE.search(value):
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return value


@dataclass(frozen=True)
class _Refused:
    """A record the reader will not use, with the reason (reported in its place)."""

    reason: str


def _bound_aliases(sequence: yaml.SequenceNode, data: list[Any]) -> Iterator[Any]:
    """The records, except those past `MAX_ALIAS_CHARS` of text added by YAML aliases.

    An alias is one node however often it is used, so loading costs nothing; the text it stands
    for is paid again by every record that uses it (pages, search, similarity). A record's
    expanded size beyond its own span in the file is what aliases added to it.
    """
    sizes: dict[int, int] = {}
    seen: set[int] = set()
    budget = MAX_ALIAS_CHARS
    for child, item in zip(sequence.value, data, strict=True):
        expanded = _expanded_chars(child, sizes)
        written = 0 if id(child) in seen else child.end_mark.index - child.start_mark.index
        seen.add(id(child))
        budget -= max(0, expanded - written)
        if budget < 0:
            yield _Refused(
                f"YAML aliases expand this record to {expanded:,} characters, past the file's limit of "
                f"{MAX_ALIAS_CHARS:,} characters added by aliases"
            )
        else:
            yield item


def _expanded_chars(root: yaml.Node, sizes: dict[int, int]) -> int:
    """Characters of scalar text under `root` with every alias expanded (memoised in `sizes`;
    a node that contains itself counts once)."""
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = len(str(node.value))
            continue
        children = node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair]
        if children_done:
            sizes[id(node)] = sum(sizes.get(id(c), 0) for c in children)
            open_nodes.discard(id(node))
        elif id(node) not in open_nodes:
            open_nodes.add(id(node))
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes and id(c) not in open_nodes)
    return sizes[id(root)]


class RecordFileReader:
    """Reader for record files: YAML (a list), JSON (a list or `{"papers": [...]}`), JSON Lines."""

    FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"title", "abstract", "id", "arxiv_id", "url", "authors", "date", "source"}
    )

    def read(self, path: Path, name: str) -> tuple[Listing, list[Problem]]:
        """Read every record; invalid ones are reported with their line or number and skipped."""
        text = decode_text(path, path.read_bytes())
        suffix = path.suffix.lower()
        problems: list[Problem] = []
        items = list(self._load(path, suffix, text, problems))
        records: list[RawRecord] = []
        for number, (line, item) in enumerate(items, start=1):
            record = self._record(name, str(path), number, line, len(records) + 1, item, problems)
            if record is not None:
                records.append(record)
        layout = {".yml": "yaml", ".yaml": "yaml"}.get(suffix, suffix.lstrip("."))
        return Listing(name, str(path), layout, tuple(records)), problems

    def _load(self, path: Path, suffix: str, text: str, problems: list[Problem]) -> Iterable[tuple[int | None, Any]]:
        """(line or None, raw item) pairs from the file; whole-file syntax errors raise SourceError."""
        if suffix == ".jsonl":
            # Only line ends end a record: str.splitlines would also split at U+2028 in a string.
            for number, line in enumerate(re.split(r"\r\n|\r|\n", text), start=1):
                if not line.strip():
                    continue
                try:
                    yield number, json.loads(line, parse_int=_parse_json_int)
                except (ValueError, RecursionError) as exc:
                    problems.append(Problem("error", str(path), number, f"invalid JSON: {_reason(exc)}; skipped"))
            return
        if suffix == ".json":
            try:
                data = json.loads(text, parse_int=_parse_json_int)
            except (ValueError, RecursionError) as exc:
                line = exc.lineno if isinstance(exc, json.JSONDecodeError) else None
                raise SourceError(str(path), line, f"invalid JSON: {_reason(exc)}") from None
            if isinstance(data, dict) and isinstance(data.get("papers"), list):
                data = data["papers"]
            if not isinstance(data, list):
                raise SourceError(str(path), 1, 'expected a list of records or {"papers": [...]}')
            yield from ((None, item) for item in data)
            return
        try:
            node, data = _load_yaml(text)
        except (ValueError, RecursionError) as exc:
            raise SourceError(str(path), None, f"invalid YAML: {_reason(exc)}") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            error_line: int | None = mark.line + 1 if mark is not None else None
            raise SourceError(str(path), error_line, f"invalid YAML: {getattr(exc, 'problem', exc)}") from None
        if isinstance(data, dict) and isinstance(data.get("papers"), list):
            data = data["papers"]
            # The last `papers:` wins, as in the loaded data; a merge key (`<<:`) has no node here.
            nodes = [v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == "papers"]
            node = nodes[-1] if nodes else None
        if not isinstance(data, list):
            raise SourceError(str(path), 1, "expected a list of records")
        if isinstance(node, yaml.SequenceNode) and len(node.value) == len(data):
            yield from zip([child.start_mark.line + 1 for child in node.value], _bound_aliases(node, data), strict=True)
        else:
            yield from ((None, item) for item in data)

    def _record(
        self,
        name: str,
        path: str,
        number: int,
        line: int | None,
        position: int,
        item: Any,
        problems: list[Problem],
    ) -> RawRecord | None:
        """Validate one record; report and return None when it cannot be used."""

        def problem(level: str, message: str) -> None:
            problems.append(Problem(level, path, line, message, record=number))  # type: ignore[arg-type]

        if isinstance(item, _Refused):
            problem("error", f"{item.reason}; skipped")
            return None
        if not isinstance(item, dict):
            problem("error", f"record is a {type(item).__name__}, not a mapping; skipped")
            return None
        broken = sorted(str(key) for key, value in item.items() if _has_surrogate(value))
        if broken:
            problem("warning", f"field(s) {', '.join(broken)} hold lone UTF-16 surrogates (not text); removed")
            item = {key: _join_surrogates(value) for key, value in item.items()}
        unknown = sorted(set(map(str, item)) - self.FIELDS)
        if unknown:
            problem("warning", f"unknown field(s) {', '.join(unknown)} ignored")
        title = item.get("title")
        abstract = item.get("abstract")
        for field, value in (("title", title), ("abstract", abstract)):
            if value is not None and not isinstance(value, str):
                # YAML reads `title: 1995` as a number: say so instead of "without a title".
                problem("error", f"field {field!r} must be text (quote it), not {type(value).__name__} "
                                 f"{str(value)[:40]!r}; skipped")  # fmt: skip
                return None
        title = normalise_text(title) if isinstance(title, str) else ""
        if not title:
            problem("error", "record without a title; skipped")
            return None
        if not isinstance(abstract, str):
            problem("error", "record without an abstract (field 'abstract' is required); skipped")
            return None
        title, abstract = limit_lengths(title, normalise_text(abstract), lambda text: problem("warning", text))
        if not abstract:
            problem("warning", f"empty abstract: {title[:80]!r}")
        arxiv_id = self._arxiv_id(item.get("arxiv_id"), problem)
        url = item.get("url")
        if url is not None and not (
            isinstance(url, str) and re.match(r"^https?://\S+$", url.strip()) and url.strip() == normalise_text(url)
        ):
            problem("warning", f"field 'url' must be an http(s) URL; ignored: {str(url)[:60]!r}")
            url = None
        authors = item.get("authors") or []
        if isinstance(authors, str):
            authors = [authors]
        if not isinstance(authors, list) or not all(isinstance(a, str) for a in authors):
            problem("warning", "field 'authors' must be a list of names; ignored")
            authors = []
        record_id = item.get("id")
        if record_id is not None and not isinstance(record_id, (str, int)):
            problem("warning", "field 'id' must be a string; ignored")
            record_id = None
        source = item.get("source")
        if source is not None and not (isinstance(source, str) and normalise_text(source)):
            problem("warning", "field 'source' must be a non-empty string; ignored")
            source = None
        return RawRecord(
            source=normalise_text(source) if source else name,
            line=line or number,
            position=position,
            title=title,
            abstract=abstract,
            normalised=True,
            id=str(record_id).strip() if record_id is not None else None,
            arxiv_id=arxiv_id,
            url=url.strip() if isinstance(url, str) else None,
            authors=tuple(normalise_text(a) for a in authors if normalise_text(a)),
            date=self._date(item.get("date"), problem),
        )

    @staticmethod
    def _arxiv_id(value: Any, problem: Any) -> str | None:
        if value is None:
            return None
        match = _ARXIV_ID.match(str(value).strip())
        if not match:
            problem("warning", f"field 'arxiv_id' is not an arXiv identifier; ignored: {str(value)[:40]!r}")
            return None
        return match.group(1).lower()

    @staticmethod
    def _date(value: Any, problem: Any) -> dt.date | None:
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        text = str(value).strip()
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            problem("warning", f"field 'date' must be YYYY-MM-DD; ignored: {text[:40]!r}")
            return None
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            problem("warning", f"impossible date {text!r} ignored")
            return None


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


MAX_FILE_BYTES = 64 * 2**20
"""A larger source file is refused before it is read (split it): 64 MiB, 600 times a day's listing."""
MAX_TITLE_CHARS = 2000
"""Longer titles are cut at a word boundary, with "…" and a warning (arXiv titles stay under 300)."""
MAX_ABSTRACT_CHARS = 10_000
"""Longer abstracts are cut the same way (arXiv allows 1,920 characters)."""
MAX_ALIAS_CHARS = 1_000_000
"""Text that YAML aliases may add to a file when expanded; records past that are skipped."""


def cut_text(text: str, limit: int) -> str:
    """`text` when at most `limit` characters, else cut at a word boundary and ended with "…"."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    space = head.rfind(" ", limit // 2)
    return (head[:space] if space > 0 else head).rstrip() + "…"


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
