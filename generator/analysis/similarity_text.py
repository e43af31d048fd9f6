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
import logging
import re
import unicodedata
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
    """`tokenize` for every text, fast: folded UTF-8 bytes split and looked up by numpy.

    Ids are given in first-seen order, after the `known` words (a vocabulary carried over
    from an earlier run, whose `known_hashes` are reused); each token's hash is blake2b,
    so nothing depends on Python's `hash()`.
    """
    vocabulary = _Vocabulary()
    if known:
        found = vocabulary.add_corpus(b" ".join(w.encode("utf-8") for w in known), np.array([0]))[0]
        if len(found) != len(known) or vocabulary.count != len(known):
            raise ValueError("known words must be distinct")
    counts: list[np.ndarray] = []
    chunks: list[np.ndarray] = []
    for begin in range(0, len(texts), _CHUNK):
        folded = [_fold_to_bytes(text) for text in texts[begin : begin + _CHUNK]]
        lengths = np.fromiter(map(len, folded), np.int64, len(folded))
        text_starts = np.zeros(len(folded), np.int64)
        np.cumsum(lengths[:-1] + 1, out=text_starts[1:])  # texts joined by one space
        ids, per_text = vocabulary.add_corpus(b" ".join(folded), text_starts)
        chunks.append(ids)
        counts.append(per_text)
    offsets = np.zeros(len(texts) + 1, np.int64)
    if counts:
        np.cumsum(np.concatenate(counts), out=offsets[1:])
    ids = np.concatenate(chunks) if chunks else np.zeros(0, np.int32)
    fresh = vocabulary.words[len(known) :]
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


_PAD = 17
"""Spaces after a joined buffer, so that every 16-byte window read from a token start is inside."""
_BYTE_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], np.uint64)
_EMPTY = np.int32(-1)


class _Vocabulary:
    """Token bytes -> id in first-seen order, looked up many tokens at a time.

    A token of up to 16 bytes is its own key, two little-endian words (lo, hi) with zero
    padding (token bytes are never zero, so the key is exact); such keys live in an
    open-addressing hash table probed with numpy. The rare longer tokens use a dict.
    """

    def __init__(self) -> None:
        self.words: list[bytes] = []
        self.long: dict[bytes, int] = {}
        self._resize(16)

    @property
    def count(self) -> int:
        return len(self.words)

    def _resize(self, bits: int) -> None:
        self.bits = bits
        self.lo = np.zeros(1 << bits, np.uint64)
        self.hi = np.zeros(1 << bits, np.uint64)
        self.ids = np.full(1 << bits, _EMPTY, np.int32)

    def _home(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        mixed = (lo ^ (hi * np.uint64(0xC2B2AE3D27D4EB4F))) * np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing
        return (mixed >> np.uint64(64 - self.bits)).astype(np.int64)

    def _find(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Id of each key, -1 when absent (linear probing)."""
        slot = self._home(lo, hi)
        found = self.ids[slot]
        hit = self.lo[slot] == lo  # empty slots hold the key (0, 0), which no token has
        hit &= self.hi[slot] == hi
        out = np.where(hit, found, _EMPTY)
        todo = np.flatnonzero(~hit & (found != _EMPTY))  # the slot holds another key: probe on
        mask = (1 << self.bits) - 1
        slot = (slot[todo] + 1) & mask
        while len(todo):
            found = self.ids[slot]
            hit = (self.lo[slot] == lo[todo]) & (self.hi[slot] == hi[todo])
            out[todo[hit]] = found[hit]
            probe = ~hit & (found != _EMPTY)
            todo, slot = todo[probe], (slot[probe] + 1) & mask
        return out

    def _insert(self, lo: np.ndarray, hi: np.ndarray, ids: np.ndarray) -> None:
        """Insert distinct keys that are not in the table yet."""
        todo = np.arange(len(lo))
        slot = self._home(lo, hi)
        mask = (1 << self.bits) - 1
        while len(todo):
            free = self.ids[slot] == _EMPTY
            # Of several keys wanting one free slot the first takes it; the others probe on.
            _, first = np.unique(slot[free], return_index=True)
            won = np.flatnonzero(free)[first]
            where, who = slot[won], todo[won]
            self.lo[where], self.hi[where], self.ids[where] = lo[who], hi[who], ids[who]
            left = np.ones(len(todo), bool)
            left[won] = False
            todo, slot = todo[left], (slot[left] + 1) & mask

    def _grow(self, needed: int) -> None:
        bits = self.bits
        while needed * 2 > (1 << bits):
            bits += 1
        if bits != self.bits:
            full = self.ids != _EMPTY
            lo, hi, ids = self.lo[full], self.hi[full], self.ids[full]
            self._resize(bits)
            self._insert(lo, hi, ids)

    def add_corpus(self, joined: bytes, text_starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ids of the tokens of space-separated, split-byte-translated texts (new tokens added).

        Texts start at `text_starts` in `joined`; returns the ids and the tokens per text.
        """
        buf = b" " + joined + b" " * _PAD  # a space first: every token starts after a split byte
        word = np.frombuffer(buf, np.uint8) != 32
        edges = np.flatnonzero(word[1:] != word[:-1]) + 1  # starts and ends of tokens, alternating
        starts, ends = edges[0::2], edges[1::2]
        per_text = np.diff(np.append(np.searchsorted(starts, text_starts + 1), len(starts)))
        if not len(starts):
            return np.zeros(0, np.int32), per_text
        lengths = ends - starts
        window = np.ndarray((len(buf) - 7,), np.dtype("<u8"), buf, 0, (1,))  # unaligned 8-byte reads
        lo = window[starts]
        lo &= _BYTE_MASKS[np.minimum(lengths, 8)]
        hi = np.zeros(len(starts), np.uint64)
        longer = np.flatnonzero(lengths > 8)
        hi[longer] = window[starts[longer] + 8] & _BYTE_MASKS[np.minimum(lengths[longer] - 8, 8)]
        long = np.flatnonzero(lengths > 16)
        lo[long] = 0  # the all-zero key is no token: long tokens are looked up apart
        hi[long] = 0
        out = self._find(lo, hi)
        missing = np.flatnonzero(out == _EMPTY)
        missing = missing[lengths[missing] <= 16]
        # New short keys, each at its first occurrence.
        order = missing[np.lexsort((missing, hi[missing], lo[missing]))]
        first = np.ones(len(order), bool)
        first[1:] = (lo[order[1:]] != lo[order[:-1]]) | (hi[order[1:]] != hi[order[:-1]])
        group = np.cumsum(first) - 1
        new_at = order[first]
        # Long tokens through the dict (new ones also at their first occurrence).
        long_new: dict[bytes, int] = {}
        long_ids = np.zeros(len(long), np.int64)
        for k, (s, e) in enumerate(zip(starts[long].tolist(), ends[long].tolist(), strict=True)):
            token = buf[s:e]
            known = self.long.get(token)
            if known is None:
                long_ids[k] = -1 - long_new.setdefault(token, s)
            else:
                long_ids[k] = known
        # Ids in first-seen order over both kinds.
        positions = np.concatenate([starts[new_at], np.array(list(long_new.values()), np.int64)])
        rank = np.empty(len(positions), np.int64)
        rank[np.argsort(positions, kind="stable")] = np.arange(len(positions))
        base = self.count
        new_ids = (base + rank).astype(np.int32)
        in_order = np.sort(positions)
        token_ends = ends[np.searchsorted(starts, in_order)]
        self.words.extend(buf[s:e] for s, e in zip(in_order.tolist(), token_ends.tolist(), strict=True))
        short_ids = new_ids[: len(new_at)]
        self._grow(self.count)
        self._insert(lo[new_at], hi[new_at], short_ids)
        out[order] = short_ids[group]
        if len(long):
            by_start = dict(zip(long_new.values(), new_ids[len(new_at) :].tolist(), strict=True))
            fresh = long_ids < 0
            long_ids[fresh] = [by_start[-1 - int(v)] for v in long_ids[fresh].tolist()]
            out[long] = long_ids
            for token, position in long_new.items():
                self.long[token] = by_start[position]
        return out, per_text


def mix64(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, element-wise (wrapping uint64 arithmetic)."""
    z = values.astype(np.uint64, copy=True)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z
