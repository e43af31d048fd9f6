"""Untrusted text as BibTeX/LaTeX: plain ASCII, special characters as commands, math kept safe.

`bibtex_escape` turns a title or a name into what papers.bib may hold: BibTeX special characters
(`{\\'e}`, `{\\%}`), Greek and math symbols as math commands (`$\\varepsilon$`), `$...$` math
kept only when balanced and made of allow-listed commands (`_MATH_WORDS`, `_MATH_SYMBOLS`),
anything else transliterated or dropped. See `generator.website.bibtex` for the guarantees.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

from text_unidecode import unidecode

from generator.website.escaping import unescape_plain


def _word_set(text: str) -> frozenset[str]:
    """The whitespace-separated words of `text` (keeps long word lists readable)."""
    return frozenset(text.split())


_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ud800-\udfff]"
)


_SPACE = re.compile(r"\s+")


# Every escape holding a control sequence is a BibTeX special character `{\...}`.
_ASCII_SPECIAL = {
    "{": r"{\textbraceleft}",
    "}": r"{\textbraceright}",
    "\\": r"{\textbackslash}",
    "^": r"{\textasciicircum}",
    "~": r"{\textasciitilde}",
    "%": r"{\%}",
    "&": r"{\&}",
    "_": r"{\_}",
    "#": r"{\#}",
    "$": r"{\$}",
    "<": r"{\textless}",
    ">": r"{\textgreater}",
    "|": r"{\textbar}",
}


# Letters and punctuation with a LaTeX spelling that is not "base letter + accent".
_NON_ASCII_SPECIAL = {
    "ø": r"{\o}",
    "Ø": r"{\O}",
    "ß": r"{\ss}",
    "æ": r"{\ae}",
    "Æ": r"{\AE}",
    "œ": r"{\oe}",
    "Œ": r"{\OE}",
    "å": r"{\aa}",
    "Å": r"{\AA}",
    "ł": r"{\l}",
    "Ł": r"{\L}",
    "ı": r"{\i}",
    "–": "--",
    "—": "---",
    "‘": "`",
    "’": "'",
    "“": "``",
    "”": "''",
    "…": "...",
    "\u00a0": " ",
}


# For citation keys: letters that NFKD does not reduce to ASCII.
_FOLD = {
    "ø": "o",
    "Ø": "O",
    "ß": "ss",
    "æ": "ae",
    "Æ": "AE",
    "œ": "oe",
    "Œ": "OE",
    "ł": "l",
    "Ł": "L",
    "ı": "i",
}


# Combining mark -> accent command.
_ACCENTS = {
    "\u0300": "`",
    "\u0301": "'",
    "\u0302": "^",
    "\u0303": "~",
    "\u0304": "=",
    "\u0306": "u",
    "\u0307": ".",
    "\u0308": '"',
    "\u030a": "r",
    "\u030b": "H",
    "\u030c": "v",
    "\u0323": "d",
    "\u0327": "c",
    "\u0328": "k",
}


_ACCENTS_BELOW = {"d", "c", "k"}


# The allow-list outside math: what the escapes above write, and nothing else.
_TEXT_WORDS = _word_set(
    """
    textbraceleft textbraceright textbackslash textasciicircum textasciitilde textless textgreater
    textbar o O ss ae AE oe OE aa AA l L i j u H r v d c k ensuremath relax
    """
)


_TEXT_SYMBOLS = frozenset("%&_#$`'^~=.\"")


# Control words allowed inside kept math: ordinary symbols and font/structure commands only.
_MATH_WORDS = _word_set(
    """
    alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi
    pi varpi rho varrho sigma varsigma tau upsilon phi varphi chi psi omega
    Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega
    mathcal mathbb mathbf mathrm mathit mathsf mathtt mathfrak boldsymbol text textrm textit textbf
    operatorname frac dfrac tfrac sqrt sum prod int oint lim limsup liminf min max sup inf arg argmin
    argmax log ln exp sin cos tan det dim ker Pr deg
    le leq ge geq neq ne approx sim simeq cong equiv propto ll gg prec succ preceq succeq
    in notin ni subset subseteq supset supseteq cup cap setminus emptyset varnothing forall exists
    times cdot cdots ldots dots vdots ddots pm mp div ast star circ bullet oplus otimes odot
    to rightarrow leftarrow Rightarrow Leftarrow leftrightarrow Leftrightarrow mapsto implies iff
    infty partial nabla ell hbar prime top bot perp parallel mid angle triangle square
    wedge vee neg lnot land lor
    hat tilde bar vec dot ddot widehat widetilde overline underline overrightarrow
    left right big Big bigg Bigg langle rangle lceil rceil lfloor rfloor lvert rvert lVert rVert
    quad qquad colon vert Vert backslash
    """
)


_MATH_SYMBOLS = frozenset(r"{}_%&#$,;:! |")


_MATH_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|.", re.DOTALL)


def _commands(chars: str, words: str) -> dict[str, str]:
    """`{char: "\\word"}`, pairing each character of `chars` with a word of `words`."""
    return {char: "\\" + word for char, word in zip(chars, words.split(), strict=True)}


# Greek capitals that look Latin, and omicron: written as the Latin letter in text.
_GREEK_LATIN = dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΧο", "ABEZHIKMNOPTXo", strict=True))


# Characters written as math: the source of each inside `$...$` (commands from _MATH_WORDS).
_MATH_CHARS = {
    **_commands(
        "αβγδεϵζηθϑικλμµνξπϖρϱσςτυφϕχψωΓΔΘΛΞΠΣΥΦΨΩ",
        """
        alpha beta gamma delta varepsilon epsilon zeta eta theta vartheta iota kappa lambda mu mu
        nu xi pi varpi rho varrho sigma varsigma tau upsilon varphi phi chi psi omega
        Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega
        """,
    ),
    **{greek: (f"\\mathrm{{{latin}}}" if latin.isupper() else latin) for greek, latin in _GREEK_LATIN.items()},
    **_commands(
        "≤≥≠≈∼≃≅≡∝≪≫∈∉∋⊂⊆⊃⊇∪∩∖∅∀∃×·⋅∘±∓÷∗⊕⊗⊙→←⇒⇐↔⇔↦∞∂∇ℓℏ⊤⊥∥∣∧∨¬⟨⟩⌊⌋⌈⌉∑∏∫∮⋯⋮⋱",
        """
        le ge ne approx sim simeq cong equiv propto ll gg in notin ni subset subseteq supset
        supseteq cup cap setminus emptyset forall exists times cdot cdot circ pm mp div ast oplus
        otimes odot to leftarrow Rightarrow Leftarrow leftrightarrow Leftrightarrow mapsto infty
        partial nabla ell hbar top perp parallel mid wedge vee neg langle rangle lfloor rfloor
        lceil rceil sum prod int oint cdots vdots ddots
        """,
    ),
    "\u2212": "-",  # minus sign
}


def _with_diacritics(table: dict[str, str]) -> dict[str, str]:
    """`table` plus the Greek letters with tonos, dialytika, ... mapped like their base letter."""
    out = dict(table)
    for code in [*range(0x370, 0x400), *range(0x1F00, 0x2000)]:
        char = chr(code)
        base = unicodedata.normalize("NFD", char)[0]
        if char not in out and base != char and base in table:
            out[char] = table[base]
    return out


_GREEK_LATIN = _with_diacritics(_GREEK_LATIN)


_MATH_CHARS = _with_diacritics(_MATH_CHARS)


_ENDS_IN_WORD = re.compile(r"\\[A-Za-z]+\Z")


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub("", text)
    return _SPACE.sub(" ", text).strip()


def _accented(char: str) -> str | None:
    """`{\\'e}` for `é`, or None when `char` is not an ASCII letter with known accents."""
    decomposed = unicodedata.normalize("NFD", char)
    base, marks = decomposed[0], decomposed[1:]
    if not (base.isascii() and base.isalpha()) or not marks:
        return None
    commands = [_ACCENTS.get(mark) for mark in marks]
    if any(command is None for command in commands):
        return None
    arg = base
    for command in commands:
        assert command is not None
        if arg in "ij" and command not in _ACCENTS_BELOW:
            arg = "\\" + arg  # dotless i and j under an accent above
        separator = " " if command.isalpha() and arg[0].isalpha() else ""
        arg = f"{{\\{command}{separator}{arg}}}"
    return arg


def _join_math(pieces: Iterable[str]) -> str:
    """Math source pieces joined, with a space where a control word meets a letter."""
    out: list[str] = []
    after_word = False
    for piece in pieces:
        if after_word and piece[:1].isascii() and piece[:1].isalpha():
            out.append(" ")
        out.append(piece)
        after_word = bool(_ENDS_IN_WORD.search(piece))
    return "".join(out)


_ASCII_TABLE = str.maketrans(_ASCII_SPECIAL)


_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


def _escape_text(text: str, *, name: bool = False) -> str:
    """`text` as BibTeX text (no math kept). Greek letters and math symbols become `$...$`
    runs, or one `{\\ensuremath{...}}` special character each in a name (`name=True`)."""
    if text.isascii():  # nearly every title and name: one C-level pass
        return text.translate(_ASCII_TABLE)
    parts: list[str] = []
    pos = 0
    for match in _NON_ASCII_RUN.finditer(text):
        parts.append(text[pos : match.start()].translate(_ASCII_TABLE))
        run: list[str] = []  # math sources of consecutive characters written as math
        for char in match.group():
            is_math, source = _non_ascii(char)
            if is_math and name:
                parts.append(f"{{\\ensuremath{{{source}}}}}")
            elif is_math:
                run.append(source)
            else:
                if run:
                    parts.append("$" + _join_math(run) + "$")
                    run = []
                parts.append(source)
        if run:
            parts.append("$" + _join_math(run) + "$")
        pos = match.end()
    parts.append(text[pos:].translate(_ASCII_TABLE))
    return "".join(parts)


@functools.lru_cache(maxsize=4096)
def _non_ascii(char: str) -> tuple[bool, str]:
    """(True, math source) for a character written as math, else (False, its BibTeX text)."""
    if char in _NON_ASCII_SPECIAL:
        return False, _NON_ASCII_SPECIAL[char]
    if char in _GREEK_LATIN:
        return False, _GREEK_LATIN[char]
    if char in _MATH_CHARS:
        return True, _MATH_CHARS[char]
    return False, _accented(char) or unidecode(char).translate(_ASCII_TABLE)


def _balanced(chars: Iterable[str]) -> bool:
    depth = 0
    for char in chars:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _math(content: str) -> str | None:
    """`content` as the inside of `$...$` when LaTeX can read it as it is (with Greek letters
    and math symbols as their commands), else None."""
    if not content.strip() or "$" in content or "^^" in content:
        return None
    tokens = _MATH_TOKEN.findall(content)
    out: list[str] = []
    left = 0
    for i, token in enumerate(tokens):
        if token in {"%", "#", "&", "\\"}:
            return None
        if token.startswith("\\"):
            name = token[1:]
            if name.isascii() and name.isalpha() and name not in _MATH_WORDS:
                return None
            if not (name.isascii() and name.isalpha()) and name not in _MATH_SYMBOLS:
                return None
            left += {"\\left": 1, "\\right": -1}.get(token, 0)
            if left < 0:
                return None
        elif token in {"^", "_"}:
            j = i + 1
            while j < len(tokens) and tokens[j] == " ":
                j += 1
            if j == len(tokens) or tokens[j] in {"^", "_", "}"}:  # no argument
                return None
        elif not token.isascii():
            mapped = _MATH_CHARS.get(token)
            if mapped is None:
                return None
            token = mapped
        out.append(token)
    # BibTeX counts every brace; LaTeX ignores \{ and \}: both must balance.
    if left or not (_balanced(content) and _balanced(tokens)):
        return None
    return _join_math(out)


def _split_math(text: str) -> list[tuple[bool, str]]:
    """(is_math, segment) pairs; math segments are the `$...$` contents that are safe, as
    `_math` writes them."""
    if "$" not in text:
        return [(False, text)] if text else []
    segments: list[tuple[bool, str]] = []
    plain: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "$" and not (i and text[i - 1] == "\\"):  # `\$` is a dollar sign, not math
            delimiter = "$$" if text.startswith("$$", i) else "$"
            end = text.find(delimiter, i + len(delimiter))
            if end >= 0:
                content = _math(text[i + len(delimiter) : end])
                after = end + len(delimiter)
                if content is None:
                    # Unsafe math stays a pair: both dollars are escaped with what is between.
                    plain.append(text[i:after])
                    i = after
                    continue
                if plain:
                    segments.append((False, "".join(plain)))
                    plain = []
                segments.append((True, content))
                i = after
                continue
        plain.append(text[i])
        i += 1
    if plain:
        segments.append((False, "".join(plain)))
    return segments


def bibtex_escape(text: str) -> str:
    """`text` (untrusted plain text) as a BibTeX field value, without the outer braces.

    Control characters are removed and whitespace collapsed; safe `$...$` math is kept,
    special characters are escaped and accented Latin letters become accent macros (see
    the module docstring). The result always passes `_safe_field`.
    """
    text = _clean(text)
    escaped = "".join(
        f"${segment}$" if is_math else _escape_text(unescape_plain(segment)) for is_math, segment in _split_math(text)
    )
    return escaped if text.isascii() else _SPACE.sub(" ", escaped).strip()  # transliterations end in spaces
