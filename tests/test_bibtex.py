"""Tests for generator.website.bibtex: escaping untrusted text, keys and whole entries."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from generator.models import Appearance, Paper
from generator.text import content_hash
from generator.website import bibtex, bibtex_text
from generator.website.bibtex import bibtex_entry, bibtex_file, bibtex_key
from generator.website.bibtex_text import bibtex_escape


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


# The allow-lists, written out here so that the checker does not trust the module's own.
TEXT_WORDS = bibtex_text._word_set(
    """textbraceleft textbraceright textbackslash textasciicircum textasciitilde textless textgreater
    textbar o O ss ae AE oe OE aa AA l L i j u H r v d c k ensuremath relax"""
)
# Never allowed anywhere: what reads or writes files, defines, expands or changes catcodes.
DANGEROUS = bibtex_text._word_set(
    """input include InputIfFileExists openin openout read readline write immediate csname endcsname
    catcode def edef gdef xdef let futurelet newcommand renewcommand providecommand DeclareRobustCommand
    string expandafter noexpand scantokens everyeof lowercase uppercase special jobname detokenize
    unexpanded begingroup endgroup makeatletter usepackage RequirePackage directlua pdfprimitive
    tracingall errmessage message endinput openin@ bibdata bibstyle citation"""
)


def _safe_math(content: str) -> bool:
    """No raw comment/parameter/alignment characters, braces balanced, no dangling backslash,
    no `^^`, only allowed control words."""
    unescaped = re.sub(r"\\.", "", content)
    words = set(re.findall(r"\\([A-Za-z]+)", content))
    return (
        bool(content.strip())
        and "^^" not in content
        and not re.search(r"[%#&\\]", unescaped)
        and _balanced(content)
        and _balanced(re.sub(r"\\[{}]", "", content))
        and words <= bibtex_text._MATH_WORDS
        and not words & DANGEROUS
    )


def _check(text: str) -> None:
    _check_value(bibtex_escape(text), text)


def _check_value(escaped: str, text: str = "", name: bool = False) -> None:
    assert "^^" not in escaped, (text, escaped)
    assert _balanced(escaped), (text, escaped)
    assert _balanced(re.sub(r"\\[{}]", "", escaped)), (text, escaped)
    assert bibtex._safe_field(escaped), (text, escaped)
    outside, math = _split(escaped)
    for segment in outside:
        assert _only_safe_tokens(segment, name=name), (text, escaped, segment)
    for content in math:
        assert not name, (text, escaped)
        assert _safe_math(content), (text, escaped, content)


_SIMPLE_TOKEN = re.compile(r"[^{}\\%&_#$^~<>|]")
_SPECIAL_GROUP = re.compile(
    r"\{\\(?:text(?:braceleft|braceright|backslash|asciicircum|asciitilde|less|greater|bar)|[%&_#$])\}"
)
_ACCENT_GROUP = re.compile(
    r"\{\\(?:[`'^~=.\"]|[uHrvdck] ?)(?:[A-Za-z]|\\[ij]|\{.*\})\}|\{\\(?:o|O|ss|ae|AE|oe|OE|aa|AA|l|L|i)\}"
)
_ENSUREMATH_GROUP = re.compile(r"\{\\ensuremath\{(.*)\}\}")


def _only_safe_tokens(segment: str, name: bool = False) -> bool:
    """True when `segment` is a sequence of allowed tokens (nested accents included); each
    escape is a BibTeX special character `{\\...}`."""
    pos = 0
    while pos < len(segment):
        if segment.startswith("{\\", pos):
            # Special characters nest ({\'{\"u}}): find the matching brace, check its shape.
            depth, end = 0, pos
            for end in range(pos, len(segment)):
                depth += {"{": 1, "}": -1}.get(segment[end], 0)
                if depth == 0:
                    break
            group = segment[pos : end + 1]
            ensure = _ENSUREMATH_GROUP.fullmatch(group)
            if ensure:
                if not (name and _safe_math(ensure.group(1))):
                    return False
            elif not _SPECIAL_GROUP.fullmatch(group):
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
        ("Sets {a, b}", r"Sets {\textbraceleft}a, b{\textbraceright}"),
        ("100% & more", r"100{\%} {\&} more"),
        ("snake_case #1", r"snake{\_}case {\#}1"),
        ("costs $5", r"costs {\$}5"),
        ("a ^ b ~ c", r"a {\textasciicircum} b {\textasciitilde} c"),
        ("back\\slash", r"back{\textbackslash}slash"),
        ("lone \\", r"lone {\textbackslash}"),
        ("Café", r"Caf{\'e}"),
        ("Müller über", r"M{\"u}ller {\"u}ber"),
        ("Niño", r"Ni{\~n}o"),
        ("Ça ïs", r"{\c C}a {\"\i}s"),
        ("Ørsted, Straße", r"{\O}rsted, Stra{\ss}e"),
        ("Cafe\u0301", r"Caf{\'e}"),  # decomposed é (e + combining acute)
        ("Ελληνικά 中文", r"E$\lambda\lambda\eta\nu\iota\kappa\alpha$ Zhong Wen"),  # CJK transliterated
        ("α-divergence, β-VAE", r"$\alpha$-divergence, $\beta$-VAE"),
        ("ΑΒΓ µ ≤ x × y", r"AB$\Gamma$ $\mu$ $\le$ x $\times$ y"),
        ("αx − 1", r"$\alpha$x $-$ 1"),
        ("A – B — “C” …", "A -- B --- ``C'' ..."),
        ("x <y> |z|", r"x {\textless}y{\textgreater} {\textbar}z{\textbar}"),
        ("^^5c and ^^7b", r"{\textasciicircum}{\textasciicircum}5c and {\textasciicircum}{\textasciicircum}7b"),
        ("ctl\x00\x07 and\n\n space", "ctl and space"),
        # LaTeX's text escapes are the characters they stand for; `\$` never delimits math
        (r"98.5\% of R\&D, top\_k, \#1", r"98.5{\%} of R{\&}D, top{\_}k, {\#}1"),
        (r"\$5 or \$x\$ and $50\%$", r"{\$}5 or {\$}x{\$} and $50\%$"),
        ("emoji 💡 © ™ 注意", "emoji (c) tm Zhu Yi"),  # plain ASCII: transliterated or left out
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
        ("only $5", r"only {\$}5"),
        (r"$\input{/etc/passwd}$", r"{\$}{\textbackslash}input{\textbraceleft}/etc/passwd{\textbraceright}{\$}"),
        (r"$x{$ y", r"{\$}x{\textbraceleft}{\$} y"),
        (r"$\}{$", r"{\$}{\textbackslash}{\textbraceright}{\textbraceleft}{\$}"),
        ("$50% off$", r"{\$}50{\%} off{\$}"),
        (r"$\{x$ y", r"{\$}{\textbackslash}{\textbraceleft}x{\$} y"),  # LaTeX-balanced, not BibTeX-balanced
        ("$ $", r"{\$} {\$}"),
        # TeX reads ^^5c as a backslash and ^^7b as a brace: such math is text.
        (
            r"$^^5cinput{/etc/hostname}$",
            r"{\$}{\textasciicircum}{\textasciicircum}5cinput{\textbraceleft}/etc/hostname{\textbraceright}{\$}",
        ),
        (
            r"$\mathrm{^^7b}$",
            r"{\$}{\textbackslash}mathrm{\textbraceleft}{\textasciicircum}{\textasciicircum}7b{\textbraceright}{\$}",
        ),
        ("$x^^$", r"{\$}x{\textasciicircum}{\textasciicircum}{\$}"),
        (r"$\catcode`\^=7$", r"{\$}{\textbackslash}catcode`{\textbackslash}{\textasciicircum}=7{\$}"),
        (r"$\csname input\endcsname$", r"{\$}{\textbackslash}csname input{\textbackslash}endcsname{\$}"),
        (r"$\def\x{y}$", r"{\$}{\textbackslash}def{\textbackslash}x{\textbraceleft}y{\textbraceright}{\$}"),
        # Malformed math LaTeX would stop at: a superscript without argument, a lone \left.
        ("$x^$", r"{\$}x{\textasciicircum}{\$}"),
        ("$x_ ^2$", r"{\$}x{\_} {\textasciicircum}2{\$}"),
        (r"$\left( x$", r"{\$}{\textbackslash}left( x{\$}"),
        (r"$\left( x \right)$", r"$\left( x \right)$"),
        # Greek letters and symbols inside math become their commands; other non-ASCII is text.
        (r"$α_1 ≤ β$", r"$\alpha_1 \le \beta$"),
        ("$αx$", r"$\alpha x$"),
        ("$Α$", r"$\mathrm{A}$"),
        ("$é$", r"{\$}{\'e}{\$}"),
    ],
)
def test_math(text: str, expected: str) -> None:
    assert bibtex_escape(text) == expected


def test_checker_rejects_unescaped_text() -> None:
    # The property tests below are only as good as their checkers.
    unsafe = ["{", "%", "a_b", "\\x", "{\\input x}", "^", r"\textbraceleft{}", r"{\ensuremath{\input}}"]
    assert not any(_only_safe_tokens(s, name=True) for s in unsafe)
    assert not _only_safe_tokens(r"{\ensuremath{\alpha}}")  # only names use \ensuremath
    assert _only_safe_tokens(r"{\'{\"u}} {\textbraceleft} {\c c} {\'\i} {\%}")
    assert _only_safe_tokens(r"{\ensuremath{\alpha}}x", name=True)
    assert not any(_safe_math(s) for s in ["^^5c", r"\input", "x}{", r"\{", "a%b", r"\csname x\endcsname"])


@pytest.mark.parametrize(
    "value",
    [
        "^^5cinput",
        r"$^^5c$",
        r"\input{x}",
        r"$\input{x}$",
        r"\csname",
        r"{\catcode}",
        r"\def",
        r"\string",
        r"$\expandafter$",
        "{",
        "}{",
        r"$\{$",  # LaTeX-balanced, not BibTeX-balanced
        r"\textbraceleft{",
        "a%b",
        "a#b",
        "a&b",
        "a_b",
        "a^b",
        "a~b",
        "$x",
        "$a%b$",
        "\\",
        "x\\",
        r"{\ensuremath\input}",
        r"{\ensuremath{\input}}",
        r"{\ensuremath{$x$}}",
        r"$\ensuremath{x}$",
        "a\nb",
        "a\tb",
        "a\x00b",
        r"\alpha",  # a math word outside math
        r"$\textbraceleft$",  # a text word inside math
    ],
)
def test_safe_field_rejects(value: str) -> None:
    assert not bibtex._safe_field(value)


def test_allow_lists_hold_nothing_dangerous() -> None:
    assert bibtex_text._TEXT_WORDS == TEXT_WORDS
    assert not (bibtex_text._TEXT_WORDS | bibtex_text._MATH_WORDS) & DANGEROUS
    assert not bibtex_text._TEXT_SYMBOLS & set("\\@{}") and not bibtex_text._MATH_SYMBOLS & set("\\@^")
    written = {word for source in bibtex_text._MATH_CHARS.values() for word in re.findall(r"\\([A-Za-z]+)", source)}
    assert written <= bibtex_text._MATH_WORDS


@given(st.text())
def test_escape_property_any_text(text: str) -> None:
    _check(text)


@given(st.text(alphabet="{}%&_$#^~\\ab $éü\x00", max_size=40))
def test_escape_property_special_characters(text: str) -> None:
    _check(text)


@given(st.lists(st.sampled_from(["$", "\\alpha", "\\input", "{", "}", "\\{", "%", "x", " ", "^", "_"])).map("".join))
def test_escape_property_math_like(text: str) -> None:
    _check(text)


_TEX_TRICKS = [
    *"$${}^^^_ x5c7bα≤é中~#&%\\@`'\"",
    "^^5c",
    "^^7b",
    "^^M",
    "\\input",
    "\\csname",
    "\\endcsname",
    "\\catcode",
    "\\def",
    "\\string",
    "\\expandafter",
    "\\ensuremath",
    "\\mathrm",
    "\\text",
    "\\left",
    "\\right",
    "\\frac",
    "\\^",
    "{\\",
    "\\{",
    "\\}",
    "\x0b",
    "\x00",
]


@given(st.lists(st.sampled_from(_TEX_TRICKS), max_size=30).map("".join))
def test_escape_property_tex_tricks(text: str) -> None:
    """`^^` notation, catcode and expansion tricks, in math or not: never through."""
    _check(text)
    author = bibtex._author(text)
    _check_value(_unwrap(author), text, name=True)


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_fast_path_maps_each_character(text: str) -> None:
    """ASCII text is escaped in one pass; the result is each character's own escape, in order."""

    assert bibtex_text._escape_text(text) == "".join(bibtex_text._ASCII_SPECIAL.get(c, c) for c in text)


def make_paper(
    pid: str = "p1",
    title: str = "Attention Is All You Need",
    dates: tuple[dt.date | None, ...] = (dt.date(2024, 6, 28),),
    arxiv_id: str | None = None,
    authors: tuple[str, ...] = (),
) -> Paper:
    appearances = tuple(Appearance(f"s{i}.txt", date, i + 1, i + 1) for i, date in enumerate(dates))
    return Paper(id=pid, title=title, abstract="", appearances=appearances, arxiv_id=arxiv_id, authors=authors)


def test_key_is_readable_ascii_and_skips_stopwords() -> None:
    paper = make_paper(title="On the Über-Efficient Transformers", arxiv_id="2406.20015")
    assert bibtex_key(paper) == "uber2024"
    assert bibtex_key(make_paper(title="On the Über-Efficient", authors=("José Pérez",))) == "perez2024uber"
    plain = make_paper(pid="some-id", title="The {Strange} 2 Cases", dates=(None,))
    assert bibtex_key(plain) == "strange"
    assert bibtex_key(make_paper(title="Ørsted")) == "orsted2024"
    assert bibtex_key(make_paper(title="中文")) == "zhong2024"  # transliterated
    assert bibtex_key(make_paper(title="💡")) == "paper2024"


def test_entry_fields() -> None:
    paper = make_paper(
        title="Deep Learning for 100% of $\\mathcal{X}$ & Co",
        dates=(dt.date(2023, 12, 30), dt.date(2024, 1, 2)),
        arxiv_id="2312.00001",
        authors=("José Pérez", "Ann Lee", "Smith and Sons"),
    )
    entry = bibtex_entry(paper, url="https://example.org/papers/p1/")
    assert entry == (
        "@misc{perez2023deep,\n"
        "  title         = {{Deep Learning for 100{\\%} of $\\mathcal{X}$ {\\&} Co}},\n"
        "  author        = {Jos{\\'e} P{\\'e}rez and Ann Lee and {\\relax Smith and Sons}},\n"
        "  year          = {2023},\n"
        "  eprint        = {2312.00001},\n"
        "  archivePrefix = {arXiv},\n"
        "  note          = {arXiv:2312.00001},\n"
        "  url           = {https://example.org/papers/p1/},\n"
        "}\n"
    )
    assert _balanced(entry)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Ann Lee", "Ann Lee"),
        ("Lee, Ann", "Lee, Ann"),  # BibTeX's "Last, First"
        ("Smith, John, Jr., III", r"{\relax Smith, John, Jr., III}"),  # three commas would stop BibTeX
        ("Smith, Jr., John", r"{\relax Smith, Jr., John}"),
        ("John Smith, Jr.", r"{\relax John Smith, Jr.}"),  # not "Last = John Smith, First = Jr."
        ("Smith,", r"{\relax Smith,}"),
        (", John", r"{\relax , John}"),
        (",", r"{\relax ,}"),
        ("A and B", r"{\relax A and B}"),
        ("and", r"{\relax and}"),
        ("AND Co", r"{\relax AND Co}"),
        ("Andrew Anderson", "Andrew Anderson"),
        ("John (Jack) Smith", r"{\relax John (Jack) Smith}"),  # natbib reads ( ) in labels
        ("A] B", r"{\relax A] B}"),  # \bibitem[...] labels end at ]
        ("Pérez, José, Jr.", r"{\relax P{\'e}rez, Jos{\'e}, Jr.}"),  # accents stay whole in alpha labels
        ("{", r"{\textbraceleft}"),
        ("x}", r"x{\textbraceright}"),
        ("ab_c", r"ab{\_}c"),
        ("^^5cinput", r"{\textasciicircum}{\textasciicircum}5cinput"),
        (r"$\alpha$ Smith", r"{\$}{\textbackslash}alpha{\$} Smith"),  # names never hold math
        (
            "Γιώργος Αβ",
            r"{\ensuremath{\Gamma}}{\ensuremath{\iota}}{\ensuremath{\omega}}{\ensuremath{\rho}}"
            r"{\ensuremath{\gamma}}o{\ensuremath{\varsigma}} A{\ensuremath{\beta}}",
        ),
        ("José Pérez", r"Jos{\'e} P{\'e}rez"),
    ],
)
def test_author_names(name: str, expected: str) -> None:
    assert bibtex._author(name) == expected


def _bibtex_names(field: str) -> list[str]:
    """The names BibTeX reads from an author field: split at ` and ` at brace depth 0."""
    names, depth, start = [], 0, 0
    for i, char in enumerate(field):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0 and field[i : i + 5].lower() == " and " and i + 5 <= len(field):
            names.append(field[start:i])
            start = i + 5
    names.append(field[start:])
    return names


def _depth0(name: str) -> str:
    """`name` with every brace group made one letter, `x` (as BibTeX sees it when it splits names:
    a group is part of the word it stands in, so `an{\\$}D` is not the word `and`)."""
    previous = None
    while previous != name:
        previous, name = name, re.sub(r"\{[^{}]*\}", "x", name)
    return name


_NAME_TEXT = st.lists(st.sampled_from([*"ab, AND and{}()[]$\\^%_é α", "Jr.", " and ", "III"])).map("".join)


def _unwrap(author: str) -> str:
    """The escaped name inside the braces `_author` wraps a whole name in."""
    if author.startswith("{\\relax ") and _balanced(author[8:-1]):
        return author[8:-1]
    return author


@given(st.lists(_NAME_TEXT, max_size=6))
@example(names=["an$D"])  # a brace group inside a word: not the separator `and`
def test_author_field_property(names: list[str]) -> None:
    """Each name stays one BibTeX name with at most one comma, a non-empty part each side."""
    authors = [bibtex._author(name) for name in names if bibtex_text._clean(name)]
    field = " and ".join(authors)
    assert len(_bibtex_names(field)) == len(authors) or not authors
    for author in authors:
        _check_value(_unwrap(author), name=True)
        top = _depth0(author)
        assert top.count(",") <= 1 and not re.search(r"(^|\s)and(\s|$)", top, re.IGNORECASE)
        assert not set(top) & set("()[]")
        if "," in top:
            assert all(part.strip() for part in author.split(","))


@given(
    st.text(),
    st.lists(st.text(), max_size=4),
    st.text(alphabet="0123456789./-abc{}\\ ", max_size=12),
    st.text(alphabet=st.characters(max_codepoint=0x3FF), max_size=20),
)
def test_entry_property(title: str, authors: list[str], arxiv_id: str, url: str) -> None:
    """Whatever the paper, every field passes the checks and the entry is balanced, has no
    `^^` and no control word outside the allow-lists."""
    paper = make_paper(title=title, authors=tuple(authors), arxiv_id=arxiv_id or None)
    entry = bibtex_entry(paper, url=url)
    assert "^^" not in entry and _balanced(entry)
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*", bibtex_key(paper))
    fields = re.findall(r"^  (\w+)\s+= \{(.*)\},$", entry, re.MULTILINE)
    assert len(fields) == entry.count("\n") - 2
    for name, value in fields:
        if name == "url":
            assert set(value) <= _URL_CHARS
        elif name == "author":
            for author in _bibtex_names(value):
                _check_value(_unwrap(author), name=True)
        else:
            _check_value(value[1:-1] if name == "title" else value)
    words = set(re.findall(r"\\([A-Za-z]+)", entry))
    assert words <= TEXT_WORDS | bibtex_text._MATH_WORDS and not words & DANGEROUS


def test_unsafe_field_falls_back_to_plain_ascii(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """If escaping ever let something through (a bug), the field is written as plain ASCII."""
    monkeypatch.setattr(bibtex, "bibtex_escape", lambda text: r"\input{/etc/hostname}")
    monkeypatch.setattr(bibtex, "_escape_text", lambda text, name=False: r"^^5c")
    paper = make_paper(title="Café {x} ^^5c", authors=("Jo Müller, Jr.",), arxiv_id="2401.00001")
    entry = bibtex_entry(paper, url="https://x.org/a")
    assert "title         = {{Cafe x 5c}}," in entry
    assert "author        = {{\\relax Jo Muller, Jr.}}," in entry
    assert "input" not in entry and "^" not in entry
    assert sum("could not be escaped safely" in r.getMessage() for r in caplog.records) == 2


def test_invalid_key_is_refused() -> None:
    with pytest.raises(ValueError, match="BibTeX key"):
        bibtex_entry(make_paper(), url="", key="a}b")
    with pytest.raises(ValueError, match="BibTeX key"):
        bibtex_entry(make_paper(), url="", key="a b")


def test_entry_without_date_arxiv_or_authors() -> None:
    entry = bibtex_entry(make_paper(dates=(None,), arxiv_id="bad id}"), url="https://x.org/a b{}")
    assert "eprint" not in entry and "author" not in entry
    assert "  year  = {n.d.},\n" in entry  # "no date": styles that want a year get one
    assert "  key   = {Attention Is All You},\n" in entry  # what BibTeX sorts an entry without authors by
    assert "url   = {https://x.org/a%20b%7B%7D}" in entry
    hostile = bibtex_entry(make_paper(), url='https://x.org/^^5c\\input{a}"é|`')
    assert "url   = {https://x.org/%5E%5E5c%5Cinput%7Ba%7D%22%C3%A9%7C%60}" in hostile
    assert _balanced(entry)


def test_file_sorted_unique_keys_and_deterministic() -> None:
    papers = [
        make_paper(pid="b", arxiv_id="2401.00001"),
        make_paper(pid="a", arxiv_id="2401.00001"),
        make_paper(pid="c", title="Other"),
    ]
    text = bibtex_file(papers, lambda p: f"https://x.org/{p.path}")
    keys = re.findall(r"^@misc\{([^,]+),", text, re.MULTILINE)
    # Equal keys: the paper seen first (same day: the smaller id) keeps it, the other gets a hash of its id.
    assert keys == ["attention2024", "attention2024-" + content_hash("b", length=4), "other2024"]
    assert len(set(keys)) == 3
    assert re.findall(r"url\s+= \{https://x.org/papers/(\w)/\}", text) == ["a", "b", "c"]
    assert bibtex_file(list(reversed(papers)), lambda p: f"https://x.org/{p.path}") == text
    assert _balanced(text)


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_words_fast_path_equals_folding(text: str) -> None:
    """ASCII titles skip folding and decomposition: the words are those the full path finds."""
    import unicodedata

    from generator.website import bibtex, bibtex_text

    folded = unicodedata.normalize("NFKD", "".join(bibtex_text._FOLD.get(c, c) for c in text))
    assert bibtex._ascii_words(text) == bibtex._WORD.findall(folded.encode("ascii", "ignore").decode("ascii"))


_URL_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%")


@given(st.text(alphabet=st.sampled_from(list('ab:/?{}\\ \t\n\r"%é^|<>`\x00'))))
def test_url_field_encodes_each_breaking_character(text: str) -> None:
    url = bibtex_text._CONTROL.sub("", text).strip()
    expected = "".join(c if c in _URL_CHARS else "".join(f"%{b:02X}" for b in c.encode()) for c in url)
    assert bibtex._url_field(text) == expected
    assert bibtex._URL_SAFE.fullmatch(expected)
