"""LaTeX's text escapes shown as the characters they stand for.

Titles and abstracts copied from arXiv often hold LaTeX's escapes of its special characters
outside math: `98.5\\%`, `R\\&D`, `top\\_k`, `\\#1`, `\\$5`. A reader wants `98.5%`, so pages,
page descriptions, search data and feeds show `\\%`, `\\&`, `\\_`, `\\#` and `\\$` outside math
as `%`, `&`, `_`, `#` and `$`. Math (`$...$` as `escaping.split_math` finds it) is left as it
is: there `\\%` is TeX that KaTeX typesets.

Never in a way that turns text into math: `display_text` keeps a `\\$` whose unescaping would
make `split_math` find math that was not there (`\\$x\\$` stays as written), and the page
escaping (`escaping.escape_text`) writes every `$` outside math as a character reference, which
no script renders. The paper's own text (and so its id, its URL and every key built from it)
is unchanged: only what is shown is.
"""

from __future__ import annotations

import re

from generator.website.escaping import split_math, unescape_plain

_ESCAPE = re.compile(r"\\([%&_#$])")
_ESCAPE_BUT_DOLLAR = re.compile(r"\\([%&_#])")

TEXT_ESCAPES = ("\\%", "\\&", "\\_", "\\#", "\\$")
"""The escapes shown as their characters outside math (`escaping.unescape_plain` on text without math)."""

__all__ = ["TEXT_ESCAPES", "display_text", "unescape_plain"]


def display_text(text: str) -> str:
    """`text` (untrusted title or abstract) with `TEXT_ESCAPES` outside math as their
    characters and its math kept: `split_math` finds the same pieces in the result, the text
    ones unescaped (else `\\$` stays as written; else the text is returned unchanged)."""
    if "\\" not in text:
        return text
    if "$" not in text:  # no math, and nothing could become math
        return unescape_plain(text)
    pieces = split_math(text)
    for pattern in (_ESCAPE, _ESCAPE_BUT_DOLLAR):
        wanted = [(is_math, piece if is_math else pattern.sub(r"\1", piece)) for is_math, piece in pieces]
        shown = "".join(piece for _, piece in wanted)
        if split_math(shown) == wanted:
            return shown
    return text
