"""The reader of record files (`.yaml`, `.yml`, `.json`, `.jsonl`): one mapping per paper.

YAML is loaded safely with a budget on what aliases may add (MAX_ALIAS_CHARS a file), lone
surrogates in JSON strings are reported (escaped pairs are joined), and every record is checked
field by field: a bad record is a problem naming the file and the record, the others are kept.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import yaml

from generator.errors import Problem, SourceError
from generator.ingest.fields import categories, category, http_url, short_text, upvotes
from generator.ingest.listing import _ARXIV_ID
from generator.ingest.source_text import decode_text, limit_lengths
from generator.models import Listing, Metadata, RawRecord
from generator.text import normalise_text


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


_METADATA_CHECKS: tuple[tuple[str, Callable[[Any], Any], str], ...] = (
    ("doi", short_text, "text"),
    ("journal_ref", short_text, "text"),
    ("comment", short_text, "text"),
    ("code_url", http_url, "an http(s) URL"),
    ("upvotes", upvotes, "a count (0 or more)"),
)
"""The `Metadata` fields a record file may give that one helper of the API readers checks (None: refused)."""


class RecordFileReader:
    """Reader for record files: YAML (a list), JSON (a list or `{"papers": [...]}`), JSON Lines."""

    FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"title", "abstract", "id", "arxiv_id", "url", "authors", "date", "source"} | {f.name for f in fields(Metadata)}
    )
    """A record's fields: its text, ids, links, authors, date and digest, and every `Metadata` field
    (`categories`, `primary_category`, `doi`, `journal_ref`, `comment`, `code_url`, `upvotes`,
    `published`), which a record file gives the way the arXiv and Hugging Face formats do."""

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
            **self._metadata(item, problem),
        )

    def _metadata(self, item: dict[str, Any], problem: Any) -> dict[str, Any]:
        """The `Metadata` fields a record gives, each checked like the API formats' (a bad one: a warning)."""
        out: dict[str, Any] = {}
        given = {name: item[name] for name in (f.name for f in fields(Metadata)) if item.get(name) is not None}
        primary = None
        if "primary_category" in given:
            primary = category(given["primary_category"])
            if primary is None:
                problem("warning", f"field 'primary_category' is not an arXiv category; ignored: "
                                   f"{str(given['primary_category'])[:40]!r}")  # fmt: skip
        listed: list[Any] = []
        if "categories" in given:
            value = given["categories"]
            listed = value.replace(",", " ").split() if isinstance(value, str) else value
            if not isinstance(listed, list):
                problem("warning", "field 'categories' must be a list of arXiv categories (cs.CL); ignored")
                listed = []
            checked = [(c, category(c)) for c in listed]
            listed = [found for _, found in checked if found is not None]
            bad = [str(c)[:20] for c, found in checked if found is None]
            if bad:
                problem(
                    "warning", f"field 'categories': not arXiv categories, ignored: {', '.join(map(repr, bad[:5]))}"
                )
        found = categories(listed, primary)
        if found:
            out["categories"] = found
            out["primary_category"] = primary
        for name, convert, rule in _METADATA_CHECKS:
            if name in given:
                out[name] = convert(given[name])
                if out[name] is None:
                    problem("warning", f"field {name!r} must be {rule}; ignored: {str(given[name])[:60]!r}")
        if "published" in given:
            out["published"] = self._date(given["published"], problem)
        return out

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


MAX_ALIAS_CHARS = 1_000_000
"""Text that YAML aliases may add to a file when expanded; records past that are skipped."""
