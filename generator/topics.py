"""The topics stage: rank one to three topics for every paper.

With a taxonomy (`content/topics.yml`, see `generator.taxonomy`), evidence comes from phrases:
a phrase in the title counts three times as much as in the abstract, repeated mentions in the
abstract count a little more (capped), and each phrase carries its taxonomy weight. Papers
whose best evidence is strong and clear are *confident*; the mean TF-IDF vectors of the
confident papers of each topic are that topic's centroid. Every paper's final score per topic
is its phrase score plus its similarity to the topic's centroid, so similarity decides where
phrases are weak or absent (reason: `similar to papers in <topic>`), and phrases decide where
they are strong (reason: `matched: "theorem prover", "Lean"`).

Limits, and how they are enforced:

- `other` is used only for papers with no phrase evidence and no real similarity to any topic,
  and for at most 5% of the papers: beyond that, the most similar of them are placed anyway.
- "No topic holds more than a quarter of the corpus" is read as: the number of papers that list
  a topic *anywhere* among their one to three assignments is at most 25% of the papers. It is
  enforced first by dropping the topic from the papers where it is a weakest extra (secondary)
  assignment, and only then, for corpora of at least `MIN_PAPERS_FOR_PRIMARY_CAP` papers, by
  moving the weakest primaries to their next best topic. Tiny corpora cannot satisfy the limit
  and are left alone.

The stage is pure and deterministic: papers are sorted by id first, nothing depends on input
order, string hashing or unseeded randomness. Without a taxonomy, topics are discovered by
clustering instead (`generator.discover`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from .models import Paper, Topic, TopicAssignment, Topics
from .taxonomy import OTHER, PhraseMatcher, Taxonomy, normalise_for_matching

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class _Evidence:
    """Phrase scores of one paper: per topic, the score and the matched phrases by contribution."""

    scores: np.ndarray
    phrases: tuple[tuple[str, ...], ...]


def assign_topics(papers: Sequence[Paper], taxonomy: Taxonomy | None) -> Topics:
    """Rank 1-3 topics for every paper; discover topics by clustering when `taxonomy` is None."""
    ordered = sorted(papers, key=lambda p: p.id)
    if taxonomy is None:
        from .discover import discover_topics

        return discover_topics(ordered)
    if not ordered:
        return Topics(topics=tuple(t.topic for t in taxonomy.topics), assignments={})
    matcher = PhraseMatcher(taxonomy)
    evidence = [_phrase_evidence(p, taxonomy, matcher) for p in ordered]
    keyword = np.vstack([e.scores for e in evidence])
    similarity = _centroid_similarity(ordered, keyword)
    total = keyword + SIMILARITY_WEIGHT * similarity
    names = [t.topic.name for t in taxonomy.topics]
    assignments = _rank(ordered, evidence, keyword, similarity, total, names, taxonomy)
    used_other = any(a[0].slug == OTHER.slug for a in assignments.values())
    topics = tuple(t.topic for t in taxonomy.topics) + ((OTHER,) if used_other else ())
    _log_summary(assignments, len(ordered))
    return Topics(topics=topics, assignments=assignments)


def paper_text(paper: Paper) -> str:
    """The text similarity is computed on: the title twice (it matters more), then the abstract."""
    return f"{paper.title}. {paper.title}. {paper.abstract}"


def _phrase_evidence(paper: Paper, taxonomy: Taxonomy, matcher: PhraseMatcher) -> _Evidence:
    """Score every topic by the phrases found in the paper's title and abstract."""
    n = len(taxonomy.topics)
    in_title: list[set[int]] = [set() for _ in range(n)]
    counts: list[dict[int, int]] = [{} for _ in range(n)]
    for m in matcher.find(normalise_for_matching(paper.title)):
        in_title[m.topic].add(m.phrase)
    for m in matcher.find(normalise_for_matching(paper.abstract)):
        counts[m.topic][m.phrase] = counts[m.topic].get(m.phrase, 0) + 1
    scores = np.zeros(n, dtype=np.float64)
    phrases: list[tuple[str, ...]] = []
    for t in range(n):
        contributions: dict[int, float] = {}
        for p in in_title[t]:
            contributions[p] = TITLE_FACTOR
        for p, c in counts[t].items():
            # The first mention is full evidence; repeats add a little, up to twice.
            contributions[p] = contributions.get(p, 0.0) + 1.0 + 0.5 * min(c - 1, 2)
        entry = taxonomy.topics[t]
        weighted = {p: v * entry.phrases[p].weight for p, v in contributions.items()}
        scores[t] = sum(weighted.values())
        ranked = sorted(weighted, key=lambda p: (-weighted[p], entry.phrases[p].key))
        phrases.append(tuple(entry.phrases[p].text for p in ranked))
    return _Evidence(scores=scores, phrases=tuple(phrases))


def _centroid_similarity(papers: Sequence[Paper], keyword: np.ndarray) -> np.ndarray:
    """Cosine similarity of every paper to the centroid of each topic's confident papers."""
    n_papers, n_topics = keyword.shape
    similarity = np.zeros((n_papers, n_topics), dtype=np.float64)
    top = keyword.argmax(axis=1)
    ordered_scores = np.sort(keyword, axis=1)
    best = ordered_scores[:, -1]
    runner_up = ordered_scores[:, -2] if n_topics > 1 else np.zeros(n_papers)
    confident = (best >= CONFIDENT_SCORE) & (best >= CONFIDENT_MARGIN * runner_up)
    if not confident.any():
        return similarity
    vectorizer = TfidfVectorizer(
        stop_words="english",
        sublinear_tf=True,
        min_df=2 if n_papers >= 50 else 1,
        max_df=0.5 if n_papers >= 50 else 1.0,
        dtype=np.float32,
    )
    try:
        matrix = vectorizer.fit_transform([paper_text(p) for p in papers])
    except ValueError:  # no usable words at all (empty or stop-word-only texts)
        return similarity
    centroids = np.zeros((n_topics, matrix.shape[1]), dtype=np.float64)
    for t in range(n_topics):
        rows = np.flatnonzero(confident & (top == t))
        if rows.size:
            centroids[t] = np.asarray(matrix[rows].mean(axis=0)).ravel()
    centroids = normalize(centroids)
    similarity = np.asarray(matrix @ centroids.T, dtype=np.float64)
    return similarity


def _rank(
    papers: Sequence[Paper],
    evidence: Sequence[_Evidence],
    keyword: np.ndarray,
    similarity: np.ndarray,
    total: np.ndarray,
    names: Sequence[str],
    taxonomy: Taxonomy,
) -> dict[str, tuple[TopicAssignment, ...]]:
    """Choose primaries and extras, then enforce the `other` and 25% limits."""
    n_papers, n_topics = total.shape
    slugs = [t.topic.slug for t in taxonomy.topics]
    # Candidates per paper: topic indices by descending total score (ties: taxonomy order).
    order = np.lexsort((np.tile(np.arange(n_topics), (n_papers, 1)), -total), axis=1)
    generic = [t.generic for t in taxonomy.topics]
    orders = [_field_first([int(t) for t in order[r]], keyword[r], generic) for r in range(n_papers)]
    is_other = (keyword.max(axis=1) <= 0) & (similarity.max(axis=1) < MIN_SIMILARITY)
    other_rows = [int(r) for r in np.flatnonzero(is_other)]
    allowed_other = math.floor(MAX_OTHER_SHARE * n_papers)
    if len(other_rows) > allowed_other:
        # Place the most similar of them anyway, keeping `other` within its share.
        by_similarity = sorted(other_rows, key=lambda r: (-similarity[r].max(), papers[r].id))
        for row in by_similarity[: len(other_rows) - allowed_other]:
            if similarity[row].max() > 0:
                is_other[row] = False
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
            if keyword[r, t] >= EXTRA_MIN_SCORE and total[r, t] >= EXTRA_RATIO * total[r, primary]:
                picks.append(t)
        chosen.append(picks)
    _enforce_share(chosen, orders, total, n_topics)
    assignments: dict[str, tuple[TopicAssignment, ...]] = {}
    for r, paper in enumerate(papers):
        if not chosen[r]:
            assignments[paper.id] = (TopicAssignment(OTHER.slug, 0.0, "no topic fits"),)
            continue
        assignments[paper.id] = tuple(
            TopicAssignment(
                slug=slugs[t],
                score=round(float(total[r, t]), 3),
                reason=_reason(evidence[r], keyword[r, t], t, names[t]),
            )
            for t in chosen[r]
        )
    return assignments


def _field_first(row: list[int], keyword_row: np.ndarray, generic: Sequence[bool]) -> list[int]:
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


def _enforce_share(
    chosen: list[list[int]], order: Sequence[list[int]], total: np.ndarray, n_topics: int
) -> None:
    """Keep every topic within `MAX_TOPIC_SHARE` of the papers (see the module docstring)."""
    n_papers = len(chosen)
    cap = max(1, math.floor(MAX_TOPIC_SHARE * n_papers))
    for _ in range(n_topics * 2):  # moving primaries can overfill another topic; a few rounds settle it
        holders: list[list[int]] = [[] for _ in range(n_topics)]
        for r, picks in enumerate(chosen):
            for t in picks:
                holders[t].append(r)
        over = [t for t in range(n_topics) if len(holders[t]) > cap]
        if not over:
            return
        for t in over:
            excess = len(holders[t]) - cap
            extras = [r for r in holders[t] if chosen[r][0] != t]
            # Weakest first: lowest score relative to the paper's primary, then id order (rows are sorted).
            extras.sort(key=lambda r: (total[r, t] / max(total[r, chosen[r][0]], 1e-9), r))
            for r in extras[:excess]:
                chosen[r].remove(t)
            excess -= min(excess, len(extras))
            if excess <= 0 or n_papers < MIN_PAPERS_FOR_PRIMARY_CAP:
                continue
            primaries = [r for r in holders[t] if chosen[r] and chosen[r][0] == t]
            counts = [len(h) for h in holders]
            primaries.sort(key=lambda r: (_runner_up_gap(order[r], total[r], t), r))
            for r in primaries:
                if excess <= 0:
                    break
                target = next((c for c in order[r] if c != t and counts[c] < cap and total[r, c] > 0), None)
                if target is None:
                    continue
                rest = [c for c in chosen[r] if c not in (t, target)]
                chosen[r][:] = [target, *rest]
                counts[target] += 1
                excess -= 1
    log.warning("topics: could not bring every topic within %d papers", cap)


def _runner_up_gap(order_row: Sequence[int], total_row: np.ndarray, t: int) -> float:
    """How much better topic `t` is than the paper's next best topic (small = easy to move)."""
    others = [float(total_row[c]) for c in order_row if c != t]
    return float(total_row[t]) - (others[0] if others else 0.0)


def _reason(evidence: _Evidence, keyword_score: float, t: int, name: str) -> str:
    """One line for a person: the matched phrases, or the similarity that placed the paper."""
    if keyword_score >= KEYWORD_REASON_SCORE and evidence.phrases[t]:
        shown = evidence.phrases[t][:4]
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


def topic_of(topics: Topics, slug: str) -> Topic | None:
    """The topic with this slug, if any."""
    return next((t for t in topics.topics if t.slug == slug), None)
