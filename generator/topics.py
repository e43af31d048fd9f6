"""The topics stage: rank one to three topics for every paper.

With a taxonomy (`content/topics.yml`, see `generator.taxonomy`), evidence comes from phrases:
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

Limits, and how they are enforced:

- `other` is used only for papers with no phrase evidence and no real similarity to any topic,
  and for at most 5% of the papers: beyond that, the most similar of them are placed anyway.
- "No topic holds more than a quarter of the corpus" is read as: the number of papers that list
  a topic *anywhere* among their one to three assignments is at most 25% of the papers. It is
  enforced first by dropping the topic from the papers where it is a weakest extra (secondary)
  assignment, and only then, for corpora of at least `MIN_PAPERS_FOR_PRIMARY_CAP` papers, by
  moving the primaries that beat their runner-up by the least to that runner-up. Below that
  size the limit cannot always be met (two papers of four on one topic are half the corpus), so
  primaries are never moved there.

The stage is pure and deterministic: papers are sorted by id first, nothing depends on input
order, string hashing or unseeded randomness. For large corpora a forked worker process scans
most papers for phrases while this process builds the TF-IDF matrix and then scans the rest
(the target machine has two cores); the result is the same either way. Without a taxonomy,
topics are discovered by clustering instead (`generator.discover`).
"""

from __future__ import annotations

import gc
import hashlib
import itertools
import logging
import math
import multiprocessing
import os
import re
import tempfile
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfTransformer
from sklearn.preprocessing import normalize

from .models import Paper, TopicAssignment, Topics
from .taxonomy import OTHER, PhraseMatcher, Taxonomy, normalise_for_matching

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
PARALLEL_MIN_PAPERS = 5_000
"""From this many papers still to be read, phrases are matched in a worker process alongside ..."""
WORKER_SHARE = 0.9
"""... the worker taking this share of those papers (this process counts their words for TF-IDF
meanwhile, then matches the rest)."""
CACHE_VERSION = 1
"""Format of the cache file; a file of any other version is ignored (and replaced)."""
CACHE_FILE = "topics.npz"

_STOP_WORDS = ENGLISH_STOP_WORDS
"""The stop words of `TfidfVectorizer(stop_words="english")`."""
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
"""`TfidfVectorizer`'s default token pattern (words of two or more word characters)."""
_ASCII_WORDS = str.maketrans(
    {
        chr(c): (chr(c).lower() if chr(c).isalpha() else " ")
        for c in range(128)
        if not re.fullmatch(r"[a-z0-9_]", chr(c))
    }
)
"""For ASCII text: lowercase, and every character other than a word character becomes a space."""


def assign_topics(papers: Sequence[Paper], taxonomy: Taxonomy | None, *, cache_dir: Path | None = None) -> Topics:
    """Rank 1-3 topics for every paper; discover topics by clustering when `taxonomy` is None.

    With `cache_dir`, what is read from each paper's own title and abstract (its phrase matches
    and its word counts) is kept there between builds, so a rebuild reads only new papers. The
    result is the same with or without the cache.
    """
    ordered = sorted(papers, key=lambda p: p.id)
    if taxonomy is None:
        from .discover import discover_topics

        return discover_topics(ordered)
    if not ordered:
        return Topics(topics=tuple(t.topic for t in taxonomy.topics), assignments={})
    # The stage makes no reference cycles but many small lists; without this, full collections
    # over the whole corpus's objects cost more than some steps themselves (0.2 s of 0.5 s
    # in a rebuild of 10k papers).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _assign(ordered, taxonomy, cache_dir)
    finally:
        if enabled:
            gc.enable()


def _assign(ordered: Sequence[Paper], taxonomy: Taxonomy, cache_dir: Path | None) -> Topics:
    """`assign_topics` for a taxonomy and at least one paper, sorted by id."""
    features = _read_papers(ordered, taxonomy, cache_dir)
    matrix = _tfidf(features.words, len(ordered))
    keyword = _keyword_scores(features.evidence, len(taxonomy.topics))
    similarity = _centroid_similarity(matrix, keyword)
    total = keyword + SIMILARITY_WEIGHT * similarity
    assignments = _rank(ordered, features.evidence, keyword, similarity, total, taxonomy)
    used_other = any(a[0].slug == OTHER.slug for a in assignments.values())
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
    phrases, then (topic, phrase, contribution) of each; module-level so a worker can run it."""
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


_shared_texts: Sequence[tuple[str, str]] = ()
"""The texts a forked worker reads from its copy of this process's memory (see `_match_in_worker`)."""


def _match_in_worker(taxonomy: Taxonomy, texts: Sequence[tuple[str, str]], cut: int) -> Future[Any] | None:
    """Start `match_phrases` on `texts[:cut]` in a worker that inherits the texts when forked,
    so they are not pickled and sent to it."""
    global _shared_texts
    _shared_texts = texts
    try:
        return run_in_worker(_match_shared, taxonomy, cut)
    finally:
        _shared_texts = ()


def _match_shared(taxonomy: Taxonomy, cut: int) -> tuple[array, array, array, array]:
    return match_phrases(taxonomy, _shared_texts[:cut])


def _evidence_rows(found: tuple[array, array, array, array]) -> _Rows:
    lengths, topics, phrases, values = (np.frombuffer(a, dtype=a.typecode) for a in found)
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    return _Rows(indptr, (topics.astype(np.int32), phrases.astype(np.int32), values.astype(np.float64)))


def _count_words(texts: Sequence[str], vocabulary: dict[str, int], terms: list[str]) -> _Rows:
    """Word counts of `texts` (see `_Words`); new words are added to `vocabulary` and `terms`.

    Tokens are those of `TfidfVectorizer`: lowercased, maximal runs of two or more word
    characters, English stop words dropped. ASCII text (nearly all) is split with `str.translate`
    instead of the token regex, which gives the same tokens three times faster. Words that never
    count (stop words, single characters) stay in `vocabulary` with index -1.
    """
    first_new = len(vocabulary)
    fresh = itertools.count(1 << 40)  # new words get these until they are numbered below
    add = vocabulary.setdefault
    lengths, ids, counts = array("q"), array("q"), array("q")
    for text in texts:
        tokens = text.translate(_ASCII_WORDS).split() if text.isascii() else _TOKEN.findall(text.lower())
        counted = Counter(tokens)  # distinct words in order of first occurrence
        lengths.append(len(counted))
        ids.extend(map(add, counted, fresh))
        counts.extend(counted.values())
    id_array = np.frombuffer(ids, dtype=np.int64)
    new_words = list(itertools.islice(vocabulary.items(), first_new, None))
    if new_words:
        placeholders = np.fromiter((v for _, v in new_words), dtype=np.int64, count=len(new_words))
        numbers = np.empty(len(new_words), dtype=np.int64)
        for k, (word, _) in enumerate(new_words):
            if len(word) < 2 or word in _STOP_WORDS:
                numbers[k] = -1
            else:
                numbers[k] = len(terms)
                terms.append(word)
            vocabulary[word] = int(numbers[k])
        is_new = id_array >= (1 << 40)
        id_array = id_array.copy()
        id_array[is_new] = numbers[np.searchsorted(placeholders, id_array[is_new])]
    keep = id_array >= 0
    row_of = np.repeat(np.arange(len(lengths), dtype=np.int64), np.frombuffer(lengths, dtype=np.int64))
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.bincount(row_of[keep], minlength=len(lengths)), out=indptr[1:])
    return _Rows(
        indptr, (id_array[keep].astype(np.int32), np.frombuffer(counts, dtype=np.int64)[keep].astype(np.int32))
    )


def _paper_key(paper: Paper) -> bytes:
    """What the cache knows a paper by: a digest of its title and abstract."""
    text = f"{len(paper.title)}:{paper.title}{paper.abstract}".encode()
    return hashlib.blake2b(text, digest_size=16).digest()


def taxonomy_fingerprint(taxonomy: Taxonomy) -> bytes:
    """A digest of everything phrase evidence depends on (phrases, weights, exclusions, factors)."""
    described = repr(
        (
            CACHE_VERSION,
            TITLE_FACTOR,
            [(tuple((p.key, p.weight) for p in t.phrases), t.exclude) for t in taxonomy.topics],
        )
    )
    return hashlib.blake2b(described.encode(), digest_size=16).digest()


def _read_papers(ordered: Sequence[Paper], taxonomy: Taxonomy, cache_dir: Path | None) -> _Features:
    """Phrase evidence and word counts of every paper, from the cache where it has them."""
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
    cut = math.floor(WORKER_SHARE * len(texts)) if len(texts) >= PARALLEL_MIN_PAPERS else 0
    pending = _match_in_worker(taxonomy, texts, cut) if cut else None
    if cache is not None:
        vocabulary = cache.vocabulary_index()
        terms = list(cache.terms)
    else:
        vocabulary, terms = {}, []
    new_words = _count_words([paper_text(ordered[r]) for r in missing.tolist()], vocabulary, terms)
    found = _evidence_rows(match_phrases(taxonomy, texts[cut:] if pending else texts))
    if pending:
        first = _evidence_rows(worker_result(pending, match_phrases, taxonomy, texts[:cut]))
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
    place. A file that is missing, unreadable, of another `CACHE_VERSION` or inconsistent is
    ignored; evidence made with another taxonomy is ignored while the word counts are used.
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
        if int(a["version"][0]) != CACHE_VERSION:
            log.info("topics: ignoring a cache of another version")
            return None
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
            "version": np.array([CACHE_VERSION], dtype=np.int64),
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


def run_in_worker(function: Callable[..., T], *args: Any) -> Future[T] | None:
    """Start `function(*args)` in a forked worker process; None when that is not possible.

    Fork, not spawn: the worker needs no re-import and the arguments are already in its memory
    image (they are still pickled once by the executor). The caller does the work itself on None.
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    try:
        executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"))
        future = executor.submit(function, *args)
        executor.shutdown(wait=False)
        return future
    except (OSError, RuntimeError) as exc:  # no processes allowed here
        log.debug("topics: no worker process (%s)", exc)
        return None


def worker_result(pending: Future[T], function: Callable[..., T], *args: Any) -> T:
    """The worker's result; if the worker died (killed, out of memory), do the work here instead."""
    try:
        return pending.result()
    except (BrokenProcessPool, OSError) as exc:
        log.info("topics: worker process failed (%s); continuing in this process", exc)
        return function(*args)


# --- scores -----------------------------------------------------------------------------------


def _keyword_scores(evidence: _Rows, n_topics: int) -> np.ndarray:
    """The papers x topics matrix of phrase scores (each topic's contributions summed in phrase order)."""
    n_papers = evidence.n_rows
    topics, _, values = evidence.cols
    rows = np.repeat(np.arange(n_papers, dtype=np.int64), np.diff(evidence.indptr))
    flat = np.bincount(rows * n_topics + topics, weights=values, minlength=n_papers * n_topics)
    return flat.reshape(n_papers, n_topics)


def _tfidf(words: _Words, n_papers: int) -> Any:
    """The TF-IDF matrix (sparse, rows L2-normalised) of the papers, or None without usable words.

    Exactly what `TfidfVectorizer(stop_words="english", sublinear_tf=True, min_df=2, max_df=0.5,
    dtype=np.float32).fit_transform` gives for the papers' `paper_text` (min_df=1, max_df=1.0
    below 50 papers), built from the word counts: the same columns (words in alphabetical
    order), the same entries in the same storage order (each row's words in order of their first
    occurrence in the corpus, as the vectorizer numbers them), so the same floating-point sums.
    """
    term_ids, counts = words.rows.cols
    indptr = words.rows.indptr
    n_terms = len(words.vocabulary)
    n_entries = len(term_ids)
    if not n_entries:
        return None  # no usable words at all (empty or stop-word-only texts)
    first = np.full(n_terms, n_entries, dtype=np.int64)
    np.minimum.at(first, term_ids, np.arange(n_entries, dtype=np.int64))
    df = np.bincount(term_ids, minlength=n_terms)
    keep = first < n_entries
    if n_papers >= 50:
        keep &= (df <= 0.5 * n_papers) & (df >= 2)
    kept = np.flatnonzero(keep)
    if not kept.size:
        return None  # nothing left after pruning
    # The vectorizer's numbering: kept words by first occurrence; its columns: alphabetical.
    by_occurrence = kept[np.argsort(first[kept], kind="stable")]
    occurrence_number = np.full(n_terms, -1, dtype=np.int64)
    occurrence_number[by_occurrence] = np.arange(kept.size, dtype=np.int64)
    vocabulary = words.vocabulary
    kept_terms = [vocabulary[i] for i in by_occurrence.tolist()]
    column_of_number = np.empty(kept.size, dtype=np.int32)
    column_of_number[sorted(range(kept.size), key=kept_terms.__getitem__)] = np.arange(kept.size, dtype=np.int32)
    entry_kept = keep[term_ids]
    row_of = np.repeat(np.arange(n_papers, dtype=np.int64), np.diff(indptr))
    new_indptr = np.zeros(n_papers + 1, dtype=np.int32)
    np.cumsum(np.bincount(row_of[entry_kept], minlength=n_papers), out=new_indptr[1:])
    matrix = sp.csr_array(
        (counts[entry_kept], occurrence_number[term_ids[entry_kept]].astype(np.int32), new_indptr),
        shape=(n_papers, kept.size),
        dtype=np.float32,
    )
    matrix.sort_indices()
    matrix.indices = column_of_number[matrix.indices]
    transformer = TfidfTransformer(norm="l2", use_idf=True, smooth_idf=True, sublinear_tf=True)
    transformer.fit(matrix)
    return transformer.transform(matrix, copy=False)


def _centroid_similarity(matrix: Any, keyword: np.ndarray) -> np.ndarray:
    """Cosine similarity of every paper to the centroid of each topic's confident papers."""
    n_papers, n_topics = keyword.shape
    similarity = np.zeros((n_papers, n_topics), dtype=np.float64)
    top = keyword.argmax(axis=1)
    ordered_scores = np.sort(keyword, axis=1)
    best = ordered_scores[:, -1]
    runner_up = ordered_scores[:, -2] if n_topics > 1 else np.zeros(n_papers)
    confident = (best >= CONFIDENT_SCORE) & (best >= CONFIDENT_MARGIN * runner_up)
    if matrix is None or not confident.any():
        return similarity
    centroids = np.zeros((n_topics, matrix.shape[1]), dtype=np.float64)
    for t in range(n_topics):
        rows = np.flatnonzero(confident & (top == t))
        if rows.size:
            centroids[t] = np.asarray(matrix[rows].mean(axis=0)).ravel()
    centroids = normalize(centroids)
    return np.asarray(matrix @ centroids.T, dtype=np.float64)


# --- ranking ----------------------------------------------------------------------------------


def _rank(
    papers: Sequence[Paper],
    evidence: _Rows,
    keyword_matrix: np.ndarray,
    similarity: np.ndarray,
    total_matrix: np.ndarray,
    taxonomy: Taxonomy,
) -> dict[str, tuple[TopicAssignment, ...]]:
    """Choose primaries and extras, then enforce the `other` and 25% limits."""
    n_papers, n_topics = total_matrix.shape
    # Candidates per paper: topic indices by descending total score (ties: taxonomy order).
    order_matrix = np.argsort(-total_matrix, axis=1, kind="stable")
    generic = [t.generic for t in taxonomy.topics]
    keyword: list[list[float]] = keyword_matrix.tolist()
    total: list[list[float]] = total_matrix.tolist()
    orders: list[list[int]] = order_matrix.tolist()
    for r in np.flatnonzero(np.array(generic)[order_matrix[:, 0]]).tolist():
        orders[r] = _field_first(orders[r], keyword[r], generic)
        order_matrix[r] = orders[r]
    best_similarity = similarity.max(axis=1)
    is_other_array = (keyword_matrix.max(axis=1) <= 0) & (best_similarity < MIN_SIMILARITY)
    other_rows = np.flatnonzero(is_other_array).tolist()
    allowed_other = math.floor(MAX_OTHER_SHARE * n_papers)
    if len(other_rows) > allowed_other:
        # Place the most similar of them anyway, keeping `other` within its share.
        best: list[float] = best_similarity.tolist()
        by_similarity = sorted(other_rows, key=lambda r: (-best[r], r))
        for r in by_similarity[: len(other_rows) - allowed_other]:
            if best[r] > 0:
                is_other_array[r] = False
    n_other = int(is_other_array.sum())
    if n_other > allowed_other:
        # A warning fails a --strict build; small corpora miss the limits by arithmetic alone.
        log.log(
            logging.WARNING if n_papers >= MIN_PAPERS_FOR_PRIMARY_CAP else logging.INFO,
            "topics: %d of %d papers fit no topic and resemble no topic's papers; they are listed under Other",
            n_other,
            n_papers,
        )
    # Extras: later candidates with clear phrase evidence of their own and a fair share of the
    # primary's score, at most MAX_TOPICS - 1 of them, in candidate order.
    rows = np.arange(n_papers)
    primary = order_matrix[:, 0]
    ranked_keyword = np.take_along_axis(keyword_matrix, order_matrix, axis=1)
    ranked_total = np.take_along_axis(total_matrix, order_matrix, axis=1)
    eligible = (ranked_keyword >= EXTRA_MIN_SCORE) & (
        ranked_total >= EXTRA_RATIO * total_matrix[rows, primary][:, None]
    )
    eligible[:, 0] = False
    eligible[is_other_array] = False
    eligible &= np.cumsum(eligible, axis=1) <= MAX_TOPICS - 1
    is_other = is_other_array.tolist()
    chosen: list[list[int]] = [[] if o else [p] for o, p in zip(is_other, primary.tolist(), strict=True)]
    extra_rows, extra_ranks = np.nonzero(eligible)
    for r, t in zip(extra_rows.tolist(), order_matrix[extra_rows, extra_ranks].tolist(), strict=True):
        chosen[r].append(t)
    enforce_share(chosen, orders, total, n_topics)
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
        self._n_topics = n_topics
        self._group = dict(zip(group[starts].tolist(), starts.tolist(), strict=True))
        self._ends = dict(zip(starts.tolist(), np.r_[starts[1:], len(group)].tolist(), strict=True))
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
