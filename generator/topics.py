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

import logging
import math
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
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
PARALLEL_MIN_PAPERS = 20_000
"""From this many papers, phrases are matched in a worker process alongside the TF-IDF work ..."""
WORKER_SHARE = 0.85
"""... the worker taking this share of the papers (matching all of them takes a little longer
than the TF-IDF matrix, so this process takes the rest once its matrix is built)."""

Contributions = dict[int, dict[int, float]]
"""Per topic index, per phrase index: the phrase's weighted contribution to the topic's score."""


@dataclass(frozen=True)
class _Evidence:
    """Phrase evidence of one paper."""

    contributions: Contributions

    def phrases(self, taxonomy: Taxonomy, t: int) -> list[str]:
        """The matched phrases of topic `t` as written in the taxonomy, strongest first."""
        weighted = self.contributions.get(t, {})
        phrases = taxonomy.topics[t].phrases
        return [phrases[p].text for p in sorted(weighted, key=lambda p: (-weighted[p], phrases[p].key))]


def assign_topics(papers: Sequence[Paper], taxonomy: Taxonomy | None) -> Topics:
    """Rank 1-3 topics for every paper; discover topics by clustering when `taxonomy` is None."""
    ordered = sorted(papers, key=lambda p: p.id)
    if taxonomy is None:
        from .discover import discover_topics

        return discover_topics(ordered)
    if not ordered:
        return Topics(topics=tuple(t.topic for t in taxonomy.topics), assignments={})
    texts = [(p.title, p.abstract) for p in ordered]
    # Large corpora: a worker matches phrases in most papers while this process builds the
    # TF-IDF matrix and then matches the rest (the split keeps both cores busy until the end).
    cut = math.floor(WORKER_SHARE * len(texts)) if len(texts) >= PARALLEL_MIN_PAPERS else 0
    pending = run_in_worker(match_phrases, taxonomy, texts[:cut]) if cut else None
    matrix = _tfidf(ordered)
    found = match_phrases(taxonomy, texts[cut:] if pending else texts)
    if pending:
        found = worker_result(pending, match_phrases, taxonomy, texts[:cut]) + found
    evidence = [_Evidence(c) for c in found]
    keyword = _keyword_scores(evidence, len(taxonomy.topics))
    similarity = _centroid_similarity(matrix, keyword)
    total = keyword + SIMILARITY_WEIGHT * similarity
    assignments = _rank(ordered, evidence, keyword, similarity, total, taxonomy)
    used_other = any(a[0].slug == OTHER.slug for a in assignments.values())
    topics = tuple(t.topic for t in taxonomy.topics) + ((OTHER,) if used_other else ())
    _log_summary(assignments, len(ordered))
    return Topics(topics=topics, assignments=assignments)


def paper_text(paper: Paper) -> str:
    """The text similarity is computed on: the title twice (it matters more), then the abstract."""
    return f"{paper.title}. {paper.title}. {paper.abstract}"


def match_phrases(taxonomy: Taxonomy, texts: Sequence[tuple[str, str]]) -> list[Contributions]:
    """Phrase contributions for each (title, abstract); module-level so a worker can run it."""
    matcher = PhraseMatcher(taxonomy)
    return [_contributions(title, abstract, taxonomy, matcher) for title, abstract in texts]


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


def _contributions(title: str, abstract: str, taxonomy: Taxonomy, matcher: PhraseMatcher) -> Contributions:
    """The weighted contribution of every phrase found in a title and abstract."""
    in_title = {(m.topic, m.phrase) for m in matcher.find(normalise_for_matching(title))}
    counts: dict[tuple[int, int], int] = {}
    for m in matcher.find(normalise_for_matching(abstract)):
        key = (m.topic, m.phrase)
        counts[key] = counts.get(key, 0) + 1
    contributions: Contributions = {}
    for key in sorted(in_title | counts.keys()):
        t, p = key
        # A title mention is strong evidence; in the abstract the first mention counts fully
        # and repeats add a little, at most twice.
        c = counts.get(key, 0)
        value = (TITLE_FACTOR if key in in_title else 0.0) + (1.0 + 0.5 * min(c - 1, 2) if c else 0.0)
        contributions.setdefault(t, {})[p] = value * taxonomy.topics[t].phrases[p].weight
    return contributions


def _keyword_scores(evidence: Sequence[_Evidence], n_topics: int) -> np.ndarray:
    """The papers x topics matrix of phrase scores."""
    scores = np.zeros((len(evidence), n_topics), dtype=np.float64)
    for r, e in enumerate(evidence):
        for t, weighted in e.contributions.items():
            scores[r, t] = sum(weighted.values())
    return scores


def _tfidf(papers: Sequence[Paper]) -> Any:
    """The TF-IDF matrix (sparse, rows L2-normalised) of the papers, or None without usable words."""
    n_papers = len(papers)
    vectorizer = TfidfVectorizer(
        stop_words="english",
        sublinear_tf=True,
        min_df=2 if n_papers >= 50 else 1,
        max_df=0.5 if n_papers >= 50 else 1.0,
        dtype=np.float32,
    )
    try:
        return vectorizer.fit_transform([paper_text(p) for p in papers])
    except ValueError:  # no usable words at all (empty or stop-word-only texts)
        return None


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


def _rank(
    papers: Sequence[Paper],
    evidence: Sequence[_Evidence],
    keyword_matrix: np.ndarray,
    similarity: np.ndarray,
    total_matrix: np.ndarray,
    taxonomy: Taxonomy,
) -> dict[str, tuple[TopicAssignment, ...]]:
    """Choose primaries and extras, then enforce the `other` and 25% limits."""
    n_papers, n_topics = total_matrix.shape
    # Candidates per paper: topic indices by descending total score (ties: taxonomy order).
    order = np.lexsort((np.tile(np.arange(n_topics), (n_papers, 1)), -total_matrix), axis=1).tolist()
    keyword: list[list[float]] = keyword_matrix.tolist()
    total: list[list[float]] = total_matrix.tolist()
    generic = [t.generic for t in taxonomy.topics]
    orders = [_field_first(order[r], keyword[r], generic) for r in range(n_papers)]
    best_similarity: list[float] = similarity.max(axis=1).tolist()
    is_other = [max(keyword[r]) <= 0 and best_similarity[r] < MIN_SIMILARITY for r in range(n_papers)]
    other_rows = [r for r in range(n_papers) if is_other[r]]
    allowed_other = math.floor(MAX_OTHER_SHARE * n_papers)
    if len(other_rows) > allowed_other:
        # Place the most similar of them anyway, keeping `other` within its share.
        by_similarity = sorted(other_rows, key=lambda r: (-best_similarity[r], r))
        for r in by_similarity[: len(other_rows) - allowed_other]:
            if best_similarity[r] > 0:
                is_other[r] = False
    if sum(is_other) > allowed_other:
        # A warning fails a --strict build; small corpora miss the limits by arithmetic alone.
        log.log(
            logging.WARNING if n_papers >= MIN_PAPERS_FOR_PRIMARY_CAP else logging.INFO,
            "topics: %d of %d papers fit no topic and resemble no topic's papers; they are listed under Other",
            sum(is_other),
            n_papers,
        )
    chosen: list[list[int]] = []
    for r in range(n_papers):
        if is_other[r]:
            chosen.append([])
            continue
        primary = orders[r][0]
        picks = [primary]
        for t in orders[r][1:]:
            if len(picks) == MAX_TOPICS:
                break
            if keyword[r][t] >= EXTRA_MIN_SCORE and total[r][t] >= EXTRA_RATIO * total[r][primary]:
                picks.append(t)
        chosen.append(picks)
    enforce_share(chosen, orders, total, n_topics)
    slugs = [t.topic.slug for t in taxonomy.topics]
    names = [t.topic.name for t in taxonomy.topics]
    assignments: dict[str, tuple[TopicAssignment, ...]] = {}
    for r, paper in enumerate(papers):
        if not chosen[r]:
            assignments[paper.id] = (TopicAssignment(OTHER.slug, 0.0, "no topic fits"),)
            continue
        assignments[paper.id] = tuple(
            TopicAssignment(
                slug=slugs[t],
                score=round(total[r][t], 3),
                reason=_reason(evidence[r], keyword[r][t], t, names[t], taxonomy),
            )
            for t in chosen[r]
        )
    return assignments


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


def _reason(evidence: _Evidence, keyword_score: float, t: int, name: str, taxonomy: Taxonomy) -> str:
    """One line for a person: the matched phrases, or the similarity that placed the paper."""
    if keyword_score >= KEYWORD_REASON_SCORE and evidence.contributions.get(t):
        shown = evidence.phrases(taxonomy, t)[:4]
        return "matched: " + ", ".join(f'"{p}"' for p in shown)
    return f"similar to papers in {name}"


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
