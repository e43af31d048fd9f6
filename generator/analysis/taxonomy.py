"""The topic taxonomy: load and validate `topics.yml`, and compile its phrases into one matcher.

A taxonomy file is a YAML list of topics, each a mapping with `slug`, `name`, `description`,
`phrases`, an optional `exclude` and an optional `generic` flag (see `content/topics.yml`).
Validation collects every problem before raising one `ConfigError` whose lines name the file,
the topic (index and slug) and the field, the way MkDocs reports `Config value 'x': ...`.

Phrase matching is case-insensitive, on word boundaries, tolerant of plurals (`prover` finds
`provers`, `theory` finds `theories`) and of hyphens versus spaces (`fine-tuning` = `fine tuning`).
All phrases of all topics are compiled into a single trie-shaped regular expression, so a text
is scanned once however many phrases there are (100k abstracts take a few seconds).
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from generator.errors import ConfigError
from generator.models import Topic
from generator.text import RESERVED_SEGMENTS

log = logging.getLogger(__name__)

OTHER = Topic(slug="other", name="Other", description="Papers that fit none of the configured topics.")
"""The fallback topic, used only when nothing else fits."""

ALLOWED_KEYS = ("slug", "name", "description", "phrases", "exclude", "generic")
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_SEPARATORS = str.maketrans(dict.fromkeys("-‐‑‒–—_/\t\n\r\f\v", " "))
_SPACES = re.compile(r" {2,}")


@dataclass(frozen=True)
class Phrase:
    """One evidence phrase of a topic."""

    text: str
    """The phrase as written in the taxonomy (shown in reasons)."""
    key: str
    """The phrase normalised for matching (see `normalise_for_matching`)."""
    weight: float
    """How strongly the phrase points at its topic (1 = ordinary evidence)."""


@dataclass(frozen=True)
class TaxonomyTopic:
    """A configured topic with the evidence that places papers in it."""

    topic: Topic
    """Slug, name and description."""
    phrases: tuple[Phrase, ...]
    """Evidence phrases."""
    exclude: tuple[str, ...] = ()
    """Normalised phrases whose text never counts as evidence for this topic."""
    generic: bool = False
    """A cross-cutting topic (evaluation): a clear field topic of the same paper ranks before it."""


@dataclass(frozen=True)
class Taxonomy:
    """A validated taxonomy, topics in display order."""

    topics: tuple[TaxonomyTopic, ...]
    """The topics, in the file's order."""
    source: str = "<taxonomy>"
    """Where it came from (used in messages)."""


def normalise_for_matching(text: str) -> str:
    """Casefolded text with hyphens, slashes and underscores turned into single spaces."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    # str.translate is ten times faster than a regex substitution over 100k abstracts.
    text = text.casefold().translate(_SEPARATORS)
    if "  " in text:
        text = _SPACES.sub(" ", text)
    return text.strip()


SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""PyYAML's safe loader in libyaml's C when PyYAML was built with it (the taxonomy is read every
build: 0.13 s of the pure-Python parser's time for the shipped file, a few ms in C); the same data."""


def load_taxonomy(path: Path) -> Taxonomy:
    """Read and validate a taxonomy file; raise `ConfigError` listing every problem found."""
    label = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read the taxonomy file: {exc.strerror or exc}") from exc
    try:
        data = yaml.load(text, Loader=SAFE_LOADER)  # a safe loader (libyaml's when installed)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{label}: not valid YAML: {exc}") from exc
    return parse_taxonomy(data, label)


def parse_taxonomy(data: Any, source: str = "<taxonomy>") -> Taxonomy:
    """Validate already-parsed YAML data (a list of topic mappings) into a `Taxonomy`."""
    if isinstance(data, Mapping) and set(data) == {"topics"}:
        data = data["topics"]
    if not isinstance(data, list) or not data:
        raise ConfigError(f"{source}: expected a non-empty list of topics, got {_kind(data)}")
    errors: list[str] = []
    topics: list[TaxonomyTopic] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(data, start=1):
        topic = _parse_topic(item, index, source, errors)
        slug = item.get("slug") if isinstance(item, Mapping) else None
        if isinstance(slug, str) and slug in seen:
            errors.append(
                f"{source}: topic {index} ({slug!r}): 'slug': duplicate of topic {seen[slug]}; slugs must be unique"
            )
        elif isinstance(slug, str):
            seen[slug] = index
        if topic is not None:
            topics.append(topic)
    if errors:
        raise ConfigError("\n".join(errors))
    return Taxonomy(topics=tuple(topics), source=source)


def _parse_topic(item: Any, index: int, source: str, errors: list[str]) -> TaxonomyTopic | None:
    """Validate one topic mapping, appending every problem to `errors`."""
    if not isinstance(item, Mapping):
        errors.append(f"{source}: topic {index}: expected a mapping with slug, name, ..., got {_kind(item)}")
        return None
    slug_value = item.get("slug")
    where = f"{source}: topic {index}" + (f" ({slug_value!r})" if isinstance(slug_value, str) else "")
    before = len(errors)
    for key in item:
        if key not in ALLOWED_KEYS:
            errors.append(f"{where}: {str(key)!r}: unknown key (allowed: {', '.join(ALLOWED_KEYS)})")
    for key in ("slug", "name", "description"):
        value = item.get(key)
        if value is None:
            errors.append(f"{where}: {key!r}: missing")
        elif not isinstance(value, str) or not value.strip():
            errors.append(f"{where}: {key!r}: expected non-empty text, got {_kind(value)}")
        elif "\n" in value.strip():
            errors.append(f"{where}: {key!r}: must be one line")
    if isinstance(slug_value, str) and slug_value.strip():
        if not _SLUG.match(slug_value):
            errors.append(f"{where}: 'slug': {slug_value!r} is not a slug (use lowercase letters, digits, hyphens)")
        elif slug_value == OTHER.slug:
            errors.append(f"{where}: 'slug': 'other' is reserved for papers that fit no topic")
        elif slug_value in RESERVED_SEGMENTS:
            errors.append(
                f"{where}: 'slug': {slug_value!r} is reserved (`index` is the topics overview; con, aux, nul, "
                "prn, com1-9 and lpt1-9 cannot be folders on Windows)"
            )
    phrases = _parse_phrases(item.get("phrases"), where, errors)
    exclude = _parse_exclude(item.get("exclude"), where, errors)
    generic = item.get("generic", False)
    if not isinstance(generic, bool):
        errors.append(f"{where}: 'generic': expected true or false, got {_kind(generic)}")
    if len(errors) > before:
        return None
    topic = Topic(
        slug=str(slug_value),
        name=" ".join(str(item["name"]).split()),
        description=" ".join(str(item["description"]).split()),
    )
    return TaxonomyTopic(topic=topic, phrases=phrases, exclude=exclude, generic=bool(generic))


def _parse_phrases(value: Any, where: str, errors: list[str]) -> tuple[Phrase, ...]:
    """Phrases as plain strings or `{phrase, weight}` mappings; duplicates keep the larger weight."""
    if value is None:
        errors.append(f"{where}: 'phrases': missing")
        return ()
    if not isinstance(value, list) or not value:
        errors.append(f"{where}: 'phrases': expected a non-empty list, got {_kind(value)}")
        return ()
    found: dict[str, Phrase] = {}
    for number, entry in enumerate(value, start=1):
        weight: Any = 1.0
        if isinstance(entry, Mapping):
            unknown = sorted(str(k) for k in entry if k not in ("phrase", "weight"))
            if unknown:
                errors.append(f"{where}: 'phrases' item {number}: unknown key {unknown[0]!r}")
            text, weight = entry.get("phrase"), entry.get("weight", 1.0)
        else:
            text = entry
        if not isinstance(text, str) or not normalise_for_matching(text) or text != text.strip():
            errors.append(f"{where}: 'phrases' item {number}: expected a phrase, got {_kind(text)}")
            continue
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight <= 100:
            errors.append(f"{where}: 'phrases' item {number} ({text!r}): 'weight' must be a number in (0, 100]")
            continue
        phrase = Phrase(text=text, key=normalise_for_matching(text), weight=float(weight))
        if phrase.key not in found or found[phrase.key].weight < phrase.weight:
            found[phrase.key] = phrase
    return tuple(found.values())


def _parse_exclude(value: Any, where: str, errors: list[str]) -> tuple[str, ...]:
    """The optional list of excluded phrases, normalised."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and normalise_for_matching(v) for v in value):
        errors.append(f"{where}: 'exclude': expected a list of phrases, got {_kind(value)}")
        return ()
    return tuple(dict.fromkeys(normalise_for_matching(v) for v in value))


def _kind(value: Any) -> str:
    """A short description of a YAML value for messages."""
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f"text {value[:40]!r}"
    return type(value).__name__


class Match(NamedTuple):
    """One phrase occurrence: which topic and phrase, and where in the normalised text."""

    topic: int
    """Index of the topic in the taxonomy."""
    phrase: int
    """Index of the phrase within its topic, or -1 for an excluded phrase."""
    start: int
    """Offset of the first character."""
    end: int
    """Offset just past the last character."""


class PhraseMatcher:
    """Finds every phrase of every topic in a text with one scan of a trie-shaped regex."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        # variant text -> [(topic, phrase index or -1 for an exclusion)]
        targets: dict[str, list[tuple[int, int]]] = {}
        for t, entry in enumerate(taxonomy.topics):
            for p, phrase in enumerate(entry.phrases):
                for variant in _variants(phrase.key):
                    slot = targets.setdefault(variant, [])
                    if (t, p) not in slot:
                        slot.append((t, p))
            for excluded in entry.exclude:
                for variant in _variants(excluded):
                    targets.setdefault(variant, []).append((t, -1))
        # The same topic can reach a variant through two phrases (`image` and `images`):
        # keep the phrase whose own text is the variant, so evidence is never counted twice.
        direct: dict[str, tuple[tuple[int, int], ...]] = {}
        for variant, slot in targets.items():
            best: dict[int, tuple[int, int]] = {}
            for t, p in slot:
                if p >= 0 and (t not in best or taxonomy.topics[t].phrases[p].key == variant):
                    best[t] = (t, p)
            direct[variant] = tuple(best.values()) + tuple((t, -1) for t, p in slot if p < 0)
        # At one start the regex reports only the longest variant; shorter phrases hidden in it
        # ("theorem" in "theorem prover") are evidence too, so each variant also lists the hits
        # of its prefixes that end on a word boundary, as (topic, phrase, length).
        self._hits: dict[str, tuple[tuple[int, int, int], ...]] = {}
        for variant, own in direct.items():
            hits = [(t, p, len(variant)) for t, p in own]
            for cut in (i for i, ch in enumerate(variant) if ch == " "):
                hits.extend((t, p, cut) for t, p in direct.get(variant[:cut], ()))
            self._hits[variant] = tuple(hits)
        self._has_exclusions = any(p < 0 for hits in self._hits.values() for _, p, _ in hits)
        # For `counts`: the (topic, phrase) pairs each variant stands for, and the variants whose
        # hits include an exclusion (a text containing one of them needs positions, see `find`).
        self._keys = {variant: tuple((t, p) for t, p, _ in hits) for variant, hits in self._hits.items()}
        self._excluding = frozenset(v for v, hits in self._hits.items() if any(p < 0 for _, p, _ in hits))
        # A zero-width lookahead finds overlapping phrases starting at different words
        # ("math benchmark" and "benchmark").
        self._trie = _trie_pattern(direct)
        # The same matches for `counts`, found a third faster: a pattern that starts with a
        # character class lets the regex engine skip ahead to the next non-word character in C
        # instead of trying the whole pattern at every position. It is run on " " + text, so a
        # phrase at the very start has a non-word character before it too.
        self._scan = re.compile(r"[^\w](?=(" + self._trie + r")(?![\w]))")

    @functools.cached_property
    def _pattern(self) -> re.Pattern[str]:
        """The pattern `find` runs: every phrase start, zero-width (compiled on first use)."""
        return re.compile(r"(?<![\w])(?=(" + self._trie + r")(?![\w]))")

    def find(self, normalised: str) -> list[Match]:
        """Every phrase occurrence in already normalised text, exclusions applied."""
        hits = self._hits
        found = [
            Match(t, p, m.start(), m.start() + length)
            for m in self._pattern.finditer(normalised)
            for t, p, length in hits[m.group(1)]
        ]
        if not self._has_exclusions:
            return found
        excluded = [m for m in found if m.phrase < 0]
        if not excluded:
            return found
        return [
            m
            for m in found
            if m.phrase >= 0 and not any(x.topic == m.topic and x.start <= m.start and m.end <= x.end for x in excluded)
        ]

    def counts(self, normalised: str) -> dict[tuple[int, int], int]:
        """How often each (topic, phrase) occurs in already normalised text, exclusions applied.

        The same occurrences as `find`, counted without building a `Match` for each; positions
        are looked at only in texts where an excluded phrase occurs.
        """
        text = " " + normalised
        found: list[str] = self._scan.findall(text)
        out: dict[tuple[int, int], int] = {}
        if not found:
            return out
        if self._excluding and not self._excluding.isdisjoint(found):
            return self._counts_with_exclusions(text)
        keys = self._keys
        for variant in found:
            for key in keys[variant]:
                out[key] = out.get(key, 0) + 1
        return out

    def _counts_with_exclusions(self, text: str) -> dict[tuple[int, int], int]:
        """`counts` for a text (with its leading space) in which an excluded phrase occurs."""
        hits = self._hits
        excluded: dict[int, list[tuple[int, int]]] = {}
        occurrences: list[tuple[int, int, int, int]] = []
        for m in self._scan.finditer(text):
            start = m.start(1)
            for t, p, length in hits[m.group(1)]:
                if p < 0:
                    excluded.setdefault(t, []).append((start, start + length))
                else:
                    occurrences.append((t, p, start, start + length))
        out: dict[tuple[int, int], int] = {}
        for t, p, start, end in occurrences:
            spans = excluded.get(t)
            if spans and any(a <= start and end <= b for a, b in spans):
                continue
            out[t, p] = out.get((t, p), 0) + 1
        return out


def _variants(key: str) -> set[str]:
    """The phrase and its plural spellings."""
    out = {key}
    if key[-1:].isalpha():
        out.add(key + "s")
        if key.endswith(("s", "x", "z", "ch", "sh")):
            out.add(key + "es")
        if key.endswith("y") and len(key) > 2 and key[-2] not in "aeiou":
            out.add(key[:-1] + "ies")
    return out


def _trie_pattern(strings: Sequence[str] | Mapping[str, Any]) -> str:
    """A regex matching any of the strings, factored by common prefixes, longest first."""
    trie: dict[str, Any] = {}
    for s in strings:
        node = trie
        for ch in s:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        alternatives = [re.escape(ch) + build(node[ch]) for ch in sorted(k for k in node if k)]
        if not alternatives:
            return ""
        if "" in node:
            # Optional tail: the lookahead retries shorter matches if a word boundary fails.
            return "(?:" + "|".join(alternatives) + ")?"
        if len(alternatives) == 1:
            return alternatives[0]
        return "(?:" + "|".join(alternatives) + ")"

    return build(trie)
