"""The one escaping function for untrusted text (titles, abstracts, names from sources).

Text from scraped pages must show literally: never as HTML, Markdown or template syntax.
`escape_text` turns every character that means something to HTML, Python-Markdown or its
extensions into a numeric character reference, which both Markdown and HTML show as the
character itself. `$...$` math is kept: it becomes `<span class="math">` whose (escaped)
text KaTeX renders in the browser; a `$` that does not delimit math ("$5 or $10") stays a
literal dollar. Math that could hurt the reader's browser (nested deeper than
`MATH_MAX_DEPTH`, longer than `MATH_MAX_LENGTH`, or using a command of
`MATH_DENIED_COMMANDS`) is not math: it shows as literal text, `$` delimiters included.
LaTeX's text escapes outside math (`\\%`, `\\&`, `\\_`, `\\#`, `\\$`) show as their characters.
`theme_overrides/assets/javascripts/digest.js` applies the same limits and disables the same
commands in KaTeX as a second line of defence. Jinja2 templates call this for every value
that is not `Markup`.
"""

from __future__ import annotations

import functools
import html
import json
import re

from markupsafe import Markup

# Characters with a meaning in HTML, Markdown, attr_list, emoji, tables, footnotes or Jinja.
_SPECIAL = set("&<>\"'\\`*_{}[]()#+-.!|~^$:=%@")
_TABLE = {ord(char): f"&#{ord(char)};" for char in _SPECIAL}
_MATH = re.compile(r"(?<![\\$])\$(\$?)(?=\S)(?!\$)([^$]+?)(?<=\S)(?<!\\)\$\1(?!\d)(?!\$)")

MATH_MAX_LENGTH = 300
"""The most characters of TeX between a math piece's delimiters that KaTeX is given.

The longest formula in the shipped sources has 90; a longer piece shows as literal text.
"""
MATH_MAX_DEPTH = 8
"""The deepest nesting of groups a math piece may have: `{...}`, `\\left...\\right` and the
optional argument of `\\sqrt[...]` or an `\\x...arrow[...]` each count one level
(`$x_{y_{z}}$` is 2 deep, `$\\frac{\\sqrt{a}}{b}$` 2).

KaTeX lays nested groups out as nested boxes; 200 levels of `x_{` (803 bytes) crash the tab,
and 8 levels of `\\frac` are already about three lines tall. Deeper pieces show as literal text.
"""
# fmt: off
MATH_DENIED_COMMANDS = frozenset(
    {
        # boxes, rules and colours that can paint a page-covering box or a fake banner
        r"\rule", r"\vrule", r"\hrule", r"\colorbox", r"\fcolorbox", r"\fbox", r"\boxed", r"\color",
        r"\textcolor",
        # sizes above normal
        r"\large", r"\Large", r"\LARGE", r"\huge", r"\Huge",
        # explicit spaces and moves, which can push math over the text around it
        r"\kern", r"\mkern", r"\hskip", r"\mskip", r"\hspace", r"\mspace", r"\hfill", r"\raisebox",
        r"\raise", r"\lower", r"\smash", r"\llap", r"\rlap", r"\clap", r"\mathllap", r"\mathrlap",
        r"\mathclap", r"\genfrac", r"\above",
        # HTML, links and pictures (KaTeX's `trust` commands)
        r"\href", r"\url", r"\htmlStyle", r"\htmlClass", r"\htmlId", r"\htmlData",
        r"\includegraphics",
        # macro definitions, which can expand without bound
        r"\def", r"\gdef", r"\edef", r"\xdef", r"\let", r"\futurelet", r"\global", r"\long",
        r"\expandafter", r"\noexpand", r"\newcommand", r"\renewcommand", r"\providecommand",
        # line breaks and environments (arrays), which can stack many rows
        r"\\", r"\newline", r"\cr", r"\begin", r"\end",
    }
)
# fmt: on
"""TeX commands a math piece may not use (it shows as literal text if it does).

Commands whose name contains `@` (KaTeX's internal macros) are refused too. digest.js refuses
the same commands again (and has KaTeX cap every size at 1 em) for pages built earlier.
"""
_TEX_TOKEN = re.compile(
    r"\\(?:(sqrt|x[A-Za-z]*(?:arrows?|harpoon[a-z]*|equilibrium|mapsto|equal|tofrom))\s*\[|[A-Za-z@]+|.)|[{}\]]",
    re.DOTALL,
)
"""A control word (with `[` when it opens an optional argument), a control symbol, a brace or `]`."""
_OPENERS = frozenset({"{", r"\left"})
_CLOSERS = frozenset({"}", r"\right"})


_AMP_HASH = re.compile("[&#]")
_OTHERS = [(char, _TABLE[ord(char)]) for char in sorted(_SPECIAL - {"&", "#"})]


def _escape_plain(text: str) -> str:
    """Every special character as a numeric character reference.

    `&` and `#` first (the references written for the others contain them), then one C-level
    `str.replace` per other character present: ten times faster than `str.translate` with
    this table, which looks each character up in a dict (45 -> 4 us for a 1,100-character
    abstract, a tenth of a paper page's rendering).
    """
    if "&" in text or "#" in text:
        text = _AMP_HASH.sub(_reference, text)
    for char, reference in _OTHERS:
        if char in text:
            text = text.replace(char, reference)
    return text


def _reference(match: re.Match[str]) -> str:
    return _TABLE[ord(match.group())]


def split_math(text: str) -> list[tuple[bool, str]]:
    """Split text into (is_math, piece) runs; math is `$...$` or `$$...$$` by pandoc's rules.

    An opening `$` has a non-space character after it, a closing `$` a non-space before it
    and no digit after it, so prices such as "$5 or $10" are not math. A piece that
    `math_is_safe` refuses is not math either: it joins the literal text around it.
    """
    pieces: list[tuple[bool, str]] = []
    index = 0
    for match in _MATH.finditer(text):
        if not math_is_safe(match.group(2)):
            continue
        if match.start() > index:
            pieces.append((False, text[index : match.start()]))
        pieces.append((True, match.group(0)))
        index = match.end()
    if index < len(text):
        pieces.append((False, text[index:]))
    return pieces


def math_is_safe(tex: str) -> bool:
    """Whether KaTeX may typeset this TeX (a math piece without its `$` delimiters).

    Refused: more than `MATH_MAX_LENGTH` characters, groups nested deeper than
    `MATH_MAX_DEPTH`, a command of `MATH_DENIED_COMMANDS` or one whose name contains `@`.
    An escaped brace (`\\{`) is a character, not a group; a stray closing brace or bracket
    (which KaTeX reports as an error) opens nothing.
    """
    if len(tex) > MATH_MAX_LENGTH:
        return False
    if "\\" not in tex and "{" not in tex:  # plain math such as `x^2 + y_1`
        return True
    depth = brackets = 0
    for match in _TEX_TOKEN.finditer(tex):
        token = match.group()
        if match.group(1) is not None:  # `\sqrt[`: its optional argument is a level
            brackets += 1
            depth += 1
        elif token in _OPENERS:
            depth += 1
        elif token in _CLOSERS:
            depth = max(depth - 1, 0)
            continue
        elif token == "]":
            if brackets:
                brackets -= 1
                depth = max(depth - 1, 0)
            continue
        elif token in MATH_DENIED_COMMANDS or "@" in token:
            return False
        if depth > MATH_MAX_DEPTH:
            return False
    return True


@functools.lru_cache(maxsize=1 << 16)
def _escape_cached(text: str) -> Markup:
    return _escape_uncached(text)


def escape_text(text: str) -> Markup:
    """Escape untrusted text for a Markdown or HTML context; `$...$` math becomes a math span.

    Short texts (titles, topic names and reasons, dates) recur on many pages and are memoised.
    """
    text = str(text)
    return _escape_cached(text) if len(text) <= 400 else _escape_uncached(text)


def _escape_uncached(text: str) -> Markup:
    if "$" not in text:  # the common case: no math to look for
        return Markup(_escape_plain(unescape_plain(text)))
    out: list[str] = []
    for is_math, piece in split_math(text):
        if is_math:
            display = piece.startswith("$$")
            tex = piece[2:-2] if display else piece[1:-1]
            css = "math math-display" if display else "math"
            out.append(f'<span class="{css}">{_escape_plain(tex)}</span>')
        else:
            out.append(_escape_plain(unescape_plain(piece)))
    return Markup("".join(out))


_TEXT_ESCAPE = re.compile(r"\\([%&_#$])")


def unescape_plain(text: str) -> str:
    """`text`, holding no math, with LaTeX's text escapes `\\%`, `\\&`, `\\_`, `\\#` and `\\$` as
    the characters they stand for (generator/website/latex_text.py): outside math a page shows `98.5%`,
    and every `$` of it is still written as a character reference, never math."""
    return _TEXT_ESCAPE.sub(r"\1", text) if "\\" in text else text


def escape_attribute(text: str) -> Markup:
    """Escape untrusted plain text for an HTML attribute or a raw-HTML template slot."""
    return Markup(html.escape(str(text), quote=True))


def front_matter_value(text: str) -> Markup:
    """A YAML scalar for front matter whose value is HTML-escaped plain text.

    Material prints `page.meta.title` and `page.meta.description` without escaping, so the
    value itself is escaped; json.dumps gives a double-quoted scalar YAML reads back as is,
    except that YAML reads JSON's surrogate pairs (`\\ud83d\\ude80`) as two broken characters:
    every non-ASCII character is written as YAML's own `\\uXXXX` or `\\UXXXXXXXX` escape.
    """
    quoted = json.dumps(html.escape(str(text), quote=True), ensure_ascii=False)
    return Markup(_NON_ASCII.sub(_yaml_escape, quoted))


_NON_ASCII = re.compile(r"[^\x20-\x7e]")


def _yaml_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
