"""Markup-blind text folding and tokens shared by the similarity stage.

Two copies of one abstract often differ only in how they were typeset: LaTeX math
(`$t-J$`) in one, plain text (`t-J`) in the other; HTML entities or tags; accents;
Greek letters written as `\\alpha` or `α`. Everything that compares papers (the
TF-IDF engine, MinHash shingles, the near-duplicate verifier) sees text through
`fold_markup` and `tokenize`, so those differences vanish in one place.

`tokenize_corpus` tokenizes a whole corpus with `bytes.translate` and `bytes.split`
(a regex per text costs several times more for 100k abstracts); every token also gets
a stable 64-bit hash (blake2b), so nothing depends on Python's `hash()`.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import logging
import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]{0,200})?/?>")
# \cmd{arg} whose argument is text to keep (\textbf{x} -> x); other commands are spelled
# out (\alpha -> alpha, \times -> times) so they match their Unicode or plain spelling.
_LATEX_WRAPPER = re.compile(
    r"\\(?:text[a-z]*|math[a-z]*|emph|mbox|hbox|operatorname|bm|boldsymbol|url|underline|"
    r"textsc|texttt|textit|textrm|textsf|mathcal|mathbb|mathbf|mathrm|mathit|mathsf)\s*\{([^{}]*)\}"
)
_LATEX_ESCAPE = re.compile(r"\\([%&$#_{}])")
_LATEX_COMMAND = re.compile(r"\\([A-Za-z]+)")
_COMBINING = re.compile(r"[\u0300-\u036f]")
_WORD = re.compile(r"[^\W_]+")

# Symbols that a plain-text copy spells out in words (LaTeX writes them as commands).
_SYMBOLS = {"×": " times ", "∼": " sim ", "≈": " approx ", "→": " to ", "∞": " infty ", "∈": " in "}


def _greek_table() -> dict[int, str]:
    """Greek letters spelled as their LaTeX names, so `α` and `\\alpha` fold alike."""
    table: dict[int, str] = {}
    for code in range(0x391, 0x3CA):
        name = unicodedata.name(chr(code), "")
        if name.startswith("GREEK") and "LETTER" in name:
            table[code] = f" {name.rsplit(' ', 1)[-1].lower()} "
    table[0x3D5] = " phi "  # ϕ, the \phi of many fonts
    table[0x3F5] = " epsilon "  # ϵ
    for symbol, words in _SYMBOLS.items():
        table[ord(symbol)] = words
    return table


_TRANSLATE = _greek_table()


def _spaced(match: re.Match[str]) -> str:
    return f" {match.group(1)} "


def _bare(match: re.Match[str]) -> str:
    return match.group(1)


def fold_markup(text: str) -> str:
    """Text with markup, accents and case folded away: what a reader sees, in lower case.

    HTML entities are decoded and tags dropped; LaTeX math delimiters and braces go,
    wrapper commands keep their argument, other commands keep their name; accents are
    stripped and Greek letters spelled out. Punctuation stays (tokens ignore it).
    """
    for _ in range(2):  # twice: scraped text is sometimes escaped twice (`&amp;amp;`)
        if "&" in text:
            text = html.unescape(text)
    if "<" in text:
        text = _TAG.sub(" ", text)
    if "\\" in text:
        text = _LATEX_WRAPPER.sub(_spaced, text)
        text = _LATEX_ESCAPE.sub(_bare, text)
        text = _LATEX_COMMAND.sub(_spaced, text)
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = _COMBINING.sub("", text).translate(_TRANSLATE)
    return text.casefold()


def tokenize(text: str) -> list[str]:
    """Word tokens of `fold_markup(text)`: letters and digits only, `_` and punctuation split.

    The reference for `tokenize_corpus`, which gives the same tokens much faster.
    """
    return _WORD.findall(fold_markup(text))


def ends_with_ellipsis(text: str) -> bool:
    """Whether the text ends in `...` or `…`, the usual mark of a truncated abstract."""
    return text.rstrip().endswith(("...", "…"))


@dataclass(frozen=True)
class Tokens:
    """Token ids of many texts: one flat array, with where each text starts."""

    ids: np.ndarray
    """int32 token ids of all texts, concatenated."""
    offsets: np.ndarray
    """Text k's tokens are `ids[offsets[k]:offsets[k + 1]]` (len = texts + 1)."""
    words: list[str]
    """The token string of each id."""
    hashes: np.ndarray
    """A stable, well-mixed 64-bit hash of each id's token (uint64)."""


# Once text is folded, a word is a run of ASCII digits and lower-case letters or of
# bytes of non-ASCII (UTF-8) characters that survived folding; every other byte splits.
_SPLIT_BYTES = bytes(b if (48 <= b <= 57 or 97 <= b <= 122 or b >= 128) else 32 for b in range(256))
_NON_WORD = re.compile(r"[^\w\s]|_")
_CHUNK = 4096


def _fold_to_bytes(text: str) -> bytes:
    folded = fold_markup(text)
    if not folded.isascii():  # non-ASCII punctuation (curly quotes, dashes) would join words
        folded = _NON_WORD.sub(" ", folded)
    return folded.encode("utf-8").translate(_SPLIT_BYTES)


def tokenize_corpus(texts: Sequence[str], known: Sequence[str] = (), known_hashes: np.ndarray | None = None) -> Tokens:
    """`tokenize` for every text, fast: folded UTF-8 bytes split by C code, ids by dict.

    Ids are given in first-seen order, after the `known` words (a vocabulary carried over
    from an earlier run, whose `known_hashes` are reused); each token's hash is blake2b,
    so nothing depends on Python's `hash()`.
    """
    vocabulary: defaultdict[bytes, int] = defaultdict()
    vocabulary.default_factory = vocabulary.__len__  # a new token gets the next id, at C speed
    for word in known:
        vocabulary[word.encode("utf-8")]
    if len(vocabulary) != len(known):
        raise ValueError("known words must be distinct")
    counts: list[int] = []
    chunks: list[np.ndarray] = []
    for begin in range(0, len(texts), _CHUNK):  # chunks keep the token bytes objects few
        split = [_fold_to_bytes(text).split() for text in texts[begin : begin + _CHUNK]]
        counts.extend(map(len, split))
        total = sum(counts[begin:])
        flat = itertools.chain.from_iterable(split)
        chunks.append(np.fromiter(map(vocabulary.__getitem__, flat), np.int32, total))
    offsets = np.zeros(len(texts) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    ids = np.concatenate(chunks) if chunks else np.zeros(0, np.int32)
    fresh = list(itertools.islice(vocabulary, len(known), None))
    words = [*known, *(token.decode("utf-8") for token in fresh)]
    new_hashes = np.fromiter(
        (int.from_bytes(hashlib.blake2b(token, digest_size=8).digest(), "little") for token in fresh),
        np.uint64,
        len(fresh),
    )
    if known_hashes is None:
        known_hashes = np.fromiter(
            (int.from_bytes(hashlib.blake2b(w.encode("utf-8"), digest_size=8).digest(), "little") for w in known),
            np.uint64,
            len(known),
        )
    hashes = np.concatenate([known_hashes.astype(np.uint64), new_hashes])
    return Tokens(ids=ids, offsets=offsets, words=words, hashes=hashes)


def mix64(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, element-wise (wrapping uint64 arithmetic)."""
    z = values.astype(np.uint64, copy=True)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z
