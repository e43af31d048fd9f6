"""The similarity stage: near-duplicate links and similar papers, from one shared engine.

Every paper's title and abstract are folded (markup, accents, case; see
`similarity_text`) and tokenized once. The engine is a TF-IDF matrix of those tokens
(scikit-learn, sublinear tf, l2 rows): its cosine ranks similar papers and its
high-cosine pairs also feed the near-duplicate check (`neardup`), which works on the
same folded tokens. Two thresholds on one engine: a near-duplicate is verified on
exact token sequences, a similar paper only needs cosine >= MIN_SIMILAR.

Finding each paper's nearest neighbours is exact for small corpora. For large ones it
is an inverted-file search: a TruncatedSVD embedding, k-means cells of about
CELL_SIZE papers, each paper compared only with the papers of its PROBES nearest
cells, and the shortlist rescored with the exact TF-IDF cosine. Cost grows about
linearly with the corpus.

Everything is deterministic: papers are processed in id order, every random step is
seeded, and no hash depends on PYTHONHASHSEED.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfTransformer
from threadpoolctl import threadpool_limits

from .models import NearDuplicate, Paper, Similarity, SimilarPaper
from .neardup import (
    PREFIX_TOKENS,
    PairChecker,
    TextTable,
    Verdict,
    candidate_pairs,
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
"""Up to this many papers every pair is scored; above it the inverted-file search runs."""
SEED = 20240529
SVD_COMPONENTS = 128
SVD_SAMPLE = 10000
"""Rows the SVD is fitted on (an even sample); all rows are then projected."""
KMEANS_SAMPLE = 20000
"""Rows k-means is fitted on (an even sample); all rows are then assigned."""
KMEANS_ITERATIONS = 10
CELL_SIZE = 200
PROBES = 3
_BLOCK = 4_000_000
"""Dense score entries computed at once (bounds memory)."""
_SENTENCE_END = (".", "!", "?", ")", '"', "'", "]", "”", "’")


def find_similarity(papers: Sequence[Paper]) -> Similarity:
    """Near-duplicates and up to TOP_K similar papers for every paper.

    Pure and deterministic: the result depends only on the set of papers, not on
    their order. Every paper id is a key of both dicts.
    """
    # One BLAS/OpenMP thread: the products here are many and small, where threads cost
    # more than they give (ten times more on a busy machine), and results stay bitwise
    # reproducible.
    with threadpool_limits(limits=1):
        return _find_similarity(papers)


def _find_similarity(papers: Sequence[Paper]) -> Similarity:
    started = time.perf_counter()
    ordered = sorted(papers, key=lambda p: p.id)
    ids = [p.id for p in ordered]
    if len(set(ids)) != len(ids):
        raise ValueError("paper ids must be unique")
    n = len(ordered)
    if n == 0:
        return Similarity(near_duplicates={}, similar={})
    table, token_hashes = build_text_table(ordered)
    matrix = tfidf_matrix(table, n)
    log.debug("tokens and tf-idf: %.1fs", time.perf_counter() - started)
    pairs, scores = nearest_pairs(matrix)
    log.debug("engine: %d scored pairs at %.1fs", len(pairs), time.perf_counter() - started)

    starts, ends = table.title_start, table.title_end
    abstract_len = table.abstract_end - table.abstract_start
    title_keys = np.where(ends > starts, segment_keys(table.ids, token_hashes, starts, ends), 0)
    prefix_end = table.abstract_start + np.minimum(abstract_len, PREFIX_TOKENS)
    prefix_keys = segment_keys(table.ids, token_hashes, table.abstract_start, prefix_end)
    candidates = candidate_pairs(
        table,
        title_keys.astype(np.uint64),
        prefix_keys,
        abstract_len >= PREFIX_TOKENS,
        pairs[scores >= NEAR_DUP_COSINE],
    )
    links = verify_pairs(candidates, PairChecker(table))
    log.debug("near-duplicates: %d candidates, %d papers linked", len(candidates), len(links))

    near: dict[str, tuple[NearDuplicate, ...]] = {}
    for i, paper_id in enumerate(ids):
        found = [NearDuplicate(id=ids[j], score=v.score, kind=v.kind) for j, v in links.get(i, {}).items()]
        near[paper_id] = tuple(sorted(found, key=lambda d: (-d.score, d.id)))
    similar = top_similar(pairs, scores, links, ids)
    log.info("similarity: %d papers in %.1fs", n, time.perf_counter() - started)
    return Similarity(near_duplicates=near, similar=similar)


def build_text_table(papers: Sequence[Paper]) -> tuple[TextTable, np.ndarray]:
    """Fold and tokenize every title and abstract; return the table and the token hashes."""
    texts = [text for paper in papers for text in (paper.title, paper.abstract)]
    tokens = tokenize_corpus(texts)
    ids, offsets = tokens.ids, tokens.offsets
    title_start, title_end = offsets[0:-1:2], offsets[1::2]
    abstract_start, abstract_end = offsets[1::2], offsets[2::2]
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


def tfidf_matrix(table: TextTable, n: int) -> sp.csr_matrix:
    """The engine: l2-normalised TF-IDF rows (sublinear tf) over title and abstract tokens.

    English stop words and one-character tokens carry no topic and are left out.
    """
    words = table.words
    keep_word = np.fromiter((len(w) > 1 and w not in ENGLISH_STOP_WORDS for w in words), bool, len(words))
    # Each paper's tokens (title, then abstract) are contiguous: a CSR matrix with
    # repeated columns, whose duplicates scipy sums in place.
    keep = keep_word[table.ids]
    kept_before = np.zeros(len(table.ids) + 1, np.int32 if len(table.ids) < 2**31 else np.int64)
    np.cumsum(keep, out=kept_before[1:])
    indptr = kept_before[np.append(table.title_start, len(table.ids))]
    counts = sp.csr_matrix(
        (np.ones(int(indptr[-1]), np.float32), table.ids[keep], indptr), shape=(n, max(len(words), 1))
    )
    counts.sum_duplicates()
    matrix: sp.csr_matrix = TfidfTransformer(sublinear_tf=True).fit_transform(counts)
    return matrix.tocsr()


def nearest_pairs(matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Unique pairs (i < j) covering each row's SHORTLIST nearest rows, with exact cosines."""
    n = matrix.shape[0]
    if n <= EXACT_LIMIT:
        queries, others = _exact_shortlist(matrix)
    else:
        queries, others = _approximate_shortlist(matrix)
    pairs = np.unique(np.sort(np.stack([queries, others], axis=1), axis=1), axis=0)
    return pairs, _cosines(matrix, pairs)


def _top_k_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's k largest scores (unordered)."""
    if scores.shape[1] <= k:
        return np.broadcast_to(np.arange(scores.shape[1]), scores.shape).copy()
    return np.argpartition(-scores, k - 1, axis=1)[:, :k]


def _exact_shortlist(matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    n = matrix.shape[0]
    queries, others = [], []
    step = max(1, _BLOCK // n)
    for begin in range(0, n, step):
        rows = np.arange(begin, min(n, begin + step))
        scores = (matrix[rows] @ matrix.T).toarray()
        scores[np.arange(len(rows)), rows] = -1.0
        top = _top_k_rows(scores, SHORTLIST)
        good = np.take_along_axis(scores, top, axis=1) > 0
        queries.append(np.broadcast_to(rows[:, None], top.shape)[good])
        others.append(top[good])
    return np.concatenate(queries), np.concatenate(others)


def _approximate_shortlist(matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Inverted-file search on an SVD embedding: each row's SHORTLIST nearest, approximately."""
    n = matrix.shape[0]
    components = max(1, min(SVD_COMPONENTS, matrix.shape[1] - 1))
    svd = TruncatedSVD(n_components=components, n_iter=3, random_state=SEED)
    svd.fit(matrix[:: max(1, n // SVD_SAMPLE)])
    embedding = np.asarray(matrix @ svd.components_.T.astype(np.float32), dtype=np.float32)
    norms = np.linalg.norm(embedding, axis=1, keepdims=True)
    embedding /= np.where(norms > 0, norms, 1.0)

    cells = max(2, n // CELL_SIZE)
    sample = embedding[:: max(1, n // KMEANS_SAMPLE)]
    init = sample[np.linspace(0, len(sample) - 1, cells).astype(np.int64)]
    kmeans = KMeans(n_clusters=cells, init=init, n_init=1, max_iter=KMEANS_ITERATIONS, random_state=SEED)
    kmeans.fit(sample)
    centres = kmeans.cluster_centers_.astype(np.float32)
    squares = (centres * centres).sum(axis=1)
    probes = np.zeros((n, min(PROBES, cells)), np.int64)
    home = np.zeros(n, np.int64)
    step = max(1, _BLOCK // cells)
    for begin in range(0, n, step):  # nearest centres by squared distance, in blocks
        affinity = 2 * embedding[begin : begin + step] @ centres.T - squares
        probes[begin : begin + step] = _top_k_rows(affinity, PROBES)
        home[begin : begin + step] = np.argmax(affinity, axis=1)
    member_order = np.argsort(home, kind="stable")
    member_bounds = np.searchsorted(home[member_order], np.arange(cells + 1))
    probe_rows = np.repeat(np.arange(n), probes.shape[1])
    probe_cells = probes.ravel()
    probe_order = np.argsort(probe_cells, kind="stable")
    probe_bounds = np.searchsorted(probe_cells[probe_order], np.arange(cells + 1))

    found_q, found_o, found_s = [], [], []
    for cell in range(cells):
        members = member_order[member_bounds[cell] : member_bounds[cell + 1]]
        asking = probe_rows[probe_order[probe_bounds[cell] : probe_bounds[cell + 1]]]
        if not len(members) or not len(asking):
            continue
        block = embedding[members].T
        step = max(1, _BLOCK // len(members))
        for begin in range(0, len(asking), step):
            rows = asking[begin : begin + step]
            scores = embedding[rows] @ block
            at = np.minimum(np.searchsorted(members, rows), len(members) - 1)
            itself = members[at] == rows
            scores[np.flatnonzero(itself), at[itself]] = -np.inf
            top = _top_k_rows(scores, SHORTLIST)
            found_q.append(np.broadcast_to(rows[:, None], top.shape).ravel())
            found_o.append(members[top].ravel())
            found_s.append(np.take_along_axis(scores, top, axis=1).ravel())
    queries, others = np.concatenate(found_q), np.concatenate(found_o)
    scores = np.concatenate(found_s)
    # One sort on (query, score descending): the float bits of a non-negative score
    # order like the score, so they fit in the low half of a 64-bit key.
    bits = np.clip(scores, 0.0, None).astype(np.float32).view(np.uint32)
    key = (queries.astype(np.uint64) << np.uint64(32)) | (np.uint32(0xFFFFFFFF) - bits).astype(np.uint64)
    order = np.argsort(key)
    queries, others, scores = queries[order], others[order], scores[order]
    group_start = np.searchsorted(queries, queries)
    keep = (np.arange(len(queries)) - group_start < SHORTLIST) & (scores > 0)
    return queries[keep], others[keep]


def _cosines(matrix: sp.csr_matrix, pairs: np.ndarray) -> np.ndarray:
    """Exact TF-IDF cosine of each pair (rows are l2-normalised)."""
    out = np.zeros(len(pairs), np.float64)
    step = 50_000
    for begin in range(0, len(pairs), step):
        chunk = pairs[begin : begin + step]
        product = matrix[chunk[:, 0]].multiply(matrix[chunk[:, 1]])
        out[begin : begin + step] = np.asarray(product.sum(axis=1)).ravel()
    return np.clip(out, 0.0, 1.0)


def top_similar(
    pairs: np.ndarray, scores: np.ndarray, links: Mapping[int, Mapping[int, Verdict]], ids: Sequence[str]
) -> dict[str, tuple[SimilarPaper, ...]]:
    """Up to TOP_K similar papers per paper: near-duplicates and weak links left out."""
    rounded = np.round(scores, 3)
    keep = rounded >= MIN_SIMILAR
    linked = [i * len(ids) + j for i, found in links.items() for j in found if i < j]
    if linked:
        keep &= ~np.isin(pairs[:, 0].astype(np.int64) * len(ids) + pairs[:, 1], linked)
    pairs, rounded = pairs[keep], rounded[keep]
    # Rows are in id order, so "then id" is "then row".
    source = np.concatenate([pairs[:, 0], pairs[:, 1]])
    target = np.concatenate([pairs[:, 1], pairs[:, 0]])
    score = np.concatenate([rounded, rounded])
    order = np.lexsort((target, -score, source))
    source, target, score = source[order], target[order], score[order]
    rank = np.arange(len(source)) - np.searchsorted(source, source)
    chosen = rank < TOP_K
    similar: dict[str, list[SimilarPaper]] = {paper_id: [] for paper_id in ids}
    for i, j, s in zip(source[chosen].tolist(), target[chosen].tolist(), score[chosen].tolist(), strict=True):
        similar[ids[i]].append(SimilarPaper(ids[j], s))
    return {paper_id: tuple(found) for paper_id, found in similar.items()}
