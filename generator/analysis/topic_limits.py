"""The topics stage's limits: at most three topics, `other` for at most 5%, no topic on more than a quarter.

The limits are learned on the fit set (`_learn_limits`: a floor per topic on an extra's score
relative to the primary's, a penalty per topic when it is chosen as primary, and a similarity
from which every paper is placed) and applied to every paper on its own (`_choose`), so a
paper's topics depend only on its own scores. See `generator.analysis.topics` for the rules.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)


CONFIDENT_SCORE = 5.0
"""Phrase score from which a paper's best topic is trusted enough to shape that topic's centroid."""


CONFIDENT_MARGIN = 1.5
"""... and by which it must beat the runner-up."""


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
class _Scores:
    """Per paper (rows) and topic (columns): phrase score, centroid similarity and total."""

    keyword: np.ndarray
    similarity: np.ndarray
    total: np.ndarray

    def take(self, rows: np.ndarray) -> _Scores:
        return _Scores(self.keyword[rows], self.similarity[rows], self.total[rows])


@dataclass(frozen=True)
class _Limits:
    """The share limits as thresholds, learned on the fit set (`_learn_limits`)."""

    place_from: float
    """A paper with no phrase evidence and weak similarity is placed anyway from this best
    similarity on (`inf`: never), which keeps `other` within its share on the fit set."""
    extra_floor: np.ndarray
    """Per topic: a secondary assignment needs this fraction of the primary's total score."""
    penalty: np.ndarray
    """Per topic: subtracted from the topic's total when the primary is chosen."""


@dataclass(frozen=True)
class _Choice:
    """Each paper's picks: its candidate `order`, `primary` (order[:, 0]) and the ranks picked as
    extras (`extras`, a mask over the ranks); `is_other` papers have no topic."""

    order: np.ndarray
    primary: np.ndarray
    extras: np.ndarray
    is_other: np.ndarray

    def listed(self, n_topics: int) -> np.ndarray:
        """Per topic, the papers that list it anywhere."""
        primaries = np.bincount(self.primary[~self.is_other], minlength=n_topics)
        return primaries + np.bincount(self.order[self.extras], minlength=n_topics)


def _choose(scores: _Scores, limits: _Limits, generic: np.ndarray) -> _Choice:
    """Every paper's primary and extras under `limits`; each row depends on that row alone."""
    keyword, total = scores.keyword, scores.total
    n_papers = len(total)
    penalised = limits.penalty.any()
    # Candidates: topics by descending total (ties: taxonomy order), a topic without any score
    # last; when penalties apply, by total minus penalty.
    adjusted = np.where(total > 0, total - limits.penalty if penalised else total, -np.inf)
    order = np.argsort(-adjusted, axis=1, kind="stable")
    _generic_yields(order, keyword, generic)
    primary = order[:, 0]
    best_similarity = scores.similarity.max(axis=1)
    is_other = (keyword.max(axis=1) <= 0) & (best_similarity < MIN_SIMILARITY)
    is_other &= ~((best_similarity >= limits.place_from) & (best_similarity > 0))
    rows = np.arange(n_papers)
    # Extras: later candidates with clear phrase evidence of their own and a fair share of the
    # primary's score, at most MAX_TOPICS - 1 of them, in candidate order ...
    ranked_keyword = np.take_along_axis(keyword, order, axis=1)
    ranked_total = np.take_along_axis(total, order, axis=1)
    primary_total = total[rows, primary]
    extras = (ranked_keyword >= EXTRA_MIN_SCORE) & (ranked_total >= EXTRA_RATIO * primary_total[:, None])
    extras[:, 0] = False
    extras[is_other] = False
    if penalised:
        # ... never the topic a penalty moved the paper away from ...
        unpenalised = np.argsort(-np.where(total > 0, total, -np.inf), axis=1, kind="stable")
        _generic_yields(unpenalised, keyword, generic)
        moved = np.flatnonzero(unpenalised[:, 0] != primary)
        extras[moved] &= order[moved] != unpenalised[moved, :1]
    extras &= np.cumsum(extras, axis=1) <= MAX_TOPICS - 1
    # ... and, for a topic near its share, this fraction of the primary's score.
    if limits.extra_floor.any():
        ratio = ranked_total / np.maximum(primary_total, 1e-9)[:, None]
        extras &= ratio >= limits.extra_floor[order]
    return _Choice(order, primary, extras, is_other)


def _generic_yields(order: np.ndarray, keyword: np.ndarray, generic: np.ndarray) -> None:
    """Where a generic topic leads, let a field topic with clear evidence go first (in place)."""
    flags = generic.tolist()
    for r in np.flatnonzero(generic[order[:, 0]]).tolist():
        order[r] = _field_first(order[r].tolist(), keyword[r].tolist(), flags)


def _learn_limits(scores: _Scores, generic: np.ndarray) -> _Limits:
    """The thresholds that keep `other` and every topic within their shares on the fit set, whose
    rows `scores` are (see the module docstring)."""
    n_papers, n_topics = scores.total.shape
    best_similarity = scores.similarity.max(axis=1)
    candidates = (scores.keyword.max(axis=1) <= 0) & (best_similarity < MIN_SIMILARITY)
    allowed_other = math.floor(MAX_OTHER_SHARE * n_papers)
    place_from = math.inf
    excess = int(candidates.sum()) - allowed_other
    if excess > 0:
        # Place the most similar of them anyway, keeping `other` within its share.
        placed = np.sort(best_similarity[candidates])[::-1][:excess]
        placed = placed[placed > 0]
        if placed.size:
            place_from = float(placed[-1])
    limits = _Limits(place_from, np.zeros(n_topics), np.zeros(n_topics))
    cap = max(1, math.floor(MAX_TOPIC_SHARE * n_papers))
    move_primaries = n_papers >= MIN_PAPERS_FOR_PRIMARY_CAP
    choice = _choose(scores, limits, generic)
    for _ in range(n_topics * 4):  # moving primaries can overfill another topic; a few rounds settle it
        listed = choice.listed(n_topics)
        over = np.flatnonzero(listed > cap).tolist()
        if not over:
            break
        rows = np.arange(n_papers)
        primary_total = np.maximum(scores.total[rows, choice.primary], 1e-9)
        for t in over:
            excess = int(listed[t]) - cap
            # Weakest extras first: the lowest score relative to the paper's primary (the same
            # division as in `_choose`, so the floor compares equal values) ...
            extra_rows = np.nonzero(choice.extras & (choice.order == t))[0]
            ratios = np.sort(scores.total[extra_rows, t] / primary_total[extra_rows])
            if ratios.size:
                dropped = min(excess, ratios.size)
                floor = np.nextafter(ratios[dropped - 1], np.inf)
                limits.extra_floor[t] = max(limits.extra_floor[t], floor)
                excess -= dropped
            if excess <= 0 or not move_primaries:
                continue
            # ... then the primaries that beat their runner-up by the least move to it: the
            # topic's penalty grows by the margin of the last of them.
            held = np.flatnonzero((choice.primary == t) & ~choice.is_other)
            total = scores.total[held]
            adjusted = np.where(total > 0, total - limits.penalty, -np.inf)
            lead = adjusted[:, t].copy()
            adjusted[:, t] = -np.inf
            runner_up = adjusted.max(axis=1)
            margins = np.sort((lead - runner_up)[np.isfinite(runner_up)])
            if margins.size:
                limits.penalty[t] += max(float(margins[min(excess, margins.size) - 1]), 0.0) + 1e-9
        choice = _choose(scores, limits, generic)
    level = logging.WARNING if n_papers >= MIN_PAPERS_FOR_PRIMARY_CAP else logging.INFO
    if (choice.listed(n_topics) > cap).any():
        log.log(level, "topics: could not bring every topic within %d papers (a quarter of the corpus)", cap)
    n_other = int(choice.is_other.sum())
    if n_other > allowed_other:
        # A warning fails a --strict build; small corpora miss the limits by arithmetic alone.
        log.log(
            level,
            "topics: %d of %d papers fit no topic and resemble no topic's papers; they are listed under Other",
            n_other,
            n_papers,
        )
    return limits


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
