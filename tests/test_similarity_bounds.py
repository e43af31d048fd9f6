"""The similarity stage's worst case: families of near-identical templated records.

Thousands of records that share most of their text make every record a candidate of
every other, in the engine's shortlists (all scores tie), the MinHash LSH buckets, the
title and opening blocks and the inverted file's cells. Before the bounds, 7,900
templated records (under 1 MB of text) took 5 GB and half a minute. These tests run
such corpora in a subprocess under an address-space limit (RLIMIT_AS) and check the
counts the bounds promise; they assert no times (machines are noisy). The in-process
tests check each bound against a plain reference, and that on an ordinary corpus no
bound changes anything.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from generator import corpus_order
from generator.analysis import neardup, shortlists, similarity, textmodel
from generator.analysis.similarity import find_similarity
from generator.models import Paper

ROOT = Path(__file__).resolve().parent.parent
MEMORY_LIMIT = 1536 * 2**20
"""Address space the subprocess may use: the stage took 5 GB on the templated family."""
TIMEOUT = 300
"""Seconds a subprocess may take (it takes a few; only a hang or a quadratic blow-up reaches this)."""

# Each case: the number of records and the template of (title, abstract) for record i.
CASES = {
    # The hostile review's corpus: short abstracts, alike but for the number.
    "templated": (
        7900,
        "('Templated paper %d' % i, 'This is templated abstract number %d with the same words repeated. "
        "The same sentence again for %d.' % (i, i))",
    ),
    # Long enough to count as evidence: every pair is a real near-duplicate by the check.
    "long template": (
        7900,
        "('Templated study of case %d' % i, 'We present a templated abstract that repeats the same long sentence "
        "structure for every record in this collection, with only the record number %d changing between entries; "
        "the rest of the text stays identical so that every pair looks alike. This closing sentence is the same "
        "for all of them as well.' % i)",
    ),
    # One abstract under 3,000 different titles: every pair is a retitled copy.
    "identical abstract": (
        3000,
        "('Distinct title number %d about topic %d' % (i, i % 97), 'An identical abstract shared by every one of "
        "these records, long enough to count as evidence when titles differ, because it has more than twenty "
        "words in it and repeats across three thousand entries.')",
    ),
    # A long shared opening and no final full stop: every abstract looks cut, one opening block.
    "shared opening": (
        7900,
        "('Opening paper %d' % i, ' '.join('word%d' % k for k in range(40)) + ' then the record goes on "
        "differently with %d and details %d about number %d' % (i, i * 7, i))",
    ),
}

SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    sys.path.insert(0, {root!r})
    from generator.analysis import neardup, similarity, textmodel
    from generator.models import Paper

    textmodel.EXACT_LIMIT = {exact_limit}
    checked = []
    verify = similarity.verify_pairs

    def counting(pairs, checker):
        checked.append(len(pairs))
        return verify(pairs, checker)

    similarity.verify_pairs = counting
    papers = []
    for i in range({count}):
        title, abstract = {template}
        papers.append(Paper(id="p%05d" % i, title=title, abstract=abstract, appearances=()))
    result = similarity.find_similarity(papers)
    links = [len(v) for v in result.near_duplicates.values()]
    print(json.dumps({{
        "papers": len(papers),
        "checked": sum(checked),
        "links": sum(links),
        "most links": max(links),
        "linked papers": sum(1 for k in links if k),
        "similar": [len(v) for v in result.similar.values()],
        "cap": neardup.MAX_CANDIDATES,
    }}))
    """
)


def run_bounded(case: str, exact_limit: int = textmodel.EXACT_LIMIT) -> dict:
    count, template = CASES[case]
    script = SCRIPT.format(limit=MEMORY_LIMIT, root=str(ROOT), exact_limit=exact_limit, count=count, template=template)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", sorted(CASES))
def test_templated_family_is_bounded(case: str) -> None:
    stats = run_bounded(case)
    n, cap = stats["papers"], stats["cap"]
    assert n == CASES[case][0]
    # Every pair checked is among the first MAX_CANDIDATES candidates of both its papers.
    assert stats["checked"] <= cap * n // 2
    assert stats["most links"] <= cap
    # Every paper still gets its similar papers (a full list: the family is alike).
    assert stats["similar"] == [shortlists.TOP_K] * n
    if case in ("long template", "identical abstract"):
        # Real near-duplicates: found for (nearly) every member, up to the cap each.
        assert stats["linked papers"] >= n - 1
        assert stats["links"] >= n * cap // 2


def test_templated_family_in_the_inverted_file_is_bounded() -> None:
    # 7,900 papers with the inverted-file search: the family embeds to one point and
    # fills one cell (6,851 fit-set members), searched in parts of at most MAX_CELL.
    stats = run_bounded("long template", exact_limit=1000)
    n, cap = stats["papers"], stats["cap"]
    assert stats["checked"] <= cap * n // 2
    assert stats["most links"] <= cap
    assert stats["linked papers"] >= n - 1
    assert stats["similar"] == [shortlists.TOP_K] * n


# --- each bound against a plain reference ---------------------------------------------


def reference_cap(pairs: np.ndarray, signatures: np.ndarray) -> np.ndarray:
    """`cap_per_paper` spelled out: rank each paper's candidates, keep pairs both papers keep."""
    estimate = neardup.estimated_jaccard(signatures, pairs)
    ranked: dict[int, list[tuple[tuple[bool, int, int], int]]] = {}
    for k, (i, j) in enumerate(pairs.tolist()):
        far = bool(estimate[k] < neardup.NEAR_SAME)
        ranked.setdefault(i, []).append(((far, j - i, 1), k))  # j comes after i
        ranked.setdefault(j, []).append(((far, j - i, 0), k))  # i comes before j
    keep = np.ones(len(pairs), bool)
    for entries in ranked.values():
        for rank, (_, k) in enumerate(sorted(entries)):
            if rank >= neardup.MAX_CANDIDATES:
                keep[k] = False
    return pairs[keep]


@pytest.mark.parametrize("batch", [1 << 20, 64, 1])
def test_cap_per_paper_matches_the_reference(monkeypatch: pytest.MonkeyPatch, batch: int) -> None:
    monkeypatch.setattr(neardup, "_RANKED_AT_ONCE", batch)
    rng = np.random.default_rng(7)
    for trial in range(12):
        n = int(rng.integers(2, 300))
        raw = rng.integers(0, n, (int(rng.integers(1, 4000)), 2))
        if trial % 2:  # a dense family among the first rows: crowded papers
            raw = np.concatenate([raw, rng.integers(0, min(n, 70), (3000, 2))])
        pairs = neardup._unique_pairs(raw)
        signatures = rng.integers(0, 3, (n, neardup.NUM_PERM)).astype(np.uint32)
        signatures[rng.random(n) < 0.5] = 7  # identical signatures: pairs of the near-identical tier
        capped = neardup.cap_per_paper(pairs, signatures)
        assert np.array_equal(capped, reference_cap(pairs, signatures)), trial
        assert np.bincount(capped.ravel(), minlength=n).max(initial=0) <= neardup.MAX_CANDIDATES


def test_unique_pairs_and_lsh_pairs() -> None:
    found = neardup._unique_pairs(np.array([[3, 1], [1, 3], [2, 2], [0, 5]]), np.array([[5, 0], [4, 2]]))
    assert found.tolist() == [[0, 5], [1, 3], [2, 4]]
    assert neardup._unique_pairs(np.zeros((0, 2), np.int64)).shape == (0, 2)
    # 300 identical signatures: one bucket per band, each member paired with its next MAX_BUCKET.
    signatures = np.ones((300, neardup.NUM_PERM), np.uint32)
    pairs = neardup.lsh_pairs(signatures, np.ones(300, bool))
    expected = [(i, j) for i in range(300) for j in range(i + 1, min(300, i + neardup.MAX_BUCKET + 1))]
    assert [tuple(p) for p in pairs.tolist()] == expected


def test_anchored_pairs_take_the_nearest_members_of_a_large_block() -> None:
    n = 1000
    keys = np.ones(n, np.uint64)
    anchors = np.zeros(n, bool)
    anchors[[0, 500, 999]] = True
    pairs = neardup.anchored_pairs(keys, np.ones(n, bool), anchors)
    partners = {a: {int(j if i == a else i) for i, j in pairs.tolist() if a in (i, j)} for a in (0, 500, 999)}
    half = neardup.MAX_ANCHORED // 2
    assert partners[0] == set(range(1, neardup.MAX_ANCHORED + 1))
    assert partners[500] == set(range(500 - half, 500 + half + 1)) - {500}
    assert partners[999] == set(range(999 - neardup.MAX_ANCHORED, 999))
    # A block of up to MAX_ANCHORED + 1 members: every member is a partner, as before.
    small = neardup.anchored_pairs(keys[:200], np.ones(200, bool), anchors[:200])
    assert len(small) == 199


def reference_best(scores: np.ndarray, mask: np.ndarray, labels: np.ndarray) -> set[tuple[int, int]]:
    out: set[tuple[int, int]] = set()
    for r in range(len(scores)):
        columns = sorted(np.flatnonzero(mask[r]).tolist(), key=lambda c: (-scores[r, c], labels[c]))
        out.update((r, c) for c in columns[: shortlists.SHORTLIST_CAP])
    return out


def test_best_entries_keep_a_shortlist_worth_per_row() -> None:
    rng = np.random.default_rng(3)
    for width in (10, 40, 300):
        scores = rng.integers(0, 4, (50, width)).astype(np.float32)  # many ties
        scores[::7] = 2.0  # rows where everything ties
        mask = scores > 0
        labels = rng.permutation(width)
        for given in (None, labels):
            rows, columns = shortlists._best_entries(scores, mask.copy(), given)
            expected = reference_best(scores, mask, np.arange(width) if given is None else labels)
            assert set(zip(rows.tolist(), columns.tolist(), strict=True)) == expected


def test_cell_parts() -> None:
    probes = np.array([[0, 1], [1, 0], [0, 2], [2, 0], [0, 1]])
    fit = np.ones(5, bool)
    salt = np.arange(5)
    same, cells = shortlists._cell_parts(probes, 3, fit, salt)
    assert cells == 3 and same is probes  # no cell over MAX_CELL: the cells themselves
    many = np.zeros((10_000, 2), np.int64)
    many[:, 1] = 1
    many[:5] = [[1, 0]] * 5
    salt = np.arange(10_000) * 7
    parts, count = shortlists._cell_parts(many, 2, np.ones(10_000, bool), salt)
    split = -(-9995 // shortlists.MAX_CELL)
    assert count == split + 1
    assert (parts[5:, 0] == salt[5:] % split).all() and (parts[5:, 1] == split).all()
    assert (parts[:5, 0] == split).all()
    # Only the fit set decides the parts: more papers (not in it) split nothing further.
    grown = np.concatenate([many, np.zeros((5000, 2), np.int64)])
    fit = np.concatenate([np.ones(10_000, bool), np.zeros(5000, bool)])
    again, _ = shortlists._cell_parts(grown, 2, fit, np.concatenate([salt, np.arange(5000)]))
    assert np.array_equal(again[:10_000], parts)


# --- ordinary corpora: no bound changes anything ---------------------------------------


def ordinary_corpus(size: int, seed: int) -> list[Paper]:
    """Papers of fixture sentences with some near-duplicates (as test_similarity's corpus)."""
    import yaml

    rng = random.Random(seed)
    fixture = yaml.safe_load((ROOT / "tests" / "fixtures" / "near_duplicates.yaml").read_text(encoding="utf-8"))
    sentences = sorted(
        {s for e in fixture for side in "ab" for s in re.split(r"(?<=\.)\s+", e[side]["abstract"]) if len(s) > 40}
    )
    words = sorted({w for e in fixture for side in "ab" for w in e[side]["title"].split()})
    papers: list[Any] = []
    while len(papers) < size:
        title = " ".join(rng.sample(words, 6)) + f" {len(papers)}"
        chosen = rng.sample(sentences, rng.randint(4, 8))
        papers.append(Paper(id=f"s{len(papers):05d}", title=title, abstract=" ".join(chosen), appearances=()))
        if rng.random() < 0.05:
            edited = " ".join([*chosen[:2], *chosen[3:]])
            papers.append(Paper(id=f"s{len(papers):05d}", title=title, abstract=edited, appearances=()))
    return papers


@pytest.mark.parametrize("exact_limit", [10**9, 400], ids=["exact", "inverted-file"])
def test_bounds_do_not_bind_on_an_ordinary_corpus(monkeypatch: pytest.MonkeyPatch, exact_limit: int) -> None:
    monkeypatch.setattr(textmodel, "EXACT_LIMIT", exact_limit)
    papers = ordinary_corpus(1500, seed=11)
    bounded = find_similarity(papers)
    monkeypatch.setattr(neardup, "MAX_CANDIDATES", 10**6)
    monkeypatch.setattr(similarity, "MAX_CELL", 10**6)
    assert find_similarity(papers) == bounded


@pytest.mark.parametrize("exact_limit", [10**9, 300], ids=["exact", "inverted-file"])
def test_a_family_split_by_the_bounds_is_the_same_from_a_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, exact_limit: int
) -> None:
    # A templated family in an ordinary corpus, with small bounds so that they bind: the
    # result from a cache (after a day of new papers, family members among them) equals
    # the result from scratch.
    import datetime as dt

    from generator.models import Appearance

    monkeypatch.setattr(textmodel, "EXACT_LIMIT", exact_limit)
    monkeypatch.setattr(similarity, "MAX_CELL", 40)
    monkeypatch.setattr(neardup, "MAX_CANDIDATES", 6)
    base = ordinary_corpus(850, seed=4)
    family = [
        Paper(
            id=f"t{i:04d}",
            title=f"Templated study of case {i}",
            abstract="We present a templated abstract that repeats the same long sentence structure for every "
            f"record, with only the record number {i} changing; the rest of the text stays identical.",
            appearances=(),
        )
        for i in range(280)
    ]

    def on(day: int, papers: list[Paper]) -> list[Paper]:
        date = dt.date(2024, 1, 1) + dt.timedelta(days=day)
        return [
            Paper(id=p.id, title=p.title, abstract=p.abstract, appearances=(Appearance("d.txt", date, k + 1, k + 1),))
            for k, p in enumerate(papers)
        ]

    old = on(0, base[:800] + family[:250])
    new = on(1, base[800:] + family[250:])
    assert corpus_order.fit_size(len(old)) == corpus_order.fit_size(len(old + new))
    cache = tmp_path / "cache"
    before = find_similarity(old, cache_dir=cache)
    assert before == find_similarity(old)
    warm = find_similarity(old + new, cache_dir=cache)
    assert warm == find_similarity(old + new)
    assert max(len(v) for v in warm.near_duplicates.values()) <= 6
    assert sum(1 for p in family if warm.near_duplicates[p.id]) >= 250
