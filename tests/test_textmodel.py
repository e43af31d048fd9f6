"""Tests of the build's one text model: one tokenizer, vocabulary and IDF, fitted once and shared
by similarity, topics and discovered topics (`generator.analysis.textmodel`)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from generator.analysis import discover
from generator.analysis.similarity import find_similarity, find_similarity_and_text
from generator.analysis.similarity_text import tokenize
from generator.analysis.taxonomy import load_taxonomy
from generator.analysis.textmodel import TextModel, fit_text_model
from generator.analysis.topics import TITLE_WEIGHT, assign_topics, topic_tfidf
from generator.corpus_order import fit_rows
from generator.ingest.readers import read_sources
from generator.models import Paper
from generator.text import content_hash

HERE = Path(__file__).resolve().parent
TAXONOMY_FILE = HERE.parent / "content" / "topics.yml"


def make_paper(title: str, abstract: str) -> Paper:
    return Paper(id=content_hash(title, abstract), title=title, abstract=abstract, appearances=())


@pytest.fixture(scope="module")
def seed_papers() -> list[Paper]:
    listings, _ = read_sources([HERE.parent / "content" / "sources"])
    papers = {(r.title, r.abstract): make_paper(r.title, r.abstract) for listing in listings for r in listing.records}
    return list(papers.values())[:300]


ODD = [
    make_paper("Ünïcode Straße — naïve ÆON models", "Fine_tuning of X-rays; café au lait. A b c."),
    make_paper("$\\alpha$-divergence &amp; <i>Lean</i> proofs", "The $t-J$ model, \\textbf{bold}; α-divergence."),
    make_paper("", "Only an abstract about Lean proofs."),
    make_paper("Only a title about Lean", ""),
]


def _reference(papers: list[Paper]) -> TfidfVectorizer:
    """scikit-learn's vectorizer over the shared tokenizer, as topics weigh the words: fitted on the
    fit set's papers, a title's words TITLE_WEIGHT times, the document-frequency window from 50 papers."""
    ordered = sorted(papers, key=lambda p: p.id)
    fit = fit_rows(ordered)
    large = len(fit) >= 50
    vectorizer = TfidfVectorizer(
        tokenizer=lambda text: [w for w in tokenize(text) if len(w) > 1],
        lowercase=False,
        token_pattern=None,
        stop_words="english",
        sublinear_tf=True,
        min_df=2 if large else 1,
        max_df=0.5 if large else 1.0,
        dtype=np.float64,
    )
    texts = [" . ".join([p.title] * TITLE_WEIGHT + [p.abstract]) for p in ordered]
    vectorizer.fit([texts[r] for r in fit])
    return vectorizer.transform(texts)


@pytest.mark.parametrize("size", [300, 60, 40])
def test_topic_vectors_are_the_vectorizer_over_the_shared_tokens(seed_papers, size):
    papers = [*seed_papers[:size], *ODD]
    ours = topic_tfidf(fit_text_model(papers))
    theirs = _reference(papers)
    assert ours.shape == theirs.shape
    assert np.array_equal(ours.indptr, theirs.indptr)
    assert np.array_equal(ours.indices, theirs.indices)
    assert np.allclose(ours.data, theirs.data, rtol=1e-12, atol=0)


def test_a_title_counts_twice_with_sublinear_tf():
    # One paper: every idf is ln(2/2) + 1 = 1. "lean" 2 + 1 times, "prover" twice, "proofs" once.
    paper = make_paper("Lean prover", "Lean proofs.")
    text = fit_text_model([paper])
    assert text.model.words == ["lean", "proofs", "prover"]
    assert text.model.df is not None and text.model.df.tolist() == [1, 1, 1]
    matrix = topic_tfidf(text)
    raw = np.array([1 + math.log(3), 1.0, 1 + math.log(2)])
    assert matrix.indices.tolist() == [0, 1, 2]
    assert np.allclose(matrix.data, raw / np.linalg.norm(raw), rtol=1e-15)
    plain = text.weights()  # title once
    raw = np.array([1 + math.log(2), 1.0, 1.0])
    assert plain is not None and np.allclose(plain.data, raw / np.linalg.norm(raw), rtol=1e-15)


def test_no_usable_words_gives_no_vectors():
    text = fit_text_model([make_paper("The a", "Of the and.")])
    assert text.model.words == []
    assert topic_tfidf(text) is None


def _same_text(a: TextModel, b: TextModel) -> None:
    assert a.ids == b.ids
    assert a.model.words == b.model.words
    assert a.model.fit_size == b.model.fit_size
    assert a.model.df is not None and b.model.df is not None
    assert np.array_equal(a.model.df, b.model.df)
    assert np.array_equal(a.model.idf, b.model.idf)
    ours, theirs = topic_tfidf(a), topic_tfidf(b)
    for x, y in ((ours.indptr, theirs.indptr), (ours.indices, theirs.indices), (ours.data, theirs.data)):
        assert np.array_equal(x, y)


def test_similarity_hands_on_the_model_fit_text_model_makes(seed_papers, tmp_path):
    papers = [*seed_papers, *ODD]
    made = fit_text_model(papers)
    similarity, text = find_similarity_and_text(papers)
    assert similarity == find_similarity(papers)
    _same_text(text, made)
    # With the similarity stage's cache: cold, then warm (tokens and the model from the cache),
    # then with papers added (new tokens after the cached ones).
    cache = tmp_path / "similarity"
    _same_text(find_similarity_and_text(papers, cache_dir=cache)[1], made)
    _same_text(find_similarity_and_text(papers, cache_dir=cache)[1], made)
    more = [*papers, make_paper("Zebra finches sing", "Birdsong learning in zebra finches.")]
    _same_text(find_similarity_and_text(more, cache_dir=cache)[1], fit_text_model(more))


def test_topics_with_the_handed_model_equal_topics_alone(seed_papers):
    papers = [*seed_papers[:200], *ODD]
    taxonomy = load_taxonomy(TAXONOMY_FILE)
    _, text = find_similarity_and_text(papers)
    assert assign_topics(papers, taxonomy, text=text) == assign_topics(papers, taxonomy)
    assert assign_topics(papers, None, text=text) == assign_topics(papers, None)
    assert discover.discover_topics(papers, text=text) == discover.discover_topics(papers)
    with pytest.raises(ValueError, match="other papers"):
        assign_topics(papers[:-1], taxonomy, text=text)
