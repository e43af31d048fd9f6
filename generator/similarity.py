"""The similarity stage: near-duplicate links and similar papers, from one shared engine.

Every paper's title and abstract are folded (markup, accents, case; see
`similarity_text`) and tokenized once. The engine is a TF-IDF model of those tokens
(sublinear tf, l2 rows): its cosine ranks similar papers and its high-cosine pairs also
feed the near-duplicate check (`neardup`), which works on the same folded tokens. Two
thresholds on one engine: a near-duplicate is verified on exact token sequences, a
similar paper only needs cosine >= MIN_SIMILAR.

Stable under growth. The model (vocabulary, IDF, and for large corpora the SVD and the
k-means cells) is fitted on the oldest K papers only, in a fixed order (first date,
undated last, then id), where K is the largest step of a geometric ladder
(FIRST_RUNG, then each step a quarter larger: 100, 125, 156, 195, ..., 8563, 10703, ...)
not above the number of papers N; below FIRST_RUNG papers K = N. Every paper is then
vectorised with that model, so a paper's vector depends only on its own text and the
model, and the cosine of two papers does not change when papers are added. Adding a
day of new papers therefore changes an existing paper's similar list only where a new
paper enters its top k (or a paper it listed is gone); the model, and with it possibly
every list, changes only when the corpus crosses the next step (about every 25% of
growth). The price: words first seen after the fit set (in the newest up to 20% of
papers) are ignored until the next step.

Exact arithmetic. TF-IDF weights are rounded to multiples of 2^-15 (WEIGHT_SCALE) and
embeddings to multiples of 2^-11 (EMBED_SCALE), so every dot product is a sum of
integers computed exactly in floating point: a score does not depend on how products
were blocked or summed, cosines are symmetric, and ties are broken by paper id. That is
what makes the result a pure function of the input, whether computed from scratch or
from a cache.

Finding each paper's nearest neighbours is exact (every pair scored) while K <=
EXACT_LIMIT. Above it, it is an inverted-file search: a TruncatedSVD embedding, k-means
cells of about CELL_SIZE fit-set papers, each paper compared only with the papers of its
PROBES nearest cells, and the shortlist rescored with the exact TF-IDF cosine. Cost
grows about linearly with the corpus.

Incremental. With a `cache_dir`, each run leaves its state there (per paper, keyed by a
hash of title and abstract: tokens, MinHash signature, embedding, shortlist; the
verdicts of checked near-duplicate pairs; the fitted model) and the next run reuses
what is still valid: an unchanged paper's shortlist is only merged with the new and
changed papers, and only new pairs are verified. The result is the same as without a
cache. A cache of another format, a corrupt or unreadable one, is ignored; files are
written atomically.

Everything is deterministic: papers are processed in id order, every random step is
seeded, and no hash depends on PYTHONHASHSEED.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import logging
import math
import os
import pickle
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from threadpoolctl import threadpool_limits

from .models import NearDuplicate, Paper, Similarity, SimilarPaper
from .neardup import (
    PREFIX_TOKENS,
    PairChecker,
    TextTable,
    Verdict,
    candidate_pairs,
    minhash_signatures,
    segment_keys,
    shingle_hashes,
    verify_pairs,
)
from .similarity_text import ends_with_ellipsis, tokenize_corpus

log = logging.getLogger(__name__)

TOP_K = 5
"""Similar papers listed per paper, at most."""
MIN_SIMILAR = 0.1
"""Cosine below which two papers are unrelated and never listed as similar."""
NEAR_DUP_COSINE = 0.5
"""Engine pairs from this cosine on are also checked as near-duplicates."""
SHORTLIST = 12
"""Nearest neighbours kept per paper before near-duplicates are taken out."""
EXACT_LIMIT = 8000
"""Up to this many fit-set papers every pair is scored; above it the inverted-file search runs."""
FIRST_RUNG = 100
"""The model is fitted on every paper below this many; above, on a step of the ladder."""
SEED = 20240529
SVD_COMPONENTS = 128
SVD_SAMPLE = 10000
"""Fit-set rows the SVD is fitted on (an even sample)."""
KMEANS_SAMPLE = 20000
"""Fit-set rows k-means is fitted on (an even sample); all rows are then assigned."""
KMEANS_ITERATIONS = 10
CELL_SIZE = 200
PROBES = 3
WEIGHT_SCALE = 2.0**15
"""TF-IDF weights are integers / WEIGHT_SCALE: dot products below 2^53 are exact in float64."""
EMBED_SCALE = 2.0**11
"""Embeddings are integers / EMBED_SCALE: dot products below 2^24 are exact in float32."""
CACHE_FORMAT = 1
"""Version of the cache files; a cache of another version is ignored."""
_BLOCK = 4_000_000
"""Dense score entries computed at once (bounds memory)."""
_SENTENCE_END = (".", "!", "?", ")", '"', "'", "]", "\u201d", "\u2019")
_STATE_FILE = "state.pickle"


def fit_size(n: int) -> int:
    """Papers the model is fitted on: the largest ladder step not above n (n itself when small)."""
    if n <= FIRST_RUNG:
        return n
    k = FIRST_RUNG
    while k + k // 4 <= n:
        k += k // 4
    return k


@dataclass
class Model:
    """The fitted engine: vocabulary and IDF, and for large corpora the SVD and the cells."""

    key: bytes
    """Identifies the fit set and every parameter: equal keys, equal models."""
    words: list[str]
    """Model vocabulary (sorted); column j of every vector is words[j]."""
    idf: np.ndarray
    components: np.ndarray | None = None
    """SVD components (float32, components x words), or None in exact mode."""
    centres: np.ndarray | None = None
    """Cell centres, integers / EMBED_SCALE as float32 (None in exact mode)."""


@dataclass
class _State:
    """What one run leaves for the next (per paper, in id order)."""

    ids: list[str]
    digests: list[bytes]
    words: list[str]
    hashes: np.ndarray
    tokens: np.ndarray
    """Token ids of every paper's title then abstract, concatenated."""
    title_len: np.ndarray
    abstract_len: np.ndarray
    signatures: np.ndarray
    verdicts: dict[bytes, tuple[float, str] | None]
    model_key: bytes = b""
    embedding: np.ndarray | None = None
    """int16 embedding per paper (inverted-file mode)."""
    short_other: np.ndarray | None = None
    """Shortlist per paper: rows into `ids` (-1: empty), selection score, exact score."""
    short_select: np.ndarray | None = None
    short_exact: np.ndarray | None = None
    models: dict[bytes, Model] = field(default_factory=dict)


def find_similarity(papers: Sequence[Paper], *, cache_dir: Path | None = None) -> Similarity:
    """Near-duplicates and up to TOP_K similar papers for every paper.

    Pure and deterministic: the result depends only on the set of papers, not on
    their order nor on `cache_dir`, where work is kept for the next run. Every paper
    id is a key of both dicts.
    """
    # One BLAS/OpenMP thread: the products here are many and small, where threads cost
    # more than they give (ten times more on a busy machine).
    with threadpool_limits(limits=1):
        return _find_similarity(papers, cache_dir)


def _digest(paper: Paper) -> bytes:
    data = paper.title.encode("utf-8", "surrogatepass") + b"\x00" + paper.abstract.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16).digest()


def _find_similarity(papers: Sequence[Paper], cache_dir: Path | None) -> Similarity:
    started = time.perf_counter()
    ordered = sorted(papers, key=lambda p: p.id)
    ids = [p.id for p in ordered]
    if len(set(ids)) != len(ids):
        raise ValueError("paper ids must be unique")
    n = len(ordered)
    if n == 0:
        return Similarity(near_duplicates={}, similar={})
    digests = [_digest(p) for p in ordered]
    old = _load_state(cache_dir) if cache_dir is not None else None
    table, token_hashes = build_text_table(ordered, digests, old)
    log.debug("tokens: %.2fs", time.perf_counter() - started)
    model = _model(ordered, digests, table, old)
    vectors = _Vectors(table, model)
    log.debug("model: %.2fs", time.perf_counter() - started)
    reuse = _Reuse.make(ids, digests, old, model.key)
    short, embedding = shortlists(vectors, model, reuse)
    pairs, scores = _pairs(short)
    log.debug("engine: %d scored pairs at %.2fs", len(pairs), time.perf_counter() - started)

    starts, ends = table.title_start, table.title_end
    abstract_len = table.abstract_end - table.abstract_start
    title_keys = np.where(ends > starts, segment_keys(table.ids, token_hashes, starts, ends), 0)
    prefix_end = table.abstract_start + np.minimum(abstract_len, PREFIX_TOKENS)
    prefix_keys = segment_keys(table.ids, token_hashes, table.abstract_start, prefix_end)
    signatures = _signatures(table, digests, old)
    candidates = candidate_pairs(
        table,
        title_keys.astype(np.uint64),
        prefix_keys,
        abstract_len >= PREFIX_TOKENS,
        pairs[scores >= NEAR_DUP_COSINE],
        signatures,
    )
    checker = _CachedChecker(table, digests, old.verdicts if old is not None else {})
    links = verify_pairs(candidates, checker)
    log.debug("near-duplicates: %d candidates, %d papers linked", len(candidates), len(links))

    near: dict[str, tuple[NearDuplicate, ...]] = dict.fromkeys(ids, ())
    for i, found_links in sorted(links.items()):
        found = [NearDuplicate(id=ids[j], score=v.score, kind=v.kind) for j, v in found_links.items()]
        near[ids[i]] = tuple(sorted(found, key=lambda d: (-d.score, d.id)))
    similar = top_similar(short, links, ids)
    if cache_dir is not None:
        state = _State(
            ids=ids,
            digests=digests,
            words=list(table.words),
            hashes=token_hashes,
            tokens=table.ids,
            title_len=table.title_end - table.title_start,
            abstract_len=abstract_len,
            signatures=signatures,
            verdicts=checker.verdicts,
            model_key=model.key,
            embedding=None if embedding is None else embedding.astype(np.int16),
            short_other=short.other,
            short_select=short.select,
            short_exact=short.exact,
            models={model.key: model},
        )
        _save_state(cache_dir, state)
    log.info("similarity: %d papers in %.2fs", n, time.perf_counter() - started)
    return Similarity(near_duplicates=near, similar=similar)


# --- cache -------------------------------------------------------------------------


def _load_state(cache_dir: Path) -> _State | None:
    """The previous run's state, or None when missing, of another format or unreadable."""
    try:
        with open(cache_dir / _STATE_FILE, "rb") as f:
            header = pickle.load(f)
            if header != ("paper-digest-similarity", CACHE_FORMAT):
                return None
            state = pickle.load(f)
        if not isinstance(state, _State):
            return None
        n = len(state.ids)
        if len(state.digests) != n or len(state.title_len) != n or len(state.signatures) != n:
            return None
        if int(state.title_len.sum() + state.abstract_len.sum()) != len(state.tokens):
            return None
        if len(state.tokens) and int(state.tokens.max()) >= len(state.words):
            return None
        model_file = cache_dir / f"model-{state.model_key.hex()}.pickle"
        if model_file.exists():
            with open(model_file, "rb") as f:
                if pickle.load(f) == ("paper-digest-similarity-model", CACHE_FORMAT):
                    model = pickle.load(f)
                    if isinstance(model, Model) and model.key == state.model_key:
                        state.models = {model.key: model}
        return state
    except Exception as error:  # any broken cache only makes a slower build
        log.info("similarity cache ignored: %s", error)
        return None


def _write_atomically(path: Path, *objects: object) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            for obj in objects:
                pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _save_state(cache_dir: Path, state: _State) -> None:
    """Write the state for the next run (the model in its own file, written once per model)."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        model = state.models[state.model_key]
        model_file = cache_dir / f"model-{model.key.hex()}.pickle"
        if not model_file.exists():
            _write_atomically(model_file, ("paper-digest-similarity-model", CACHE_FORMAT), model)
        state.models = {}
        # Keep only the words still in use, so the vocabulary does not grow with history.
        used = np.bincount(state.tokens, minlength=len(state.words)) > 0
        if used.sum() < 0.8 * len(state.words):
            remap = np.cumsum(used) - 1
            state.tokens = remap[state.tokens].astype(np.int32)
            state.words = [w for w, u in zip(state.words, used.tolist(), strict=True) if u]
            state.hashes = state.hashes[used]
        # Verdicts of pairs whose papers are both still here.
        present = set(state.digests)
        state.verdicts = {k: v for k, v in state.verdicts.items() if k[:16] in present and k[16:] in present}
        _write_atomically(cache_dir / _STATE_FILE, ("paper-digest-similarity", CACHE_FORMAT), state)
        for other in cache_dir.glob("model-*.pickle"):
            if other != model_file:
                other.unlink(missing_ok=True)
    except OSError as error:
        log.warning("similarity cache not written: %s", error)


@dataclass
class _Reuse:
    """How the previous run's papers map onto this run's rows."""

    n: int
    old_row: np.ndarray
    """Per current row: its row in the previous run with the same text, or -1."""
    old: _State | None
    same_model: bool

    @classmethod
    def make(cls, ids: list[str], digests: list[bytes], old: _State | None, model_key: bytes) -> _Reuse:
        old_row = np.full(len(ids), -1, np.int64)
        if old is not None:
            where = {paper_id: k for k, paper_id in enumerate(old.ids)}
            for i, paper_id in enumerate(ids):
                k = where.get(paper_id, -1)
                if k >= 0 and old.digests[k] == digests[i]:
                    old_row[i] = k
        same = old is not None and old.model_key == model_key and old.short_other is not None
        return cls(len(ids), old_row, old, same)


class _CachedChecker(PairChecker):
    """`PairChecker` that remembers verdicts by the two papers' text digests."""

    def __init__(self, table: TextTable, digests: list[bytes], known: Mapping[bytes, tuple[float, str] | None]):
        super().__init__(table)
        self.digests = digests
        self.known = known
        self.verdicts: dict[bytes, tuple[float, str] | None] = {}

    def check(self, i: int, j: int) -> Verdict | None:
        key = self.digests[i] + self.digests[j]
        if key in self.verdicts:
            found = self.verdicts[key]
        elif key in self.known:
            found = self.verdicts[key] = self.known[key]
        else:
            verdict = super().check(i, j)
            found = self.verdicts[key] = None if verdict is None else (verdict.score, verdict.kind)
        return None if found is None else Verdict(found[0], found[1])


def _signatures(table: TextTable, digests: list[bytes], old: _State | None) -> np.ndarray:
    """MinHash signatures of every paper, computed only for texts the cache does not have."""
    offsets = table.shingle_offsets
    if old is None:
        return minhash_signatures(table.shingles, offsets)
    where = {d: k for k, d in enumerate(old.digests)}
    found = np.array([where.get(d, -1) for d in digests], np.int64)
    missing = np.flatnonzero(found < 0)
    signatures = np.empty((len(digests), old.signatures.shape[1]), np.uint32)
    hit = found >= 0
    signatures[hit] = old.signatures[found[hit]]
    if len(missing):
        lengths = offsets[missing + 1] - offsets[missing]
        sub_offsets = np.zeros(len(missing) + 1, np.int64)
        np.cumsum(lengths, out=sub_offsets[1:])
        take = np.repeat(offsets[missing] - sub_offsets[:-1], lengths) + np.arange(int(sub_offsets[-1]))
        signatures[missing] = minhash_signatures(table.shingles[take], sub_offsets)
    return signatures


# --- tokens ------------------------------------------------------------------------


def build_text_table(
    papers: Sequence[Paper], digests: Sequence[bytes] | None = None, old: _State | None = None
) -> tuple[TextTable, np.ndarray]:
    """Fold and tokenize every title and abstract; return the table and the token hashes.

    Texts found in `old` (by digest) take their tokens from there.
    """
    n = len(papers)
    found = np.full(n, -1, np.int64)
    if old is not None and digests is not None:
        where = {d: k for k, d in enumerate(old.digests)}
        found = np.array([where.get(d, -1) for d in digests], np.int64)
    missing = np.flatnonzero(found < 0)
    texts = [text for i in missing.tolist() for text in (papers[i].title, papers[i].abstract)]
    tokens = tokenize_corpus(texts, old.words, old.hashes) if old is not None else tokenize_corpus(texts)
    title_len = np.zeros(n, np.int64)
    abstract_len = np.zeros(n, np.int64)
    source_start = np.zeros(n, np.int64)
    new_offsets = tokens.offsets
    title_len[missing] = new_offsets[1:-1:2] - new_offsets[0:-1:2]
    abstract_len[missing] = new_offsets[2::2] - new_offsets[1:-1:2]
    old_count = 0
    if old is not None:
        hit = np.flatnonzero(found >= 0)
        old_starts = np.zeros(len(old.ids) + 1, np.int64)
        np.cumsum(old.title_len + old.abstract_len, out=old_starts[1:])
        title_len[hit] = old.title_len[found[hit]]
        abstract_len[hit] = old.abstract_len[found[hit]]
        source_start[hit] = old_starts[found[hit]]
        old_count = len(old.tokens)
    source_start[missing] = new_offsets[0:-1:2] + old_count
    lengths = title_len + abstract_len
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    source = np.concatenate([old.tokens, tokens.ids]) if old is not None else tokens.ids
    take = np.repeat(source_start - offsets[:-1], lengths) + np.arange(int(offsets[-1]))
    ids = source[take].astype(np.int32) if len(take) else np.zeros(0, np.int32)
    title_start = offsets[:-1]
    title_end = title_start + title_len
    abstract_start, abstract_end = title_end, offsets[1:]
    has_abstract = abstract_end > abstract_start
    shingle_start = np.where(has_abstract, abstract_start, title_start)
    shingle_end = np.where(has_abstract, abstract_end, title_end)
    shingles, shingle_offsets = shingle_hashes(ids, tokens.hashes, shingle_start, shingle_end)
    marked = np.array(
        [ends_with_ellipsis(p.abstract) or not p.abstract.rstrip().endswith(_SENTENCE_END) for p in papers],
        dtype=bool,
    )
    table = TextTable(
        ids=ids,
        title_start=title_start,
        title_end=title_end,
        abstract_start=abstract_start,
        abstract_end=abstract_end,
        words=tokens.words,
        marked_truncated=marked,
        shingles=shingles,
        shingle_offsets=shingle_offsets,
    )
    return table, tokens.hashes


# --- the model ---------------------------------------------------------------------


def fit_rows(papers: Sequence[Paper]) -> np.ndarray:
    """Rows (in id order) of the fit set: the oldest `fit_size` papers by first date, then id."""
    far = dt.date.max
    first = [min((a.date for a in p.appearances if a.date is not None), default=far) for p in papers]
    order = sorted(range(len(papers)), key=lambda i: (first[i], papers[i].id))
    return np.array(order[: fit_size(len(papers))], np.int64)


def _approximate(k: int) -> bool:
    return k > EXACT_LIMIT


def _model(papers: Sequence[Paper], digests: Sequence[bytes], table: TextTable, old: _State | None) -> Model:
    rows = fit_rows(papers)
    params = repr(
        (
            CACHE_FORMAT,
            len(rows),
            EXACT_LIMIT,
            SEED,
            SVD_COMPONENTS,
            SVD_SAMPLE,
            KMEANS_SAMPLE,
            KMEANS_ITERATIONS,
            CELL_SIZE,
            WEIGHT_SCALE,
            EMBED_SCALE,
        )
    )
    h = hashlib.blake2b(params.encode(), digest_size=20)
    for i in rows.tolist():
        h.update(digests[i])
    key = h.digest()
    if old is not None and key in old.models:
        return old.models[key]
    return fit_model(table, rows, key)


def _keep_words(words: Sequence[str]) -> np.ndarray:
    """English stop words and one-character tokens carry no topic and are left out."""
    return np.fromiter((len(w) > 1 and w not in ENGLISH_STOP_WORDS for w in words), bool, len(words))


def _rows_tokens(table: TextTable, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of the given papers (title and abstract), with the paper each belongs to."""
    starts, ends = table.title_start[rows], table.abstract_end[rows]
    lengths = ends - starts
    offsets = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    take = np.repeat(starts - offsets[:-1], lengths) + np.arange(int(offsets[-1]))
    return table.ids[take], np.repeat(np.arange(len(rows)), lengths)


def fit_model(table: TextTable, rows: np.ndarray, key: bytes = b"") -> Model:
    """Vocabulary and IDF (smooth, as scikit-learn's) of the fit-set rows; SVD and cells when large."""
    tokens, owner = _rows_tokens(table, rows)
    keep = _keep_words(table.words)[tokens]
    tokens, owner = tokens[keep], owner[keep]
    vocabulary_size = len(table.words)
    occurs = sp.csr_matrix(
        (np.ones(len(tokens), np.float32), (owner, tokens)), shape=(len(rows), max(vocabulary_size, 1))
    )
    occurs.sum_duplicates()
    df = np.bincount(occurs.indices, minlength=vocabulary_size)
    present = np.flatnonzero(df)
    order = sorted(range(len(present)), key=lambda k: table.words[int(present[k])])
    chosen = present[order]
    words = [table.words[t] for t in chosen.tolist()]
    k = len(rows)
    by_df = {int(d): math.log((1 + k) / (1 + int(d))) + 1.0 for d in np.unique(df[chosen]).tolist()}
    idf = np.array([by_df[int(d)] for d in df[chosen].tolist()], np.float64)
    model = Model(key=key, words=words, idf=idf)
    if _approximate(k):
        _fit_cells(model, table, rows)
    return model


def _fit_cells(model: Model, table: TextTable, rows: np.ndarray) -> None:
    """The SVD embedding and k-means cells, fitted on even samples of the fit set."""
    k = len(rows)
    sample = rows[:: max(1, k // SVD_SAMPLE)]
    matrix = (tfidf_matrix(_subtable(table, sample), len(sample), model) / WEIGHT_SCALE).astype(np.float32)
    components = max(1, min(SVD_COMPONENTS, matrix.shape[1] - 1))
    svd = TruncatedSVD(n_components=components, n_iter=3, random_state=SEED)
    svd.fit(matrix)
    model.components = np.ascontiguousarray(svd.components_.T, dtype=np.float32)
    sample = rows[:: max(1, k // KMEANS_SAMPLE)]
    embedding = embed(tfidf_matrix(_subtable(table, sample), len(sample), model), model) / np.float32(EMBED_SCALE)
    cells = max(2, k // CELL_SIZE)
    init = embedding[np.linspace(0, len(embedding) - 1, cells).astype(np.int64)]
    kmeans = KMeans(n_clusters=cells, init=init, n_init=1, max_iter=KMEANS_ITERATIONS, random_state=SEED)
    kmeans.fit(embedding)
    model.centres = np.rint(kmeans.cluster_centers_ * EMBED_SCALE).astype(np.float32)


def _subtable(table: TextTable, rows: np.ndarray) -> TextTable:
    """The rows' tokens as a table of their own (enough for `tfidf_matrix`)."""
    tokens, owner = _rows_tokens(table, rows)
    lengths = np.bincount(owner, minlength=len(rows))
    starts = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(lengths, out=starts[1:])
    return TextTable(
        ids=tokens,
        title_start=starts[:-1],
        title_end=starts[:-1],
        abstract_start=starts[:-1],
        abstract_end=starts[1:],
        words=table.words,
        marked_truncated=np.zeros(len(rows), bool),
        shingles=np.zeros(0, np.uint32),
        shingle_offsets=np.zeros(len(rows) + 1, np.int64),
    )


class _Vectors:
    """TF-IDF rows of the model, computed only for the rows asked for (all, when searched exactly)."""

    def __init__(self, table: TextTable, model: Model) -> None:
        self.table = table
        self.model = model
        self.n = len(table.title_start)
        self.columns = _columns(table.words, model)
        self._all: sp.csr_matrix | None = None

    def all(self) -> sp.csr_matrix:
        if self._all is None:
            self._all = tfidf_matrix(self.table, self.n, self.model, self.columns)
        return self._all

    def rows(self, rows: np.ndarray) -> sp.csr_matrix:
        """An n-row matrix holding at least the given rows (others may be empty)."""
        if self._all is not None or len(rows) > self.n // 2:
            return self.all()
        rows = np.unique(rows)
        part = tfidf_matrix(_subtable(self.table, rows), len(rows), self.model, self.columns)
        lengths = np.zeros(self.n, np.int64)
        lengths[rows] = np.diff(part.indptr)
        indptr = np.zeros(self.n + 1, np.int64)
        np.cumsum(lengths, out=indptr[1:])
        return sp.csr_matrix((part.data, part.indices, indptr), shape=(self.n, part.shape[1]))


def _columns(words: Sequence[str], model: Model) -> np.ndarray:
    """The model column of each token id (-1: not in the model)."""
    column = np.full(max(len(words), 1), -1, np.int64)
    if words:
        position = {w: j for j, w in enumerate(model.words)}
        column[: len(words)] = np.fromiter((position.get(w, -1) for w in words), np.int64, len(words))
    return column


_LOG_TF = np.array([0.0] + [1.0 + math.log(t) for t in range(1, 4096)], np.float64)


def tfidf_matrix(table: TextTable, n: int, model: Model, columns: np.ndarray | None = None) -> sp.csr_matrix:
    """The engine: TF-IDF rows of the model (sublinear tf, l2 rows), weights integer / WEIGHT_SCALE.

    Tokens outside the model's vocabulary are ignored. Each row depends only on the
    paper's tokens and the model, bit for bit.
    """
    column = _columns(table.words, model) if columns is None else columns
    cols = column[table.ids]
    keep = cols >= 0
    kept_before = np.zeros(len(table.ids) + 1, np.int64)
    np.cumsum(keep, out=kept_before[1:])
    indptr = kept_before[np.append(table.title_start, len(table.ids))]
    width = max(len(model.words), 1)
    counts = sp.csr_matrix((np.ones(int(indptr[-1]), np.float64), cols[keep], indptr), shape=(n, width))
    counts.sum_duplicates()  # also sorts each row's columns: a canonical order for the sums below
    tf = counts.data.astype(np.int64)
    big = tf >= len(_LOG_TF)
    weights = _LOG_TF[np.minimum(tf, len(_LOG_TF) - 1)]
    if big.any():
        weights[big] = [1.0 + math.log(t) for t in tf[big].tolist()]
    weights *= model.idf[counts.indices]
    squares = sp.csr_matrix((weights * weights, counts.indices, counts.indptr), shape=counts.shape)
    norms = np.sqrt(squares @ np.ones(width))  # one sequential sum per row
    row = np.repeat(np.arange(n), np.diff(counts.indptr))
    values = np.rint(weights / norms[row] * WEIGHT_SCALE)
    return sp.csr_matrix((values, counts.indices, counts.indptr), shape=counts.shape)


def embed(matrix: sp.csr_matrix, model: Model) -> np.ndarray:
    """SVD embedding of TF-IDF rows, l2-normalised, as integers / EMBED_SCALE (float32)."""
    assert model.components is not None
    # Weights are integers below 2^16, exact in float32; each row's sum runs in column order.
    raw = np.asarray(matrix.astype(np.float32) @ model.components, dtype=np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", raw, raw))
    raw /= np.where(norms > 0, norms, 1.0)[:, None]
    return np.rint(raw * EMBED_SCALE).astype(np.float32)


# --- shortlists --------------------------------------------------------------------


@dataclass
class Shortlists:
    """Per row: up to SHORTLIST nearest rows (-1: none), their selection and exact scores."""

    other: np.ndarray
    select: np.ndarray
    exact: np.ndarray


def _top_keys(scores: np.ndarray, columns: np.ndarray, k: int, radix: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the k best columns by (score descending, column ascending), and their scores.

    Scores are integers; ties are broken by column (rows are in id order), so the choice
    does not depend on how candidates were grouped. Rows with fewer candidates pad with -1.
    """
    keys = scores.astype(np.float64) * radix + (radix - 1 - columns)
    if keys.shape[1] > k:
        top = np.argpartition(-keys, k - 1, axis=1)[:, :k]
    else:
        top = np.broadcast_to(np.arange(keys.shape[1]), keys.shape)
    chosen = np.take_along_axis(keys, top, axis=1)
    good = chosen >= radix  # a positive score
    cols = np.broadcast_to(columns, keys.shape) if columns.ndim == 1 else columns
    picked = np.where(good, np.take_along_axis(cols, top, axis=1), -1)
    return picked, np.where(good, np.take_along_axis(scores.astype(np.float64), top, axis=1), 0.0)


def _merge(
    rows: np.ndarray, other: np.ndarray, select: np.ndarray, exact: np.ndarray, n: int, radix: int
) -> Shortlists:
    """Each row's best SHORTLIST candidates among (row, other, score) triples (no duplicates)."""
    out = Shortlists(np.full((n, SHORTLIST), -1, np.int64), np.zeros((n, SHORTLIST)), np.full((n, SHORTLIST), np.nan))
    good = (other >= 0) & (select > 0)
    rows, other, select, exact = rows[good], other[good], select[good], exact[good]
    top = int(select.max()) + 1 if len(select) else 1
    score_bits, other_bits = top.bit_length(), max(1, (radix - 1).bit_length())
    if score_bits + other_bits + max(1, (n - 1).bit_length()) <= 63:  # one integer sort key
        inverted = (top - select.astype(np.int64)) << other_bits | other
        order = np.argsort(rows.astype(np.int64) << (score_bits + other_bits) | inverted)
    else:
        order = np.lexsort((other, -select, rows))
    rows, other, select, exact = rows[order], other[order], select[order], exact[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows)
    keep = rank < SHORTLIST
    out.other[rows[keep], rank[keep]] = other[keep]
    out.select[rows[keep], rank[keep]] = select[keep]
    out.exact[rows[keep], rank[keep]] = exact[keep]
    return out


def shortlists(vectors: _Vectors, model: Model, reuse: _Reuse) -> tuple[Shortlists, np.ndarray | None]:
    """Each row's SHORTLIST nearest rows, with exact scores (integers / WEIGHT_SCALE^2).

    Rows whose cached shortlist is still valid are only compared with the new rows.
    """
    n = vectors.n
    radix = 1 << max(1, (n - 1).bit_length())
    old = reuse.old
    cached = np.zeros(n, bool)
    old_other = np.full((n, SHORTLIST), -1, np.int64)
    old_select = np.zeros((n, SHORTLIST))
    old_exact = np.zeros((n, SHORTLIST))
    if old is not None and reuse.same_model:
        assert old.short_other is not None and old.short_select is not None and old.short_exact is not None
        current = np.full(len(old.ids) + 1, -1, np.int64)  # old row -> current row (-1 at the end: none)
        hit = np.flatnonzero(reuse.old_row >= 0)
        current[reuse.old_row[hit]] = hit
        rows_old = reuse.old_row[hit]
        mapped = current[old.short_other[rows_old]]
        lost = ((old.short_other[rows_old] >= 0) & (mapped < 0)).any(axis=1)
        valid = hit[~lost]
        cached[valid] = True
        old_other[valid] = mapped[~lost]
        old_select[valid] = old.short_select[rows_old[~lost]]
        old_exact[valid] = old.short_exact[rows_old[~lost]]
    fresh = reuse.old_row < 0  # new or changed papers: every valid row meets them
    query = ~cached  # rows searched from scratch
    embedding = None
    if not _approximate(fit_size(n)):
        found = _exact_search(vectors.all(), np.flatnonzero(query), fresh, cached, radix)
    else:
        embedding = _embedding(vectors, model, reuse)
        found = _cell_search(embedding, model, np.flatnonzero(query), fresh, cached, radix)
    q_rows, q_other, q_select, q_exact = found
    keep_old = old_other >= 0
    rows = np.concatenate([np.repeat(np.arange(n), SHORTLIST)[keep_old.ravel()], q_rows])
    other = np.concatenate([old_other[keep_old], q_other])
    select = np.concatenate([old_select[keep_old], q_select])
    exact = np.concatenate([old_exact[keep_old], q_exact])
    short = _merge(rows, other, select, exact, n, radix)
    missing = np.isnan(short.exact) & (short.other >= 0)
    if missing.any():
        r, c = np.nonzero(missing)
        pairs = np.stack([r, short.other[r, c]], axis=1)
        short.exact[r, c] = _dots(vectors.rows(pairs.ravel()), pairs)
    short.exact[short.other < 0] = 0.0
    return short, embedding


def _exact_search(
    matrix: sp.csr_matrix, query: np.ndarray, fresh: np.ndarray, cached: np.ndarray, radix: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scores of every query row with every row, and of every cached row with the fresh rows."""
    n = matrix.shape[0]
    transposed = matrix.T.tocsr()
    out_rows, out_other, out_score = [], [], []
    fresh_rows = np.flatnonzero(fresh)
    cached_rows = np.flatnonzero(cached)
    step = max(1, _BLOCK // n)
    for begin in range(0, len(query), step):
        rows = query[begin : begin + step]
        scores = (matrix[rows] @ transposed).toarray()
        scores[np.arange(len(rows)), rows] = 0.0
        top, value = _top_keys(scores, np.arange(n), SHORTLIST, radix)
        out_rows.append(np.repeat(rows, top.shape[1]))
        out_other.append(top.ravel())
        out_score.append(value.ravel())
    if len(fresh_rows) and len(cached_rows):
        block = matrix[fresh_rows].T.tocsr()
        step = max(1, _BLOCK // len(fresh_rows))
        for begin in range(0, len(cached_rows), step):
            rows = cached_rows[begin : begin + step]
            scores = (matrix[rows] @ block).toarray()
            top, value = _top_keys(scores, fresh_rows, SHORTLIST, radix)
            out_rows.append(np.repeat(rows, top.shape[1]))
            out_other.append(top.ravel())
            out_score.append(value.ravel())
    rows_all = np.concatenate(out_rows) if out_rows else np.zeros(0, np.int64)
    score_all = np.concatenate(out_score) if out_score else np.zeros(0)
    return rows_all, np.concatenate(out_other) if out_other else rows_all, score_all, score_all.copy()


def _embedding(vectors: _Vectors, model: Model, reuse: _Reuse) -> np.ndarray:
    """Every row's embedding (cached rows take theirs from the cache)."""
    old = reuse.old
    n = vectors.n
    out = np.zeros((n, model.components.shape[1] if model.components is not None else 0), np.float32)
    todo = np.arange(n)
    if old is not None and old.embedding is not None and reuse.same_model:
        hit = np.flatnonzero(reuse.old_row >= 0)
        out[hit] = old.embedding[reuse.old_row[hit]].astype(np.float32)
        todo = np.flatnonzero(reuse.old_row < 0)
    if len(todo) == n:
        return embed(vectors.all(), model)
    if len(todo):
        out[todo] = embed(vectors.rows(todo)[todo], model)
    return out


def _cell_search(
    embedding: np.ndarray, model: Model, query: np.ndarray, fresh: np.ndarray, cached: np.ndarray, radix: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Inverted-file search: query rows against the members of their PROBES nearest cells,
    cached rows against the fresh members of theirs. Selection scores are embedding dots."""
    assert model.centres is not None
    n = len(embedding)
    centres = model.centres
    cells = len(centres)
    squares = np.einsum("ij,ij->i", centres.astype(np.float64), centres.astype(np.float64))
    probes = np.zeros((n, min(PROBES, cells)), np.int64)
    home = np.zeros(n, np.int64)
    cell_radix = 1 << max(1, (cells - 1).bit_length())
    step = max(1, _BLOCK // cells)
    for begin in range(0, n, step):  # nearest centres by squared distance, ties by cell
        affinity = 2 * (embedding[begin : begin + step] @ centres.T).astype(np.float64) - squares
        top, _ = _top_keys(affinity + 2**26, np.arange(cells), PROBES, cell_radix)
        probes[begin : begin + step] = top
        keys = (affinity + 2**26) * cell_radix + (cell_radix - 1 - np.arange(cells))
        home[begin : begin + step] = np.argmax(keys, axis=1)
    member_order = np.argsort(home, kind="stable")
    member_bounds = np.searchsorted(home[member_order], np.arange(cells + 1))
    asker = query[:, None].repeat(probes.shape[1], axis=1).ravel() if len(query) else np.zeros(0, np.int64)
    asked = probes[query].ravel()
    cached_rows = np.flatnonzero(cached)
    c_asker = np.repeat(cached_rows, probes.shape[1])
    c_asked = probes[cached_rows].ravel()

    def by_cell(a: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(c, kind="stable")
        return a[order], np.searchsorted(c[order], np.arange(cells + 1))

    asker, asker_bounds = by_cell(asker, asked)
    c_asker, c_bounds = by_cell(c_asker, c_asked)
    found_q, found_o, found_s = [], [], []

    def search(rows: np.ndarray, members: np.ndarray) -> None:
        if not len(rows) or not len(members):
            return
        block = embedding[members].T
        step = max(1, _BLOCK // len(members))
        for begin in range(0, len(rows), step):
            part = rows[begin : begin + step]
            scores = (embedding[part] @ block).astype(np.float64)
            scores[part[:, None] == members[None, :]] = 0.0
            top, value = _top_keys(scores, members, SHORTLIST, radix)
            found_q.append(np.repeat(part, top.shape[1]))
            found_o.append(top.ravel())
            found_s.append(value.ravel())

    for cell in range(cells):
        members = member_order[member_bounds[cell] : member_bounds[cell + 1]]
        search(asker[asker_bounds[cell] : asker_bounds[cell + 1]], members)
        if c_bounds[cell + 1] > c_bounds[cell]:
            search(c_asker[c_bounds[cell] : c_bounds[cell + 1]], members[fresh[members]])
    if not found_q:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0), np.zeros(0)
    q = np.concatenate(found_q)
    o = np.concatenate(found_o)
    s = np.concatenate(found_s)
    # Keep each row's best SHORTLIST over its cells before the exact rescoring.
    short = _merge(q, o, s, np.full(len(q), np.nan), n, radix)
    keep = short.other >= 0
    rows = np.repeat(np.arange(n), SHORTLIST)[keep.ravel()]
    return rows, short.other[keep], short.select[keep], short.exact[keep]


def _dots(matrix: sp.csr_matrix, pairs: np.ndarray) -> np.ndarray:
    """Exact dot product of each pair of rows (integer weights: exact in float64)."""
    out = np.zeros(len(pairs), np.float64)
    step = 50_000
    for begin in range(0, len(pairs), step):
        chunk = pairs[begin : begin + step]
        product = matrix[chunk[:, 0]].multiply(matrix[chunk[:, 1]])
        out[begin : begin + step] = np.asarray(product.sum(axis=1)).ravel()
    return out


def _pairs(short: Shortlists) -> tuple[np.ndarray, np.ndarray]:
    """Unique pairs (i < j) of the shortlists, with their exact cosines."""
    n = len(short.other)
    keep = short.other >= 0
    rows = np.repeat(np.arange(n), SHORTLIST)[keep.ravel()]
    other = short.other[keep]
    exact = short.exact[keep]
    low, high = np.minimum(rows, other), np.maximum(rows, other)
    key = low * n + high
    key, first = np.unique(key, return_index=True)
    pairs = np.stack([key // n, key % n], axis=1)
    scores = np.clip(exact[first] / (WEIGHT_SCALE * WEIGHT_SCALE), 0.0, 1.0)
    return pairs, scores


def top_similar(
    short: Shortlists, links: Mapping[int, Mapping[int, Verdict]], ids: Sequence[str]
) -> dict[str, tuple[SimilarPaper, ...]]:
    """Up to TOP_K similar papers per paper, from its own shortlist: near-duplicates and weak links left out.

    Only the paper's own shortlist counts (not the papers that list it), so its list
    changes only when its own shortlist does.
    """
    n = len(ids)
    keep = (short.other >= 0).ravel()
    source = np.repeat(np.arange(n), SHORTLIST)[keep]
    target = short.other.ravel()[keep]
    score = np.round(np.clip(short.exact.ravel()[keep] / (WEIGHT_SCALE * WEIGHT_SCALE), 0.0, 1.0), 3)
    keep = score >= MIN_SIMILAR
    linked = [i * n + j for i, found in links.items() for j in found]
    if linked:
        keep &= ~np.isin(source.astype(np.int64) * n + target, linked)
    source, target, score = source[keep], target[keep], score[keep]
    # Rows are in id order, so "then id" is "then row".
    order = np.lexsort((target, -score, source))
    source, target, score = source[order], target[order], score[order]
    rank = np.arange(len(source)) - np.searchsorted(source, source)
    chosen = rank < TOP_K
    source, target = source[chosen], target[chosen]
    enabled = gc.isenabled()
    gc.disable()  # tens of thousands of acyclic objects: collections would only rescan the heap
    try:
        items = list(map(SimilarPaper, [ids[j] for j in target.tolist()], score[chosen].tolist()))
        bounds = np.searchsorted(source, np.arange(len(ids) + 1)).tolist()
        return {paper_id: tuple(items[bounds[i] : bounds[i + 1]]) for i, paper_id in enumerate(ids)}
    finally:
        if enabled:
            gc.enable()
