"""The similarity stage: near-duplicate links and similar papers, from one shared engine.

Every paper's title and abstract are folded (markup, accents, case; see
`similarity_text`) and tokenized once. The engine is a TF-IDF model of those tokens
(sublinear tf, l2 rows): its cosine ranks similar papers and its high-cosine pairs also
feed the near-duplicate check (`neardup`), which works on the same folded tokens. The
tokens and the fitted model are the build's one text model (`textmodel.TextModel`), handed on
to the topics stage by `find_similarity_and_text`. Two
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
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from generator.analysis.neardup import (
    PREFIX_TOKENS,
    TextCandidates,
    TextTable,
    combine_candidates,
    segment_keys,
    shingle_hashes,
    text_candidates,
)
from generator.analysis.neardup_verify import Verdict, verify_pairs
from generator.analysis.shortlists import (
    MAX_CELL,
    MIN_SIMILAR,
    NEAR_DUP_COSINE,
    PROBES,
    TOP_K,
    _Clock,
    _Vectors,
    shortlists,
)
from generator.analysis.similarity_state import (
    Shortlists,
    _CachedChecker,
    _load_state,
    _Reuse,
    _save_state,
    _signatures,
    _State,
)
from generator.analysis.similarity_text import tokenize_corpus
from generator.analysis.textmodel import (
    CELL_SIZE,
    EMBED_SCALE,
    EXACT_LIMIT,
    KMEANS_ITERATIONS,
    KMEANS_SAMPLE,
    SEED,
    SVD_COMPONENTS,
    SVD_SAMPLE,
    WEIGHT_SCALE,
    Model,
    TextModel,
    _gather,
    fit_model,
)
from generator.corpus_order import fit_rows
from generator.models import NearDuplicate, Paper, Similarity, SimilarPaper
from generator.runtime.processes import gc_paused

log = logging.getLogger(__name__)

_SENTENCE_END = (".", "!", "?", ")", '"', "'", "]", "\u201d", "\u2019")
_ELLIPSIS = ("...", "\u2026")


def find_similarity(papers: Sequence[Paper], *, cache_dir: Path | None = None) -> Similarity:
    """Near-duplicates and up to TOP_K similar papers for every paper.

    Pure and deterministic: the result depends only on the set of papers, not on
    their order nor on `cache_dir`, where work is kept for the next run. Every paper
    id is a key of both dicts.
    """
    return find_similarity_and_text(papers, cache_dir=cache_dir)[0]


def find_similarity_and_text(papers: Sequence[Paper], *, cache_dir: Path | None = None) -> tuple[Similarity, TextModel]:
    """`find_similarity`, and the build's text model it fitted, for the topics stage.

    The text model is the engine's tokens and its vocabulary, document frequencies and IDF
    (`textmodel.TextModel`), the same as `textmodel.fit_text_model(papers)` gives.
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


def _find_similarity(papers: Sequence[Paper], cache_dir: Path | None) -> tuple[Similarity, TextModel]:
    clock = _Clock()
    ordered = sorted(papers, key=lambda p: p.id)
    ids = [p.id for p in ordered]
    if len(set(ids)) != len(ids):
        raise ValueError("paper ids must be unique")
    n = len(ordered)
    if n == 0:
        return Similarity(near_duplicates={}, similar={}), TextModel((), *_empty_text())
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
    return Similarity(near_duplicates=near, similar=similar), TextModel(tuple(ids), table, model)


def _empty_text() -> tuple[TextTable, Model]:
    """The text model of no papers."""
    table, _ = build_text_table([])
    return table, fit_model(table, np.zeros(0, np.int64), cells=False)[0]


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


# --- tokens ------------------------------------------------------------------------


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


# --- shortlists --------------------------------------------------------------------


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
