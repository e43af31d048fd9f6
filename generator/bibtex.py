"""BibTeX for the digest: safe escaping of untrusted text, citation keys and `@misc` entries.

Pure functions returning `str`; the writers write the files.

Choices:

- **Accents become BibTeX accent macros** (`é` -> `{\\'e}`, `ü` -> `{\\"u}`, `ñ` -> `{\\~n}`,
  `ç` -> `{\\c c}`, `í` -> `{\\'\\i}`, `ø` -> `{\\o}`, `ß` -> `{\\ss}`), so entries work with
  classic 8-bit BibTeX and sort and purify correctly. Any other non-ASCII character (Greek,
  CJK, symbols) is kept as UTF-8: the file is UTF-8, which biber and modern LaTeX read.
- **Special characters are escaped with commands that keep braces balanced.** BibTeX counts
  every brace, even `\\{`, so `{` and `}` become `\\textbraceleft{}` and `\\textbraceright{}`;
  `\\` becomes `\\textbackslash{}`, `^` and `~` `\\textasciicircum{}` and `\\textasciitilde{}`,
  `% & _ # $` get a backslash, and `< > |` (which print wrongly in OT1) become `\\textless{}`,
  `\\textgreater{}` and `\\textbar{}`.
- **Inline math `$...$` is kept** when it is safe: balanced braces (both as BibTeX and as
  LaTeX count them), no raw `% # &`, and only control sequences from a list of ordinary math
  commands (`\\alpha`, `\\mathcal`, `\\frac`, ...). Anything else, say `$\\input{x}$` or a
  lone `$`, is escaped as text. `$$...$$` is kept as inline math.

Whatever the input, the result has balanced braces and no unescaped special character
outside math.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Iterable

from generator.models import Paper
from generator.text import content_hash

log = logging.getLogger(__name__)


def _word_set(text: str) -> frozenset[str]:
    """The whitespace-separated words of `text` (keeps long word lists readable)."""
    return frozenset(text.split())


_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ud800-\udfff]"
)
_SPACE = re.compile(r"\s+")

_ASCII_SPECIAL = {
    "{": r"\textbraceleft{}",
    "}": r"\textbraceright{}",
    "\\": r"\textbackslash{}",
    "^": r"\textasciicircum{}",
    "~": r"\textasciitilde{}",
    "%": r"\%",
    "&": r"\&",
    "_": r"\_",
    "#": r"\#",
    "$": r"\$",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
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

_ARXIV_ID = re.compile(r"[A-Za-z0-9.\-/]+")
_WORD = re.compile(r"[A-Za-z0-9]+")
_STOPWORDS = _word_set(
    """
    a an the on of in for to and or with from by at as is are be via into onto about over under
    towards toward beyond between using through what why how when where do does can we our
    """
)


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


_ASCII_TABLE = str.maketrans(_ASCII_SPECIAL)


def _escape_text(text: str) -> str:
    if text.isascii():  # nearly every title and name: one C-level pass
        return text.translate(_ASCII_TABLE)
    parts = []
    for char in text:
        if char.isascii():
            parts.append(_ASCII_SPECIAL.get(char, char))
        elif char in _NON_ASCII_SPECIAL:
            parts.append(_NON_ASCII_SPECIAL[char])
        else:
            parts.append(_accented(char) or char)
    return "".join(parts)


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


def _safe_math(content: str) -> bool:
    """True when `$content$` can be passed to LaTeX as it is."""
    if not content.strip() or "$" in content:
        return False
    tokens = _MATH_TOKEN.findall(content)
    for token in tokens:
        if token in {"%", "#", "&", "\\"}:
            return False
        if token.startswith("\\"):
            name = token[1:]
            if name.isalpha() and name not in _MATH_WORDS:
                return False
            if not name.isalpha() and name not in _MATH_SYMBOLS:
                return False
    # BibTeX counts every brace; LaTeX ignores \{ and \}: both must balance.
    return _balanced(content) and _balanced(tokens)


def _split_math(text: str) -> list[tuple[bool, str]]:
    """(is_math, segment) pairs; math segments are the `$...$` contents that are safe."""
    if "$" not in text:
        return [(False, text)] if text else []
    segments: list[tuple[bool, str]] = []
    plain: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "$":
            delimiter = "$$" if text.startswith("$$", i) else "$"
            end = text.find(delimiter, i + len(delimiter))
            if end >= 0:
                content = text[i + len(delimiter) : end]
                after = end + len(delimiter)
                if not _safe_math(content):
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
    the module docstring). The result always has balanced braces.
    """
    return "".join(
        f"${segment}$" if is_math else _escape_text(segment) for is_math, segment in _split_math(_clean(text))
    )


def _ascii_words(text: str) -> list[str]:
    if text.isascii():  # folding and decomposing change nothing
        return _WORD.findall(text)
    folded = unicodedata.normalize("NFKD", "".join(_FOLD.get(c, c) for c in text))
    return _WORD.findall(folded.encode("ascii", "ignore").decode("ascii"))


def bibtex_key(paper: Paper) -> str:
    """A stable ASCII citation key: first significant title word, year and a short id.

    For example `attention2024-2406.20015` (arXiv papers) or `attention2024-3f9a1c` (the
    first 6 hex digits of a hash of the paper id); the year is left out for undated papers.
    """
    words = [word.lower() for word in _ascii_words(paper.title)]
    significant = [word for word in words if word not in _STOPWORDS and not word.isdigit()]
    word = (significant or words or ["paper"])[0][:20]
    year = str(paper.first_date.year) if paper.first_date else ""
    arxiv = _arxiv_id(paper)
    suffix = arxiv.replace("/", "") if arxiv else content_hash(paper.id, length=6)
    return f"{word}{year}-{suffix}"


def _arxiv_id(paper: Paper) -> str | None:
    if paper.arxiv_id and _ARXIV_ID.fullmatch(paper.arxiv_id):
        return paper.arxiv_id
    return None


def _url_field(url: str) -> str:
    """`url` with the characters that would break a BibTeX field percent-encoded."""
    url = _CONTROL.sub("", url).strip()
    return _URL_SPECIAL.sub(lambda match: f"%{ord(match.group()):02X}", url)


_URL_SPECIAL = re.compile('[{}\\\\ \t\n\r"]')


def _author(name: str) -> str:
    escaped = bibtex_escape(name)
    # A literal " and " inside one name would split it into two authors.
    return f"{{{escaped}}}" if re.search(r"\s+and\s+", escaped, re.IGNORECASE) else escaped


def bibtex_entry(paper: Paper, *, url: str, key: str | None = None) -> str:
    """One `@misc` entry for `paper`, ending with a newline.

    Fields: `title` (double-braced so styles keep its capitalisation), `author` (joined with
    ` and `, when known), `year` (of the first date; omitted when undated), `eprint`,
    `archivePrefix = {arXiv}` and `note = {arXiv:<id>}` (when the paper has an arXiv id),
    and `url` (the paper's page). `key` defaults to `bibtex_key(paper)`.
    """
    fields: list[tuple[str, str]] = [("title", "{" + bibtex_escape(paper.title) + "}")]
    authors = [_author(name) for name in paper.authors if _clean(name)]
    if authors:
        fields.append(("author", " and ".join(authors)))
    if paper.first_date:
        fields.append(("year", str(paper.first_date.year)))
    arxiv = _arxiv_id(paper)
    if arxiv:
        fields += [("eprint", arxiv), ("archivePrefix", "arXiv"), ("note", f"arXiv:{arxiv}")]
    if url:
        fields.append(("url", _url_field(url)))
    width = max(len(name) for name, _ in fields)
    lines = [f"@misc{{{key or bibtex_key(paper)},"]
    lines += [f"  {name.ljust(width)} = {{{value}}}," for name, value in fields]
    lines.append("}")
    return "\n".join(lines) + "\n"


def bibtex_file(
    papers: Iterable[Paper],
    url_for: Callable[[Paper], str],
    entry: Callable[..., str] | None = None,
    key_for: Callable[[Paper], str] | None = None,
) -> str:
    """The whole digest as one BibTeX file: entries sorted by paper id, keys made unique.

    When two papers would get the same key, the later ones (by id) get `a`, `b`, ... appended.
    The output depends only on the papers and `url_for`. `entry` makes one entry, called like
    `bibtex_entry`, and `key_for` the base key, like `bibtex_key` (a caller may pass cached versions).
    """
    entry = entry or bibtex_entry
    key_for = key_for or bibtex_key
    ordered = sorted(papers, key=lambda paper: paper.id)
    used: set[str] = set()
    entries = []
    for paper in ordered:
        key = base = key_for(paper)
        n = 0
        while key in used:
            key = base + _letters(n)
            n += 1
        used.add(key)
        entries.append(entry(paper, url=url_for(paper), key=key))
    header = f"% BibTeX of the paper digest: {len(entries)} entries, generated by paper-digest.\n"
    return header + "".join("\n" + entry for entry in entries)


def _letters(n: int) -> str:
    """0 -> `a`, 25 -> `z`, 26 -> `aa`, ..."""
    out = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        out = chr(ord("a") + rest) + out
    return out
