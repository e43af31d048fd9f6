"""One search segment's files: term shards, doc metadata and doc chunks (see generator/website/search.py).

A segment is built from its docs alone (`build_segment`), so a sealed segment's bytes never
change while its docs do not. Words are lunr's: the text is split into words as
`index_words` does (the browser splits the query the same way), then each word goes through
lunr's default pipeline: lunr.py's trimmer and English stop-word filter and lunr.py's Porter
stemmer made to stem exactly as the vendored lunr.js does (`LunrJsStemmer`; the browser runs
lunr.js's stemmer and stop-word filter on the query). Terms come from three fields:

- `title`, boosted x10 (`TITLE_BOOST`), and flagged in each posting (the title bit);
- `abstract` and `topics` (the topic display names), boost 1.

Each (doc, term) pair gets lunr's BM25 score: the term weight summed over the fields,
`boost * (k1 + 1) * tf / (k1 * (1 - b + b * length / average length) + tf)` with lunr's k1 =
1.2 and b = 0.75, times lunr's idf `log(1 + |(N - df + 0.5) / (df + 0.5)|)`, all from the
segment's own docs (N, df and the average field lengths), so a segment's bytes depend on its
docs only. Sealed segments hold 8k to 33k docs and their statistics agree closely; the open
segment, a few days after a run sealed, can weigh a word of those days lower than the corpus
would (it only orders results that match as many query words, as many in the title). The
score is kept on a log scale in 5 bits (`WEIGHT_MIN` * `WEIGHT_RATIO` ** q, q = 0..31).

Files of a segment (names relative to its folder):

- `t<i>.json`: term shard i, a JSON list `[term, postings, term, postings, ...]`, terms
  sorted by UTF-16 code units (the browser's string order). Postings are the term's docs in
  increasing number, each as the gap from the previous doc minus one (the first: its number)
  in base-64 varint (5 bits a character, least significant first; characters 32-63 of
  `ALPHABET` continue the number), then one character `title bit * 32 + q`. Terms are grouped
  by their first two characters, a group over `SHARD_BYTES` by its first three, one still over
  it cut between terms (a term is never cut: a common term may make a bigger shard alone);
  groups are then packed in order into shards of at most `SHARD_BYTES`. So the terms starting
  with a typed prefix of two or more characters are, but for big groups, in one shard.
- `m.json`: doc metadata for the filters: `{"base": day, "days": varints, "slugs": [slug,
  ...], "topics": varints}`. `days` has per doc 0 when it is undated, else its day (days since
  1970-01-01) less the previous dated doc's (the first: less `base`), zigzag-coded plus one
  (`2 d + 1` for d >= 0, `-2 d` below); `topics` per doc its number of topics, then their
  positions in `slugs`.
- `d<i>.json`: doc chunk i, docs `i * CHUNK_DOCS` to `(i + 1) * CHUNK_DOCS - 1`, each
  `[url, title, date, topic slugs, abstract start]`, the abstract cut at `ABSTRACT_CHARS`.

`build_segment` returns the files and the shards' boundaries: for each shard but the first,
the shortest prefix of its first term that sorts after the previous shard's last term (the
browser picks a word's shard by binary search over them).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import unicodedata
from dataclasses import dataclass
from itertools import groupby, pairwise
from typing import Any

import numpy as np
from lunr.stemmer import PorterStemmer
from lunr.stop_word_filter import stop_word_filter
from lunr.token import Token as LunrToken
from lunr.trimmer import trimmer

TITLE_BOOST = 10
"""Title terms weigh ten times abstract and topic terms (lunr's field boost, as before)."""

BM25_K1 = 1.2
BM25_B = 0.75
"""lunr's BM25 parameters."""

WEIGHT_MIN = 0.4
WEIGHT_RATIO = 1.23
"""A posting's score is `WEIGHT_MIN * WEIGHT_RATIO ** q` with q in 0..31 (0.4 to 245, steps of 23%).

Scores below 0.4 (a word in most docs, found in an abstract) all get q = 0: such postings
compress to almost nothing, and they weigh next to nothing beside any rarer word's.
"""

SHARD_BYTES = 16_000
"""Target size of a term shard (raw bytes); only one term alone can make it bigger."""

CHUNK_DOCS = 16
"""Docs per doc chunk: the browser fetches the chunks of the results it shows."""

ABSTRACT_CHARS = 300
"""The abstract is kept up to this length (at a word boundary) for the result snippet."""

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"
"""Characters of the base-64 varints: value v is ALPHABET[v]."""

EPOCH = dt.date(1970, 1, 1)

_ALPHABET_CODES = np.frombuffer(ALPHABET.encode("ascii"), dtype=np.uint8)
_WORD = re.compile(r"[^\W_]+")
_ASCII_WORD_BYTES = bytes(c if chr(c).isascii() and chr(c).isalnum() else 32 for c in range(256))
"""`bytes.translate` table: ASCII letters and digits (what `_WORD` matches in ASCII) kept, the rest made spaces."""
_SPACE = re.compile(r"\s+")


def index_words(text: str) -> str:
    """The words of `text` as both sides of search see them: NFKC, lower case, letters and digits.

    digest-search.js splits the typed query with the same rule (`[^\\p{L}\\p{N}]+`).
    """
    if text.isascii():  # the same words, several times faster than the regular expression
        return b" ".join(text.encode("ascii").lower().translate(_ASCII_WORD_BYTES).split()).decode("ascii")
    return " ".join(_WORD.findall(unicodedata.normalize("NFKC", text).lower()))


def excerpt(text: str, limit: int = ABSTRACT_CHARS) -> str:
    """The start of `text` with whitespace collapsed, cut at a word boundary within `limit` chars."""
    # Collapsing a prefix is enough when it leaves more than `limit` characters before the
    # last space: the first `limit` characters and the length test come out the same.
    head = _SPACE.sub(" ", text[: limit + 64]).lstrip()
    text = head if len(head.rstrip()) > limit else _SPACE.sub(" ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


def utf16_key(text: str) -> bytes:
    """Sort key giving JavaScript's string order (UTF-16 code units)."""
    return text.encode("utf-16-be", "surrogatepass")


# ---------- words to terms ----------

_TERMS: list[str] = []
"""Every term the pipeline of this process made; `_TermCache` numbers them."""
_TERM_NUMBERS: dict[str, int] = {}
_DROPPED = -1
_SEVERAL = -2


def _term_number(term: str) -> int:
    number = _TERM_NUMBERS.get(term)
    if number is None:
        number = _TERM_NUMBERS[term] = len(_TERMS)
        _TERMS.append(term)
    return number


class LunrJsStemmer(PorterStemmer):
    """lunr.py's Porter stemmer made to stem as lunr.js does, so that index and query terms agree.

    lunr.py turns a final y into i when the stem has a vowel ("day" -> "dai", "try" -> "try");
    lunr.js (`/^(.+?[^aeiou])y$/`) when a consonant other than the first letter precedes it
    ("day" -> "day", "try" -> "tri"); lunr.py's own docstring names this difference, which
    touched 44 of the 16,787 words of a 10k-paper bench corpus ("survey", "display", "way").
    And the words "sses" and "ies" themselves. tests/test_search_browser.py compares both sides
    on every word of the seeds and on such edge cases.
    """

    b: str
    k: int
    k0: int

    def step1ab(self) -> None:
        # lunr.js strips "sses" and "ies" only after a letter (`/^(.+?)(ss|i)es$/`); alone they lose their s.
        if self.b[self.k0 : self.k + 1] in ("sses", "ies"):
            self.k -= 1
            return
        super().step1ab()

    def step1c(self) -> None:
        if self.b[self.k] == "y" and self.k - self.k0 >= 2 and self.b[self.k - 1] not in "aeiou":
            self.b = self.b[: self.k] + "i" + self.b[self.k + 1 :]


_STEMMER = LunrJsStemmer()


def _stem(token: Any, i: int | None = None, tokens: Any = None) -> Any:
    return token.update(_STEMMER.stem)


_PIPELINE = (trimmer, stop_word_filter, _stem)
"""lunr's default index pipeline (`lunr.get_default_builder().pipeline`), its stemmer as lunr.js's."""


def _run_pipeline(word: str) -> list[str]:
    """`Pipeline.run([Token(word)])` of `_PIPELINE`, as strings."""
    tokens = [LunrToken(word)]
    for fn in _PIPELINE:
        tokens = [result for i, token in enumerate(tokens) if (result := fn(token, i, tokens))]
    return [str(token) for token in tokens]


class _TermCache(dict[bytes, int]):
    """The pipeline's result for each word (UTF-8) as a number in `_TERMS`, run once per word: its functions are pure.

    `_DROPPED` for a word the pipeline drops (a stop word); `_SEVERAL` for a word it turns
    into several terms, whose numbers are then in `several`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.several: dict[bytes, list[int]] = {}
        self[_MARK_WORD] = _MARK

    def __missing__(self, word: bytes) -> int:
        terms = _run_pipeline(word.decode("utf-8"))
        if len(terms) == 1:
            number = _term_number(terms[0])
        elif terms:
            self.several[word] = [_term_number(term) for term in terms]
            number = _SEVERAL
        else:
            number = _DROPPED
        self[word] = number
        return number


_MARK = -3
_MARK_WORD = b"\x01"
"""Put between the texts of a field, so that one split of their joined words finds where each text ends."""
_JOINED_WORD_BYTES = bytes(c if c == 1 or c >= 128 or chr(c).isalnum() else 32 for c in range(256))
"""`bytes.translate` table for joined texts: ASCII letters and digits, the mark and UTF-8 beyond ASCII kept."""
_CACHE: _TermCache | None = None


def terms_of(word: str) -> list[str]:
    """The index terms of one word (as `index_words` gives it): [] for a stop word, usually one stem."""
    key = word.encode("utf-8")
    number = _term_cache()[key]
    if number == _DROPPED:
        return []
    if number == _SEVERAL:
        return [_TERMS[n] for n in _term_cache().several[key]]
    return [_TERMS[number]]


def _term_cache() -> _TermCache:
    global _CACHE
    if _CACHE is None:
        _CACHE = _TermCache()
    return _CACHE


_TEXTS_AT_ONCE = 2048
"""Texts split into words at a time: a segment's words as Python objects all at once (five million
for 33,000 abstracts) took 0.7 GB at the search stage's peak; numbered, they are 8 bytes each."""


def _field_terms(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Term numbers of the kept tokens of each text, all texts in order, and the text each belongs to.

    The texts are numbered `_TEXTS_AT_ONCE` at a time (`_chunk_terms`); the result is the same.
    """
    if len(texts) <= _TEXTS_AT_ONCE:
        return _chunk_terms(texts)
    numbers, doc_of = [], []
    for start in range(0, len(texts), _TEXTS_AT_ONCE):
        chunk_numbers, chunk_doc_of = _chunk_terms(texts[start : start + _TEXTS_AT_ONCE])
        numbers.append(chunk_numbers)
        doc_of.append(chunk_doc_of + start)
    return np.concatenate(numbers), np.concatenate(doc_of)


def _chunk_terms(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """`_field_terms` of a few texts at once.

    The words are `index_words`' (tested): ASCII texts are split by one translation of all of
    them joined (with `_MARK_WORD` between texts), other texts are put through `index_words`
    first, which leaves only lower-case letters and digits between spaces.
    """
    cache = _term_cache()
    pieces = [(text if text.isascii() else index_words(text)).replace("\x01", " ") for text in texts]
    joined = " \x01 ".join(pieces).encode("utf-8")
    tokens = joined.lower().translate(_JOINED_WORD_BYTES).split()
    numbers = np.fromiter(map(cache.__getitem__, tokens), np.int64, len(tokens))
    marks = numbers == _MARK
    doc_of = np.cumsum(marks)
    if (numbers == _SEVERAL).any():
        expanded = [
            [n] if n != _SEVERAL else cache.several[token] for n, token in zip(numbers.tolist(), tokens, strict=True)
        ]
        doc_of = np.repeat(doc_of, [len(e) for e in expanded])
        numbers = np.fromiter((n for e in expanded for n in e), np.int64, len(doc_of))
    kept = numbers >= 0
    return numbers[kept], doc_of[kept]


# ---------- encoding ----------


def varints(values: np.ndarray) -> bytes:
    """ASCII base-64 varints of non-negative integers, one after the other (see the module docstring)."""
    return _encode(values)[0]


def _encode(values: np.ndarray, chars: np.ndarray | None = None) -> tuple[bytes, np.ndarray]:
    """Each value as a varint, followed by its char's value (0..63) as one character; and the characters per value."""
    values = values.astype(np.int64)
    width = np.ones(len(values), dtype=np.int64)
    limit = 32
    while (more := values >= limit).any():
        width += more
        limit *= 32
    columns = (int(width.max()) if len(values) else 1) + (chars is not None)
    # One row per value, a cell per character; cells past the row's end are -1 and dropped.
    grid = np.full((len(values), columns), -1, dtype=np.int8)
    rest = values
    for j in range(columns):
        grid[:, j] = np.where(j < width, (rest & 31) + 32 * (j + 1 < width), -1)
        if chars is not None:
            grid[width == j, j] = chars[width == j]
        rest = rest >> 5
    cells = grid.ravel()
    return _ALPHABET_CODES[cells[cells >= 0]].tobytes(), width + (chars is not None)


@dataclass(frozen=True)
class Segment:
    """A built segment: its files by name (relative to its folder) and its shards' boundaries."""

    files: dict[str, bytes]
    boundaries: list[str]
    """Per shard after the first, the least string that sorts after the previous shard's terms."""


SegmentPayload = list[tuple[str, str, str, str | None, str, list[str]]]
"""Per doc, in doc number order: (title, abstract, url, ISO date or None, topic names joined by spaces, topic slugs)."""


def build_segment(payload: SegmentPayload) -> Segment:
    """The files of one segment from its docs (in doc number order)."""
    docs = len(payload)
    fields = ([row[0] for row in payload], [row[1] for row in payload], [row[4] for row in payload])
    terms = [_field_terms(texts) for texts in fields]  # title, abstract, topic names
    del fields
    stride = len(_TERMS) + 1  # after every field's words went through the pipeline: one numbering
    keys_parts, weights_parts, title_parts = [], [], []
    # Intermediate arrays are dropped as soon as they are used (`del`, `pop`): at 33,000 docs each
    # is 25-50 MB, and two segments are built at once at the search stage's peak.
    for position, boost in enumerate((TITLE_BOOST, 1, 1)):
        numbers, doc_of = terms.pop(0)
        if not len(numbers):
            continue
        lengths = np.bincount(doc_of, minlength=docs).astype(np.float64)
        average = lengths.sum() / docs
        unique, tf = np.unique(doc_of * stride + numbers, return_counts=True)
        doc = unique // stride
        norm = BM25_K1 * ((1 - BM25_B) + BM25_B * lengths[doc] / average)
        keys_parts.append(unique)
        weights_parts.append(boost * (BM25_K1 + 1) * tf / (norm + tf))
        title_parts.append(np.full(len(unique), position == 0))
        del numbers, doc_of, lengths, unique, tf, doc, norm
    files: dict[str, bytes] = {}
    boundaries: list[str] = []
    if keys_parts:
        keys = np.concatenate(keys_parts)
        del keys_parts
        unique, inverse = np.unique(keys, return_inverse=True)
        del keys
        weight = np.bincount(inverse, weights=np.concatenate(weights_parts))
        del weights_parts
        in_title = np.bincount(inverse, weights=np.concatenate(title_parts).astype(np.float64)) > 0
        del title_parts, inverse
        doc = unique // stride
        number = unique % stride
        del unique
        # lunr's idf from the term's document frequency in this segment: the segment's bytes depend on its docs only.
        df = np.bincount(number)
        idf = np.log1p(np.abs((docs - df + 0.5) / (df + 0.5)))
        weight *= idf[number]
        shards, boundaries = _shards(doc, number, weight, in_title)
        for i, shard in enumerate(shards):
            files[f"t{i}.json"] = shard
    files["m.json"] = _meta(payload)
    for start in range(0, docs, CHUNK_DOCS):
        rows = [
            [url, title, date, slugs, excerpt(abstract)]
            for title, abstract, url, date, _topics, slugs in payload[start : start + CHUNK_DOCS]
        ]
        files[f"d{start // CHUNK_DOCS}.json"] = dump(rows)
    return Segment(files=files, boundaries=boundaries)


def quantise(weight: np.ndarray) -> np.ndarray:
    """The 5-bit code q of each weight (see `WEIGHT_MIN`)."""
    q = np.rint(np.log(np.maximum(weight, WEIGHT_MIN) / WEIGHT_MIN) / math.log(WEIGHT_RATIO))
    return np.clip(q, 0, 31).astype(np.int64)


def _shards(
    doc: np.ndarray, number: np.ndarray, weight: np.ndarray, in_title: np.ndarray
) -> tuple[list[bytes], list[str]]:
    """Term shards (JSON bytes) and their boundaries from the (doc, term number) pairs and their weights."""
    present = np.unique(number)
    terms = [_TERMS[n] for n in present.tolist()]
    order = sorted(range(len(terms)), key=lambda i: utf16_key(terms[i]))
    rank_of = np.empty(int(present.max()) + 1, dtype=np.int64)
    rank_of[present[order]] = np.arange(len(order))
    sorted_terms = [terms[i] for i in order]
    rank = rank_of[number]
    by = np.lexsort((doc, rank))
    rank, doc = rank[by], doc[by]
    counts = np.bincount(rank, minlength=len(sorted_terms))
    first = np.cumsum(counts) - counts
    previous = np.empty_like(doc)
    previous[0] = -1
    previous[1:] = doc[:-1]
    previous[first] = -1
    gap = doc - previous - 1
    char = in_title[by].astype(np.int64) * 32 + quantise(weight[by])
    encoded, widths = _encode(gap, char)
    text = encoded.decode("ascii")
    ends = np.cumsum(np.bincount(rank, weights=widths, minlength=len(sorted_terms)).astype(np.int64)).tolist()
    starts = [0, *ends[:-1]]
    postings = [text[s:e] for s, e in zip(starts, ends, strict=True)]
    sizes = [len(t.encode("utf-8")) + len(p) + 6 for t, p in zip(sorted_terms, postings, strict=True)]
    shards: list[list[int]] = []
    size = 0
    for unit in _units(sorted_terms, sizes):
        unit_size = sum(sizes[i] for i in unit)
        if not shards or size + unit_size > SHARD_BYTES:
            shards.append([])
            size = 1  # the brackets, less the last comma
        shards[-1].extend(unit)
        size += unit_size
    out = [dump([x for i in shard for x in (sorted_terms[i], postings[i])]) for shard in shards]
    boundaries = [_boundary(sorted_terms[a[-1]], sorted_terms[b[0]]) for a, b in pairwise(shards)]
    return out, boundaries


def _units(terms: list[str], sizes: list[int], depth: int = 2, lo: int = 0, hi: int | None = None) -> list[list[int]]:
    """Runs of term positions that stay in one shard: prefix groups, split deeper (then between terms) when too big."""
    hi = len(terms) if hi is None else hi
    units: list[list[int]] = []
    for _prefix, group in groupby(range(lo, hi), key=lambda i: terms[i][:depth]):
        members = list(group)
        if sum(sizes[i] for i in members) <= SHARD_BYTES or len(members) == 1:
            units.append(members)
        elif depth < 3:
            units.extend(_units(terms, sizes, depth + 1, members[0], members[-1] + 1))
        else:
            run: list[int] = []
            size = 0
            for i in members:
                if run and size + sizes[i] > SHARD_BYTES:
                    units.append(run)
                    run, size = [], 0
                run.append(i)
                size += sizes[i]
            units.append(run)
    return units


def _boundary(last: str, first: str) -> str:
    """The shortest prefix of `first` that sorts after `last` (`last` < `first`)."""
    common = 0
    while common < min(len(last), len(first)) and last[common] == first[common]:
        common += 1
    return first[: common + 1]


def _meta(payload: SegmentPayload) -> bytes:
    """The segment's `m.json`: per doc its day and topic positions (see the module docstring)."""
    slugs = sorted({slug for row in payload for slug in row[5]}, key=utf16_key)
    position = {slug: i for i, slug in enumerate(slugs)}
    days = [(dt.date.fromisoformat(row[3]) - EPOCH).days if row[3] else None for row in payload]
    known = [d for d in days if d is not None]
    base = previous = min(known) if known else 0
    day_values: list[int] = []
    topic_values: list[int] = []
    for day, row in zip(days, payload, strict=True):
        if day is None:
            day_values.append(0)
        else:  # docs come in first-seen order: most days equal the one before
            delta = day - previous
            day_values.append(2 * delta + 1 if delta >= 0 else -2 * delta)
            previous = day
        topic_values.append(len(row[5]))
        topic_values.extend(position[slug] for slug in row[5])

    def stream(values: list[int]) -> str:
        return varints(np.array(values, dtype=np.int64)).decode("ascii") if values else ""

    return dump({"base": base, "days": stream(day_values), "slugs": slugs, "topics": stream(topic_values)})


def dump(data: Any) -> bytes:
    """Compact, key-sorted JSON (UTF-8, not ASCII-escaped)."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def pack(segment: Segment) -> bytes:
    """A built segment as one file (for the cache): a JSON header line, then the files' bytes in order."""
    names = sorted(segment.files)
    header = dump({"boundaries": segment.boundaries, "files": [[name, len(segment.files[name])] for name in names]})
    return b"".join([header, b"\n", *(segment.files[name] for name in names)])


def unpack(data: bytes) -> Segment:
    """The segment `pack` packed; ValueError when `data` is not one."""
    end = data.index(b"\n")
    header = json.loads(data[:end])
    files: dict[str, bytes] = {}
    at = end + 1
    for name, length in header["files"]:
        files[name] = data[at : at + length]
        at += length
    if at != len(data):
        raise ValueError("not a packed segment")
    return Segment(files=files, boundaries=list(header["boundaries"]))
