"""Tests of the similarity stage: near-duplicate quality on a labelled fixture, invariants, scale."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from datasketch import MinHash

from generator import corpus_order
from generator.analysis import neardup, shortlists, textmodel
from generator.analysis.similarity import find_similarity
from generator.analysis.similarity_text import fold_markup, tokenize, tokenize_corpus
from generator.models import Paper, Similarity
from generator.text import abstract_key, title_key

FIXTURE = Path(__file__).parent / "fixtures" / "near_duplicates.yaml"
KINDS = {"markup", "truncated", "title", "abstract"}


def load_fixture() -> list[dict]:
    return yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))


def paper(paper_id: str, title: str, abstract: str) -> Paper:
    return Paper(id=paper_id, title=title, abstract=abstract, appearances=())


def fixture_corpus(entries: list[dict]) -> tuple[list[Paper], dict[str, tuple[str, str]]]:
    """All fixture papers in one corpus, exact duplicates merged as the records stage would."""
    papers: list[Paper] = []
    seen: dict[tuple[str, str], str] = {}
    pairs: dict[str, tuple[str, str]] = {}
    for entry in entries:
        ids = []
        for side in ("a", "b"):
            text = entry[side]
            key = (title_key(text["title"]), abstract_key(text["abstract"]))
            if key not in seen:
                seen[key] = f"{entry['name']}-{side}"
                papers.append(paper(seen[key], text["title"], text["abstract"]))
            ids.append(seen[key])
        pairs[entry["name"]] = (ids[0], ids[1])
    return papers, pairs


@pytest.fixture(scope="module")
def fixture_result() -> tuple[list[dict], list[Paper], dict[str, tuple[str, str]], Similarity]:
    entries = load_fixture()
    papers, pairs = fixture_corpus(entries)
    return entries, papers, pairs, find_similarity(papers)


def test_fixture_is_big_enough_and_covers_every_kind() -> None:
    entries = load_fixture()
    positives = [e for e in entries if e["label"] == "near_duplicate"]
    negatives = [e for e in entries if e["label"] == "distinct"]
    assert len(positives) >= 30 and len(negatives) >= 30
    assert {e["kind"] for e in positives} == KINDS
    assert {e["kind"] for e in negatives} >= {"series", "same-subject", "generic-title"}
    for entry in entries:  # no labelled pair is an exact duplicate (those are merged before)
        a, b = entry["a"], entry["b"]
        same = title_key(a["title"]) == title_key(b["title"]) and abstract_key(a["abstract"]) == abstract_key(
            b["abstract"]
        )
        assert not same, entry["name"]


def test_precision_and_recall_on_the_fixture(fixture_result) -> None:
    entries, _, pairs, result = fixture_result
    tp = fp = fn = right_kind = 0
    for entry in entries:
        a, b = pairs[entry["name"]]
        found = {d.id: d for d in result.near_duplicates[a]}.get(b)
        if entry["label"] == "near_duplicate":
            if found is None:
                fn += 1
                print("missed:", entry["name"])
            else:
                tp += 1
                right_kind += found.kind == entry["kind"]
        elif found is not None:
            fp += 1
            print("false near-duplicate:", entry["name"], found)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    print(f"near-duplicates: precision {precision:.3f}, recall {recall:.3f}, kind right {right_kind}/{tp}")
    assert precision >= 0.95
    assert recall >= 0.95
    assert right_kind >= 0.85 * tp


def check_invariants(papers: list[Paper], result: Similarity) -> None:
    ids = {p.id for p in papers}
    assert set(result.near_duplicates) == ids
    assert set(result.similar) == ids
    for paper_id, links in result.near_duplicates.items():
        assert [(-d.score, d.id) for d in links] == sorted((-d.score, d.id) for d in links)
        for link in links:
            assert link.id != paper_id and link.id in ids
            assert link.kind in KINDS
            assert 0.0 <= link.score <= 1.0 and round(link.score, 3) == link.score
            back = [d for d in result.near_duplicates[link.id] if d.id == paper_id]
            assert len(back) == 1 and back[0].score == link.score and back[0].kind == link.kind
    for paper_id, similar in result.similar.items():
        assert len(similar) <= shortlists.TOP_K
        assert [(-s.score, s.id) for s in similar] == sorted((-s.score, s.id) for s in similar)
        near = {d.id for d in result.near_duplicates[paper_id]}
        assert len({s.id for s in similar}) == len(similar)
        for item in similar:
            assert item.id != paper_id and item.id in ids and item.id not in near
            assert shortlists.MIN_SIMILAR <= item.score <= 1.0 and round(item.score, 3) == item.score


def test_fixture_result_keeps_the_invariants(fixture_result) -> None:
    _, papers, _, result = fixture_result
    check_invariants(papers, result)
    assert sum(bool(s) for s in result.similar.values()) > len(papers) // 2


def test_result_does_not_depend_on_input_order(fixture_result) -> None:
    _, papers, _, result = fixture_result
    shuffled = list(papers)
    random.Random(7).shuffle(shuffled)
    assert find_similarity(shuffled) == result
    assert find_similarity(list(reversed(papers))) == result


def test_empty_and_tiny_corpora() -> None:
    assert find_similarity([]) == Similarity(near_duplicates={}, similar={})
    one = find_similarity([paper("a", "Deep Sets", "")])
    assert one.near_duplicates == {"a": ()} and one.similar == {"a": ()}
    two = find_similarity([paper("a", "Deep Sets", ""), paper("b", "", "")])
    assert two.similar == {"a": (), "b": ()}


def test_title_only_entry_links_to_its_only_match() -> None:
    abstract = (
        "We study permutation invariant functions on sets and characterise them completely. "
        "The characterisation yields a simple architecture that we evaluate on point clouds."
    )
    other = "A completely different abstract about protein folding with diffusion models and lattices."
    papers = [paper("full", "Deep Sets for Point Clouds", abstract), paper("bare", "Deep Sets for Point Clouds", "")]
    result = find_similarity(papers)
    assert [d.id for d in result.near_duplicates["bare"]] == ["full"]
    assert result.near_duplicates["bare"][0].kind == "truncated"
    # With two different works under that title, a title-only entry could be either.
    papers.append(paper("other", "Deep Sets for Point Clouds", other))
    result = find_similarity(papers)
    assert result.near_duplicates["bare"] == ()


def test_fold_markup_and_tokens() -> None:
    assert tokenize("Simulating the $t-J$ model on $8 \\times 8$ sites") == tokenize(
        "Simulating the t-J model on 8×8 sites"
    )
    assert tokenize("&quot;Schrödinger&quot; &amp; <i>α</i>-stable") == ["schrodinger", "alpha", "stable"]
    assert tokenize("\\textbf{Bold} and \\emph{it}") == ["bold", "and", "it"]
    assert fold_markup("ABC") == "abc"
    texts = ["“Quoted” — dash", "", "x_i^2 and \\alpha", "Привет мир", "Ünïcödé test…"]
    # Tokens around the lengths where the vectorised lookup changes keys (8, 16 bytes).
    texts += [" ".join("abcdefghijklmnopqrstuvwxyz"[:k] for k in range(1, 27)), "électrodynamique " * 3, "x" * 40]
    table = tokenize_corpus(texts)
    for k, text in enumerate(texts):
        assert [table.words[i] for i in table.ids[table.offsets[k] : table.offsets[k + 1]]] == tokenize(text)
    assert len(set(table.words)) == len(table.words)
    # A vocabulary carried over: known words keep their ids, new ones follow in first-seen order.
    more = tokenize_corpus(["abcdefghijklmnopq zz électrodynamiques", "x" * 40 + " zz"], table.words, table.hashes)
    assert more.words[: len(table.words)] == table.words
    assert [more.words[i] for i in more.ids] == ["abcdefghijklmnopq", "zz", "electrodynamiques", "x" * 40, "zz"]
    assert more.words[len(table.words) :] == ["zz", "electrodynamiques"]
    with pytest.raises(ValueError):
        tokenize_corpus(["a"], ["b", "b"])


def test_minhash_signatures_match_datasketch() -> None:
    shingles = np.array([5, 17, 2**31 + 3, 99, 17, 4_000_000_000], dtype=np.uint32)
    offsets = np.array([0, 4, 4, 6])
    signatures = neardup.minhash_signatures(shingles, offsets)
    for k in (0, 2):
        expected = MinHash(num_perm=neardup.NUM_PERM, seed=neardup.SEED, scheme="affine32", hashfunc=int)
        expected.update_batch(shingles[offsets[k] : offsets[k + 1]].tolist())
        assert np.array_equal(signatures[k], expected.hashvalues)
    assert (signatures[1] == np.iinfo(np.uint32).max).all()


def synthetic_corpus(size: int, seed: int = 3) -> tuple[list[Paper], set[tuple[str, str]]]:
    """Papers made of fixture sentences, with planted near-duplicates (returned as id pairs)."""
    rng = random.Random(seed)
    entries = load_fixture()
    sentences = sorted(
        {s for e in entries for side in "ab" for s in re.split(r"(?<=\.)\s+", e[side]["abstract"]) if len(s) > 40}
    )
    words = sorted({w for e in entries for side in "ab" for w in e[side]["title"].split()})
    papers: list[Paper] = []
    planted: set[tuple[str, str]] = set()
    while len(papers) < size:
        pid = f"s{len(papers):05d}"
        title = " ".join(rng.sample(words, 6)) + f" {len(papers)}"
        chosen = rng.sample(sentences, rng.randint(4, 8))
        papers.append(paper(pid, title, " ".join(chosen)))
        if rng.random() < 0.05 and len(papers) < size:
            copy_id = f"s{len(papers):05d}"
            how = rng.randrange(3)
            if how == 0:
                copy = paper(copy_id, title, " ".join(chosen[:-1]) + " " + chosen[-1][: len(chosen[-1]) // 2] + "…")
            elif how == 1:
                copy = paper(copy_id, " ".join(rng.sample(words, 5)), " ".join(chosen))
            else:
                copy = paper(copy_id, title, " ".join([*chosen[:2], *chosen[3:]]))
            papers.append(copy)
            planted.add((pid, copy_id))
    return papers, planted


@pytest.mark.parametrize("exact_limit", [10**9, 500], ids=["exact", "inverted-file"])
def test_scale_smoke(monkeypatch: pytest.MonkeyPatch, exact_limit: int) -> None:
    monkeypatch.setattr(textmodel, "EXACT_LIMIT", exact_limit)
    papers, planted = synthetic_corpus(2000)
    result = find_similarity(papers)
    check_invariants(papers, result)
    found = {(a, d.id) for a, links in result.near_duplicates.items() for d in links if a < d.id}
    missed = planted - found
    assert len(missed) <= len(planted) // 20, sorted(missed)[:5]
    assert sum(len(s) for s in result.similar.values()) >= 3 * len(papers)


def test_result_does_not_depend_on_the_hash_seed() -> None:
    here = Path(__file__).parent
    script = (
        "import hashlib, sys\n"
        f"sys.path[:0] = [{str(here)!r}, {str(here.parent)!r}]\n"
        "import test_similarity as t\n"
        "from generator.analysis import similarity, textmodel\n"
        "textmodel.EXACT_LIMIT = 300\n"
        "papers, _ = t.synthetic_corpus(800)\n"
        "print(hashlib.sha1(repr(similarity.find_similarity(papers)).encode()).hexdigest())\n"
    )
    digests = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        digests.add(done.stdout.strip())
    assert len(digests) == 1


def dated(papers: list[Paper], day: int) -> list[Paper]:
    """The papers as seen on one day (the fit set is chosen by first date)."""
    import datetime as dt

    from generator.models import Appearance

    date = dt.date(2024, 1, 1) + dt.timedelta(days=day)
    return [
        Paper(id=p.id, title=p.title, abstract=p.abstract, appearances=(Appearance("d.txt", date, k + 1, k + 1),))
        for k, p in enumerate(papers)
    ]


@pytest.mark.parametrize("exact_limit", [10**9, 300], ids=["exact", "inverted-file"])
def test_cache_gives_the_same_result_and_growth_is_stable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, exact_limit: int
) -> None:
    monkeypatch.setattr(textmodel, "EXACT_LIMIT", exact_limit)
    papers, _ = synthetic_corpus(1300, seed=5)
    assert corpus_order.fit_size(1200) == corpus_order.fit_size(1300)
    old = dated(papers[:1200], 0)
    day = dated(papers[1200:], 1)
    cache = tmp_path / "cache"
    before = find_similarity(old, cache_dir=cache)
    assert before == find_similarity(old)
    warm = find_similarity(old + day, cache_dir=cache)
    cold = find_similarity(old + day)
    assert warm == cold
    # Growth: an old paper's list changes only where a new paper enters it, in both
    # search modes (shortlists only gain candidates: their thresholds are fixed).
    new_ids = {p.id for p in day}
    changed = unexplained = 0
    for p in old:
        was, now = before.similar[p.id], cold.similar[p.id]
        if was != now:
            changed += 1
            kept = [s for s in now if s.id not in new_ids]
            unexplained += kept != list(was[: len(kept)])
    assert 0 < changed < len(old) // 2
    assert unexplained == 0, (changed, unexplained)
    # A paper removed and one edited: still the same as from scratch.
    edited = [*old[1:], *day]
    edited[5] = Paper(
        id=edited[5].id, title="Edited title", abstract=edited[5].abstract, appearances=edited[5].appearances
    )
    assert find_similarity(edited, cache_dir=cache) == find_similarity(edited)


def test_broken_cache_is_ignored(tmp_path: Path) -> None:
    papers, _ = synthetic_corpus(300, seed=2)
    cache = tmp_path / "cache"
    expected = find_similarity(papers, cache_dir=cache)
    state = cache / "state.pickle"
    assert state.exists()
    state.write_bytes(state.read_bytes()[:1000])
    assert find_similarity(papers, cache_dir=cache) == expected
    state.write_bytes(b"not a pickle")
    assert find_similarity(papers, cache_dir=cache) == expected
    for model in cache.glob("model-*"):
        model.write_bytes(b"garbage")
    assert find_similarity(papers, cache_dir=cache) == expected
    assert not list(cache.glob("*.tmp"))


def test_fit_size_ladder() -> None:
    assert [corpus_order.fit_size(n) for n in (0, 1, 99, 100, 124, 125, 10_300, 10_400)] == [
        0,
        1,
        99,
        100,
        100,
        125,
        8563,
        8563,
    ]
