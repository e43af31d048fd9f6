"""The similarity stage: near-duplicate links and similar papers, from one shared engine.

Every paper's title and abstract are folded (markup, accents, case; see
`similarity_text`) and tokenized once. The engine is a TF-IDF model of those tokens
(sublinear tf, l2 rows): its cosine ranks similar papers and its high-cosine pairs also
feed the near-duplicate check (`neardup`), which works on the same folded tokens. Two
thresholds on one engine: a near-duplicate is verified on exact token sequences, a
similar paper only needs cosine >= MIN_SIMILAR.

Stable under growth. The model (vocabulary, IDF, and for large corpora the SVD and the
k-means cells) is fitted on the oldest K papers only (`generator.corpus_order`, shared with
topics and pages: undated first, then first date, then id), where K is the largest step of a
geometric ladder (100, then each step a quarter larger: 100, 125, 156, 195, ..., 8563,
10703, ...) not above the number of papers N; below 100 papers K = N. Every paper is then
vectorised with that model, so a paper's vector depends only on its own text and the
model, and the cosine of two papers does not change when papers are added. The model,
and with it possibly every list, changes only when the corpus crosses the next step
(about every 25% of growth). The price: words first seen after the fit set (in the
newest up to 20% of papers) are ignored until the next step.

Shortlists. Each paper's similar papers are its TOP_K best by exact cosine among its
shortlist, and the shortlist is chosen by a fixed bar: the paper's threshold is the
SHORTLIST-th best selection score among its fit-set candidates (candidates: every other
paper when searching exactly, the members of its PROBES nearest cells otherwise;
selection score: the exact cosine, or the embedding's), and its shortlist is every
candidate at or above it (at most SHORTLIST_CAP, by score then id). Adding papers never
moves the bar (the fit set is fixed) and never removes a candidate, so it only adds
papers to shortlists: an existing paper's list changes only where a new paper enters
its top k (or a paper it listed is gone), in either search mode.

Exact arithmetic. TF-IDF weights are rounded to multiples of 2^-15 (WEIGHT_SCALE) and
embeddings to multiples of 2^-11 (EMBED_SCALE), so every dot product is a sum of
integers computed exactly in floating point: a score does not depend on how products
were blocked or summed, cosines are symmetric, and ties are broken by paper id. That is
what makes the result a pure function of the input, whether computed from scratch or
from a cache.

Searching. While K <= EXACT_LIMIT every pair is scored. Above it, it is an inverted-file
search: a TruncatedSVD embedding, k-means cells of about CELL_SIZE fit-set papers, each
paper compared only with the papers of its PROBES nearest cells by embedding dot
product, and the shortlist rescored with the exact TF-IDF cosine. Cost grows about
linearly with the corpus; the cell scans and the rescoring run on two threads.

Worst cases. A family of thousands of near-identical templated papers scores alike
against itself: every score ties, and every paper is a candidate of every other.
Three bounds keep that near the cost of ordinary papers without changing an ordinary
result: a search hands over at most SHORTLIST_CAP entries per row (the ones the
shortlist keeps anyway), a cell with more than MAX_CELL fit-set members is searched
in parts, and `neardup.MAX_CANDIDATES` caps the pairs checked per paper.

Incremental. With a `cache_dir`, each run leaves its state there (per paper, keyed by a
hash of title and abstract: tokens, MinHash signature, embedding, nearest cells,
shortlist and threshold; the verdicts of checked near-duplicate pairs; the fitted model)
and the next run reuses what is still valid: an unchanged paper's shortlist only meets
the new and changed papers, and only new pairs are verified. The result is the same as
without a cache. The folder comes from `cache.stage_dir`, so it only ever holds what this
code made; a corrupt or unreadable file is ignored; files are written atomically.

Everything is deterministic: papers are processed in id order, every random step is
seeded, and no hash depends on PYTHONHASHSEED.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import pickle
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from threadpoolctl import threadpool_limits

from generator.analysis.neardup import (
    PREFIX_TOKENS,
    PairChecker,
    TextCandidates,
    TextTable,
    Verdict,
    combine_candidates,
    minhash_signatures,
    segment_keys,
    shingle_hashes,
    text_candidates,
    verify_pairs,
)
from generator.analysis.similarity_text import tokenize_corpus
from generator.corpus_order import fit_rows
from generator.models import NearDuplicate, Paper, Similarity, SimilarPaper
from generator.runtime.processes import gc_paused

log = logging.getLogger(__name__)

TOP_K = 5
"""Similar papers listed per paper, at most."""
MIN_SIMILAR = 0.1
"""Cosine below which two papers are unrelated and never listed as similar."""
NEAR_DUP_COSINE = 0.5
"""Engine pairs from this cosine on are also checked as near-duplicates."""
SHORTLIST = 12
"""Fit-set candidates whose worst selection score sets a paper's shortlist threshold."""
SHORTLIST_CAP = 32
"""Candidates kept per paper at most (only ties or a flood of new papers reach it); the
searches hand over no more per row either (see `_best_entries`)."""
EXACT_LIMIT = 8000
"""Up to this many fit-set papers every pair is scored; above it the inverted-file search runs."""
SEED = 20240529
SVD_COMPONENTS = 128
SVD_SAMPLE = 10000
"""Fit-set rows the SVD is fitted on (an even sample)."""
KMEANS_SAMPLE = 20000
"""Fit-set rows k-means is fitted on (an even sample); all rows are then assigned."""
KMEANS_ITERATIONS = 10
CELL_SIZE = 200
PROBES = 3
MAX_CELL = 16 * CELL_SIZE
"""Fit-set members a cell searches in one piece at most; what bounds the inverted-file search.

A cell is searched against every paper that probes it, so its cost grows with the
square of its size. k-means keeps cells near CELL_SIZE on real text (the largest of a
100k synthetic corpus has 977 fit-set members), but a family of thousands of templated
papers embeds to one point and fills one cell; a cell with more fit-set members than
this is searched as ceil(members / MAX_CELL) parts, each paper in one part by a hash
of its text (its digest), and a paper probing the cell meets the members of its own
part only. The parts follow from the fit set and each paper's own text, so they do not
move when papers are added and a cached shortlist stays valid."""
WEIGHT_SCALE = 2.0**15
"""TF-IDF weights are integers / WEIGHT_SCALE: dot products below 2^53 are exact in float64."""
EMBED_SCALE = 2.0**11
"""Embeddings are integers / EMBED_SCALE: dot products below 2^24 are exact in float32."""
THREADS = 2
"""Threads of the cell scans and the exact rescoring (numpy and scipy release the GIL there)."""
_BLOCK = 4_000_000
"""Dense score entries computed at once (bounds memory)."""
_ROWS_AT_ONCE = 8192
"""Papers whose tokens are counted at once (bounds the temporary arrays)."""
_SENTENCE_END = (".", "!", "?", ")", '"', "'", "]", "\u201d", "\u2019")
_ELLIPSIS = ("...", "\u2026")
_STATE_FILE = "state.pickle"
_STATE_HEADER = ("paper-digest-similarity",)
_MODEL_HEADER = ("paper-digest-similarity-model",)
"""First pickles of the state and model files: a file that starts otherwise is not ours."""


@dataclass
class Model:
    """The fitted engine: vocabulary and IDF, and for large corpora the SVD and the cells."""

    key: bytes
    """Identifies the fit set and every parameter: equal keys, equal models."""
    words: list[str]
    """Model vocabulary (sorted); column j of every vector is words[j]."""
    idf: np.ndarray
    components: np.ndarray | None = None
    """SVD components (float32, component words x components), or None in exact mode."""
    component_words: np.ndarray | None = None
    """The columns that have components (the words of the SVD's sample), ascending."""
    centres: np.ndarray | None = None
    """Cell centres, integers / EMBED_SCALE as float32 (None in exact mode)."""


@dataclass
class Shortlists:
    """Every row's shortlist, flat: row i's entries are `bounds[i]:bounds[i + 1]`,
    by selection score (descending) then row."""

    bounds: np.ndarray
    other: np.ndarray
    """The listed row."""
    select: np.ndarray
    """Selection score: integer (embedding units^2, or exact units^2 in exact mode)."""
    exact: np.ndarray
    """Exact TF-IDF dot product, integer / WEIGHT_SCALE^2."""
    threshold: np.ndarray
    """Per row: the selection score a candidate needs (-inf: every positive one)."""

    def rows(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.bounds) - 1), np.diff(self.bounds))


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
    probes: np.ndarray | None = None
    """Nearest cells per paper, nearest first (inverted-file mode)."""
    shortlists: Shortlists | None = None
    """Shortlists, `other` as rows into `ids`."""
    models: dict[bytes, Model] = field(default_factory=dict)


def find_similarity(papers: Sequence[Paper], *, cache_dir: Path | None = None) -> Similarity:
    """Near-duplicates and up to TOP_K similar papers for every paper.

    Pure and deterministic: the result depends only on the set of papers, not on
    their order nor on `cache_dir`, where work is kept for the next run. Every paper
    id is a key of both dicts.
    """
    # One BLAS/OpenMP thread per caller: the products here are many and small, where
    # threads cost more than they give; the stage runs its own THREADS where it pays.
    with gc_paused(), threadpool_limits(limits=1):  # no cycles are made here (see `gc_paused`)
        return _find_similarity(papers, cache_dir)


def _utf8(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:  # lone surrogates
        return text.encode("utf-8", "surrogatepass")


def _digest(paper: Paper) -> bytes:
    h = hashlib.blake2b(_utf8(paper.title), digest_size=16)
    h.update(b"\x00")
    h.update(_utf8(paper.abstract))
    return h.digest()


class _Clock:
    """Debug log of the time and CPU time each step took."""

    def __init__(self) -> None:
        self.wall = self.started = time.perf_counter()
        self.cpu = time.process_time()

    def lap(self, what: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        log.debug("similarity: %s %.2fs (cpu %.2fs)", what, wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu


def _find_similarity(papers: Sequence[Paper], cache_dir: Path | None) -> Similarity:
    clock = _Clock()
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
    clock.lap("tokens")
    with ThreadPoolExecutor(max_workers=1) as background:
        # The near-duplicate candidates from the texts alone are found meanwhile (numpy
        # releases the GIL there); only the engine's pairs join them at the end.
        texts = background.submit(_text_candidates, table, token_hashes, digests, old)
        short, model, embedding, probes = _engine(ordered, ids, digests, table, old, clock)
        signatures, from_texts = texts.result()
    clock.lap("near-duplicate candidates of the texts (in the background)")
    candidates = combine_candidates(table, from_texts, _engine_pairs(short), signatures)
    checker = _CachedChecker(table, digests, old.verdicts if old is not None else {})
    links = verify_pairs(candidates, checker)
    clock.lap(f"near-duplicates ({len(candidates)} candidates, {len(links)} papers linked)")
    near: dict[str, tuple[NearDuplicate, ...]] = dict.fromkeys(ids, ())
    for i, found_links in sorted(links.items()):
        found = [NearDuplicate(id=ids[j], score=v.score, kind=v.kind) for j, v in found_links.items()]
        near[ids[i]] = tuple(sorted(found, key=lambda d: (-d.score, d.id)))
    similar = top_similar(short, links, ids)
    clock.lap("lists")
    if cache_dir is not None:
        state = _State(
            ids=ids,
            digests=digests,
            words=list(table.words),
            hashes=token_hashes,
            tokens=table.ids,
            title_len=table.title_end - table.title_start,
            abstract_len=table.abstract_end - table.abstract_start,
            signatures=signatures,
            verdicts=checker.verdicts,
            model_key=model.key,
            embedding=embedding,
            probes=probes,
            shortlists=short,
            models={model.key: model},
        )
        _save_state(cache_dir, state)
        clock.lap("cache written")
    log.info("similarity: %d papers in %.2fs", n, time.perf_counter() - clock.started)
    return Similarity(near_duplicates=near, similar=similar)


def _engine(
    ordered: Sequence[Paper],
    ids: list[str],
    digests: list[bytes],
    table: TextTable,
    old: _State | None,
    clock: _Clock,
) -> tuple[Shortlists, Model, np.ndarray | None, np.ndarray | None]:
    """The model (fitted, or the cached one) and every paper's shortlist."""
    fit = fit_rows(ordered)
    key = _model_key(fit, ids, digests)
    reuse = _Reuse.make(ids, digests, old, key)
    if old is not None and key in old.models:
        vectors = _Vectors(table, old.models[key])
    else:
        model, matrix = fit_model(table, fit, key)
        vectors = _Vectors(table, model, matrix)
    clock.lap("model")
    fit_mask = np.zeros(len(ids), bool)
    fit_mask[fit] = True
    salt = np.frombuffer(b"".join(d[:8] for d in digests), "<u8") >> np.uint64(1)
    short, embedding, probes = shortlists(vectors, reuse, fit_mask, salt.astype(np.int64), clock)
    return short, vectors.model, embedding, probes


def _text_candidates(
    table: TextTable, token_hashes: np.ndarray, digests: list[bytes], old: _State | None
) -> tuple[np.ndarray, TextCandidates]:
    """MinHash signatures and the near-duplicate candidates found from the texts alone."""
    starts, ends = table.title_start, table.title_end
    abstract_len = table.abstract_end - table.abstract_start
    title_keys = np.where(ends > starts, segment_keys(table.ids, token_hashes, starts, ends), 0)
    prefix_end = table.abstract_start + np.minimum(abstract_len, PREFIX_TOKENS)
    prefix_keys = segment_keys(table.ids, token_hashes, table.abstract_start, prefix_end)
    signatures = _signatures(table, digests, old)
    found = text_candidates(table, title_keys.astype(np.uint64), prefix_keys, abstract_len >= PREFIX_TOKENS, signatures)
    return signatures, found


# --- cache -------------------------------------------------------------------------


def _load_state(cache_dir: Path) -> _State | None:
    """The previous run's state, or None when missing, of another format or unreadable."""
    try:
        with open(cache_dir / _STATE_FILE, "rb") as f:
            header = pickle.load(f)
            if header != _STATE_HEADER:
                return None
            state = pickle.load(f)
        if not isinstance(state, _State) or not isinstance(state.model_key, bytes):
            return None
        n = len(state.ids)
        if len(state.digests) != n or len(state.title_len) != n or len(state.signatures) != n:
            return None
        if int(state.title_len.sum() + state.abstract_len.sum()) != len(state.tokens):
            return None
        if len(state.tokens) and int(state.tokens.max()) >= len(state.words):
            return None
        short = state.shortlists
        if short is not None and (len(short.bounds) != n + 1 or int(short.bounds[-1]) != len(short.other)):
            return None
    except Exception as error:  # any broken cache only makes a slower build
        log.info("similarity cache ignored: %s", error)
        return None
    state.models = _load_model(cache_dir / f"model-{state.model_key.hex()}.pickle", state.model_key)
    return state


def _load_model(path: Path, key: bytes) -> dict[bytes, Model]:
    """The model saved in `path`, by its key; a damaged file is removed, so that it is written again."""
    if not path.exists():
        return {}
    try:
        with open(path, "rb") as f:
            if pickle.load(f) == _MODEL_HEADER:
                model = pickle.load(f)
                if isinstance(model, Model) and model.key == key:
                    return {key: model}
    except Exception as error:  # a broken model is fitted again
        log.info("similarity model ignored: %s", error)
    path.unlink(missing_ok=True)
    return {}


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
            _write_atomically(model_file, _MODEL_HEADER, model)
        state.models = {}
        # Keep only the words still in use, so the vocabulary does not grow with history.
        used = np.bincount(state.tokens, minlength=len(state.words)) > 0
        if used.sum() < 0.8 * len(state.words):
            remap = (np.cumsum(used) - 1).astype(np.int32)
            state.tokens = remap[state.tokens]
            state.words = [w for w, u in zip(state.words, used.tolist(), strict=True) if u]
            state.hashes = state.hashes[used]
        # Verdicts of pairs whose papers are both still here.
        present = set(state.digests)
        state.verdicts = {k: v for k, v in state.verdicts.items() if k[:16] in present and k[16:] in present}
        _write_atomically(cache_dir / _STATE_FILE, _STATE_HEADER, state)
        for other in cache_dir.glob("model-*.pickle"):
            if other != model_file:
                other.unlink(missing_ok=True)
    except OSError as error:
        log.warning("similarity cache not written: %s", error)


@dataclass
class _Reuse:
    """How the previous run's papers map onto this run's rows."""

    old_row: np.ndarray
    """Per current row: its row in the previous run with the same id and text, or -1."""
    old: _State | None
    same_model: bool
    """The previous run used this run's model (so its shortlists and embeddings hold)."""

    @classmethod
    def make(cls, ids: list[str], digests: list[bytes], old: _State | None, model_key: bytes) -> _Reuse:
        old_row = np.full(len(ids), -1, np.int64)
        if old is not None:
            where = {paper_id: k for k, paper_id in enumerate(old.ids)}
            for i, paper_id in enumerate(ids):
                k = where.get(paper_id, -1)
                if k >= 0 and old.digests[k] == digests[i]:
                    old_row[i] = k
        same = old is not None and old.model_key == model_key and old.shortlists is not None
        return cls(old_row, old, same)


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
        signatures[missing] = minhash_signatures(_gather(table.shingles, offsets[missing], lengths), sub_offsets)
    return signatures


# --- tokens ------------------------------------------------------------------------


def _gather(source: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """`source[starts[k]:starts[k] + lengths[k]]` for every k, concatenated (in pieces: small temporaries)."""
    out = np.empty(int(lengths.sum()), source.dtype)
    at = 0
    step = _ROWS_AT_ONCE
    for begin in range(0, len(starts), step):
        part_lengths = lengths[begin : begin + step]
        total = int(part_lengths.sum())
        offsets = np.zeros(len(part_lengths), np.int64)
        np.cumsum(part_lengths[:-1], out=offsets[1:])
        take = np.repeat(starts[begin : begin + step] - offsets, part_lengths) + np.arange(total)
        out[at : at + total] = source[take]
        at += total
    return out


def _looks_cut(abstract: str) -> bool:
    """The abstract ends in an ellipsis or in the middle of a sentence."""
    text = abstract.rstrip()
    return text.endswith(_ELLIPSIS) or not text.endswith(_SENTENCE_END)


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
    del texts
    title_len = np.zeros(n, np.int64)
    abstract_len = np.zeros(n, np.int64)
    new_offsets = tokens.offsets
    title_len[missing] = new_offsets[1:-1:2] - new_offsets[0:-1:2]
    abstract_len[missing] = new_offsets[2::2] - new_offsets[1:-1:2]
    lengths = title_len + abstract_len
    if old is None:
        ids = tokens.ids  # every paper is new, in order
    else:
        hit = np.flatnonzero(found >= 0)
        old_starts = np.zeros(len(old.ids) + 1, np.int64)
        np.cumsum(old.title_len + old.abstract_len, out=old_starts[1:])
        title_len[hit] = old.title_len[found[hit]]
        abstract_len[hit] = old.abstract_len[found[hit]]
        lengths = title_len + abstract_len
        source_start = np.zeros(n, np.int64)
        source_start[hit] = old_starts[found[hit]]
        source_start[missing] = new_offsets[0:-1:2] + len(old.tokens)
        if len(missing) == 0 and np.array_equal(found, np.arange(len(old.ids))):
            ids = old.tokens  # the same papers as last time
        else:
            source = np.concatenate([old.tokens, tokens.ids]).astype(np.int32) if len(missing) else old.tokens
            ids = _gather(source, source_start, lengths)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    title_start = offsets[:-1]
    title_end = title_start + title_len
    abstract_start, abstract_end = title_end, offsets[1:]
    has_abstract = abstract_end > abstract_start
    shingle_start = np.where(has_abstract, abstract_start, title_start)
    shingle_end = np.where(has_abstract, abstract_end, title_end)
    shingles, shingle_offsets = shingle_hashes(ids, tokens.hashes, shingle_start, shingle_end)
    marked = np.fromiter((_looks_cut(p.abstract) for p in papers), bool, n)
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


def _approximate(k: int) -> bool:
    return k > EXACT_LIMIT


def _model_key(fit: np.ndarray, ids: Sequence[str], digests: Sequence[bytes]) -> bytes:
    """Which model the cache holds: its fit set and the parameters as this process has them.

    Edits to the code are the cache folder's business (`cache.code_fingerprint`); the
    parameters are here for a process that changes them at run time (tests do).
    """
    params = repr(
        (
            len(fit),
            EXACT_LIMIT,
            SEED,
            SVD_COMPONENTS,
            SVD_SAMPLE,
            KMEANS_SAMPLE,
            KMEANS_ITERATIONS,
            CELL_SIZE,
            PROBES,
            MAX_CELL,
            WEIGHT_SCALE,
            EMBED_SCALE,
        )
    )
    h = hashlib.blake2b(params.encode(), digest_size=20)
    for i in fit.tolist():
        h.update(ids[i].encode("utf-8", "surrogatepass") + b"\x00")
        h.update(digests[i])
    return h.digest()


def _keep_words(words: Sequence[str]) -> np.ndarray:
    """English stop words and one-character tokens carry no topic and are left out."""
    return np.fromiter((len(w) > 1 and w not in ENGLISH_STOP_WORDS for w in words), bool, len(words))


def _count(table: TextTable, columns: np.ndarray, rows: np.ndarray | None = None) -> sp.csr_matrix:
    """Per row (all, or the given ones in that order): how often each column occurs.

    `columns` maps token ids to columns (-1: ignored). Each row's columns come sorted,
    a canonical order for the sums made from them.
    """
    n = len(table.title_start) if rows is None else len(rows)
    width = max(int(columns.max()) + 1 if len(columns) else 1, 1)
    parts_indices, parts_counts, row_nnz = [], [], np.zeros(n, np.int64)
    for begin in range(0, n, _ROWS_AT_ONCE):
        end = min(n, begin + _ROWS_AT_ONCE)
        if rows is None:
            starts = table.title_start[begin:end]
            lengths = table.abstract_end[begin:end] - starts
            tokens = table.ids[int(starts[0]) : int(starts[0] + lengths.sum())]
        else:
            starts = table.title_start[rows[begin:end]]
            lengths = table.abstract_end[rows[begin:end]] - starts
            tokens = _gather(table.ids, starts, lengths)
        cols = columns[tokens]
        owner = np.repeat(np.arange(end - begin, dtype=np.int64), lengths)
        keep = cols >= 0
        keys = owner[keep] << 32 | cols[keep].astype(np.int64)
        keys.sort()
        first = np.ones(len(keys), bool)
        first[1:] = keys[1:] != keys[:-1]
        at = np.flatnonzero(first)
        parts_counts.append(np.diff(np.append(at, len(keys))).astype(np.int32))
        unique = keys[at]
        parts_indices.append((unique & 0xFFFFFFFF).astype(np.int32))
        row_nnz[begin:end] = np.bincount(unique >> 32, minlength=end - begin)
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(row_nnz, out=indptr[1:])
    indices = np.concatenate(parts_indices) if parts_indices else np.zeros(0, np.int32)
    counts = np.concatenate(parts_counts) if parts_counts else np.zeros(0, np.int32)
    return sp.csr_matrix((counts, indices, indptr), shape=(n, width))


_LOG_TF = np.array([0.0] + [1.0 + math.log(t) for t in range(1, 4096)], np.float64)


def _weigh(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """TF-IDF rows (sublinear tf, l2 rows) from counts, weights integer / WEIGHT_SCALE.

    Each row depends only on its own counts, bit for bit (rows are done in pieces, to
    keep the temporaries small).
    """
    n = counts.shape[0]
    width = max(len(idf), 1)
    values = np.empty(len(counts.data), np.float64)
    indptr = counts.indptr
    for begin in range(0, n, 16384):
        end = min(n, begin + 16384)
        first, last = int(indptr[begin]), int(indptr[end])
        tf = counts.data[first:last]
        weights = _LOG_TF[np.minimum(tf, len(_LOG_TF) - 1)]
        big = tf >= len(_LOG_TF)
        if big.any():
            weights[big] = [1.0 + math.log(t) for t in tf[big].tolist()]
        weights *= idf[counts.indices[first:last]]
        part_indptr = indptr[begin : end + 1] - first
        squares = sp.csr_matrix(
            (weights * weights, counts.indices[first:last], part_indptr), shape=(end - begin, width)
        )
        norms = np.sqrt(squares @ np.ones(width))  # one sequential sum per row, in column order
        weights /= np.repeat(norms, np.diff(part_indptr))
        weights *= WEIGHT_SCALE
        values[first:last] = np.rint(weights)  # integers up to 2^15: products exact in float64
    return sp.csr_matrix((values, counts.indices, counts.indptr), shape=(n, width))


def tfidf_matrix(table: TextTable, model: Model, rows: np.ndarray | None = None) -> sp.csr_matrix:
    """The engine: TF-IDF rows of the model for all (or the given) rows; see `_weigh`.

    Tokens outside the model's vocabulary are ignored.
    """
    return _weigh(_count(table, _columns(table.words, model), rows), model.idf)


def fit_model(table: TextTable, rows: np.ndarray, key: bytes = b"") -> tuple[Model, sp.csr_matrix]:
    """Vocabulary and IDF (smooth, as scikit-learn's) of the fit-set rows, SVD and cells when
    large; with the TF-IDF rows of every paper under that model."""
    words = table.words
    present = np.bincount(table.ids, minlength=len(words)) > 0
    candidates = np.flatnonzero(_keep_words(words) & present)
    by_word = candidates[sorted(range(len(candidates)), key=lambda k: words[int(candidates[k])])]
    canonical = np.full(max(len(words), 1), -1, np.int32)  # token id -> rank of its word
    canonical[by_word] = np.arange(len(by_word), dtype=np.int32)
    counts = _count(table, canonical)
    in_fit = np.zeros(counts.shape[0], bool)
    in_fit[rows] = True
    fit_entries = np.repeat(in_fit, np.diff(counts.indptr))
    df = np.bincount(counts.indices[fit_entries], minlength=len(by_word))
    del fit_entries
    chosen = np.flatnonzero(df)
    k = len(rows)
    by_df = {int(d): math.log((1 + k) / (1 + int(d))) + 1.0 for d in np.unique(df[chosen]).tolist()}
    idf = np.array([by_df[int(d)] for d in df[chosen].tolist()], np.float64)
    model = Model(key=key, words=[words[int(t)] for t in by_word[chosen].tolist()], idf=idf)
    # Model columns are the chosen ranks, renumbered: the order in each row stays sorted.
    # The entries of other words are dropped in place, a piece of rows at a time.
    column = np.full(len(by_word), -1, np.int32)
    column[chosen] = np.arange(len(chosen), dtype=np.int32)
    n = counts.shape[0]
    data, indices, indptr = counts.data, counts.indices, counts.indptr
    del counts
    kept = np.zeros(n + 1, np.int64)
    for begin in range(0, n, _ROWS_AT_ONCE):
        end = min(n, begin + _ROWS_AT_ONCE)
        first, last = int(indptr[begin]), int(indptr[end])
        mapped = column[indices[first:last]]
        keep = mapped >= 0
        before = np.zeros(last - first + 1, np.int64)
        np.cumsum(keep, out=before[1:])
        at = int(kept[begin])
        kept[begin + 1 : end + 1] = at + before[indptr[begin + 1 : end + 1] - first]
        count = int(before[-1])
        data[at : at + count] = data[first:last][keep]
        indices[at : at + count] = mapped[keep]
    total = int(kept[n])
    data, indices = data[:total].copy(), indices[:total].copy()
    counts = sp.csr_matrix((data, indices, kept), shape=(n, max(len(chosen), 1)))
    del data, indices
    matrix = _weigh(counts, idf)
    if _approximate(k):
        _fit_cells(model, matrix, rows)
    return model, matrix


def _fit_cells(model: Model, matrix: sp.csr_matrix, rows: np.ndarray) -> None:
    """The SVD embedding and k-means cells, fitted on even samples of the fit set."""
    k = len(rows)
    sample = matrix[rows[:: max(1, k // SVD_SAMPLE)]]
    # Only the words of the sample can get a component: fit on those columns alone.
    used = np.flatnonzero(np.bincount(sample.indices, minlength=matrix.shape[1]))
    compact = np.full(matrix.shape[1], -1, np.int32)
    compact[used] = np.arange(len(used), dtype=np.int32)
    sample = sp.csr_matrix(
        ((sample.data / WEIGHT_SCALE).astype(np.float32), compact[sample.indices], sample.indptr),
        shape=(sample.shape[0], max(len(used), 2)),
    )
    components = max(1, min(SVD_COMPONENTS, sample.shape[1] - 1))
    svd = TruncatedSVD(n_components=components, n_iter=3, random_state=SEED)
    svd.fit(sample)
    model.components = np.ascontiguousarray(svd.components_.T[: len(used)], dtype=np.float32)
    model.component_words = used.astype(np.int32)
    sample_rows = rows[:: max(1, k // KMEANS_SAMPLE)]
    embedding = embed(matrix[sample_rows], model) / np.float32(EMBED_SCALE)
    cells = max(2, k // CELL_SIZE)
    init = embedding[np.linspace(0, len(embedding) - 1, cells).astype(np.int64)]
    kmeans = KMeans(n_clusters=cells, init=init, n_init=1, max_iter=KMEANS_ITERATIONS, random_state=SEED)
    kmeans.fit(embedding)
    model.centres = np.rint(kmeans.cluster_centers_ * EMBED_SCALE).astype(np.float32)


class _Vectors:
    """TF-IDF rows of the model, computed only for the rows asked for (all, when searched exactly)."""

    def __init__(self, table: TextTable, model: Model, matrix: sp.csr_matrix | None = None) -> None:
        self.table = table
        self.model = model
        self.n = len(table.title_start)
        self._all = matrix

    def all(self) -> sp.csr_matrix:
        if self._all is None:
            self._all = tfidf_matrix(self.table, self.model)
        return self._all

    def lookup(self, rows: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
        """A matrix and, per asked row, its row in that matrix."""
        if self._all is not None:
            return self._all, rows
        distinct = np.unique(rows)
        if len(distinct) > self.n // 2:
            return self.all(), rows
        return tfidf_matrix(self.table, self.model, distinct), np.searchsorted(distinct, rows)


def _columns(words: Sequence[str], model: Model) -> np.ndarray:
    """The model column of each token id (-1: not in the model)."""
    column = np.full(max(len(words), 1), -1, np.int32)
    if words:
        position = {w: j for j, w in enumerate(model.words)}
        column[: len(words)] = np.fromiter((position.get(w, -1) for w in words), np.int32, len(words))
    return column


def embed(matrix: sp.csr_matrix, model: Model) -> np.ndarray:
    """SVD embedding of TF-IDF rows, l2-normalised, as integers / EMBED_SCALE (float32).

    Each row depends only on its own TF-IDF row, bit for bit.
    """
    assert model.components is not None and model.component_words is not None
    out = np.zeros((matrix.shape[0], model.components.shape[1]), np.float32)
    step = 16384
    for begin in range(0, matrix.shape[0], step):
        # Weights are integers below 2^16, exact in float32; each row's sum runs in column order
        # (words without a component would only add zeros).
        part = matrix[begin : begin + step][:, model.component_words].astype(np.float32)
        raw = np.asarray(part @ model.components, dtype=np.float64)
        norms = np.sqrt(np.einsum("ij,ij->i", raw, raw))
        raw /= np.where(norms > 0, norms, 1.0)[:, None]
        raw *= EMBED_SCALE
        out[begin : begin + step] = np.rint(raw)
    return out


# --- shortlists --------------------------------------------------------------------


class _Found:
    """Candidate entries (row, other, selection score, exact score or NaN) from the searches.

    Searches add to it from several threads (one list append per batch is atomic); the
    order of the batches does not matter, `shortlists` sorts the entries.
    """

    def __init__(self) -> None:
        self.batches: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]] = []

    def add(self, rows: np.ndarray, other: np.ndarray, select: np.ndarray, exact: np.ndarray | None = None) -> None:
        if len(rows):
            # Compact while many: rows fit int32, and a selection score without an exact
            # one is an embedding dot product (below 2^24: exact in float32).
            if exact is None:
                self.batches.append((rows.astype(np.int32), other.astype(np.int32), select.astype(np.float32), None))
            else:
                self.batches.append((rows.astype(np.int32), other.astype(np.int32), select, exact))

    def shortlists(self, n: int, threshold: np.ndarray) -> Shortlists:
        """Each row's entries at or above its threshold, by score then row, at most SHORTLIST_CAP."""

        parts: list[list[np.ndarray]] = [[], [], [], []]
        while self.batches:  # each batch filtered, then freed: no unfiltered copy of them all
            rows, other, select, exact = self.batches.pop()
            keep = select >= threshold[rows]
            parts[0].append(rows[keep].astype(np.int64))
            parts[1].append(other[keep].astype(np.int64))
            parts[2].append(select[keep].astype(np.float64))
            parts[3].append(np.full(int(keep.sum()), np.nan) if exact is None else exact[keep].astype(np.float64))
        rows, other, select, exact = (np.concatenate(p) if p else np.zeros(0, np.int64) for p in parts)
        del parts
        select, exact = select.astype(np.float64, copy=False), exact.astype(np.float64, copy=False)
        top = int(select.max()) + 1 if len(select) else 1
        other_bits, score_bits = max(1, (n - 1).bit_length()), top.bit_length()
        if max(1, (n - 1).bit_length()) + score_bits + other_bits <= 63:
            # One integer key holds row, score and other: a plain sort, no argsort.
            keys = rows << (score_bits + other_bits)
            keys |= (top - select.astype(np.int64)) << other_bits
            keys |= other
            known = ~np.isnan(exact)
            known_keys, known_exact = keys[known], exact[known]
            keys.sort()
            rows = keys >> (score_bits + other_bits)
            select = (top - ((keys >> other_bits) & ((1 << score_bits) - 1))).astype(np.float64)
            other = keys & ((1 << other_bits) - 1)
            exact = np.full(len(keys), np.nan)
            exact[np.searchsorted(keys, known_keys)] = known_exact
        else:
            order = np.lexsort((other, -select, rows))
            rows, other, select, exact = rows[order], other[order], select[order], exact[order]
        bounds = np.searchsorted(rows, np.arange(n + 1))
        rank = np.arange(len(rows)) - bounds[rows]
        keep = rank < SHORTLIST_CAP
        if not keep.all():
            rows, other, select, exact = rows[keep], other[keep], select[keep], exact[keep]
            bounds = np.searchsorted(rows, np.arange(n + 1))
        return Shortlists(bounds, other, select, exact, threshold)


def _kth_largest(values: np.ndarray, k: int) -> np.ndarray:
    """Per row, the k-th largest value (-inf when the row has fewer than k)."""
    m = values.shape[1]
    if m < k:
        return np.full(len(values), -np.inf)
    return np.partition(values, m - k, axis=1)[:, m - k].astype(np.float64)


def _best_entries(
    scores: np.ndarray, mask: np.ndarray, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the entries of `mask`, at most SHORTLIST_CAP per row: the best by
    score, then by label (the row a column stands for; default the column itself), ascending.

    A shortlist keeps at most SHORTLIST_CAP entries in just that order, and every entry
    of a row passes through one call, so cutting here changes nothing but the work: a
    row whose scores all tie (a family of templated papers, where every pair scores
    alike) no longer hands over the whole block, which made the stage's memory and
    time quadratic. `mask` may be changed.
    """
    counts = np.count_nonzero(mask, axis=1)
    crowded = np.flatnonzero(counts > SHORTLIST_CAP)
    if len(crowded):
        order = None if labels is None else np.argsort(labels, kind="stable")
        sub = scores[crowded] if order is None else scores[crowded][:, order]
        sub_mask = mask[crowded] if order is None else mask[crowded][:, order]
        sub = np.where(sub_mask, sub, -np.inf)
        width = sub.shape[1]
        bar = np.partition(sub, width - SHORTLIST_CAP, axis=1)[:, width - SHORTLIST_CAP]  # a masked score
        above = sub > bar[:, None]
        tied = sub == bar[:, None]
        room = SHORTLIST_CAP - np.count_nonzero(above, axis=1)
        chosen = above | (tied & (np.cumsum(tied, axis=1, dtype=np.int32) <= room[:, None]))
        if order is not None:
            chosen[:, order] = chosen.copy()
        mask[crowded] = chosen
    rows, columns = np.nonzero(mask)
    return rows, columns


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Indices `starts[k] .. starts[k] + lengths[k] - 1` for every k, concatenated."""
    offsets = np.zeros(len(lengths), np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    return np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()))


def _parallel(work: Callable[[int], None], count: int) -> None:
    """work(0), ..., work(count - 1) on THREADS threads (numpy and scipy release the GIL)."""
    if THREADS <= 1 or count <= 1:
        for k in range(count):
            work(k)
        return
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(work, range(count)))


def shortlists(
    vectors: _Vectors, reuse: _Reuse, fit: np.ndarray, salt: np.ndarray, clock: _Clock | None = None
) -> tuple[Shortlists, np.ndarray | None, np.ndarray | None]:
    """Every row's shortlist with exact scores; the embedding and nearest cells (inverted-file mode).

    A row's threshold is the SHORTLIST-th best selection score among its fit-set
    candidates (`fit` marks the fit set), and its shortlist every candidate at or above
    it. Rows whose cached shortlist still holds only meet the new and changed rows.
    `salt` (a non-negative integer per row from its text) chooses its part of an
    oversized cell (see MAX_CELL).
    """
    n = vectors.n
    found = _Found()
    cached = np.zeros(n, bool)
    threshold = np.full(n, -np.inf)
    old = reuse.old
    if old is not None and reuse.same_model:
        assert old.shortlists is not None
        kept = old.shortlists
        current = np.full(len(old.ids), -1, np.int64)  # old row -> current row (-1: gone or changed)
        hit = np.flatnonzero(reuse.old_row >= 0)
        current[reuse.old_row[hit]] = hit
        was = reuse.old_row[hit]
        lengths = np.diff(kept.bounds)[was]
        entries = _ranges(kept.bounds[was], lengths)
        rows = np.repeat(hit, lengths)
        other = current[kept.other[entries]]
        # A gone paper leaves its place empty, unless the list was cut at the cap: then
        # the next candidate, unknown here, moves up and the row is searched again.
        full = lengths >= SHORTLIST_CAP
        lost = np.zeros(n, bool)
        lost[rows[other < 0]] = True
        valid = hit[~(full & lost[hit])]
        cached[valid] = True
        threshold[valid] = kept.threshold[reuse.old_row[valid]]
        keep = cached[rows] & (other >= 0)
        found.add(rows[keep], other[keep], kept.select[entries[keep]], kept.exact[entries[keep]])
    fresh = reuse.old_row < 0  # new or changed papers: every valid row meets them
    query = np.flatnonzero(~cached)  # rows searched from scratch
    embedding = probes = None
    if not _approximate(int(fit.sum())):
        _exact_search(found, vectors.all(), query, fresh, cached, fit, threshold)
    else:
        embedding, probes = _embedding(vectors, reuse)
        if clock:
            clock.lap("embedding")
        centres = vectors.model.centres
        assert centres is not None
        parts, count = _cell_parts(probes, len(centres), fit, salt)
        _cell_search(found, embedding, parts, count, query, fresh, cached, fit, threshold)
        embedding = embedding.astype(np.int16)  # integers of at most EMBED_SCALE: what the cache keeps
    if clock:
        clock.lap("search")
    short = found.shortlists(n, threshold)
    missing = np.flatnonzero(np.isnan(short.exact))
    if len(missing):
        rows = np.searchsorted(short.bounds, missing, side="right") - 1
        short.exact[missing] = _dots(vectors, rows, short.other[missing])
    if clock:
        clock.lap(f"exact rescoring of {len(missing)} pairs")
    return short, embedding, probes


def _exact_search(
    found: _Found,
    matrix: sp.csr_matrix,
    query: np.ndarray,
    fresh: np.ndarray,
    cached: np.ndarray,
    fit: np.ndarray,
    threshold: np.ndarray,
) -> None:
    """Every query row against every row, every cached row against the fresh rows (exact scores)."""
    n = matrix.shape[0]
    transposed = matrix.T.tocsr()
    fit_rows = np.flatnonzero(fit)
    step = max(1, _BLOCK // n)
    for begin in range(0, len(query), step):
        rows = query[begin : begin + step]
        scores = (matrix[rows] @ transposed).toarray()
        scores[np.arange(len(rows)), rows] = -np.inf
        bar = _kth_largest(scores[:, fit_rows], SHORTLIST)
        threshold[rows] = bar
        r, c = _best_entries(scores, (scores >= bar[:, None]) & (scores > 0))
        found.add(rows[r], c, scores[r, c], scores[r, c])
    fresh_rows = np.flatnonzero(fresh)
    cached_rows = np.flatnonzero(cached)
    if len(fresh_rows) and len(cached_rows):
        block = matrix[fresh_rows].T.tocsr()
        step = max(1, _BLOCK // len(fresh_rows))
        for begin in range(0, len(cached_rows), step):
            rows = cached_rows[begin : begin + step]
            scores = (matrix[rows] @ block).toarray()
            r, c = _best_entries(scores, (scores >= threshold[rows][:, None]) & (scores > 0))
            found.add(rows[r], fresh_rows[c], scores[r, c], scores[r, c])


def _embedding(vectors: _Vectors, reuse: _Reuse) -> tuple[np.ndarray, np.ndarray]:
    """Every row's embedding and nearest cells (cached rows take theirs from the cache)."""
    model = vectors.model
    assert model.centres is not None
    old = reuse.old
    n = vectors.n
    todo = np.arange(n)
    if old is not None and old.embedding is not None and old.probes is not None and reuse.same_model:
        todo = np.flatnonzero(reuse.old_row < 0)
    if len(todo) == n:
        embedding = embed(vectors.all(), model)
        return embedding, _nearest_cells(embedding, model.centres)
    assert old is not None and old.embedding is not None and old.probes is not None
    embedding = old.embedding[np.maximum(reuse.old_row, 0)].astype(np.float32)
    probes = old.probes[np.maximum(reuse.old_row, 0)]
    if len(todo):
        matrix, index = vectors.lookup(todo)
        embedding[todo] = embed(matrix[index], model)
        probes[todo] = _nearest_cells(embedding[todo], model.centres)
    return embedding, probes


def _nearest_cells(embedding: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Per row, its PROBES nearest cells by squared distance, nearest first, ties by cell."""
    cells = len(centres)
    probes = min(PROBES, cells)
    # Integers below 2^24 (|e|^2 and |c|^2 about 2^22): exact in float32.
    squares = np.einsum("ij,ij->i", centres.astype(np.float64), centres.astype(np.float64)).astype(np.float32)
    out = np.zeros((len(embedding), probes), np.int32)
    step = max(1, _BLOCK // cells)
    for begin in range(0, len(embedding), step):
        affinity = embedding[begin : begin + step] @ centres.T  # larger: nearer (2 e.c - |c|^2)
        affinity *= 2
        affinity -= squares
        bar = _kth_largest(affinity, probes)
        r, c = np.nonzero(affinity >= bar[:, None].astype(np.float32))
        order = np.lexsort((c, -affinity[r, c], r))  # a tie at the bar keeps the lower cells
        r, c = r[order], c[order]
        rank = np.arange(len(r)) - np.searchsorted(r, r)
        keep = rank < probes
        out[begin + r[keep], rank[keep]] = c[keep]
    return out


def _cell_parts(probes: np.ndarray, cells: int, fit: np.ndarray, salt: np.ndarray) -> tuple[np.ndarray, int]:
    """The probes as parts of cells (see MAX_CELL), and the number of parts.

    A cell of up to MAX_CELL fit-set members is one part, numbered in cell order; when
    every cell is, the parts are the cells themselves.
    """
    fit_members = np.bincount(probes[fit, 0], minlength=cells)
    count = np.maximum(1, -(-fit_members // MAX_CELL))
    if (count == 1).all():
        return probes, cells
    first = np.zeros(cells + 1, np.int64)
    np.cumsum(count, out=first[1:])
    log.debug("similarity: %d cells of more than %d fit-set papers searched in parts", (count > 1).sum(), MAX_CELL)
    return first[probes] + salt[:, None] % count[probes], int(first[-1])


def _cell_search(
    found: _Found,
    embedding: np.ndarray,
    probes: np.ndarray,
    cells: int,
    query: np.ndarray,
    fresh: np.ndarray,
    cached: np.ndarray,
    fit: np.ndarray,
    threshold: np.ndarray,
) -> None:
    """Inverted-file search: query rows against the members of their nearest cells, cached
    rows against the fresh members of theirs. Selection scores are embedding dot products."""
    n, width = probes.shape
    home = probes[:, 0].astype(np.int64)
    members = np.lexsort((np.arange(n), ~fit, home))  # per cell: fit-set members first
    bounds = np.searchsorted(home[members], np.arange(cells + 1))
    fit_members = np.bincount(home[fit], minlength=cells)
    place = np.empty(n, np.int64)  # each row's place among its cell's members
    place[members] = np.arange(n) - bounds[home[members]]

    def by_cell(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Who asks each cell, and as which probe: askers, probe numbers, bounds per cell."""
        cell = probes[rows].ravel()
        order = np.argsort(cell, kind="stable")
        askers = np.repeat(rows, width)[order]
        slots = np.tile(np.arange(width), len(rows))[order]
        return askers, slots, np.searchsorted(cell[order], np.arange(cells + 1))

    q_askers, q_slots, q_bounds = by_cell(query)
    c_askers, _, c_bounds = by_cell(np.flatnonzero(cached))
    # Per query row, the SHORTLIST best fit-set scores of each of its cells.
    best = np.full((len(query), width * SHORTLIST), -np.inf, np.float32)
    query_place = np.full(n, -1, np.int64)
    query_place[query] = np.arange(len(query))
    columns = np.arange(SHORTLIST)

    def scan(cell: int) -> None:
        cell_members = members[bounds[cell] : bounds[cell + 1]]
        if not len(cell_members):
            return
        block = np.ascontiguousarray(embedding[cell_members].T)
        fits = int(fit_members[cell])
        step = max(1, _BLOCK // len(cell_members))
        askers, slots = q_askers[q_bounds[cell] : q_bounds[cell + 1]], q_slots[q_bounds[cell] : q_bounds[cell + 1]]
        for begin in range(0, len(askers), step):
            part, slot = askers[begin : begin + step], slots[begin : begin + step]
            scores = embedding[part] @ block
            own = np.flatnonzero(home[part] == cell)
            scores[own, place[part[own]]] = -np.inf
            if fits >= SHORTLIST:
                top = np.partition(scores[:, :fits], fits - SHORTLIST, axis=1)[:, fits - SHORTLIST :]
                bar = top.min(axis=1)
            else:
                top = scores[:, :fits]
                bar = np.full(len(part), -np.inf, np.float32)
            best[query_place[part][:, None], slot[:, None] * SHORTLIST + columns[: top.shape[1]]] = top
            r, c = _best_entries(scores, (scores >= bar[:, None]) & (scores > 0), cell_members)
            found.add(part[r], cell_members[c], scores[r, c])
        askers = c_askers[c_bounds[cell] : c_bounds[cell + 1]]
        new_members = cell_members[fresh[cell_members]]
        if len(askers) and len(new_members):
            block = np.ascontiguousarray(embedding[new_members].T)
            step = max(1, _BLOCK // len(new_members))
            for begin in range(0, len(askers), step):
                part = askers[begin : begin + step]
                scores = embedding[part] @ block
                r, c = _best_entries(scores, (scores >= threshold[part][:, None]) & (scores > 0), new_members)
                found.add(part[r], new_members[c], scores[r, c])

    _parallel(scan, cells)
    threshold[query] = _kth_largest(best, SHORTLIST)


def _dots(vectors: _Vectors, rows: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Exact dot product of each pair of rows (integer weights: exact in float64)."""
    matrix, index = vectors.lookup(np.concatenate([rows, other]))
    first, second = index[: len(rows)], index[len(rows) :]
    out = np.zeros(len(rows), np.float64)
    step = 8192  # pairs at once per thread (their gathered rows are the temporaries)

    def work(k: int) -> None:
        chunk = slice(k * step, (k + 1) * step)
        product = matrix[first[chunk]].multiply(matrix[second[chunk]])
        out[chunk] = np.asarray(product.sum(axis=1)).ravel()

    _parallel(work, -(-len(rows) // step))
    return out


def _engine_pairs(short: Shortlists) -> np.ndarray:
    """Unique pairs (i < j) of the shortlists with an exact cosine of at least NEAR_DUP_COSINE."""
    n = len(short.bounds) - 1
    high = np.flatnonzero(short.exact >= NEAR_DUP_COSINE * WEIGHT_SCALE * WEIGHT_SCALE)
    rows = np.searchsorted(short.bounds, high, side="right") - 1
    other = short.other[high]
    key = np.unique(np.minimum(rows, other) * n + np.maximum(rows, other))
    return np.stack([key // n, key % n], axis=1)


def top_similar(
    short: Shortlists, links: Mapping[int, Mapping[int, Verdict]], ids: Sequence[str]
) -> dict[str, tuple[SimilarPaper, ...]]:
    """Up to TOP_K similar papers per paper, from its own shortlist: near-duplicates and weak links left out.

    Only the paper's own shortlist counts (not the papers that list it), so its list
    changes only when its own shortlist does.
    """
    n = len(ids)
    source = short.rows()
    target = short.other
    score = np.round(np.clip(short.exact / (WEIGHT_SCALE * WEIGHT_SCALE), 0.0, 1.0), 3)
    keep = score >= MIN_SIMILAR
    linked = [i * n + j for i, found in links.items() for j in found]
    if linked:
        keep &= ~np.isin(source * n + target, linked)
    source, target, score = source[keep], target[keep], score[keep]
    # Rows are in id order, so "then id" is "then row"; scores are thousandths.
    other_bits = max(1, (n - 1).bit_length())
    keys = source << (10 + other_bits) | (1000 - np.rint(score * 1000).astype(np.int64)) << other_bits | target
    keys.sort()
    source, target = keys >> (10 + other_bits), keys & ((1 << other_bits) - 1)
    millis = 1000 - ((keys >> other_bits) & 1023)
    rank = np.arange(len(source)) - np.searchsorted(source, source)
    chosen = rank < TOP_K
    source, target, millis = source[chosen], target[chosen], millis[chosen]
    with gc_paused():  # tens of thousands of acyclic objects: collections would only rescan the heap
        items = list(map(SimilarPaper, [ids[j] for j in target.tolist()], (millis / 1000).tolist()))
        bounds = np.searchsorted(source, np.arange(len(ids) + 1)).tolist()
        return {paper_id: tuple(items[bounds[i] : bounds[i + 1]]) for i, paper_id in enumerate(ids)}
