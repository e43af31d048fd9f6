"""The topics stage: rank one to three topics for every paper.

With a taxonomy (`content/topics.yml`, see `generator.analysis.taxonomy`), evidence comes from phrases:
a phrase in the title counts three times as much as in the abstract, repeated mentions in the
abstract count a little more (capped), and each phrase carries its taxonomy weight. Papers
whose best evidence is strong and clear are *confident*; the mean TF-IDF vectors of the
confident papers of each topic are that topic's centroid. Every paper's final score per topic
is its phrase score plus its similarity to the topic's centroid, so similarity decides where
phrases are weak or absent (reason: `similar to papers in <topic>`), and phrases decide where
they are strong (reason: `matched: "theorem prover", "Lean"`). A topic marked `generic` in the
taxonomy (Benchmarks & Evaluation) yields the first rank to a field topic with clear evidence of
its own: a math benchmark is Mathematical Reasoning first, then Benchmarks & Evaluation.
Secondary topics need clear phrase evidence of their own and a fair share of the primary's score.

Stable under growth. Everything computed across papers is fitted on the fit set only: the
oldest K papers (`generator.corpus_order`: the order and the ladder every stage shares; K is the
largest step of 100, 125, 156, ..., 8563, 10703, ... not above the number of papers N, K = N
below 100). That is the TF-IDF vocabulary and IDF, the topic centroids
(from the fit set's confident papers), and the thresholds that keep the limits below. "Oldest"
is by first appearance: undated papers first (an undated seed corpus stays the base when dated
daily files are added), then by date, then id. The fitted
model is then applied to every paper on its own, so a paper's topics, scores and reasons depend
only on its own title and abstract and the model. Adding a day of papers changes no existing
paper's topics until N crosses the next step (about every 25% of growth), when the model is
refitted and any paper may change. The price: words first seen in the newest (up to 20%) papers
are ignored until the next step, and the limits hold exactly on the fit set only.

Limits, and how they are enforced (learned on the fit set, `_learn_limits`):

- `other` is used only for papers with no phrase evidence and no real similarity to any topic,
  and for at most 5% of the fit set: beyond that, the most similar of them are placed anyway,
  which sets a similarity (`place_from`) from which every paper is placed.
- "No topic holds more than a quarter of the corpus" is read as: the number of papers that list
  a topic *anywhere* among their one to three assignments is at most 25% of the papers. On the
  fit set it is enforced first by dropping the topic from the papers where it is the weakest
  extra (secondary) assignment, which sets a per-topic floor on an extra's score relative to the
  primary's; and only then, for fit sets of at least `MIN_PAPERS_FOR_PRIMARY_CAP` papers, by
  moving the primaries that beat their runner-up by the least to that runner-up, which sets a
  per-topic penalty subtracted from the topic's score when the primary is chosen (the paper then
  no longer lists the topic). A few rounds settle the case where moves overfill another topic.
  Below that size the limit cannot always be met (two papers of four on one topic are half the
  corpus), so primaries are never moved there.
- On the whole corpus the floors, penalties and `place_from` apply paper by paper, so the shares
  are those of the fit set only approximately: a topic's share among the newer papers can exceed
  the cap when they lean towards it (at most until the next step refits the thresholds), and
  `other` can exceed 5% by the newer papers that fit nothing. Warnings (which fail a --strict
  build) are about the fit set, where the limits are met unless they cannot be.

The stage is pure and deterministic: papers are sorted by id first, nothing depends on input
order, string hashing or unseeded randomness. For large corpora a forked worker process
(`parallel.in_background`) scans most papers for phrases while this process counts their words
and then scans the rest (the target machine has two cores); the result is the same either way. With a cache
(`cache_dir`), what is read from each paper's own text is kept between builds; the model is
fitted anew each time from those features, so a warm run gives exactly the cold run's result.
Floating-point sums are per row in a fixed order (TF-IDF entries sorted by column), so a paper's
scores are bit for bit the same whichever other papers are in the corpus. Without a taxonomy,
topics are discovered by clustering instead (`generator.analysis.discover`).
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
from typing import Any, TypeVar

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfTransformer
from sklearn.preprocessing import normalize

from generator import corpus_order
from generator.analysis.similarity_text import _Vocabulary
from generator.analysis.taxonomy import OTHER, PhraseMatcher, Taxonomy, normalise_for_matching
from generator.models import Paper, TopicAssignment, Topics
from generator.runtime.parallel import DEFAULT, Parallelism, in_background
from generator.runtime.processes import gc_paused

log = logging.getLogger(__name__)
T = TypeVar("T")

TITLE_FACTOR = 3.0
"""A phrase in the title counts this many times its weight."""
CONFIDENT_SCORE = 5.0
"""Phrase score from which a paper's best topic is trusted enough to shape that topic's centroid."""
CONFIDENT_MARGIN = 1.5
"""... and by which it must beat the runner-up."""
KEYWORD_REASON_SCORE = 3.0
"""Phrase score from which the reason lists matched phrases rather than similarity."""
SIMILARITY_WEIGHT = 12.0
"""Points per unit of cosine similarity to a topic centroid."""
MIN_SIMILARITY = 0.04
"""Below this similarity to every centroid, a paper without phrase evidence is `other`."""
EXTRA_MIN_SCORE = 4.0
"""Phrase score a secondary topic needs ..."""
EXTRA_RATIO = 0.45
"""... and the fraction of the primary's total score it must reach."""
GENERIC_YIELD_RATIO = 0.4
"""A field topic ranks before a generic one (evaluation) from this fraction of its phrase score."""
MAX_TOPICS = 3
MAX_OTHER_SHARE = 0.05
MAX_TOPIC_SHARE = 0.25
MIN_PAPERS_FOR_PRIMARY_CAP = 20
"""Below this many papers, the 25% limit only drops extras; it never moves a primary topic."""
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


def assign_topics(
    papers: Sequence[Paper],
    taxonomy: Taxonomy | None,
    *,
    cache_dir: Path | None = None,
    parallel: Parallelism = DEFAULT,
) -> Topics:
    """Rank 1-3 topics for every paper; discover topics by clustering when `taxonomy` is None.

    With `cache_dir`, what is read from each paper's own title and abstract (its phrase matches
    and its word counts) is kept there between builds, so a rebuild reads only new papers. The
    result is the same with or without the cache, and with or without a worker process
    (`parallel.topics_from`, `parallel.topics_share`).
    """
    ordered = sorted(papers, key=lambda p: p.id)
    if taxonomy is None:
        from generator.analysis.discover import discover_topics

        return discover_topics(ordered, parallel=parallel)
    if not ordered:
        return Topics(topics=tuple(t.topic for t in taxonomy.topics), assignments={})
    # The stage makes no reference cycles but many small lists; without this, full collections
    # over the whole corpus's objects cost more than some steps themselves (0.2 s of 0.5 s
    # in a rebuild of 10k papers).
    with gc_paused():
        return _assign(ordered, taxonomy, cache_dir, parallel)


def _assign(ordered: Sequence[Paper], taxonomy: Taxonomy, cache_dir: Path | None, parallel: Parallelism) -> Topics:
    """`assign_topics` for a taxonomy and at least one paper, sorted by id."""
    features = _read_papers(ordered, taxonomy, cache_dir, parallel)
    fit = fit_rows(ordered)
    matrix = _tfidf(features.words, fit)
    keyword = _keyword_scores(features.evidence, len(taxonomy.topics))
    similarity = _centroid_similarity(matrix, keyword, fit)
    scores = _Scores(keyword, similarity, keyword + SIMILARITY_WEIGHT * similarity)
    generic = np.array([t.generic for t in taxonomy.topics], dtype=bool)
    limits = _learn_limits(scores.take(fit), generic)
    choice = _choose(scores, limits, generic)
    assignments = _assignments(ordered, features.evidence, scores, choice, taxonomy)
    used_other = bool(choice.is_other.any())
    topics = tuple(t.topic for t in taxonomy.topics) + ((OTHER,) if used_other else ())
    _log_summary(assignments, len(ordered))
    return Topics(topics=topics, assignments=assignments)


def paper_text(paper: Paper) -> str:
    """The text similarity is computed on: the title twice (it matters more), then the abstract."""
    return f"{paper.title}. {paper.title}. {paper.abstract}"


# --- what is read from each paper -------------------------------------------------------------


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


# --- scores -----------------------------------------------------------------------------------


def _keyword_scores(evidence: _Rows, n_topics: int) -> np.ndarray:
    """The papers x topics matrix of phrase scores (each topic's contributions summed in phrase order)."""
    n_papers = evidence.n_rows
    topics, _, values = evidence.cols
    rows = np.repeat(np.arange(n_papers, dtype=np.int64), np.diff(evidence.indptr))
    flat = np.bincount(rows * n_topics + topics, weights=values, minlength=n_papers * n_topics)
    return flat.reshape(n_papers, n_topics)


def fit_rows(papers: Sequence[Paper]) -> np.ndarray:
    """Rows of the fit set (`corpus_order.fit_rows`), ascending: `papers` are in id order."""
    return np.sort(corpus_order.fit_rows(papers))


def _tfidf(words: _Words, fit: np.ndarray) -> Any:
    """The TF-IDF matrix (sparse, rows L2-normalised) of all papers, with vocabulary and IDF of
    the `fit` rows only; None without usable words.

    Exactly what `TfidfVectorizer(stop_words="english", sublinear_tf=True, min_df=2, max_df=0.5,
    dtype=np.float32).fit(fit texts).transform(all texts)` gives (min_df=1, max_df=1.0 below 50
    fit-set papers): words in alphabetical order, each row's entries sorted by column, so a row
    depends only on the paper's own words and the model, bit for bit.
    """
    term_ids, counts = words.rows.cols
    n_papers = words.rows.n_rows
    n_terms = len(words.vocabulary)
    k = len(fit)
    df = np.bincount(words.rows.take(fit).cols[0], minlength=n_terms)
    keep = df > 0
    if k >= 50:
        keep &= (df <= 0.5 * k) & (df >= 2)
    kept = np.flatnonzero(keep)
    if not kept.size:
        return None  # no usable words at all, or nothing left after pruning
    vocabulary = words.vocabulary
    column_of = np.full(n_terms, -1, dtype=np.int64)
    column_of[sorted(kept.tolist(), key=vocabulary.__getitem__)] = np.arange(kept.size, dtype=np.int64)
    columns = column_of[term_ids]
    entry_kept = columns >= 0
    row_of = np.repeat(np.arange(n_papers, dtype=np.int64), np.diff(words.rows.indptr))
    indptr = np.zeros(n_papers + 1, dtype=np.int32)
    np.cumsum(np.bincount(row_of[entry_kept], minlength=n_papers), out=indptr[1:])
    matrix = sp.csr_array(
        (counts[entry_kept], columns[entry_kept].astype(np.int32), indptr),
        shape=(n_papers, kept.size),
        dtype=np.float32,
    )
    matrix.sort_indices()
    transformer = TfidfTransformer(norm="l2", use_idf=True, smooth_idf=True, sublinear_tf=True)
    transformer.fit(matrix[fit] if k < n_papers else matrix)
    return transformer.transform(matrix, copy=False)


def _centroid_similarity(matrix: Any, keyword: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """Cosine similarity of every paper to the centroid of each topic's confident fit-set papers."""
    n_papers, n_topics = keyword.shape
    similarity = np.zeros((n_papers, n_topics), dtype=np.float64)
    if matrix is None:
        return similarity
    scores = keyword[fit]
    top = scores.argmax(axis=1)
    ordered_scores = np.sort(scores, axis=1)
    best = ordered_scores[:, -1]
    runner_up = ordered_scores[:, -2] if n_topics > 1 else np.zeros(len(fit))
    confident = (best >= CONFIDENT_SCORE) & (best >= CONFIDENT_MARGIN * runner_up)
    if not confident.any():
        return similarity
    centroids = np.zeros((n_topics, matrix.shape[1]), dtype=np.float64)
    for t in range(n_topics):
        rows = fit[confident & (top == t)]
        if rows.size:
            centroids[t] = np.asarray(matrix[rows].mean(axis=0)).ravel()
    centroids = np.ascontiguousarray(normalize(centroids).T)
    return np.asarray(matrix @ centroids, dtype=np.float64)


# --- ranking ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scores:
    """Per paper (rows) and topic (columns): phrase score, centroid similarity and total."""

    keyword: np.ndarray
    similarity: np.ndarray
    total: np.ndarray

    def take(self, rows: np.ndarray) -> _Scores:
        return _Scores(self.keyword[rows], self.similarity[rows], self.total[rows])


@dataclass(frozen=True)
class _Limits:
    """The share limits as thresholds, learned on the fit set (`_learn_limits`)."""

    place_from: float
    """A paper with no phrase evidence and weak similarity is placed anyway from this best
    similarity on (`inf`: never), which keeps `other` within its share on the fit set."""
    extra_floor: np.ndarray
    """Per topic: a secondary assignment needs this fraction of the primary's total score."""
    penalty: np.ndarray
    """Per topic: subtracted from the topic's total when the primary is chosen."""


@dataclass(frozen=True)
class _Choice:
    """Each paper's picks: its candidate `order`, `primary` (order[:, 0]) and the ranks picked as
    extras (`extras`, a mask over the ranks); `is_other` papers have no topic."""

    order: np.ndarray
    primary: np.ndarray
    extras: np.ndarray
    is_other: np.ndarray

    def listed(self, n_topics: int) -> np.ndarray:
        """Per topic, the papers that list it anywhere."""
        primaries = np.bincount(self.primary[~self.is_other], minlength=n_topics)
        return primaries + np.bincount(self.order[self.extras], minlength=n_topics)


def _choose(scores: _Scores, limits: _Limits, generic: np.ndarray) -> _Choice:
    """Every paper's primary and extras under `limits`; each row depends on that row alone."""
    keyword, total = scores.keyword, scores.total
    n_papers = len(total)
    penalised = limits.penalty.any()
    # Candidates: topics by descending total (ties: taxonomy order), a topic without any score
    # last; when penalties apply, by total minus penalty.
    adjusted = np.where(total > 0, total - limits.penalty if penalised else total, -np.inf)
    order = np.argsort(-adjusted, axis=1, kind="stable")
    _generic_yields(order, keyword, generic)
    primary = order[:, 0]
    best_similarity = scores.similarity.max(axis=1)
    is_other = (keyword.max(axis=1) <= 0) & (best_similarity < MIN_SIMILARITY)
    is_other &= ~((best_similarity >= limits.place_from) & (best_similarity > 0))
    rows = np.arange(n_papers)
    # Extras: later candidates with clear phrase evidence of their own and a fair share of the
    # primary's score, at most MAX_TOPICS - 1 of them, in candidate order ...
    ranked_keyword = np.take_along_axis(keyword, order, axis=1)
    ranked_total = np.take_along_axis(total, order, axis=1)
    primary_total = total[rows, primary]
    extras = (ranked_keyword >= EXTRA_MIN_SCORE) & (ranked_total >= EXTRA_RATIO * primary_total[:, None])
    extras[:, 0] = False
    extras[is_other] = False
    if penalised:
        # ... never the topic a penalty moved the paper away from ...
        unpenalised = np.argsort(-np.where(total > 0, total, -np.inf), axis=1, kind="stable")
        _generic_yields(unpenalised, keyword, generic)
        moved = np.flatnonzero(unpenalised[:, 0] != primary)
        extras[moved] &= order[moved] != unpenalised[moved, :1]
    extras &= np.cumsum(extras, axis=1) <= MAX_TOPICS - 1
    # ... and, for a topic near its share, this fraction of the primary's score.
    if limits.extra_floor.any():
        ratio = ranked_total / np.maximum(primary_total, 1e-9)[:, None]
        extras &= ratio >= limits.extra_floor[order]
    return _Choice(order, primary, extras, is_other)


def _generic_yields(order: np.ndarray, keyword: np.ndarray, generic: np.ndarray) -> None:
    """Where a generic topic leads, let a field topic with clear evidence go first (in place)."""
    flags = generic.tolist()
    for r in np.flatnonzero(generic[order[:, 0]]).tolist():
        order[r] = _field_first(order[r].tolist(), keyword[r].tolist(), flags)


def _learn_limits(scores: _Scores, generic: np.ndarray) -> _Limits:
    """The thresholds that keep `other` and every topic within their shares on the fit set, whose
    rows `scores` are (see the module docstring)."""
    n_papers, n_topics = scores.total.shape
    best_similarity = scores.similarity.max(axis=1)
    candidates = (scores.keyword.max(axis=1) <= 0) & (best_similarity < MIN_SIMILARITY)
    allowed_other = math.floor(MAX_OTHER_SHARE * n_papers)
    place_from = math.inf
    excess = int(candidates.sum()) - allowed_other
    if excess > 0:
        # Place the most similar of them anyway, keeping `other` within its share.
        placed = np.sort(best_similarity[candidates])[::-1][:excess]
        placed = placed[placed > 0]
        if placed.size:
            place_from = float(placed[-1])
    limits = _Limits(place_from, np.zeros(n_topics), np.zeros(n_topics))
    cap = max(1, math.floor(MAX_TOPIC_SHARE * n_papers))
    move_primaries = n_papers >= MIN_PAPERS_FOR_PRIMARY_CAP
    choice = _choose(scores, limits, generic)
    for _ in range(n_topics * 4):  # moving primaries can overfill another topic; a few rounds settle it
        listed = choice.listed(n_topics)
        over = np.flatnonzero(listed > cap).tolist()
        if not over:
            break
        rows = np.arange(n_papers)
        primary_total = np.maximum(scores.total[rows, choice.primary], 1e-9)
        for t in over:
            excess = int(listed[t]) - cap
            # Weakest extras first: the lowest score relative to the paper's primary (the same
            # division as in `_choose`, so the floor compares equal values) ...
            extra_rows = np.nonzero(choice.extras & (choice.order == t))[0]
            ratios = np.sort(scores.total[extra_rows, t] / primary_total[extra_rows])
            if ratios.size:
                dropped = min(excess, ratios.size)
                floor = np.nextafter(ratios[dropped - 1], np.inf)
                limits.extra_floor[t] = max(limits.extra_floor[t], floor)
                excess -= dropped
            if excess <= 0 or not move_primaries:
                continue
            # ... then the primaries that beat their runner-up by the least move to it: the
            # topic's penalty grows by the margin of the last of them.
            held = np.flatnonzero((choice.primary == t) & ~choice.is_other)
            total = scores.total[held]
            adjusted = np.where(total > 0, total - limits.penalty, -np.inf)
            lead = adjusted[:, t].copy()
            adjusted[:, t] = -np.inf
            runner_up = adjusted.max(axis=1)
            margins = np.sort((lead - runner_up)[np.isfinite(runner_up)])
            if margins.size:
                limits.penalty[t] += max(float(margins[min(excess, margins.size) - 1]), 0.0) + 1e-9
        choice = _choose(scores, limits, generic)
    level = logging.WARNING if n_papers >= MIN_PAPERS_FOR_PRIMARY_CAP else logging.INFO
    if (choice.listed(n_topics) > cap).any():
        log.log(level, "topics: could not bring every topic within %d papers (a quarter of the corpus)", cap)
    n_other = int(choice.is_other.sum())
    if n_other > allowed_other:
        # A warning fails a --strict build; small corpora miss the limits by arithmetic alone.
        log.log(
            level,
            "topics: %d of %d papers fit no topic and resemble no topic's papers; they are listed under Other",
            n_other,
            n_papers,
        )
    return limits


def _assignments(
    papers: Sequence[Paper], evidence: _Rows, scores: _Scores, choice: _Choice, taxonomy: Taxonomy
) -> dict[str, tuple[TopicAssignment, ...]]:
    """Each paper's picks as assignments with scores and reasons."""
    keyword: list[list[float]] = scores.keyword.tolist()
    total: list[list[float]] = scores.total.tolist()
    chosen: list[list[int]] = [
        [] if o else [p] for o, p in zip(choice.is_other.tolist(), choice.primary.tolist(), strict=True)
    ]
    extra_rows, extra_ranks = np.nonzero(choice.extras)
    for r, t in zip(extra_rows.tolist(), choice.order[extra_rows, extra_ranks].tolist(), strict=True):
        chosen[r].append(t)
    slugs = [t.topic.slug for t in taxonomy.topics]
    reasons = _Reasons(evidence, taxonomy)
    assignments: dict[str, tuple[TopicAssignment, ...]] = {}
    for r, paper in enumerate(papers):
        picks = chosen[r]
        if not picks:
            assignments[paper.id] = (TopicAssignment(OTHER.slug, 0.0, "no topic fits"),)
            continue
        assignments[paper.id] = tuple(
            TopicAssignment(slug=slugs[t], score=round(total[r][t], 3), reason=reasons.reason(r, t, keyword[r][t]))
            for t in picks
        )
    return assignments


class _Reasons:
    """One line for a person per assignment: the matched phrases, or the similarity that placed the paper."""

    def __init__(self, evidence: _Rows, taxonomy: Taxonomy) -> None:
        n_topics = len(taxonomy.topics)
        topics, phrases, values = evidence.cols
        rows = np.repeat(np.arange(evidence.n_rows, dtype=np.int64), np.diff(evidence.indptr))
        # Each topic's phrases by normalised key: ties of contribution are broken by it.
        offsets = np.cumsum([0] + [len(t.phrases) for t in taxonomy.topics])
        key_rank = np.zeros(offsets[-1], dtype=np.int64)
        for t, topic in enumerate(taxonomy.topics):
            keys = [p.key for p in topic.phrases]
            key_rank[offsets[t] + np.array(sorted(range(len(keys)), key=keys.__getitem__), dtype=np.int64)] = np.arange(
                len(keys)
            )
        # Evidence by paper, topic, then strongest first; one group per (paper, topic).
        order = np.lexsort((key_rank[offsets[topics] + phrases], -values, topics, rows))
        group = rows[order] * n_topics + topics[order]
        starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]]) if len(group) else np.zeros(0, np.int64)
        ends = np.r_[starts[1:], len(group)] if len(group) else starts  # no phrase matched anywhere: no groups
        self._n_topics = n_topics
        self._group = dict(zip(group[starts].tolist(), starts.tolist(), strict=True))
        self._ends = dict(zip(starts.tolist(), ends.tolist(), strict=True))
        self._ordered: list[int] = phrases[order].tolist()
        self._texts = [[p.text for p in t.phrases] for t in taxonomy.topics]
        self._similar = [f"similar to papers in {t.topic.name}" for t in taxonomy.topics]
        self._lines: dict[tuple[int, ...], str] = {}

    def reason(self, r: int, t: int, keyword_score: float) -> str:
        start = self._group.get(r * self._n_topics + t) if keyword_score >= KEYWORD_REASON_SCORE else None
        if start is None:
            return self._similar[t]
        shown = (t, *self._ordered[start : min(start + 4, self._ends[start])])
        line = self._lines.get(shown)
        if line is None:
            texts = self._texts[t]
            line = self._lines[shown] = "matched: " + ", ".join(f'"{texts[p]}"' for p in shown[1:])
        return line


def _field_first(row: list[int], keyword_row: Sequence[float], generic: Sequence[bool]) -> list[int]:
    """Move the best field topic before a leading generic one when its own evidence is clear."""
    if not generic[row[0]]:
        return row
    field = next((t for t in row if not generic[t]), None)
    if field is None:
        return row
    clear = keyword_row[field] >= EXTRA_MIN_SCORE
    if clear and keyword_row[field] >= GENERIC_YIELD_RATIO * keyword_row[row[0]]:
        return [field, *(t for t in row if t != field)]
    return row


def enforce_share(
    chosen: list[list[int]], order: Sequence[list[int]], total: Sequence[Sequence[float]], n_topics: int
) -> None:
    """Keep every topic within `MAX_TOPIC_SHARE` of the papers (see the module docstring).

    `chosen` holds each paper's picks (primary first) and is changed in place; `order` ranks all
    topics per paper, best first; `total` scores them. Papers are rows in id order.
    """
    n_papers = len(chosen)
    cap = max(1, math.floor(MAX_TOPIC_SHARE * n_papers))
    for _ in range(n_topics * 2):  # moving primaries can overfill another topic; a few rounds settle it
        holders: list[list[int]] = [[] for _ in range(n_topics)]
        for r, picks in enumerate(chosen):
            for t in picks:
                holders[t].append(r)
        counts = [len(h) for h in holders]
        over = [t for t in range(n_topics) if counts[t] > cap]
        if not over:
            return
        for t in over:
            # Weakest extras first: lowest score relative to the paper's primary, then row (id) order.
            extras = [r for r in holders[t] if chosen[r][0] != t]
            extras.sort(key=lambda r: (total[r][t] / max(total[r][chosen[r][0]], 1e-9), r))
            for r in extras[: counts[t] - cap]:
                chosen[r].remove(t)
                counts[t] -= 1
            if counts[t] <= cap or n_papers < MIN_PAPERS_FOR_PRIMARY_CAP:
                continue
            # Then the primaries that beat their runner-up by the least move to it.
            primaries = [r for r in holders[t] if chosen[r] and chosen[r][0] == t]
            primaries.sort(key=lambda r: (total[r][t] - _runner_up(order[r], total[r], t), r))
            for r in primaries:
                if counts[t] <= cap:
                    break
                target = next((c for c in order[r] if c != t and counts[c] < cap and total[r][c] > 0), None)
                if target is None:
                    continue
                if target not in chosen[r]:
                    counts[target] += 1
                chosen[r][:] = [target, *(c for c in chosen[r] if c not in (t, target))]
                counts[t] -= 1
    log.log(
        logging.WARNING if n_papers >= MIN_PAPERS_FOR_PRIMARY_CAP else logging.INFO,
        "topics: could not bring every topic within %d papers (a quarter of the corpus)",
        cap,
    )


def _runner_up(order_row: Sequence[int], total_row: Sequence[float], t: int) -> float:
    """The paper's best total score among topics other than `t`."""
    return next((total_row[c] for c in order_row if c != t), 0.0)


def _log_summary(assignments: dict[str, tuple[TopicAssignment, ...]], n_papers: int) -> None:
    """Log the share of `other` and of the largest topic."""
    counts: dict[str, int] = {}
    for picks in assignments.values():
        for a in picks:
            counts[a.slug] = counts.get(a.slug, 0) + 1
    if counts:
        largest = max(sorted(counts), key=lambda s: counts[s])
        log.info(
            "topics: %d papers; other %d; largest %s with %d",
            n_papers,
            counts.get(OTHER.slug, 0),
            largest,
            counts[largest],
        )
