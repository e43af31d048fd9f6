"""Near-duplicate detection: cheap candidate pairs, then an exact check of each pair.

Candidates come from three sub-quadratic sources: MinHash LSH over word 3-shingles
(edited abstracts), blocks of papers sharing a folded title (retitled copies share an
abstract, edited copies share a title) or the first words of their abstract
(truncated copies); the similarity engine adds its own high-cosine pairs. Oversized
buckets and blocks pair each member with its neighbours only (MAX_BUCKET,
MAX_ANCHORED), and no paper takes part in more than MAX_CANDIDATES checks. Each
candidate is then verified on the exact token sequences: prefix and containment for
truncation, shingle Jaccard for edits, title overlap for retitles. Series (`X` and
`X-V2`) and different papers sharing a generic title fail the check because their
abstracts share too little text.

The MinHash signatures use datasketch's `affine32` permutation scheme (its
permutations, its parameter choice for b bands of r rows), computed for the whole
corpus at once with numpy: per-paper `MinHash` objects and `MinHashLSH` inserts cost
seconds per 100k papers, this costs a fraction of that and gives the same values.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from datasketch import MinHash, MinHashLSH

from generator.analysis.similarity_text import mix64

log = logging.getLogger(__name__)

SEED = 20240529
"""Seed of the MinHash permutations (fixed: results never depend on the run)."""
NUM_PERM = 64
LSH_THRESHOLD = 0.5
"""Shingle Jaccard around which LSH finds candidates (verification decides)."""
MAX_BUCKET = 64
"""A bucket larger than this pairs each member with its next MAX_BUCKET neighbours only."""
MAX_ANCHORED = 256
"""Partners per abstract that looks cut, in its block of equal openings (the nearest by row
when the block is larger)."""
MAX_CANDIDATES = 32
"""Candidate pairs checked per paper at most: what bounds the exact checks of a corpus.

A pair is checked only if it is among the MAX_CANDIDATES best candidates of both its
papers: first the pairs whose MinHash Jaccard estimate looks near-identical (NEAR_SAME
or more), then the others, each nearest by row (id order) first, then lowest row. A
paper of an ordinary corpus has a handful of candidates and never meets the cap. A
family of thousands of templated records sharing most of their text makes every
member a candidate of hundreds of others (LSH buckets, title and opening blocks, each
capped by MAX_BUCKET or MAX_ANCHORED), and checking them all cost tens of seconds and
linked each member to hundreds of look-alikes. With the cap at most
MAX_CANDIDATES * n / 2 pairs are checked and no paper gets more than MAX_CANDIDATES
near-duplicates: each member of such a family is linked to some of its look-alikes,
mostly its neighbours in id order, not to all of them."""
PREFILTER = 0.15
"""MinHash Jaccard estimate below which a candidate pair is not worth the exact check."""
PREFIX_TOKENS = 12
"""Abstracts sharing their first words are blocked together (truncated copies)."""
_SHINGLES_AT_ONCE = 1 << 21
"""Shingles hashed at once by `minhash_signatures` (bounds its temporaries)."""

_K1 = np.uint64(0x9E3779B97F4A7C15)
_K2 = np.uint64(0xC2B2AE3D27D4EB4F)


@dataclass(frozen=True)
class TextTable:
    """Folded token sequences of every paper, as flat id arrays with per-paper bounds."""

    ids: np.ndarray
    """Token ids of every title and abstract, concatenated (title, abstract, title, ...)."""
    title_start: np.ndarray
    """Per paper: where its title tokens start in `ids`."""
    title_end: np.ndarray
    """Per paper: where its title tokens end."""
    abstract_start: np.ndarray
    """Per paper: where its abstract tokens start."""
    abstract_end: np.ndarray
    """Per paper: where its abstract tokens end (equal to the start when it has none)."""
    words: Sequence[str]
    """Token string per id."""
    marked_truncated: np.ndarray
    """Per paper: the raw abstract ends in an ellipsis or in the middle of a sentence."""
    shingles: np.ndarray
    """32-bit hashes of word 3-shingles of each abstract (of the title when it has none)."""
    shingle_offsets: np.ndarray
    """Paper k's shingles are `shingles[shingle_offsets[k]:shingle_offsets[k + 1]]`."""


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser: datasketch's `affine32` pre-mix of each input hash."""
    h = h.copy()
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


def shingle_hashes(
    ids: np.ndarray, token_hashes: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """32-bit hashes of the word 3-shingles of each segment, concatenated in segment order.

    `ids` are token ids and `token_hashes` a stable hash per id; segment k spans
    `ids[starts[k]:ends[k]]` (segments in increasing, non-overlapping order). A segment
    shorter than 3 tokens yields its whole sequence as one shingle (nothing when
    empty). Returns the hashes and the offsets per segment. Works in chunks of segments
    so that no temporary array spans the corpus.
    """
    lengths = ends - starts
    counts = np.where(lengths >= 3, lengths - 2, np.minimum(lengths, 1))
    offsets = np.zeros(len(starts) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    out = np.zeros(int(offsets[-1]), np.uint32)
    short = np.flatnonzero((lengths > 0) & (lengths < 3))
    step = 8192
    for first in range(0, len(starts), step):
        last = min(len(starts), first + step)
        base, stop = int(starts[first]), int(ends[last - 1])
        if stop - base < 3:
            continue
        h = token_hashes[ids[base:stop]]
        mixed = h[:-2] * _K1  # token hashes are already random: a multiply-add combines them
        mixed += h[1:-1] * _K2
        mixed += h[2:]
        # The shingles start at every position of a segment of 3 tokens or more but its last two.
        long = np.arange(first, last)[lengths[first:last] >= 3]
        edges = np.zeros(stop - base - 1, np.int8)
        edges[starts[long] - base] = 1
        edges[ends[long] - 2 - base] -= 1
        starting = np.cumsum(edges[:-1], dtype=np.int8).view(bool)
        slots = np.ones(int(offsets[last] - offsets[first]), bool)  # short segments' slots are filled below
        slots[offsets[short[(short >= first) & (short < last)]] - offsets[first]] = False
        out[offsets[first] : offsets[last]][slots] = (mixed[starting] >> np.uint64(32)).astype(np.uint32)
    if len(short):  # one- or two-word texts: the whole text is the only shingle
        keys = segment_keys(ids, token_hashes, starts[short], ends[short])
        out[offsets[short]] = (keys >> np.uint64(32)).astype(np.uint32)
    return out, offsets


def minhash_signatures(shingles: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """One datasketch-compatible MinHash signature (`affine32`, NUM_PERM, SEED) per segment.

    Equal to `MinHash(num_perm=NUM_PERM, seed=SEED, scheme="affine32", hashfunc=int)`
    updated with the segment's shingle hashes. Empty segments keep the max value.
    """
    a, b = MinHash(num_perm=NUM_PERM, seed=SEED, scheme="affine32").permutations
    n = len(offsets) - 1
    signatures = np.full((n, NUM_PERM), np.iinfo(np.uint32).max, np.uint32)
    nonempty = np.flatnonzero(np.diff(offsets) > 0)
    if not len(nonempty):
        return signatures
    # In pieces of about _SHINGLES_AT_ONCE shingles: the temporaries stay small.
    cuts = np.searchsorted(offsets[nonempty], np.arange(0, int(offsets[-1]), _SHINGLES_AT_ONCE))
    cuts = np.unique(np.append(cuts, len(nonempty)))
    with ThreadPoolExecutor(max_workers=2) as pool:  # numpy releases the GIL here
        for first, last in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
            rows = nonempty[first:last]
            begin, end = int(offsets[rows[0]]), int(offsets[rows[-1] + 1])
            premixed = _fmix32(shingles[begin:end])
            starts = offsets[rows] - begin
            part = np.empty((NUM_PERM, len(rows)), np.uint32)
            list(pool.map(functools.partial(_permuted_minima, premixed, starts, a, b, part), range(NUM_PERM)))
            signatures[rows] = part.T
    return signatures


def _permuted_minima(
    premixed: np.ndarray, starts: np.ndarray, a: np.ndarray, b: np.ndarray, out: np.ndarray, k: int
) -> None:
    values = premixed * a[k] + b[k]  # uint32 wraparound is the modulo 2^32
    out[k] = np.minimum.reduceat(values, starts)


def pairs_from_keys(keys: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Pairs (i < j) of rows with equal keys, as an (m, 2) int64 array.

    A bucket larger than MAX_BUCKET pairs each member with its next MAX_BUCKET members
    (by row) only, so a flood of identical keys costs linear time.
    """
    rows = np.arange(len(keys)) if valid is None else np.flatnonzero(valid)
    order = rows[np.lexsort((rows, keys[rows]))]
    sorted_keys = keys[order]
    found = []
    for gap in range(1, min(MAX_BUCKET, len(order) - 1) + 1):
        same = np.flatnonzero(sorted_keys[gap:] == sorted_keys[:-gap])
        if not len(same):
            break
        found.append(np.stack([order[same], order[same + gap]], axis=1))
    if not found:
        return np.zeros((0, 2), np.int64)
    pairs = np.concatenate(found).astype(np.int64)
    return np.sort(pairs, axis=1)


def lsh_pairs(signatures: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Unique candidate pairs (i < j, sorted) sharing at least one LSH band (datasketch's optimal b and r).

    The pairs are merged band by band, each as one integer: a family of look-alikes
    fills every band with oversized buckets whose pairs repeat from band to band, and
    keeping them all until the end took memory in proportion to the bands.
    """
    lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=NUM_PERM)
    bands, rows = lsh.b, lsh.r
    n = len(signatures)
    found = np.zeros(0, np.int64)
    for band in range(bands):
        block = signatures[:, band * rows : (band + 1) * rows].astype(np.uint64)
        key = np.zeros(len(signatures), np.uint64)
        for col in range(rows):
            key = mix64(key ^ block[:, col])
        found = _distinct(np.concatenate([found, _pack(pairs_from_keys(key, valid), n)]))
    return _unpack(found, n)


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, ascending (`np.unique` of numpy 2.4 hashes, and is ~50x slower on millions)."""
    values.sort()
    first = np.ones(len(values), bool)
    first[1:] = values[1:] != values[:-1]
    return values[first]


def _pack(pairs: np.ndarray, n: int) -> np.ndarray:
    """Each pair (i, j) of rows below n as the one integer i * n + j (their order is kept)."""
    return pairs[:, 0].astype(np.int64) * n + pairs[:, 1]


def _unpack(keys: np.ndarray, n: int) -> np.ndarray:
    return np.stack([keys // n, keys % n], axis=1)


def segment_keys(ids: np.ndarray, token_hashes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """An order-sensitive 64-bit key per token segment (equal sequences, equal keys; 0 if empty)."""
    lengths = ends - starts
    keys = np.zeros(len(starts), np.uint64)
    nonempty = np.flatnonzero(lengths > 0)
    if not len(nonempty):
        return keys
    seg_starts = np.zeros(len(nonempty), np.int64)
    np.cumsum(lengths[nonempty][:-1], out=seg_starts[1:])
    seg = np.repeat(np.arange(len(nonempty)), lengths[nonempty])
    rank = np.arange(len(seg)) - seg_starts[seg]
    hashed = token_hashes[ids[starts[nonempty][seg] + rank]]
    mixed = mix64(hashed ^ mix64(rank.astype(np.uint64) + _K1))
    keys[nonempty] = mix64(np.bitwise_xor.reduceat(mixed, seg_starts) ^ lengths[nonempty].astype(np.uint64))
    return keys


def anchored_pairs(keys: np.ndarray, valid: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Pairs (i < j) with equal keys where i or j is an anchor; MAX_ANCHORED partners per anchor.

    In a block larger than that, an anchor's partners are the members nearest to it by row.
    """
    rows = np.flatnonzero(valid)
    order = rows[np.lexsort((rows, keys[rows]))]
    sorted_keys = keys[order]
    spots = np.flatnonzero(anchors[order])
    if not len(spots):
        return np.zeros((0, 2), np.int64)
    low = np.searchsorted(sorted_keys, sorted_keys[spots], side="left")
    end = np.searchsorted(sorted_keys, sorted_keys[spots], side="right")
    low = np.maximum(low, np.minimum(spots - MAX_ANCHORED // 2, end - MAX_ANCHORED - 1))
    high = np.minimum(end, low + MAX_ANCHORED + 1)  # the anchor itself is one of these
    counts = high - low
    first = np.repeat(spots, counts)
    second = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(low, counts)
    pairs = np.stack([order[first], order[second]], axis=1).astype(np.int64)
    return np.sort(pairs[pairs[:, 0] != pairs[:, 1]], axis=1)


def estimated_jaccard(signatures: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """MinHash estimate of each pair's shingle Jaccard (share of equal signature slots)."""
    out = np.zeros(len(pairs), np.float64)
    step = 1 << 16  # pairs at once: their gathered signatures are the temporaries (16 MB each)
    for begin in range(0, len(pairs), step):
        chunk = pairs[begin : begin + step]
        out[begin : begin + step] = (signatures[chunk[:, 0]] == signatures[chunk[:, 1]]).mean(axis=1)
    return out


def _plausible_prefixes(table: TextTable, pairs: np.ndarray) -> np.ndarray:
    """Keep pairs whose shorter abstract may be a prefix of the other (two spot checks).

    Papers that merely open with the same boilerplate sentence part ways soon after.
    """
    start, length = table.abstract_start, table.abstract_end - table.abstract_start
    first_shorter = length[pairs[:, 0]] <= length[pairs[:, 1]]
    short = np.where(first_shorter, pairs[:, 0], pairs[:, 1])
    long = np.where(first_shorter, pairs[:, 1], pairs[:, 0])
    keep = np.ones(len(pairs), bool)
    for position in (length[short] // 2, np.maximum(length[short] - 2, 0)):
        keep &= table.ids[start[short] + position] == table.ids[start[long] + position]
    return pairs[keep]


def _unique_pairs(*found: np.ndarray) -> np.ndarray:
    """The distinct pairs of all `found` but (i, i), each as (i < j), sorted."""
    n = max((int(f.max()) + 1 for f in found if f.size), default=0)
    keys = []
    for pairs in found:
        pairs = pairs.reshape(-1, 2).astype(np.int64, copy=False)
        low, high = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
        keep = low != high
        keys.append(low[keep] * n + high[keep])
    return _unpack(_distinct(np.concatenate(keys)), n) if keys else np.zeros((0, 2), np.int64)


_RANKED_AT_ONCE = 1 << 20
"""Candidate entries `cap_per_paper` ranks at once (bounds its temporaries)."""


def cap_per_paper(pairs: np.ndarray, signatures: np.ndarray) -> np.ndarray:
    """The pairs among the MAX_CANDIDATES best candidates of both their papers (see MAX_CANDIDATES).

    `pairs` are unique (i < j) and sorted; so is the result. Without a paper above the
    cap, that is every pair.
    """
    if not len(pairs):
        return pairs
    n = int(pairs.max()) + 1
    degree = np.bincount(pairs.ravel(), minlength=n)
    crowded = degree > MAX_CANDIDATES
    if not crowded.any():
        return pairs
    # Only a crowded paper can drop a pair: the candidates of those alone are ranked,
    # a batch of papers at a time. A paper's candidates are the pairs where it is first
    # (a run of `pairs`) and where it is second (a run of `by_second`).
    touched = np.flatnonzero(crowded[pairs[:, 0]] | crowded[pairs[:, 1]])
    far = np.zeros(len(pairs), bool)
    for begin in range(0, len(touched), _RANKED_AT_ONCE):
        chunk = touched[begin : begin + _RANKED_AT_ONCE]
        far[chunk] = estimated_jaccard(signatures, pairs[chunk]) < NEAR_SAME
    del touched
    by_second = np.argsort(pairs[:, 1], kind="stable")
    first_at = np.searchsorted(pairs[:, 0], np.arange(n + 1))
    second_at = np.searchsorted(pairs[by_second, 1], np.arange(n + 1))
    dropped = np.zeros(len(pairs), bool)
    bits = n.bit_length()
    entries_before = np.zeros(n + 1, np.int64)  # entries of the papers before each paper
    np.cumsum(degree, out=entries_before[1:])
    paper = 0
    while paper < n:
        last = int(np.searchsorted(entries_before, entries_before[paper] + _RANKED_AT_ONCE, "right")) - 1
        last = min(max(last, paper + 1), n)
        # Each (paper, candidate) as one integer: paper, tier, distance, and 1 when the
        # candidate is the later row (at equal distance the earlier row comes first).
        entry = np.concatenate(
            [np.arange(first_at[paper], first_at[last]), by_second[second_at[paper] : second_at[last]]]
        )
        later = np.arange(len(entry)) < first_at[last] - first_at[paper]
        owner = np.where(later, pairs[entry, 0], pairs[entry, 1])
        mine = crowded[owner]
        entry, later, owner = entry[mine], later[mine], owner[mine]
        key = (owner - paper) << (bits + 2)
        key |= far[entry].astype(np.int64) << (bits + 1)
        key |= (pairs[entry, 1] - pairs[entry, 0]) << 1
        key |= later
        order = np.argsort(key)  # keys are distinct
        ranked = key[order] >> (bits + 2)
        rank = np.arange(len(order)) - np.searchsorted(ranked, ranked)
        dropped[entry[order[rank >= MAX_CANDIDATES]]] = True
        paper = last
    log.debug(
        "near-duplicate candidates: %d of %d dropped by the cap of %d per paper",
        dropped.sum(),
        len(pairs),
        MAX_CANDIDATES,
    )
    return pairs[~dropped]


@dataclass(frozen=True)
class TextCandidates:
    """Candidate pairs found from the texts alone (everything but the engine's pairs)."""

    lsh: np.ndarray
    titles: np.ndarray
    prefixes: np.ndarray


def text_candidates(
    table: TextTable, title_keys: np.ndarray, prefix_keys: np.ndarray, has_prefix: np.ndarray, signatures: np.ndarray
) -> TextCandidates:
    """LSH pairs, title blocks and prefix blocks (see `candidate_pairs`)."""
    lsh = lsh_pairs(signatures, np.diff(table.shingle_offsets) > 0)
    titles = pairs_from_keys(title_keys, title_keys != 0)
    prefixes = _plausible_prefixes(table, anchored_pairs(prefix_keys, has_prefix, table.marked_truncated))
    return TextCandidates(lsh, titles, prefixes)


def combine_candidates(
    table: TextTable, found: TextCandidates, extra: np.ndarray, signatures: np.ndarray
) -> np.ndarray:
    """The text candidates and the engine's pairs `extra`, prefiltered (see `candidate_pairs`)."""
    log.debug(
        "near-duplicate candidates: lsh %d, title %d, prefix %d, engine %d",
        len(found.lsh),
        len(found.titles),
        len(found.prefixes),
        len(extra),
    )
    pairs = _unique_pairs(found.lsh, found.titles, extra)
    bare = table.abstract_end == table.abstract_start
    keep = (estimated_jaccard(signatures, pairs) >= PREFILTER) | bare[pairs[:, 0]] | bare[pairs[:, 1]]
    return cap_per_paper(_unique_pairs(pairs[keep], found.prefixes), signatures)


def candidate_pairs(
    table: TextTable,
    title_keys: np.ndarray,
    prefix_keys: np.ndarray,
    has_prefix: np.ndarray,
    extra: np.ndarray,
    signatures: np.ndarray | None = None,
) -> np.ndarray:
    """The union of all candidate sources, as unique sorted (i < j) pairs.

    Pairs from LSH, title blocks and the engine must also show a MinHash Jaccard
    estimate of at least PREFILTER (a vectorised test that spares the exact check
    most chance pairs, e.g. in a corpus where many papers share a title); pairs with
    a title-only entry, and prefix blocks anchored on abstracts that look cut, skip it.
    `signatures` are the papers' `minhash_signatures` when the caller has them already.
    """
    if signatures is None:
        signatures = minhash_signatures(table.shingles, table.shingle_offsets)
    found = text_candidates(table, title_keys, prefix_keys, has_prefix, signatures)
    return combine_candidates(table, found, extra, signatures)


# Thresholds of the exact check, on word 3-shingle sets of folded abstracts.
NEAR_SAME = 0.8
"""Shingle Jaccard at which two abstracts are the same text with small edits."""
