"""What the topics stage reads from each paper's own text, and keeps between builds.

Per paper: its phrase evidence (`match_phrases`: the weighted contribution of every taxonomy
phrase found in its title and abstract). It depends only on the paper's text and the taxonomy,
so it is cached per paper (`_Cache`, keyed by a hash of title and abstract and the taxonomy's
fingerprint) and a rebuild reads only new papers; for large corpora a forked worker matches the
phrases of part of the texts (`parallel.in_background`). The words a paper's vector is made of
are the build's text model's (`generator.analysis.textmodel`), not read here.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from generator.analysis.taxonomy import PhraseMatcher, Taxonomy, normalise_for_matching
from generator.models import Paper
from generator.runtime.parallel import Parallelism, in_background

log = logging.getLogger(__name__)


TITLE_FACTOR = 3.0
"""A phrase in the title counts this many times its weight."""


CACHE_FILE = "topics.npz"
"""The cache file in the stage's folder (`cache.stage_dir`, which only ever holds this code's files)."""


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


def _read_papers(ordered: Sequence[Paper], taxonomy: Taxonomy, cache_dir: Path | None, parallel: Parallelism) -> _Rows:
    """Phrase evidence of every paper (`evidence.cols == (topic, phrase, contribution)`, sorted by
    topic, then phrase), from the cache where it has it.

    From `parallel.topics_from` papers still to be read, a forked worker matches the phrases of
    the first `parallel.topics_share` of them while this process matches the rest.
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
    texts = [(ordered[r].title, ordered[r].abstract) for r in missing.tolist()]
    # Many papers to read: a worker matches phrases in part of them while this process matches
    # the rest. The worker inherits `texts` at the fork: they are not pickled and sent to it.
    split = len(texts) >= parallel.topics_from and parallel.can_fork()
    cut = math.floor(parallel.topics_share * len(texts)) if split else 0
    pending = in_background(lambda: match_phrases(taxonomy, texts[:cut]), parallel) if cut else None
    found = _evidence_rows(match_phrases(taxonomy, texts[cut:] if pending else texts))
    if pending:
        first = _evidence_rows(pending.result())
        found = _Rows.stack([first, found])
    # Rows in id order: cached rows first in the pool, new rows after them.
    if cache is None:
        evidence = found
    elif len(missing):
        pool_row = known.copy()
        pool_row[missing] = cache.evidence.n_rows + np.arange(len(missing), dtype=np.int64)
        evidence = _Rows.stack([cache.evidence, found]).take(pool_row)
    else:
        evidence = cache.evidence.take(known)
    if cache_dir is not None and (cache is None or len(missing) or cache.n_keys != n):
        _Cache.save(cache_dir, fingerprint, keys, evidence)
    return evidence


@dataclass(frozen=True)
class _Cache:
    """The cache file: per paper key, its phrase evidence (for one taxonomy).

    One `.npz` file of plain arrays (no pickles), written to a temporary file and renamed into
    place. A file that is missing, unreadable, inconsistent or made with another taxonomy is ignored.
    """

    keys: np.ndarray
    evidence: _Rows

    @property
    def n_keys(self) -> int:
        return len(self.keys)

    def rows_of(self, keys: Sequence[bytes]) -> np.ndarray:
        """The cache row of each key, -1 where the cache does not know it."""
        blob = self.keys.tobytes()
        index = {blob[i : i + 16]: r for r, i in enumerate(range(0, len(blob), 16))}
        return np.fromiter((index.get(k, -1) for k in keys), dtype=np.int64, count=len(keys))

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
        if a["fingerprint"].tobytes() != fingerprint:
            return None
        keys = a["keys"].astype(np.uint8).reshape(-1, 16)
        evidence = _Rows(
            a["evidence_indptr"].astype(np.int64),
            (
                a["evidence_topics"].astype(np.int32),
                a["evidence_phrases"].astype(np.int32),
                a["evidence_values"].astype(np.float64),
            ),
        )
        _check_rows(evidence, len(keys))
        return cls(keys, evidence)

    @staticmethod
    def save(cache_dir: Path, fingerprint: bytes, keys: Sequence[bytes], evidence: _Rows) -> None:
        arrays = {
            "fingerprint": np.frombuffer(fingerprint, dtype=np.uint8),
            "keys": np.frombuffer(b"".join(keys), dtype=np.uint8),
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
