"""Shortlists and similar papers: which papers each paper is compared with, and its best k.

While the fit set has at most EXACT_LIMIT papers every pair is scored exactly; above it an
inverted-file search compares each paper with the papers of its PROBES nearest k-means cells by
embedding, and rescored with the exact TF-IDF cosine. A paper's shortlist is every candidate at
or above its fixed bar (the SHORTLIST-th best among fit-set candidates), at most SHORTLIST_CAP;
its similar papers are its TOP_K best by exact cosine. See `generator.analysis.similarity`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

from generator.analysis.neardup import (
    TextTable,
)
from generator.analysis.similarity_state import Shortlists, _Reuse
from generator.analysis.textmodel import CELL_SIZE, Model, _approximate, embed, tfidf_matrix

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


THREADS = 2
"""Threads of the cell scans and the exact rescoring (numpy and scipy release the GIL there)."""


_BLOCK = 4_000_000
"""Dense score entries computed at once (bounds memory)."""


class _Clock:
    """Debug log of the time and CPU time each step took."""

    def __init__(self) -> None:
        self.wall = self.started = time.perf_counter()
        self.cpu = time.process_time()

    def lap(self, what: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        log.debug("similarity: %s %.2fs (cpu %.2fs)", what, wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu


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
