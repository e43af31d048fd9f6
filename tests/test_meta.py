"""Tests for generator.website.meta: page descriptions from abstracts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from generator.website.meta import ELLIPSIS, first_sentence


@pytest.mark.parametrize(
    ("abstract", "expected"),
    [
        ("We propose a model. It works well.", "We propose a model."),
        ("Does it scale? We find it does.", "Does it scale?"),
        ("It works! Really.", "It works!"),
        ("Methods, e.g. transformers, fail. We fix them.", "Methods, e.g. transformers, fail."),
        ("Methods (e.g. Transformers) fail. We fix them.", "Methods (e.g. Transformers) fail."),
        ("A task, i.e. Translation, is hard. We fix it.", "A task, i.e. Translation, is hard."),
        ("As Smith et al. (2020) show, it fails. We fix it.", "As Smith et al. (2020) show, it fails."),
        ("Smith et al. Proposed a thing. Ok.", "Smith et al. Proposed a thing."),
        ("Prior work fails, see Smith et al. We fix it.", "Prior work fails, see Smith et al."),
        ("Images, text, etc. We handle all.", "Images, text, etc."),
        ("Results in Fig. 3 are good. More.", "Results in Fig. 3 are good."),
        ("Accuracy rose 3.5 points. More.", "Accuracy rose 3.5 points."),
        ("J. R. R. Tolkien wrote books. More.", "J. R. R. Tolkien wrote books."),
        ("It works for set Z. We also try Y.", "It works for set Z."),
        ('He said "stop." Then left.', 'He said "stop."'),
        ("No full stop at the end", "No full stop at the end"),
        ("  Spaces\n\tand\x00 controls.  Next.", "Spaces and controls."),
        ("", ""),
        ("   ", ""),
    ],
)
def test_first_sentence(abstract: str, expected: str) -> None:
    assert first_sentence(abstract) == expected


def test_long_sentence_is_cut_at_a_word_boundary() -> None:
    abstract = "We study " + "very " * 60 + "long sentences. Next one."
    got = first_sentence(abstract, max_chars=50)
    assert got.endswith(ELLIPSIS)
    assert len(got) <= 50
    assert got == "We study very very very very very very very very…"


def test_cut_drops_trailing_punctuation_and_fits_exactly() -> None:
    assert first_sentence("alpha beta, gamma delta", max_chars=12) == "alpha beta…"
    assert first_sentence("abcd efgh ijkl", max_chars=10) == "abcd efgh…"
    assert first_sentence("abcd efgh", max_chars=9) == "abcd efgh"


def test_one_long_word_is_cut_hard() -> None:
    assert first_sentence("x" * 300, max_chars=20) == "x" * 19 + ELLIPSIS


@given(st.text(), st.integers(min_value=1, max_value=300))
def test_never_longer_than_max_and_no_controls(abstract: str, max_chars: int) -> None:
    got = first_sentence(abstract, max_chars)
    assert len(got) <= max_chars
    assert got == got.strip()
    assert not any(ord(c) < 32 for c in got)
