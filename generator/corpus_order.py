"""One corpus order and one growth ladder, for every stage that needs "the oldest papers".

- `first_seen_order`: oldest first — undated papers, then by the day a paper was first seen,
  then id. Adding a day only appends to this order (a paper seen again later keeps its place),
  so undated seed papers stay the base when dated days are added. Pages, data shards and
  sitemaps list papers in it; the models below take their fit set from its head.
- `fit_size`: the growth ladder. A model fitted across papers (similarity's TF-IDF, SVD and
  cells; topics' TF-IDF, centroids and limits) is fitted on the oldest K papers, K the largest
  step of FIRST_RUNG, then each step a quarter larger (100, 125, 156, 195, ..., 8563, 10703, ...)
  not above the number of papers N (K = N below FIRST_RUNG). Every stage changes its model on
  the same days: when N crosses the next step, about every 25% of growth.
- `fit_rows`: the fit set, as rows of a list of papers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from generator.models import Paper

FIRST_RUNG = 100
"""Below this many papers a model is fitted on every paper; above, on a step of the ladder."""


def first_seen_order(paper: Paper) -> tuple[int, int, str]:
    """Sort key, oldest first: undated papers, then by the day a paper was first seen, then id."""
    first = paper.first_date
    return (1 if first else 0, first.toordinal() if first else 0, paper.id)


def fit_size(n: int, first_rung: int | None = None) -> int:
    """Papers a model is fitted on: the largest ladder step not above n (n itself when small);
    the ladder starts at `first_rung` (default FIRST_RUNG)."""
    first_rung = FIRST_RUNG if first_rung is None else first_rung
    if n <= first_rung:
        return n
    k = first_rung
    while k + k // 4 <= n:
        k += k // 4
    return k


def fit_rows(papers: Sequence[Paper]) -> np.ndarray:
    """Rows of `papers` (any order) in the fit set: the first `fit_size` in `first_seen_order`, oldest first."""
    order = sorted(range(len(papers)), key=lambda i: first_seen_order(papers[i]))
    return np.array(order[: fit_size(len(papers))], dtype=np.int64)
