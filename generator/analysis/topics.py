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
below 100). That is the TF-IDF vocabulary and IDF (the build's one text model, fitted by the
similarity stage and handed on: `generator.analysis.textmodel`), the topic centroids
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
(`parallel.in_background`) scans part of the papers for phrases while this process scans the
rest (the target machine has two cores); the result is the same either way. With a cache
(`cache_dir`), each paper's phrase evidence is kept between builds; centroids and limits are
learned anew each time, so a warm run gives exactly the cold run's result.
Floating-point sums are per row in a fixed order (TF-IDF entries sorted by column), so a paper's
scores are bit for bit the same whichever other papers are in the corpus. Without a taxonomy,
topics are discovered by clustering instead (`generator.analysis.discover`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from sklearn.preprocessing import normalize

from generator import corpus_order
from generator.analysis.taxonomy import OTHER, Taxonomy
from generator.analysis.textmodel import TextModel, fit_text_model
from generator.analysis.topic_features import _read_papers, _Rows
from generator.analysis.topic_limits import CONFIDENT_MARGIN, CONFIDENT_SCORE, _Choice, _choose, _learn_limits, _Scores
from generator.models import Paper, TopicAssignment, Topics
from generator.runtime.parallel import DEFAULT, Parallelism
from generator.runtime.processes import gc_paused

log = logging.getLogger(__name__)
T = TypeVar("T")

KEYWORD_REASON_SCORE = 3.0
"""Phrase score from which the reason lists matched phrases rather than similarity."""
SIMILARITY_WEIGHT = 12.0
"""Points per unit of cosine similarity to a topic centroid."""


def assign_topics(
    papers: Sequence[Paper],
    taxonomy: Taxonomy | None,
    *,
    cache_dir: Path | None = None,
    parallel: Parallelism = DEFAULT,
    text: TextModel | None = None,
) -> Topics:
    """Rank 1-3 topics for every paper; discover topics by clustering when `taxonomy` is None.

    With `cache_dir`, what is read from each paper's own title and abstract (its phrase matches
    and its word counts) is kept there between builds, so a rebuild reads only new papers. The
    result is the same with or without the cache, and with or without a worker process
    (`parallel.topics_from`, `parallel.topics_share`). `text` is the build's text model (the
    similarity stage's, for these papers); without it, it is fitted here, with the same result.
    """
    ordered = sorted(papers, key=lambda p: p.id)
    if text is None:
        text = fit_text_model(ordered)
    elif text.ids != tuple(p.id for p in ordered):
        raise ValueError("the text model is of other papers")
    if taxonomy is None:
        from generator.analysis.discover import discover_topics

        return discover_topics(ordered, parallel=parallel, text=text)
    if not ordered:
        return Topics(topics=tuple(t.topic for t in taxonomy.topics), assignments={})
    # The stage makes no reference cycles but many small lists; without this, full collections
    # over the whole corpus's objects cost more than some steps themselves (0.2 s of 0.5 s
    # in a rebuild of 10k papers).
    with gc_paused():
        return _assign(ordered, taxonomy, cache_dir, parallel, text)


def _assign(
    ordered: Sequence[Paper], taxonomy: Taxonomy, cache_dir: Path | None, parallel: Parallelism, text: TextModel
) -> Topics:
    """`assign_topics` for a taxonomy and at least one paper, sorted by id."""
    evidence = _read_papers(ordered, taxonomy, cache_dir, parallel)
    fit = fit_rows(ordered)
    matrix = topic_tfidf(text)
    keyword = _keyword_scores(evidence, len(taxonomy.topics))
    similarity = _centroid_similarity(matrix, keyword, fit)
    scores = _Scores(keyword, similarity, keyword + SIMILARITY_WEIGHT * similarity)
    generic = np.array([t.generic for t in taxonomy.topics], dtype=bool)
    limits = _learn_limits(scores.take(fit), generic)
    choice = _choose(scores, limits, generic)
    assignments = _assignments(ordered, evidence, scores, choice, taxonomy)
    used_other = bool(choice.is_other.any())
    topics = tuple(t.topic for t in taxonomy.topics) + ((OTHER,) if used_other else ())
    _log_summary(assignments, len(ordered))
    return Topics(topics=topics, assignments=assignments)


# --- what is read from each paper -------------------------------------------------------------


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


TITLE_WEIGHT = 2
"""A title's words count twice in the vectors the centroids are made of (a title says more)."""


def topic_tfidf(text: TextModel) -> Any:
    """The build's text model as topics weigh it: TF-IDF rows of every paper (l2, float64), a
    title's words counted TITLE_WEIGHT times; words in fewer than two or more than half of the
    fit set's papers left out from 50 fit-set papers on. None without usable words.

    As `TfidfVectorizer(stop_words="english", sublinear_tf=True, min_df=2, max_df=0.5)` fitted on
    the fit set's title, title and abstract would weigh them, but over the build's one tokenizer
    and vocabulary; each row depends only on the paper's own text and the model, bit for bit.
    """
    large = text.model.fit_size >= 50
    return text.weights(title_weight=TITLE_WEIGHT, min_df=2 if large else 1, max_df=0.5 if large else 1.0)


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
