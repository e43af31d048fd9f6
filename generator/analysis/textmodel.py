"""The build's one text model: TF-IDF over folded tokens, fitted once on the fit set.

One tokenizer (`similarity_text.tokenize_corpus`: markup, accents and case folded), one
vocabulary, document frequencies and IDF, from the fit set (`generator.corpus_order.fit_rows`),
fitted once per build by the similarity stage and handed on as a `TextModel` to topics and
discovered topics, which weigh the same tokens with it (`TextModel.weights`: their own title
weighting and document-frequency window over the same vocabulary, unrounded). The similarity
engine's weights are sublinear tf, l2-normalised rows, rounded to multiples of 2^-15
(WEIGHT_SCALE) so every dot product is exact. For large corpora the model also holds a
TruncatedSVD embedding (rounded to 2^-11, EMBED_SCALE) and k-means cells of about CELL_SIZE
fit-set papers for the inverted-file search (`generator.analysis.shortlists`). See
`generator.analysis.similarity` for why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from generator.analysis.neardup import (
    TextTable,
)
from generator.analysis.similarity_text import tokenize_corpus
from generator.corpus_order import fit_rows
from generator.models import Paper

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


WEIGHT_SCALE = 2.0**15
"""TF-IDF weights are integers / WEIGHT_SCALE: dot products below 2^53 are exact in float64."""


EMBED_SCALE = 2.0**11
"""Embeddings are integers / EMBED_SCALE: dot products below 2^24 are exact in float32."""


_ROWS_AT_ONCE = 8192
"""Papers whose tokens are counted at once (bounds the temporary arrays)."""


@dataclass
class Model:
    """The fitted engine: vocabulary and IDF, and for large corpora the SVD and the cells."""

    key: bytes
    """Identifies the fit set and every parameter: equal keys, equal models."""
    words: list[str]
    """Model vocabulary (sorted); column j of every vector is words[j]."""
    idf: np.ndarray
    df: np.ndarray | None = None
    """Per column: in how many fit-set papers the word occurs (`TextModel.weights` prunes by it)."""
    fit_size: int = 0
    """Papers in the fit set."""
    components: np.ndarray | None = None
    """SVD components (float32, component words x components), or None in exact mode."""
    component_words: np.ndarray | None = None
    """The columns that have components (the words of the SVD's sample), ascending."""
    centres: np.ndarray | None = None
    """Cell centres, integers / EMBED_SCALE as float32 (None in exact mode)."""


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


def _approximate(k: int) -> bool:
    return k > EXACT_LIMIT


def _keep_words(words: Sequence[str]) -> np.ndarray:
    """English stop words and one-character tokens carry no topic and are left out."""
    return np.fromiter((len(w) > 1 and w not in ENGLISH_STOP_WORDS for w in words), bool, len(words))


def _count(
    table: TextTable, columns: np.ndarray, rows: np.ndarray | None = None, width: int | None = None
) -> sp.csr_matrix:
    """Per row (all, or the given ones in that order): how often each column occurs.

    `columns` maps token ids to columns (-1: ignored). Each row's columns come sorted,
    a canonical order for the sums made from them.
    """
    n = len(table.title_start) if rows is None else len(rows)
    if width is None:
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


def _weigh(counts: sp.csr_matrix, idf: np.ndarray, scale: float | None = WEIGHT_SCALE) -> sp.csr_matrix:
    """TF-IDF rows (sublinear tf, l2 rows) from counts, weights integer / `scale` (unrounded
    floats when `scale` is None).

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
        if scale is None:
            values[first:last] = weights
            continue
        weights *= scale
        values[first:last] = np.rint(weights)  # integers up to 2^15: products exact in float64
    return sp.csr_matrix((values, counts.indices, counts.indptr), shape=(n, width))


def tfidf_matrix(table: TextTable, model: Model, rows: np.ndarray | None = None) -> sp.csr_matrix:
    """The engine: TF-IDF rows of the model for all (or the given) rows; see `_weigh`.

    Tokens outside the model's vocabulary are ignored.
    """
    return _weigh(_count(table, _columns(table.words, model), rows), model.idf)


def fit_model(
    table: TextTable, rows: np.ndarray, key: bytes = b"", *, cells: bool = True
) -> tuple[Model, sp.csr_matrix]:
    """Vocabulary, document frequencies and IDF (smooth, as scikit-learn's) of the fit-set rows,
    SVD and cells when large (and `cells`); with the TF-IDF rows of every paper under that model."""
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
    model = Model(key=key, words=[words[int(t)] for t in by_word[chosen].tolist()], idf=idf, df=df[chosen], fit_size=k)
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
    if cells and _approximate(k):
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


# --- the model as the build shares it -----------------------------------------------------------


@dataclass(frozen=True)
class TextModel:
    """The build's one text model: every paper's folded tokens and the model fitted on the fit set.

    Made once per build by the similarity stage (`similarity.find_similarity_and_text`) and handed
    to topics and discovered topics, which weigh the same tokens with the same vocabulary and IDF
    (`weights`); made by `fit_text_model` when a stage runs on its own, with the same result.
    """

    ids: tuple[str, ...]
    """Paper ids, one per row, ascending."""
    table: TextTable
    """Every paper's title and abstract tokens (`similarity_text.tokenize_corpus`), rows as `ids`."""
    model: Model
    """Vocabulary (sorted), document frequencies and IDF of the fit set (`corpus_order.fit_rows`)."""

    def weights(self, *, title_weight: int = 1, min_df: int = 1, max_df: float = 1.0) -> sp.csr_matrix | None:
        """TF-IDF rows of every paper (sublinear tf, IDF of the model, l2 rows, float64, unrounded).

        A title's words count `title_weight` times; only the model's words in at least `min_df`
        and at most `max_df` (a share) of the fit set's papers are columns, in the model's
        (alphabetical) order, so each row is sorted and depends only on the paper's own tokens
        and the model, bit for bit. None when no word is left.
        """
        model = self.model
        if model.df is None:
            raise ValueError("the model has no document frequencies")
        keep = (model.df >= min_df) & (model.df <= max_df * model.fit_size)
        kept = int(keep.sum())
        if not kept:
            return None
        renumber = np.full(len(model.words) + 1, -1, np.int32)  # the last entry: tokens outside the model
        renumber[:-1][keep] = np.arange(kept, dtype=np.int32)
        columns = renumber[_columns(self.table.words, model)]
        table = self.table
        counts = _count(table, columns, width=kept)
        if title_weight > 1:
            titles = replace(table, abstract_end=table.title_end)  # rows not contiguous: counted by row
            title_counts = _count(titles, columns, np.arange(len(table.title_start)), width=kept)
            counts = counts + (title_weight - 1) * title_counts
            counts.sort_indices()
        return _weigh(counts, model.idf[keep], scale=None)


def token_table(papers: Sequence[Paper]) -> TextTable:
    """The tokens of every paper's title and abstract (`tokenize_corpus`), rows in the given order.

    The similarity stage builds the same table with shingles and a cache (`similarity.build_text_table`);
    this one has only what the model needs.
    """
    tokens = tokenize_corpus([text for p in papers for text in (p.title, p.abstract)])
    offsets = tokens.offsets
    n = len(papers)
    return TextTable(
        ids=tokens.ids,
        title_start=offsets[0:-1:2],
        title_end=offsets[1:-1:2],
        abstract_start=offsets[1:-1:2],
        abstract_end=offsets[2::2],
        words=tokens.words,
        marked_truncated=np.zeros(n, bool),
        shingles=np.zeros(0, np.uint32),
        shingle_offsets=np.zeros(n + 1, np.int64),
    )


def fit_text_model(papers: Sequence[Paper]) -> TextModel:
    """The build's text model, made here: what `similarity.find_similarity_and_text` hands on for
    the same papers (the same vocabulary, document frequencies and IDF; no SVD or cells)."""
    ordered = sorted(papers, key=lambda p: p.id)
    table = token_table(ordered)
    model, _ = fit_model(table, fit_rows(ordered), cells=False)
    return TextModel(tuple(p.id for p in ordered), table, model)
