"""Verifying near-duplicate candidates: is this pair the same paper, and of which kind?

A candidate pair (from `generator.analysis.neardup`) is checked on the exact folded token
sequences of both papers: near-same text, an edited abstract, a retitled and edited paper, one
text contained in the other. Each kind has its own bar (NEAR_SAME, EDITED, ...); a pair below
all of them is not a near-duplicate. The verdict is cached per pair by the similarity stage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from generator.analysis.neardup import NEAR_SAME, TextTable

EDITED = 0.3
"""Shingle Jaccard enough for an edited abstract when the titles agree."""


RETITLED_AND_EDITED = 0.6
"""Shingle Jaccard enough when the title changed too."""


CONTAINED = 0.9
"""Share of the shorter abstract's shingles found in the longer one: 'contained'."""


MOSTLY_CONTAINED = 0.6
"""Containment enough for an abstract grown by added sentences, when the titles agree."""


TITLES_AGREE = 0.6
"""Title similarity from which two titles count as the same or nearly (subtitle changes)."""


MIN_PREFIX = 8
"""Words a truncated abstract keeps at least (shorter prefixes prove nothing)."""


MIN_STRONG_PREFIX = 25
"""Words of a shared opening that make a truncation likely even under another title."""


MIN_EVIDENCE = 20
"""Words an abstract needs to count as evidence when the titles disagree."""


MIN_TITLE_ONLY = 3
"""Words a title needs to match a title-only entry (short titles are too generic)."""


# Title words that mark another version or member of a series rather than an edit.
_VERSION = re.compile(
    r"v?\d+[a-z]?|[ivx]{1,4}|part|version|edition|pro|plus|max|mini|lite|next|turbo|ultra|large|small|base"
)


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking one candidate pair."""

    score: float
    """Similarity in [0, 1], rounded to 3 decimals."""
    kind: str
    """`markup`, `truncated`, `title` or `abstract`."""


class PairChecker:
    """Exact verification of candidate pairs over a `TextTable`."""

    def __init__(self, table: TextTable) -> None:
        self.t = table
        self._sets: dict[int, np.ndarray] = {}
        self._titles: dict[int, tuple[str, frozenset[int]]] = {}

    def _title(self, i: int) -> tuple[str, frozenset[int]]:
        """The title's tokens glued together, and its set of token ids (cached)."""
        found = self._titles.get(i)
        if found is None:
            ids = self.t.ids[self.t.title_start[i] : self.t.title_end[i]]
            found = self._titles[i] = (self._joined(ids), frozenset(ids.tolist()))
        return found

    def _abstract(self, i: int) -> np.ndarray:
        return self.t.ids[self.t.abstract_start[i] : self.t.abstract_end[i]]

    def _shingle_set(self, i: int) -> np.ndarray:
        found = self._sets.get(i)
        if found is None:
            found = np.unique(self.t.shingles[self.t.shingle_offsets[i] : self.t.shingle_offsets[i + 1]])
            self._sets[i] = found
        return found

    def _joined(self, ids: np.ndarray) -> str:
        # Tokens glued together: `$O(n^2)$` and `O(n2)` both give `on2`.
        words = self.t.words
        return "".join([words[k] for k in ids.tolist()])

    def title_similarity(self, i: int, j: int) -> float:
        """Jaccard of the title word sets; a title inside the other (subtitle) counts 0.8."""
        a, b = self._title(i)[1], self._title(j)[1]
        if not a or not b:
            return 0.0
        common = len(a & b)
        jaccard = common / (len(a) + len(b) - common)
        smaller = min(len(a), len(b))
        if smaller >= 2 and common == smaller:
            return max(jaccard, 0.8)
        return jaccard

    def is_next_version(self, i: int, j: int) -> bool:
        """Whether the titles differ only in version marks (`V2`, `2.0`, `Part II`, `Pro`)."""
        a, b = self._title(i)[1], self._title(j)[1]
        changed = a ^ b
        return 0 < len(changed) <= 3 and all(_VERSION.fullmatch(self.t.words[k]) for k in changed)

    def _is_prefix(self, short: np.ndarray, long: np.ndarray) -> bool:
        n = len(short)
        if n > len(long) or n == 0 or not np.array_equal(short[: n - 1], long[: n - 1]):
            return False
        # A truncation may cut the last word: `bench…` is a prefix of `benchmark`.
        return bool(short[-1] == long[n - 1] or self.t.words[long[n - 1]].startswith(self.t.words[short[-1]]))

    def check(self, i: int, j: int) -> Verdict | None:
        """Whether papers i and j are very likely the same work, and how they differ."""
        ai, aj = self._abstract(i), self._abstract(j)
        (ti, title_words), (tj, _) = self._title(i), self._title(j)
        same_title = ti == tj
        ts = 1.0 if same_title else self.title_similarity(i, j)
        if not len(ai) or not len(aj):
            if len(ai) or len(aj):  # a title-only entry and a full one
                return Verdict(0.6, "truncated") if same_title and len(title_words) >= MIN_TITLE_ONLY else None
            return Verdict(1.0, "markup") if same_title and ti else None
        if same_title and self._joined(ai) == self._joined(aj):
            return Verdict(1.0, "markup")
        if min(len(ai), len(aj)) < MIN_EVIDENCE and ts < TITLES_AGREE:
            return None  # a boilerplate abstract ("withdrawn", "no abstract") is no evidence
        if np.array_equal(ai, aj):
            return Verdict(_score(1.0, ts), "title")
        si, sj = self._shingle_set(i), self._shingle_set(j)
        at = np.minimum(np.searchsorted(si, sj), len(si) - 1)
        common = int(np.count_nonzero(si[at] == sj))
        jaccard = common / (len(si) + len(sj) - common)
        containment = common / min(len(si), len(sj))
        short, long, s = (i, j, ai) if len(ai) <= len(aj) else (j, i, aj)
        rest = self._abstract(long)
        # Truncation: a prefix (or nearly all of it contained) that stops short; a
        # shared opening proves little on its own, so it needs the titles or length.
        marked = bool(self.t.marked_truncated[short])
        strong = ts >= TITLES_AGREE or len(s) >= MIN_STRONG_PREFIX
        prefix = len(s) >= MIN_PREFIX and self._is_prefix(s, rest)
        shorter = len(s) <= 0.9 * len(rest)
        if strong and (
            (prefix and (marked or len(s) <= 0.6 * len(rest))) or (marked and shorter and containment >= CONTAINED)
        ):
            return Verdict(_score(max(containment, 0.95 if prefix else 0.0), ts), "truncated")
        if jaccard >= NEAR_SAME:
            return Verdict(_score(jaccard, ts), "abstract" if ts >= 0.999 else "title")
        if self.is_next_version(i, j):
            return None  # `X` and `X-V2` share their subject and wording, not their work
        if ts >= TITLES_AGREE and (jaccard >= EDITED or containment >= MOSTLY_CONTAINED):
            return Verdict(_score(jaccard, ts), "abstract")
        if jaccard >= RETITLED_AND_EDITED:
            return Verdict(_score(jaccard, ts), "title")
        return None


def _score(abstract_similarity: float, title_similarity: float) -> float:
    return round(min(1.0, 0.8 * abstract_similarity + 0.2 * title_similarity), 3)


def verify_pairs(pairs: np.ndarray, checker: PairChecker) -> dict[int, dict[int, Verdict]]:
    """Check every candidate pair; return the confirmed links in both directions.

    A title-only entry whose title matches several different full papers stays
    unlinked: it could be any of them.
    """
    links: dict[int, dict[int, Verdict]] = {}
    title_only: dict[int, list[int]] = {}
    for i, j in pairs.tolist():
        verdict = checker.check(i, j)
        if verdict is None:
            continue
        ai = checker.t.abstract_end[i] - checker.t.abstract_start[i]
        aj = checker.t.abstract_end[j] - checker.t.abstract_start[j]
        if (ai == 0) != (aj == 0):
            bare, full = (i, j) if ai == 0 else (j, i)
            title_only.setdefault(bare, []).append(full)
            continue
        links.setdefault(i, {})[j] = verdict
        links.setdefault(j, {})[i] = verdict
    for bare, fulls in title_only.items():
        distinct = [f for f in fulls if not any(g in links.get(f, {}) for g in fulls if g < f)]
        if len(distinct) == 1:
            for full in fulls:
                verdict = checker.check(bare, full)
                assert verdict is not None
                links.setdefault(bare, {})[full] = verdict
                links.setdefault(full, {})[bare] = verdict
    return links
