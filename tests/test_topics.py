"""Tests of the topics stage: the taxonomy file, rule + similarity assignment, discovered topics."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import random
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

import generator.analysis.topics as topics_module
from generator.analysis.taxonomy import OTHER, PhraseMatcher, load_taxonomy, normalise_for_matching, parse_taxonomy
from generator.analysis.topics import assign_topics
from generator.errors import ConfigError
from generator.ingest.readers import read_sources
from generator.models import Appearance, Paper, Topics
from generator.runtime.parallel import IN_PROCESS, Parallelism, in_background
from generator.text import content_hash, title_key

ROOT = Path(__file__).resolve().parent.parent
TAXONOMY_FILE = ROOT / "content" / "topics.yml"
LABELS_FILE = ROOT / "tests" / "fixtures" / "topic_labels.yaml"
SEEDS = ROOT / "content" / "sources"


def make_paper(title: str, abstract: str = "") -> Paper:
    """A paper with a stable id derived from its text."""
    return Paper(id=content_hash(title, abstract), title=title, abstract=abstract, appearances=())


@pytest.fixture(scope="module")
def taxonomy():
    return load_taxonomy(TAXONOMY_FILE)


@pytest.fixture(scope="module")
def seed_papers() -> list[Paper]:
    """The seed corpus, one paper per distinct title (the records stage merges the same way)."""
    listings, problems = read_sources([SEEDS])
    assert not problems
    papers: dict[str, Paper] = {}
    for listing in listings:
        for record in listing.records:
            papers.setdefault(title_key(record.title), make_paper(record.title, record.abstract))
    return list(papers.values())


@pytest.fixture(scope="module")
def seed_topics(seed_papers, taxonomy) -> Topics:
    return assign_topics(seed_papers, taxonomy)


# --- the default taxonomy --------------------------------------------------------------------


def test_default_taxonomy_has_the_agreed_topics_in_order(taxonomy):
    assert [t.topic.slug for t in taxonomy.topics] == [
        "theorem-proving",
        "math-reasoning",
        "ai-for-science",
        "physical-sciences",
        "scaling-laws",
        "learning-theory",
        "optimization",
        "reinforcement-learning",
        "evaluation",
        "efficiency",
        "code-generation",
        "agents-planning",
        "data-centric",
        "interpretability",
        "architectures",
        "algorithms-complexity",
        "vision-multimodal",
        "language-nlp",
    ]
    assert taxonomy.topics[0].topic.name == "Theorem Proving & Formal Mathematics"
    assert all(t.topic.description and "\n" not in t.topic.description for t in taxonomy.topics)


# --- validation ------------------------------------------------------------------------------


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topics.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_validation_collects_every_error_with_file_topic_and_field(tmp_path):
    path = _write(
        tmp_path,
        """
- slug: Bad Slug!
  name: Fine
  description: One line.
  phrases: [alpha]
- slug: no-name
  description: One line.
  phrases: [beta]
- slug: dup
  name: Dup one
  description: One line.
  phrases: [gamma]
- slug: dup
  name: Dup two
  description: One line.
  phrases: [delta]
- slug: extra
  name: Extra
  description: One line.
  phrases: [{phrase: epsilon, weight: -1}]
  colour: red
""",
    )
    with pytest.raises(ConfigError) as info:
        load_taxonomy(path)
    lines = str(info.value).splitlines()
    assert all(line.startswith(str(path)) for line in lines)
    text = str(info.value)
    assert re.search(r"topic 1 \('Bad Slug!'\): 'slug': .*not a slug", text)
    assert "topic 2 ('no-name'): 'name': missing" in text
    assert re.search(r"topic 4 \('dup'\): 'slug': duplicate of topic 3", text)
    assert "topic 5 ('extra'): 'colour': unknown key" in text
    assert re.search(r"topic 5 \('extra'\): 'phrases' item 1 .*'weight'", text)
    assert len(lines) == 5


def test_validation_rejects_wrong_shapes(tmp_path):
    with pytest.raises(ConfigError, match="expected a non-empty list of topics"):
        load_taxonomy(_write(tmp_path, "slug: x\n"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_taxonomy(_write(tmp_path, "- slug: [unclosed\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_taxonomy(tmp_path / "missing.yml")
    with pytest.raises(ConfigError, match=r"topic 1 \('other'\): 'slug': 'other' is reserved"):
        parse_taxonomy([{"slug": "other", "name": "O", "description": "d", "phrases": ["x"]}], "t.yml")
    with pytest.raises(ConfigError, match=r"topic 1 \('a'\): 'phrases': missing"):
        parse_taxonomy([{"slug": "a", "name": "A", "description": "d"}], "t.yml")


# --- phrase matching -------------------------------------------------------------------------


def test_phrases_match_on_word_boundaries_plurals_hyphens_and_case():
    tax = parse_taxonomy(
        [
            {
                "slug": "tp",
                "name": "TP",
                "description": "d",
                "phrases": ["theorem prover", "Lean", "fine-tuning"],
                "exclude": ["lean on"],
            },
            {"slug": "th", "name": "Th", "description": "d", "phrases": ["theory", "lean"]},
        ]
    )
    matcher = PhraseMatcher(tax)

    def found(text: str) -> list[tuple[int, int]]:
        return sorted((m.topic, m.phrase) for m in matcher.find(normalise_for_matching(text)))

    assert found("Neural Theorem-Provers in LEAN") == [(0, 0), (0, 1), (1, 1)]
    assert found("clean leaner lean4") == []  # whole words only
    assert found("Fine tuning and finetuning") == [(0, 2)]
    assert found("two theories") == [(1, 0)]
    # An exclusion masks its own topic's phrases inside it, not other topics' phrases.
    assert found("we lean on theory") == [(1, 0), (1, 1)]
    assert found("we lean on Lean theory") == [(0, 1), (1, 0), (1, 1), (1, 1)]


# --- assignment on the seeds ------------------------------------------------------------------


def test_hand_labels_agree_with_the_primary_topic(taxonomy):
    labels = yaml.safe_load(LABELS_FILE.read_text(encoding="utf-8"))
    assert len(labels) >= 60
    slugs = {t.topic.slug for t in taxonomy.topics}
    for entry in labels:
        assert entry["primary"] in slugs and set(entry["also"]) <= slugs, entry["title"]
    # Labelled papers are scored among the whole seed corpus, as they are in a real build.
    labelled = [make_paper(e["title"], e["abstract"]) for e in labels]
    listings, _ = read_sources([SEEDS])
    others = {title_key(r.title): make_paper(r.title, r.abstract) for lst in listings for r in lst.records}
    for paper in labelled:
        others.pop(title_key(paper.title), None)
    topics = assign_topics([*labelled, *others.values()], taxonomy)
    hits = 0
    misses = []
    for entry, paper in zip(labels, labelled, strict=True):
        primary = topics.assignments[paper.id][0].slug
        if primary in (entry["primary"], *entry["also"]):
            hits += 1
        else:
            misses.append(f"{entry['title'][:60]}: {primary} (labelled {entry['primary']})")
    accuracy = hits / len(labels)
    print(f"\ntopic accuracy against {len(labels)} hand labels: {accuracy:.1%}")
    print("\n".join(misses))
    assert accuracy >= 0.8


def test_every_seed_paper_has_one_to_three_ranked_topics(seed_papers, seed_topics):
    assert set(seed_topics.assignments) == {p.id for p in seed_papers}
    known = {t.slug for t in seed_topics.topics}
    for picks in seed_topics.assignments.values():
        assert 1 <= len(picks) <= 3
        assert len({a.slug for a in picks}) == len(picks)
        assert all(a.slug in known and a.reason for a in picks)
        if len(picks) > 1:
            assert picks[0].slug != OTHER.slug


def test_seed_shares_of_other_and_of_the_largest_topic(seed_papers, seed_topics):
    n = len(seed_papers)
    listed = Counter(a.slug for picks in seed_topics.assignments.values() for a in picks)
    largest = max(listed.values())
    print(f"\nother: {listed[OTHER.slug] / n:.1%}; largest topic: {largest / n:.1%} of {n} papers")
    assert listed[OTHER.slug] <= 0.05 * n
    assert largest <= 0.25 * n


def test_topics_keep_taxonomy_order_with_other_last_only_when_used(taxonomy, seed_topics):
    slugs = [t.slug for t in seed_topics.topics]
    configured = [t.topic.slug for t in taxonomy.topics]
    assert slugs[: len(configured)] == configured
    used = {a.slug for picks in seed_topics.assignments.values() for a in picks}
    assert (OTHER.slug in slugs) == (OTHER.slug in used)


def test_reasons_name_matched_phrases_or_similarity(taxonomy):
    prover = make_paper(
        "A Neural Theorem Prover for Lean",
        "We train a theorem prover that searches for proofs in Lean and Mathlib.",
    )
    topics = assign_topics([prover], taxonomy)
    first = topics.assignments[prover.id][0]
    assert first.slug == "theorem-proving"
    assert first.reason.startswith("matched: ")
    assert '"theorem prover"' in first.reason and '"lean"' in first.reason.lower()


def test_weak_evidence_is_placed_by_similarity(seed_papers, taxonomy):
    # No taxonomy phrase in it, but its words are those of the optimisation papers.
    vague = make_paper(
        "Faster iterates for monotone operators",
        "We study iterates of Halpern type for finite-sum monotone operators and give rates "
        "for stochastic variants with variance reduction and extrapolation.",
    )
    topics = assign_topics([*seed_papers, vague], taxonomy)
    first = topics.assignments[vague.id][0]
    assert first.reason.startswith("similar to papers in ")
    assert first.slug == "optimization"


def test_other_only_when_nothing_fits(taxonomy):
    papers = [make_paper(f"Theorem prover number {i}", "Proof search in Lean.") for i in range(30)]
    junk = make_paper("Zzyzx qwerty", "Blorp snarf.")
    topics = assign_topics([*papers, junk], taxonomy)
    assert topics.assignments[junk.id][0].slug == OTHER.slug
    assert topics.topics[-1] == OTHER
    assert [a.slug for a in topics.assignments[papers[0].id]] == ["theorem-proving"]


def test_assignment_is_deterministic_under_shuffled_input(seed_papers, taxonomy, seed_topics):
    shuffled = list(seed_papers)
    random.Random(3).shuffle(shuffled)
    assert assign_topics(shuffled, taxonomy) == seed_topics


def test_empty_corpus(taxonomy):
    topics = assign_topics([], taxonomy)
    assert topics.assignments == {}
    assert len(topics.topics) == len(taxonomy.topics)


# --- discovered topics -----------------------------------------------------------------------


def test_discovered_topics_are_readable_and_deterministic(seed_papers):
    topics = assign_topics(seed_papers, None)
    shuffled = list(seed_papers)
    random.Random(5).shuffle(shuffled)
    assert assign_topics(shuffled, None) == topics
    assert 5 <= len(topics.topics) <= 30
    slugs = [t.slug for t in topics.topics]
    assert len(set(slugs)) == len(slugs)
    for topic in topics.topics:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", topic.slug)
        # Words a person reads: letters first, no underscores or cluster numbers.
        assert "_" not in topic.name and not re.match(r"\d", topic.name)
        assert re.search(r"[A-Z][a-z]", topic.name) or re.search(r"[A-Z]{2,}", topic.name)
        assert topic.description
    names = " ".join(t.name for t in topics.topics).lower()
    assert "theorem" in names or "proving" in names
    n = len(seed_papers)
    listed = Counter(a.slug for picks in topics.assignments.values() for a in picks)
    assert max(listed.values()) <= 0.25 * n
    assert all(1 <= len(p) <= 3 for p in topics.assignments.values())


def test_discovered_topics_on_tiny_corpora():
    one = [make_paper("Only paper", "About graphs.")]
    topics = assign_topics(one, None)
    assert len(topics.assignments[one[0].id]) == 1
    empty = assign_topics([], None)
    assert empty.topics == () and empty.assignments == {}


def test_worker_process_gives_the_same_result(seed_papers, taxonomy, seed_topics, caplog):
    import generator.analysis.discover as discover

    # A forked worker even for these few papers (other tests may leave a thread running; the
    # worker only matches phrases, so forking is safe here).
    forked = Parallelism(fork=True, topics_from=10)
    with caplog.at_level(logging.DEBUG, logger="generator.runtime.parallel"):
        assert assign_topics(seed_papers, taxonomy, parallel=forked) == seed_topics
        # Discovery runs in this process whatever `parallel` says (its words come from the text model).
        assert discover.discover_topics(seed_papers, parallel=forked) == discover.discover_topics(
            seed_papers, parallel=IN_PROCESS
        )
    assert not [r for r in caplog.records if "continuing in this process" in r.getMessage()]  # no worker died


def test_small_corpora_do_not_warn(taxonomy, caplog):
    # A warning fails a --strict build; five papers cannot keep every topic under a quarter.
    papers = [make_paper(f"Theorem prover {i}", "Proof search in Lean.") for i in range(3)]
    papers.append(make_paper("Zzyzx qwerty", "Blorp snarf."))
    with caplog.at_level(logging.INFO, logger="generator.analysis.topics"):
        topics = assign_topics(papers, taxonomy)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [a[0].slug for a in topics.assignments.values()].count("theorem-proving") == 3


def _die(*args):
    os._exit(1)


def test_a_dead_worker_is_replaced_by_this_process():
    died = False

    def work() -> int:
        if os.getpid() != parent:
            _die()
        nonlocal died
        died = True
        return 2

    parent = os.getpid()
    # Other tests may leave a thread running; this worker only exits, so forking is safe here.
    pending = in_background(work, Parallelism(fork=True))
    assert pending.in_background
    assert pending.result() == 2 and died


# --- the cache and the faster paths give the same result --------------------------------------


def test_phrase_counts_agree_with_find(seed_papers, taxonomy):
    matcher = PhraseMatcher(taxonomy)
    texts = [normalise_for_matching(t) for p in seed_papers for t in (p.title, p.abstract)]
    texts += ["benchmark lean benchmarks", "", "  lean  "]
    for text in texts:
        assert matcher.counts(text) == Counter((m.topic, m.phrase) for m in matcher.find(text)), text


def test_cache_gives_the_same_result(seed_papers, taxonomy, seed_topics, tmp_path):
    cache = tmp_path / "topics-cache"
    ordered = sorted(seed_papers, key=lambda p: p.id)
    first, day = ordered[::2], ordered[1::2][:60]
    assert assign_topics(seed_papers, taxonomy, cache_dir=cache) == seed_topics  # cold, writes the cache
    assert (cache / "topics.npz").is_file()
    assert assign_topics(seed_papers, taxonomy, cache_dir=cache) == seed_topics  # everything cached
    # N papers, then N + one more day with the warm cache, against a run without a cache.
    other = tmp_path / "other-cache"
    assert assign_topics(first, taxonomy, cache_dir=other) == assign_topics(first, taxonomy)
    assert assign_topics([*first, *day], taxonomy, cache_dir=other) == assign_topics([*first, *day], taxonomy)
    # Fewer papers than the cache knows.
    assert assign_topics(day, taxonomy, cache_dir=cache) == assign_topics(day, taxonomy)


def test_damaged_stale_or_foreign_caches_are_ignored(seed_papers, taxonomy, seed_topics, tmp_path):

    cache = tmp_path / "c"
    cache.mkdir()
    (cache / "topics.npz").write_bytes(b"not a zip file")
    assert assign_topics(seed_papers, taxonomy, cache_dir=cache) == seed_topics
    with np.load(cache / "topics.npz") as data:  # replaced by a good one
        arrays = {name: data[name] for name in data.files}
    # Inconsistent arrays: ignored. (A cache of other code is never in this folder: test_cache.py.)
    np.savez(cache / "topics.npz", **{**arrays, "evidence_indptr": arrays["evidence_indptr"][:-1]})
    assert assign_topics(seed_papers, taxonomy, cache_dir=cache) == seed_topics
    # Another taxonomy: its phrase evidence is not reused.
    data = yaml.safe_load(TAXONOMY_FILE.read_text(encoding="utf-8"))
    data[0]["phrases"] = ["optimizer", *data[0]["phrases"]]
    changed = parse_taxonomy(data)
    assert assign_topics(seed_papers, changed, cache_dir=cache) == assign_topics(seed_papers, changed)
    assert assign_topics(seed_papers, taxonomy, cache_dir=cache) == seed_topics


def test_an_unwritable_cache_directory_only_costs_speed(seed_papers, taxonomy, seed_topics, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache directory should be")
    assert assign_topics(seed_papers, taxonomy, cache_dir=blocked / "topics-cache") == seed_topics


# --- growth-stable model -----------------------------------------------------------------------


def _dated(papers: list[Paper], per_day: int, start: dt.date = dt.date(2024, 1, 1)) -> list[Paper]:
    """The papers with one dated appearance each, `per_day` papers a day in the given order."""
    days = [start + dt.timedelta(days=i // per_day) for i in range(len(papers))]
    return [
        dataclasses.replace(p, appearances=(Appearance("day.txt", day, i + 1, i + 1),))
        for i, (p, day) in enumerate(zip(papers, days, strict=True))
    ]


def test_fit_set_is_the_oldest_papers_on_the_ladder(monkeypatch):
    import generator.corpus_order as corpus_order

    assert [corpus_order.fit_size(n) for n in (1, 100, 124, 125, 155, 156, 400)] == [1, 100, 100, 125, 125, 156, 378]
    monkeypatch.setattr(corpus_order, "FIRST_RUNG", 8)
    assert [corpus_order.fit_size(n) for n in (8, 9, 10, 12, 13)] == [8, 8, 10, 12, 12]
    papers = _dated([make_paper(f"Paper {i}", "Text.") for i in range(12)], per_day=2)
    undated = make_paper("Undated", "Text.")
    ordered = sorted([*papers, undated], key=lambda p: p.id)
    fit = topics_module.fit_rows(ordered)
    # 12 of 13: undated papers count as the oldest; of the last day, the later position is newer.
    assert {ordered[r].id for r in fit} == {p.id for p in [undated, *papers[:11]]}
    assert list(fit) == sorted(fit)


@pytest.mark.parametrize("first_rung", [100, 40])
def test_adding_a_day_does_not_change_existing_papers(seed_papers, taxonomy, monkeypatch, tmp_path, first_rung):
    import generator.corpus_order as corpus_order

    monkeypatch.setattr(corpus_order, "FIRST_RUNG", first_rung)
    papers = _dated(sorted(seed_papers, key=lambda p: title_key(p.title)), per_day=20)
    n = 400
    step = corpus_order.fit_size(n)
    day = n + 20
    assert step < n and corpus_order.fit_size(day) == step  # the fit set is a strict subset, unchanged
    before = assign_topics(papers[:n], taxonomy)
    after = assign_topics(papers[:day], taxonomy)
    assert {k: after.assignments[k] for k in before.assignments} == before.assignments  # scores and reasons too
    # The same with a cache that saw the smaller corpus first, and cold.
    cache = tmp_path / "cache"
    assert assign_topics(papers[:n], taxonomy, cache_dir=cache) == before
    assert assign_topics(papers[:day], taxonomy, cache_dir=cache) == after
    # A paper's topics depend on its own text and the model only: alone with the fit set, the
    # same as among all papers.
    ordered = sorted(papers[:day], key=lambda p: p.id)
    fit_set = [ordered[r] for r in topics_module.fit_rows(ordered)]
    assert len(fit_set) == step and papers[day - 1] not in fit_set
    alone = assign_topics([*fit_set, papers[day - 1]], taxonomy)
    assert alone.assignments[papers[day - 1].id] == after.assignments[papers[day - 1].id]
    # Crossing a step refits the model; the result is still a pure function of the input.
    grown = papers[: corpus_order.fit_size(len(papers))]
    assert assign_topics(list(reversed(grown)), taxonomy) == assign_topics(grown, taxonomy)


def test_share_limits_are_learned_on_the_fit_set(taxonomy, monkeypatch):
    import generator.corpus_order as corpus_order

    monkeypatch.setattr(corpus_order, "FIRST_RUNG", 40)
    # Provers trained by reinforcement learning, some more clearly than others: the runner-up.
    provers = [
        make_paper(
            f"Theorem prover {i} for Lean", "Proof search in Lean. " + "A reinforcement learning policy. " * (i % 4)
        )
        for i in range(40)
    ]
    papers = _dated(
        [
            *provers[:20],
            *(
                make_paper(f"Reinforcement learning agent {i}", "Policy gradient and reward shaping.")
                for i in range(10)
            ),
            *(make_paper(f"Scaling laws {i}", "Compute-optimal scaling law of language models.") for i in range(10)),
            *provers[20:28],
        ],
        per_day=10,
    )

    def share(topics: Topics, ids: set[str]) -> float:
        listed = Counter(a.slug for k, picks in topics.assignments.items() if k in ids for a in picks)
        return listed["theorem-proving"] / len(ids)

    topics = assign_topics(papers, taxonomy)  # fit set: the first 40 papers, half of them provers
    fit_ids = {p.id for p in papers[:40]}
    assert share(topics, fit_ids) <= 0.25
    # The newer provers are judged by the fit set's thresholds: the same margins move them.
    assert 0.25 <= share(topics, {p.id for p in papers}) < 0.5
    small = assign_topics(papers[:40], taxonomy)
    assert {k: topics.assignments[k] for k in small.assignments} == small.assignments


def test_the_taxonomy_loader_reads_what_pyyamls_python_loader_reads(tmp_path: Path) -> None:
    """Oracle for the C loader the taxonomy is read with: the same data, the same refusals."""
    from generator.analysis.taxonomy import SAFE_LOADER

    shipped = TAXONOMY_FILE.read_text("utf-8")
    assert yaml.load(shipped, Loader=SAFE_LOADER) == yaml.safe_load(shipped)
    tricky = "- slug: a\n  name: 'Ünïcode: “quotes”'\n  phrases: [x, 'y: z', 1.5, null, yes, 2025-01-01]\n"
    assert yaml.load(tricky, Loader=SAFE_LOADER) == yaml.safe_load(tricky)
    bad = tmp_path / "bad.yml"
    bad.write_text("- slug: a\n  phrases: [unclosed\n", "utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_taxonomy(bad)
    unsafe = tmp_path / "unsafe.yml"
    unsafe.write_text("- !!python/object/apply:os.system ['true']\n", "utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_taxonomy(unsafe)
