"""Tests for generator.bibtex: escaping untrusted text, keys and whole entries."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from generator.bibtex import bibtex_entry, bibtex_escape, bibtex_file, bibtex_key
from generator.models import Appearance, Paper


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def _split(escaped: str) -> tuple[list[str], list[str]]:
    """(text segments, math contents) of escaped text; an escaped `\\$` does not open math."""
    text: list[str] = []
    math: list[str] = []
    current: list[str] = []
    i, in_math = 0, False
    while i < len(escaped):
        if escaped.startswith("\\$", i) and not in_math:
            current.append("\\$")
            i += 2
            continue
        if escaped[i] == "$":
            (math if in_math else text).append("".join(current))
            current = []
            in_math = not in_math
        else:
            current.append(escaped[i])
        i += 1
    assert not in_math, f"unclosed math in {escaped!r}"
    text.append("".join(current))
    return text, math


def _safe_math(content: str) -> bool:
    """No raw comment/parameter/alignment characters, braces balanced, no dangling backslash."""
    unescaped = re.sub(r"\\.", "", content)
    return bool(content.strip()) and not re.search(r"[%#&\\]", unescaped) and _balanced(content)


def _check(text: str) -> None:
    escaped = bibtex_escape(text)
    assert _balanced(escaped), (text, escaped)
    outside, math = _split(escaped)
    for segment in outside:
        assert _only_safe_tokens(segment), (text, escaped, segment)
    for content in math:
        assert _safe_math(content), (text, escaped, content)


_SIMPLE_TOKEN = re.compile(
    r"\\text(?:braceleft|braceright|backslash|asciicircum|asciitilde|less|greater|bar)\{\}"
    r"|\\[%&_#$]|[^{}\\%&_#$^~<>|]"
)
_ACCENT_GROUP = re.compile(
    r"\{\\(?:[`'^~=.\"]|[uHrvdck] ?)(?:[A-Za-z]|\\[ij]|\{.*\})\}|\{\\(?:o|O|ss|ae|AE|oe|OE|aa|AA|l|L|i)\}"
)


def _only_safe_tokens(segment: str) -> bool:
    """True when `segment` is a sequence of allowed tokens (nested accents included)."""
    pos = 0
    while pos < len(segment):
        if segment.startswith("{\\", pos):
            # Accent macros nest ({\'{\"u}}): find the matching brace, check its shape.
            depth, end = 0, pos
            for end in range(pos, len(segment)):
                depth += {"{": 1, "}": -1}.get(segment[end], 0)
                if depth == 0:
                    break
            group = segment[pos : end + 1]
            if not _ACCENT_GROUP.fullmatch(group):
                return False
            if group.count("{") > 1 and not _only_safe_tokens(group[group.index("{", 1) : -1]):
                return False
            pos = end + 1
            continue
        match = _SIMPLE_TOKEN.match(segment, pos)
        if not match:
            return False
        pos = match.end()
    return True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Plain title", "Plain title"),
        ("Sets {a, b}", r"Sets \textbraceleft{}a, b\textbraceright{}"),
        ("100% & more", r"100\% \& more"),
        ("snake_case #1", r"snake\_case \#1"),
        ("costs $5", r"costs \$5"),
        ("a ^ b ~ c", r"a \textasciicircum{} b \textasciitilde{} c"),
        ("back\\slash", r"back\textbackslash{}slash"),
        ("lone \\", r"lone \textbackslash{}"),
        ("Café", r"Caf{\'e}"),
        ("Müller über", r"M{\"u}ller {\"u}ber"),
        ("Niño", r"Ni{\~n}o"),
        ("Ça ïs", r"{\c C}a {\"\i}s"),
        ("Ørsted, Straße", r"{\O}rsted, Stra{\ss}e"),
        ("Cafe\u0301", r"Caf{\'e}"),  # decomposed é (e + combining acute)
        ("Ελληνικά 中文", "Ελληνικά 中文"),
        ("A – B — “C”", "A -- B --- ``C''"),
        ("x <y> |z|", r"x \textless{}y\textgreater{} \textbar{}z\textbar{}"),
        ("ctl\x00\x07 and\n\n space", "ctl and space"),
    ],
)
def test_escape_examples(text: str, expected: str) -> None:
    assert bibtex_escape(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"$\alpha$-divergence", r"$\alpha$-divergence"),
        (r"$O(n^{2})$ time", r"$O(n^{2})$ time"),
        (r"$$E = mc^2$$", r"$E = mc^2$"),
        (r"Sets $\{x\}$", r"Sets $\{x\}$"),
        ("$5 and $10", r"$5 and $10"),  # balanced and harmless: kept as math, as LaTeX would
        ("only $5", r"only \$5"),
        (r"$\input{/etc/passwd}$", r"\$\textbackslash{}input\textbraceleft{}/etc/passwd\textbraceright{}\$"),
        (r"$x{$ y", r"\$x\textbraceleft{}\$ y"),
        (r"$\}{$", r"\$\textbackslash{}\textbraceright{}\textbraceleft{}\$"),
        ("$50% off$", r"\$50\% off\$"),
        (r"$\{x$ y", r"\$\textbackslash{}\textbraceleft{}x\$ y"),  # LaTeX-balanced, not BibTeX-balanced
        ("$ $", r"\$ \$"),
    ],
)
def test_math(text: str, expected: str) -> None:
    assert bibtex_escape(text) == expected


def test_checker_rejects_unescaped_text() -> None:
    # The property test below is only as good as its checker.
    assert not any(_only_safe_tokens(s) for s in ["{", "%", "a_b", "\\x", "{\\input x}", "^"])
    assert _only_safe_tokens(r"{\'{\"u}} \textbraceleft{} {\c c} {\'\i}")


@given(st.text())
def test_escape_property_any_text(text: str) -> None:
    _check(text)


@given(st.text(alphabet="{}%&_$#^~\\ab $éü\x00", max_size=40))
def test_escape_property_special_characters(text: str) -> None:
    _check(text)


@given(st.lists(st.sampled_from(["$", "\\alpha", "\\input", "{", "}", "\\{", "%", "x", " ", "^", "_"])).map("".join))
def test_escape_property_math_like(text: str) -> None:
    _check(text)


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_fast_path_maps_each_character(text: str) -> None:
    """ASCII text is escaped in one pass; the result is each character's own escape, in order."""
    from generator import bibtex

    assert bibtex._escape_text(text) == "".join(bibtex._ASCII_SPECIAL.get(c, c) for c in text)


def make_paper(
    pid: str = "p1",
    title: str = "Attention Is All You Need",
    dates: tuple[dt.date | None, ...] = (dt.date(2024, 6, 28),),
    arxiv_id: str | None = None,
    authors: tuple[str, ...] = (),
) -> Paper:
    appearances = tuple(Appearance(f"s{i}.txt", date, i + 1, i + 1) for i, date in enumerate(dates))
    return Paper(id=pid, title=title, abstract="", appearances=appearances, arxiv_id=arxiv_id, authors=authors)


def test_key_is_stable_ascii_and_skips_stopwords() -> None:
    paper = make_paper(title="On the Über-Efficient Transformers", arxiv_id="2406.20015")
    assert bibtex_key(paper) == "uber2024-2406.20015"
    plain = make_paper(pid="some-id", title="The {Strange} 2 Cases", dates=(None,))
    key = bibtex_key(plain)
    assert re.fullmatch(r"strange-[0-9a-f]{6}", key)
    assert bibtex_key(plain) == key
    assert bibtex_key(make_paper(title="Ørsted")).startswith("orsted2024-")
    assert bibtex_key(make_paper(title="中文")).startswith("paper2024-")


def test_entry_fields() -> None:
    paper = make_paper(
        title="Deep Learning for 100% of $\\mathcal{X}$ & Co",
        dates=(dt.date(2023, 12, 30), dt.date(2024, 1, 2)),
        arxiv_id="2312.00001",
        authors=("José Pérez", "Ann Lee", "Smith and Sons"),
    )
    entry = bibtex_entry(paper, url="https://example.org/papers/p1/")
    assert entry == (
        "@misc{deep2023-2312.00001,\n"
        "  title         = {{Deep Learning for 100\\% of $\\mathcal{X}$ \\& Co}},\n"
        "  author        = {Jos{\\'e} P{\\'e}rez and Ann Lee and {Smith and Sons}},\n"
        "  year          = {2023},\n"
        "  eprint        = {2312.00001},\n"
        "  archivePrefix = {arXiv},\n"
        "  note          = {arXiv:2312.00001},\n"
        "  url           = {https://example.org/papers/p1/},\n"
        "}\n"
    )
    assert _balanced(entry)


def test_entry_without_date_arxiv_or_authors() -> None:
    entry = bibtex_entry(make_paper(dates=(None,), arxiv_id="bad id}"), url="https://x.org/a b{}")
    assert "year" not in entry and "eprint" not in entry and "author" not in entry
    assert "url   = {https://x.org/a%20b%7B%7D}" in entry
    assert _balanced(entry)


def test_file_sorted_unique_keys_and_deterministic() -> None:
    papers = [
        make_paper(pid="b", arxiv_id="2401.00001"),
        make_paper(pid="a", arxiv_id="2401.00001"),
        make_paper(pid="c", title="Other"),
    ]
    text = bibtex_file(papers, lambda p: f"https://x.org/{p.path}")
    keys = re.findall(r"^@misc\{([^,]+),", text, re.MULTILINE)
    assert keys == ["attention2024-2401.00001", "attention2024-2401.00001a", "other2024-" + keys[2][10:]]
    assert len(set(keys)) == 3
    assert re.findall(r"url\s+= \{https://x.org/papers/(\w)/\}", text) == ["a", "b", "c"]
    assert bibtex_file(list(reversed(papers)), lambda p: f"https://x.org/{p.path}") == text
    assert _balanced(text)


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_words_fast_path_equals_folding(text: str) -> None:
    """ASCII titles skip folding and decomposition: the words are those the full path finds."""
    import unicodedata

    from generator import bibtex

    folded = unicodedata.normalize("NFKD", "".join(bibtex._FOLD.get(c, c) for c in text))
    assert bibtex._ascii_words(text) == bibtex._WORD.findall(folded.encode("ascii", "ignore").decode("ascii"))


@given(st.text(alphabet=st.sampled_from(list('ab:/?{}\\ \t\n\r"%é\x00'))))
def test_url_field_encodes_each_breaking_character(text: str) -> None:
    from generator import bibtex

    url = bibtex._CONTROL.sub("", text).strip()
    assert bibtex._url_field(text) == "".join(f"%{ord(c):02X}" if c in '{}\\ \t\n\r"' else c for c in url)
