"""What the topics stage reads from each paper's own text, and keeps between builds.

Per paper: its phrase evidence (`match_phrases`: the weighted contribution of every taxonomy
phrase found in its title and abstract) and its word counts (`_count_words`: the words of
`paper_text` as scikit-learn's TfidfVectorizer tokenises them). Both depend only on the paper's
text and the taxonomy, so they are cached per paper (`_Cache`, keyed by a hash of title and
abstract and the taxonomy's fingerprint) and a rebuild reads only new papers; for large corpora a
forked worker matches the phrases of part of the texts (`parallel.in_background`).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import tempfile
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from generator.analysis.similarity_text import _Vocabulary
from generator.analysis.taxonomy import PhraseMatcher, Taxonomy, normalise_for_matching
from generator.models import Paper
from generator.runtime.parallel import Parallelism, in_background

log = logging.getLogger(__name__)


TITLE_FACTOR = 3.0
"""A phrase in the title counts this many times its weight."""


CACHE_FILE = "topics.npz"
"""The cache file in the stage's folder (`cache.stage_dir`, which only ever holds this code's files)."""


_STOP_WORDS = ENGLISH_STOP_WORDS
"""The stop words of `TfidfVectorizer(stop_words="english")`."""


_TOKEN = re.compile(r"(?u)\b\w\w+\b")
"""`TfidfVectorizer`'s default token pattern (words of two or more word characters)."""


_WORD_BYTES = bytes(
    b + 32 if 65 <= b <= 90 else b if (48 <= b <= 57 or 97 <= b <= 122 or b == 95 or b >= 128) else 32
    for b in range(256)
)
"""For `bytes.translate`: A-Z lowercased, [a-z0-9_] and bytes of non-ASCII characters kept, every
other byte a space. On ASCII text, splitting at spaces then gives the token regex's words of the
lowercased text, and one-letter words besides (which never count)."""


_WORDS_CHUNK = 4096
"""Texts counted at a time by `_count_words` (bounds its memory)."""


def paper_text(paper: Paper) -> str:
    """The text similarity is computed on: the title twice (it matters more), then the abstract."""
    return f"{paper.title}. {paper.title}. {paper.abstract}"


@dataclass(frozen=True)
class _Rows:
    """Variable-length rows of parallel arrays (CSR-like): row r is `cols[k][indptr[r]:indptr[r + 1]]`."""

    indptr: np.ndarray
    cols: tuple[np.ndarray, ...]

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    def take(self, rows: np.ndarray) -> _Rows:
        """The given rows, in the given order."""
        starts = self.indptr[rows]
        lengths = self.indptr[rows + 1] - starts
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        index = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1], dtype=np.int64)
        return _Rows(indptr, tuple(c[index] for c in self.cols))

    @staticmethod
    def stack(parts: Sequence[_Rows]) -> _Rows:
        """The rows of all parts, one after another."""
        lengths = np.concatenate([np.diff(p.indptr) for p in parts])
        indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        cols = tuple(np.concatenate([p.cols[k] for p in parts]) for k in range(len(parts[0].cols)))
        return _Rows(indptr, cols)


@dataclass(frozen=True)
class _Words:
    """Word counts of every paper's `paper_text`, as `TfidfVectorizer` tokenises it.

    Per paper, its distinct words (stop words and one-letter words left out) in order of first
    occurrence, as indices into `vocabulary`, with their counts: `rows.cols == (term, count)`.
    """

    rows: _Rows
    vocabulary: list[str]


@dataclass(frozen=True)
class _Features:
    """What the stage reads from each paper, rows in id order.

    `evidence.cols == (topic, phrase, contribution)`: the weighted contribution of every matched
    phrase, sorted by topic, then phrase index.
    """

    evidence: _Rows
    words: _Words


def match_phrases(taxonomy: Taxonomy, texts: Sequence[tuple[str, str]]) -> tuple[array, array, array, array]:
    """Phrase evidence of each (title, abstract) as flat arrays: per text its number of matched
    phrases, then (topic, phrase, contribution) of each."""
    matcher = PhraseMatcher(taxonomy)
    weights = [[p.weight for p in t.phrases] for t in taxonomy.topics]
    lengths, topics, phrases, values = array("q"), array("i"), array("i"), array("d")
    for title, abstract in texts:
        in_title = matcher.counts(normalise_for_matching(title))
        counts = matcher.counts(normalise_for_matching(abstract))
        keys = sorted(in_title.keys() | counts.keys())
        lengths.append(len(keys))
        for key in keys:
            t, p = key
            # A title mention is strong evidence; in the abstract the first mention counts fully
            # and repeats add a little, at most twice.
            c = counts.get(key, 0)
            value = (TITLE_FACTOR if key in in_title else 0.0) + (1.0 + 0.5 * min(c - 1, 2) if c else 0.0)
            topics.append(t)
            phrases.append(p)
            values.append(value * weights[t][p])
    return lengths, topics, phrases, values


def _evidence_rows(found: tuple[array, array, array, array]) -> _Rows:
    lengths, topics, phrases, values = (np.frombuffer(a, dtype=a.typecode) for a in found)
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    return _Rows(indptr, (topics.astype(np.int32), phrases.astype(np.int32), values.astype(np.float64)))


def _count_words(texts: Sequence[str], vocabulary: dict[str, int], terms: list[str]) -> _Rows:
    """Word counts of `texts` (see `_Words`); new words are added to `vocabulary` and `terms`.

    Tokens are those of `TfidfVectorizer`: lowercased, maximal runs of two or more word
    characters, English stop words dropped. Words that never count (stop words, single
    characters) stay in `vocabulary` with index -1. New words enter `vocabulary` and `terms` in
    order of first occurrence, and each row lists its words in order of first occurrence in its
    text: the result of counting each text with a `Counter`, about four times faster. A chunk of
    texts at a time is one byte buffer (`_token_bytes`) whose tokens numpy looks up
    (`_Vocabulary`); one sort then counts each text's distinct words (`_distinct_counts`).
    """
    # The table holds the words of `texts` only, not the whole `vocabulary`: a rebuild's few new
    # papers then cost little however large the vocabulary (entering 100k words costs 50 ms).
    ids_of = _Vocabulary()
    number_of = np.zeros(0, np.int64)  # table id -> term number (-1: not counted)
    lengths: list[np.ndarray] = []
    term_parts: list[np.ndarray] = []
    count_parts: list[np.ndarray] = []
    for begin in range(0, len(texts), _WORDS_CHUNK):
        chunk = texts[begin : begin + _WORDS_CHUNK]
        seen = ids_of.count
        ids, per_text = ids_of.add_corpus(*_token_bytes(chunk))
        # The table's new ids are words in order of first occurrence: those new to `vocabulary`
        # too are added and numbered in that order, as the words of one text after another.
        fresh = np.empty(ids_of.count - seen, np.int64)
        for k, token in enumerate(ids_of.words[seen:]):
            word = token.decode("utf-8")
            number = vocabulary.get(word)
            if number is None:
                number = -1 if len(word) < 2 or word in _STOP_WORDS else len(terms)
                if number >= 0:
                    terms.append(word)
                vocabulary[word] = number
            fresh[k] = number
        number_of = np.concatenate([number_of, fresh])
        per_row, term, count = _distinct_counts(number_of[ids], per_text)
        lengths.append(per_row)
        term_parts.append(term)
        count_parts.append(count)
    indptr = np.zeros(len(texts) + 1, dtype=np.int64)
    if lengths:
        np.cumsum(np.concatenate(lengths), out=indptr[1:])
    empty = np.zeros(0, np.int32)
    return _Rows(indptr, (np.concatenate([empty, *term_parts]), np.concatenate([empty, *count_parts])))


def _token_bytes(texts: Sequence[str]) -> tuple[bytes, np.ndarray]:
    """The texts as one buffer for `_Vocabulary.add_corpus`, joined by single spaces, with every
    byte that is not part of a token a space; and where each text starts in it."""
    # ASCII text (nearly all) is split by `_WORD_BYTES` on the whole buffer. Other text is split
    # by the token regex here (Unicode word characters; a dash or a no-break space would join
    # words in bytes), its tokens joined by spaces: all their bytes are word bytes, which stay.
    parts = [t.encode() if t.isascii() else " ".join(_TOKEN.findall(t.lower())).encode() for t in texts]
    sizes = np.fromiter(map(len, parts), np.int64, len(parts))
    starts = np.zeros(len(parts), np.int64)
    np.cumsum(sizes[:-1] + 1, out=starts[1:])
    return b" ".join(parts).translate(_WORD_BYTES), starts


def _distinct_counts(term: np.ndarray, per_text: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per text, its distinct counted words in order of first occurrence, with their counts.

    `term` is the term number of every token of consecutive texts (-1: not counted), `per_text`
    their numbers of tokens. Returns the distinct words per text, and their terms and counts
    (int32), text after text.
    """
    n_tokens = len(term)
    row = np.repeat(np.arange(len(per_text), dtype=np.int32), per_text)
    at = np.flatnonzero(term >= 0)
    # Counted tokens sorted by (term, position): a text's occurrences of a word are then adjacent,
    # its first occurrence first. One int64 key, as terms < 2**31 and positions < 2**32.
    bits = max(n_tokens.bit_length(), 1)
    key = (term[at] << bits) | at
    key.sort()
    word = key >> bits
    position = key & ((1 << bits) - 1)
    row_of = row[position]
    first = np.empty(len(key), bool)
    first[:1] = True
    np.not_equal(word[1:], word[:-1], out=first[1:])
    first[1:] |= row_of[1:] != row_of[:-1]
    starts = np.flatnonzero(first)
    # Back in text order: each word's count at its first occurrence, 0 at every other token.
    count_at = np.zeros(n_tokens, np.int32)
    count_at[position[starts]] = np.diff(starts, append=len(key))
    firsts = np.flatnonzero(count_at)
    return np.bincount(row[firsts], minlength=len(per_text)), term[firsts].astype(np.int32), count_at[firsts]


def _paper_key(paper: Paper) -> bytes:
    """What the cache knows a paper by: a digest of its title and abstract."""
    text = f"{len(paper.title)}:{paper.title}{paper.abstract}".encode()
    return hashlib.blake2b(text, digest_size=16).digest()


def taxonomy_fingerprint(taxonomy: Taxonomy) -> bytes:
    """A digest of everything phrase evidence depends on (phrases, weights, exclusions, factors)."""
    described = repr(
        (
            TITLE_FACTOR,
            [(tuple((p.key, p.weight) for p in t.phrases), t.exclude) for t in taxonomy.topics],
        )
    )
    return hashlib.blake2b(described.encode(), digest_size=16).digest()


def _read_papers(
    ordered: Sequence[Paper], taxonomy: Taxonomy, cache_dir: Path | None, parallel: Parallelism
) -> _Features:
    """Phrase evidence and word counts of every paper, from the cache where it has them.

    From `parallel.topics_from` papers still to be read, a forked worker matches the phrases of
    the first `parallel.topics_share` of them while this process counts the words of all of
    them for TF-IDF, then matches the rest. Both finish together: at 100k papers matching them
    all takes about 5.5 s of CPU and counting their words 1.5 s.
    """
    fingerprint = taxonomy_fingerprint(taxonomy)
    cache = _Cache.load(cache_dir, fingerprint) if cache_dir is not None else None
    n = len(ordered)
    keys = [_paper_key(p) for p in ordered] if cache_dir is not None else []
    if cache is not None:
        known = cache.rows_of(keys)
        missing = np.flatnonzero(known < 0)
    else:
        known = np.full(n, -1, dtype=np.int64)
        missing = np.arange(n, dtype=np.int64)
    has_evidence = cache is not None and cache.evidence is not None
    evidence_missing = missing if has_evidence else np.arange(n, dtype=np.int64)
    texts = [(ordered[r].title, ordered[r].abstract) for r in evidence_missing.tolist()]
    # Many papers to read: a worker matches phrases in most of them while this process counts
    # words and then matches the rest (the split keeps both cores busy until the end).
    split = len(texts) >= parallel.topics_from and parallel.can_fork()
    cut = math.floor(parallel.topics_share * len(texts)) if split else 0
    # The worker inherits `texts` at the fork: they are not pickled and sent to it.
    pending = in_background(lambda: match_phrases(taxonomy, texts[:cut]), parallel) if cut else None
    if cache is not None:
        vocabulary = cache.vocabulary_index()
        terms = list(cache.terms)
    else:
        vocabulary, terms = {}, []
    new_words = _count_words([paper_text(ordered[r]) for r in missing.tolist()], vocabulary, terms)
    found = _evidence_rows(match_phrases(taxonomy, texts[cut:] if pending else texts))
    if pending:
        first = _evidence_rows(pending.result())
        found = _Rows.stack([first, found])
    # Rows in id order: cached rows first in the pool, new rows after them.
    if cache is None:
        words_rows, evidence = new_words, found
    else:
        pool_row = known.copy()
        pool_row[missing] = cache.words.n_rows + np.arange(len(missing), dtype=np.int64)
        words_rows = _Rows.stack([cache.words, new_words]).take(pool_row) if len(missing) else cache.words.take(known)
        if not has_evidence:
            evidence = found
        elif len(missing):
            assert cache.evidence is not None
            evidence = _Rows.stack([cache.evidence, found]).take(pool_row)
        else:
            assert cache.evidence is not None
            evidence = cache.evidence.take(known)
    words = _Words(words_rows, terms)
    if cache_dir is not None and (cache is None or len(evidence_missing) or cache.n_keys != n):
        _Cache.save(cache_dir, fingerprint, keys, words, evidence)
    return _Features(evidence, words)


@dataclass(frozen=True)
class _Cache:
    """The cache file: per paper key, its word counts and (for one taxonomy) its phrase evidence.

    One `.npz` file of plain arrays (no pickles), written to a temporary file and renamed into
    place. A file that is missing, unreadable or inconsistent is ignored; evidence made with
    another taxonomy is ignored while the word counts are used.
    """

    keys: np.ndarray
    terms: list[str]
    words: _Rows
    evidence: _Rows | None

    @property
    def n_keys(self) -> int:
        return len(self.keys)

    def rows_of(self, keys: Sequence[bytes]) -> np.ndarray:
        """The cache row of each key, -1 where the cache does not know it."""
        blob = self.keys.tobytes()
        index = {blob[i : i + 16]: r for r, i in enumerate(range(0, len(blob), 16))}
        return np.fromiter((index.get(k, -1) for k in keys), dtype=np.int64, count=len(keys))

    def vocabulary_index(self) -> dict[str, int]:
        """Word -> index into `terms`."""
        return dict(zip(self.terms, range(len(self.terms)), strict=True))

    @classmethod
    def load(cls, cache_dir: Path, fingerprint: bytes) -> _Cache | None:
        path = Path(cache_dir) / CACHE_FILE
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
            return cls._from_arrays(arrays, fingerprint)
        except Exception as exc:  # any damage at all: the cache is only an optimisation
            log.info("topics: ignoring the cache %s (%s)", path, exc)
            return None

    @classmethod
    def _from_arrays(cls, a: dict[str, np.ndarray], fingerprint: bytes) -> _Cache | None:
        keys = a["keys"].astype(np.uint8).reshape(-1, 16)
        n = len(keys)
        text = a["terms"].tobytes().decode("utf-8")
        terms = text.split("\n") if text else []
        words = _Rows(
            a["word_indptr"].astype(np.int64), (a["word_terms"].astype(np.int32), a["word_counts"].astype(np.int32))
        )
        _check_rows(words, n)
        if len(words.cols[0]) and not (words.cols[0].min() >= 0 and words.cols[0].max() < len(terms)):
            raise ValueError("word index out of range")
        evidence = None
        if a["fingerprint"].tobytes() == fingerprint:
            evidence = _Rows(
                a["evidence_indptr"].astype(np.int64),
                (
                    a["evidence_topics"].astype(np.int32),
                    a["evidence_phrases"].astype(np.int32),
                    a["evidence_values"].astype(np.float64),
                ),
            )
            _check_rows(evidence, n)
        return cls(keys, terms, words, evidence)

    @staticmethod
    def save(cache_dir: Path, fingerprint: bytes, keys: Sequence[bytes], words: _Words, evidence: _Rows) -> None:
        # Only the words the papers use, renumbered, so removed papers do not grow the file.
        term_ids, counts = words.rows.cols
        used = np.flatnonzero(np.bincount(term_ids, minlength=len(words.vocabulary)))
        renumber = np.full(len(words.vocabulary), -1, dtype=np.int32)
        renumber[used] = np.arange(len(used), dtype=np.int32)
        terms = "\n".join(words.vocabulary[i] for i in used.tolist()).encode("utf-8")
        arrays = {
            "fingerprint": np.frombuffer(fingerprint, dtype=np.uint8),
            "keys": np.frombuffer(b"".join(keys), dtype=np.uint8),
            "terms": np.frombuffer(terms, dtype=np.uint8),
            "word_indptr": words.rows.indptr,
            "word_terms": renumber[term_ids],
            "word_counts": counts,
            "evidence_indptr": evidence.indptr,
            "evidence_topics": evidence.cols[0],
            "evidence_phrases": evidence.cols[1],
            "evidence_values": evidence.cols[2],
        }
        directory = Path(cache_dir)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=directory, prefix=".topics-", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as out:
                    np.savez(out, allow_pickle=False, **arrays)
                os.replace(temporary, directory / CACHE_FILE)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            log.warning("topics: could not write the cache in %s (%s)", directory, exc)


def _check_rows(rows: _Rows, n: int) -> None:
    """Raise ValueError unless `rows` is `n` well-formed rows."""
    indptr = rows.indptr
    if len(indptr) != n + 1 or indptr[0] != 0 or (np.diff(indptr) < 0).any():
        raise ValueError("inconsistent row offsets")
    if any(len(c) != indptr[-1] for c in rows.cols):
        raise ValueError("inconsistent row lengths")
