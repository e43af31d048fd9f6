"""BibTeX for the digest: safe escaping of untrusted text, citation keys and `@misc` entries.

Pure functions returning `str`; the writers write the files.

Guarantee: whatever the paper's title, authors, arXiv id or URL, no field of an entry (and so
nothing in `papers.bib` or a Cite block) holds TeX's `^^` notation, an unbalanced brace (as
BibTeX counts them, every `{` and `}`, and as LaTeX counts them, without `\\{` and `\\}`), a
raw `%`, `#` or `&`, or a control sequence outside two allow-lists: `_TEXT_WORDS` and
`_TEXT_SYMBOLS` outside math, `_MATH_WORDS` and `_MATH_SYMBOLS` inside `$...$` (ordinary math
commands: no `\\input`, `\\csname`, `\\catcode`, `\\def`, `\\string`, ...). `bibtex_entry`
checks every field against these rules before writing it (`_safe_field`, `_URL_SAFE`); a
field that fails (a bug, never expected) is written as plain ASCII or left out, with a warning.

Choices:

- **Special characters become BibTeX "special characters"** `{\\command}`, which BibTeX
  keeps whole when it abbreviates a first name, cuts a label (`alpha`) or changes case:
  `{` `}` `\\` `^` `~` `<` `>` `|` become `{\\textbraceleft}`, `{\\textbraceright}`,
  `{\\textbackslash}`, `{\\textasciicircum}`, `{\\textasciitilde}`, `{\\textless}`,
  `{\\textgreater}` and `{\\textbar}`, and `% & _ # $` become `{\\%}` ... `{\\$}`. So `^^5c`
  in a title is `{\\textasciicircum}{\\textasciicircum}5c`: printed, never read as a backslash.
- **Accents become BibTeX accent macros** (`é` -> `{\\'e}`, `ü` -> `{\\"u}`, `ñ` -> `{\\~n}`,
  `ç` -> `{\\c c}`, `í` -> `{\\'\\i}`, `ø` -> `{\\o}`, `ß` -> `{\\ss}`), so entries work with
  classic 8-bit BibTeX and sort and purify correctly.
- **Greek letters and common math symbols become math** (`α` -> `$\\alpha$`, `ε` ->
  `$\\varepsilon$`, `≤` -> `$\\le$`; capitals that look Latin, `Α`, become `A`), so pdflatex
  reads them without a Greek font. Any other non-ASCII character (CJK, rarer symbols) is
  transliterated to ASCII (text-unidecode: `注意` -> `Zhu Yi`, `©` -> `(c)`; a character
  without a transliteration, an emoji, is left out), so **the file is plain ASCII** and
  pdflatex and 8-bit BibTeX read it without any package.
- **LaTeX's text escapes outside math** (`98.5\\%`, `R\\&D`, `top\\_k`, `\\#1`, `\\$5`) are
  the characters they stand for, escaped as above (`98.5{\\%}`), not a printed backslash; a
  `\\$` never opens or closes math.
- **Inline math `$...$` is kept** when it is safe: balanced braces (both as BibTeX and as
  LaTeX count them), no raw `% # &`, no `^^`, every `^` and `_` followed by its argument,
  `\\left`/`\\right` paired, only control sequences from `_MATH_WORDS` and `_MATH_SYMBOLS`,
  and no non-ASCII character except those above (which become their commands). Anything else,
  say `$\\input{x}$`, `$^^5cinput$` or a lone `$`, is escaped as text. `$$...$$` is kept as
  inline math. The allow-list keeps out whatever reads, writes, defines or changes catcodes;
  a kept formula can still miss an argument (`$\\frac{1}$`) or use a command the citing
  document does not load (`\\mathbb` needs amssymb, `\\argmin` is nobody's), which LaTeX
  reports as an ordinary error.
- **Author names are written so BibTeX parses each as one name.** A name with two or more
  commas (`Smith, John, Jr., III`), a comma with nothing on one side, a comma before a suffix
  (`John Smith, Jr.`), the word `and`, or any of `( ) [ ]` (which natbib and `\\bibitem[...]`
  labels read as delimiters) is written as one special character `{\\relax Smith, John, Jr.,
  III}`: BibTeX takes it as one last name, prints it as written and never cuts into it (plain
  braces would protect the commas but not the accents and escapes inside from `alpha`'s
  three-letter labels: `{P{\\'e}rez, ...}` would give `{P{\\'}}`); `\\relax` does nothing in
  LaTeX. `Smith, John` stays BibTeX's "Last, First". Names never hold math: `$` is escaped
  and Greek letters become `{\\ensuremath{\\alpha}}`.
- **Keys** are ASCII letters, digits, `.` and `-`, made by generator/website/citekeys.py
  (`smith2025scaling`, `scaling2025`, a hash of the paper id only when two would be equal);
  an entry without authors has a `key` field (a short title), so that every style can sort it
  ("to sort, need author or key"). The **url** is percent-encoded to the
  characters a URI may hold, without `\\`, `{`, `}`, `^` or spaces (read it with the `url` or
  `hyperref` package, as `plainnat` expects).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping

from generator.models import Paper
from generator.website.bibtex_text import (
    _CONTROL,
    _FOLD,
    _MATH_SYMBOLS,
    _MATH_WORDS,
    _SPACE,
    _TEXT_SYMBOLS,
    _TEXT_WORDS,
    _clean,
    _escape_text,
    _word_set,
    bibtex_escape,
)
from generator.website.citekeys import citation_keys, key_base, sort_label

log = logging.getLogger(__name__)


_ARXIV_ID = re.compile(r"[A-Za-z0-9.\-/]+")
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]*")
_WORD = re.compile(r"[A-Za-z0-9]+")


# Tokens `_safe_field` looks at: control sequences, braces, math shifts and TeX's specials.
_FIELD_TOKEN = re.compile(r"\\(?:[A-Za-z]+|.|\Z)|[{}$#%&^_~]", re.DOTALL)
# Control characters and whitespace other than a space; with TeX's specials, what makes a field worth a look.
_BAD_CHARS = _CONTROL.pattern[1:-1] + "".join(
    re.escape(c) for c in map(chr, range(0x3000 + 1)) if c.isspace() and c != " "
)
_BAD_CHAR = re.compile(f"[{_BAD_CHARS}]")
_LOOK = re.compile(f"[\\\\{{}}$#%&^_~{_BAD_CHARS}]")


def _safe_field(value: str) -> bool:
    """True when `value`, a field's text, keeps to the guarantee of the module docstring.

    No `^^`, no control or line-break character, braces balanced as BibTeX and as LaTeX count
    them, math shifts paired, no raw `# % & ^ _ ~` outside math and no raw `# % &` inside it,
    and each control sequence from the allow-list of its mode (math inside `$...$` and inside
    the argument of `\\ensuremath`).
    """
    if not _LOOK.search(value):
        return True
    if "^^" in value or _BAD_CHAR.search(value):
        return False
    bib = tex = 0  # brace depth as BibTeX and as LaTeX count it
    math = False
    ensure_depth = 0  # inside \ensuremath{...} while tex >= ensure_depth > 0
    for match in _FIELD_TOKEN.finditer(value):
        token = match.group()
        if token == "{":
            bib, tex = bib + 1, tex + 1
        elif token == "}":
            bib, tex = bib - 1, tex - 1
            if bib < 0 or tex < 0:
                return False
            if ensure_depth and tex < ensure_depth:
                ensure_depth, math = 0, False
        elif token == "$":
            if ensure_depth:
                return False
            math = not math
        elif token[0] == "\\":
            name = token[1:]
            if name in {"{", "}"}:
                bib += 1 if name == "{" else -1
                if bib < 0:
                    return False
            words, symbols = (_MATH_WORDS, _MATH_SYMBOLS) if math else (_TEXT_WORDS, _TEXT_SYMBOLS)
            if not (name in words if name[:1].isalpha() else name in symbols):
                return False
            if name == "ensuremath":
                if not value.startswith("{", match.end()):
                    return False
                ensure_depth, math = tex + 1, True
        elif not math or token in {"#", "%", "&"}:
            return False
    return bib == 0 and tex == 0 and not math


_URL_SAFE = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_URL_SPECIAL = re.compile(r"[^A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]")


def _url_field(url: str) -> str:
    """`url` with every character a URI may not hold (spaces, `"`, `\\`, `{`, `}`, `^`, `|`,
    non-ASCII, ...) percent-encoded as UTF-8."""
    url = _CONTROL.sub("", url).strip()
    return _URL_SPECIAL.sub(lambda match: "".join(f"%{byte:02X}" for byte in match.group().encode()), url)


_PLAIN_CHARS = re.compile(r"[^A-Za-z0-9 ,.:;!?'()/+=*@-]")


def _plain(text: str) -> str:
    """The last resort for a field that fails `_safe_field`: ASCII letters, digits and harmless
    punctuation only."""
    return _SPACE.sub(" ", _PLAIN_CHARS.sub("", _fold(_clean(text)))).strip()


def _fold(text: str) -> str:
    """`text` in ASCII: accents dropped, `ß` as `ss`, ..., other characters left out."""
    if text.isascii():  # folding and decomposing change nothing
        return text
    folded = unicodedata.normalize("NFKD", "".join(_FOLD.get(c, c) for c in text))
    return folded.encode("ascii", "ignore").decode("ascii")


def _ascii_words(text: str) -> list[str]:
    return _WORD.findall(_fold(text))


def bibtex_key(paper: Paper) -> str:
    """The paper's citation key when no other paper of the digest has the same one: first
    author's surname, year and first significant title word (`smith2025scaling`), or without
    authors the title word and year (`scaling2025`); see generator/website/citekeys.py, which also
    says how keys that would be equal are told apart (`bibtex_file`, `citation_keys`).
    """
    return key_base(paper)


def _arxiv_id(paper: Paper) -> str | None:
    if paper.arxiv_id and _ARXIV_ID.fullmatch(paper.arxiv_id):
        return paper.arxiv_id
    return None


_NAME_SUFFIX = _word_set("jr jr. sr sr. ii iii iv v vi")
_NAME_BREAKER = re.compile(r"[()\[\]]|(?<!\S)and(?!\S)", re.IGNORECASE)


def _author(name: str) -> str:
    """One author `name` (untrusted) as BibTeX reads one name (see the module docstring);
    "" when the name has no text."""
    escaped = _SPACE.sub(" ", _escape_text(_clean(name), name=True)).strip()  # transliterations end in spaces
    if not _safe_field(escaped):
        log.warning("BibTeX: author %r could not be escaped safely; written as plain ASCII", name)
        plain = _plain(name)
        return _one_name(plain) if plain else ""
    commas = escaped.count(",")
    if commas == 1:
        last, _, first = escaped.partition(",")
        first = first.strip()
        parsable = bool(last.strip() and first) and first.lower() not in _NAME_SUFFIX
    else:
        parsable = commas == 0
    if parsable and not _NAME_BREAKER.search(escaped):
        return escaped
    return _one_name(escaped)


def _one_name(escaped: str) -> str:
    """`escaped` as one BibTeX special character: one last name, whole to every BibTeX function."""
    return "{\\relax " + escaped + "}"


def bibtex_entry(paper: Paper, *, url: str, key: str | None = None) -> str:
    """One `@misc` entry for `paper`, ending with a newline.

    Fields: `title` (double-braced so styles keep its capitalisation), `author` (joined with
    ` and `, when known; else `key`, a short title to sort by), `year` (of the first date;
    `n.d.` when undated), `eprint`,
    `archivePrefix = {arXiv}` and `note = {arXiv:<id>}` (when the paper has an arXiv id; then
    `primaryClass` too, when its primary category is known),
    and `url` (the paper's page). `key` defaults to `bibtex_key(paper)`; a given key must be
    ASCII letters, digits, `.` and `-` (ValueError otherwise). Every field is checked with
    `_safe_field` (`_URL_SAFE` for the url) before it is written.
    """
    key = key or bibtex_key(paper)
    if not _KEY.fullmatch(key):
        raise ValueError(f"BibTeX key {key!r} is not ASCII letters, digits, '.' and '-'")
    title = bibtex_escape(paper.title)
    if not _safe_field(title):
        log.warning("BibTeX: title %r could not be escaped safely; written as plain ASCII", paper.title)
        title = _plain(paper.title)
    fields: list[tuple[str, str]] = [("title", "{" + title + "}")]
    authors = [author for author in map(_author, paper.authors) if author]
    if authors:
        fields.append(("author", " and ".join(authors)))
    else:  # what styles sort and label an entry without authors by
        fields.append(("key", sort_label(paper.title)))
    # "n.d." (no date), as APA writes it: plainnat and apalike warn about an entry without a year.
    fields.append(("year", str(paper.first_date.year) if paper.first_date else "n.d."))
    arxiv = _arxiv_id(paper)
    if arxiv:
        fields += [("eprint", arxiv), ("archivePrefix", "arXiv"), ("note", f"arXiv:{arxiv}")]
        if paper.primary_category:
            fields.append(("primaryClass", paper.primary_category))
    if url:
        fields.append(("url", _url_field(url)))
    for name, value in list(fields):
        if name in {"title", "author"}:  # checked above, the title before its braces, each name
            continue
        if not (_URL_SAFE.fullmatch(value) if name == "url" else _safe_field(value)):
            log.warning("BibTeX: field %s = %r of %s is not safe; left out", name, value, paper.id)
            fields.remove((name, value))
    width = max(len(name) for name, _ in fields)
    lines = [f"@misc{{{key},"]
    lines += [f"  {name.ljust(width)} = {{{value}}}," for name, value in fields]
    lines.append("}")
    return "\n".join(lines) + "\n"


def bibtex_file(
    papers: Iterable[Paper],
    url_for: Callable[[Paper], str],
    entry: Callable[..., str] | None = None,
    key_for: Callable[[Paper], str] | None = None,
    keys: Mapping[str, str] | None = None,
) -> str:
    """The whole digest as one BibTeX file: entries sorted by paper id, keys made unique.

    Keys are `keys` (by paper id) when given, else `citekeys.citation_keys` of the papers: when
    two papers would get the same key, the one seen first keeps it and the others get a hash of
    their id appended. The output depends only on the papers and `url_for`. `entry` makes one
    entry, called like `bibtex_entry`, and `key_for` the base key, like `bibtex_key` (a caller
    may pass cached versions).
    """
    entry = entry or bibtex_entry
    ordered = sorted(papers, key=lambda paper: paper.id)
    if keys is None:
        keys = citation_keys(ordered, key_for or bibtex_key)
    entries = [entry(paper, url=url_for(paper), key=keys[paper.id]) for paper in ordered]
    header = f"% BibTeX of the paper digest: {len(entries)} entries, generated by paper-digest.\n"
    return header + "".join("\n" + entry for entry in entries)
