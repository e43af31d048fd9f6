"""Text normalisation and the keys that decide when two records are the same paper."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from slugify import slugify, smart_truncate

_INVISIBLE_BELOW_10000 = (
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # C0 controls but the whitespace collapsed anyway, DEL, C1
    # Unicode's format characters (category Cf, as of Unicode 15.1): soft hyphen, Arabic letter
    # mark, Mongolian vowel separator, zero-width and bidi controls, invisible operators,
    # interlinear annotation...
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    # ...blank letters that only hide text (combining grapheme joiner, Hangul fillers), UTF-16
    # surrogates (a lone one cannot be written as UTF-8) and non-characters.
    "\u034f\u115f\u1160\u3164\uffa0\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
)
_INVISIBLE_PAST_FFFF = (
    # Egyptian and musical format marks, tag characters and the other planes' non-characters.
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
    + "".join(f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(1, 17))
)
INVISIBLE = _INVISIBLE_BELOW_10000 + _INVISIBLE_PAST_FFFF
"""The characters `normalise_text` removes, as the body of a regex class; the README lists them."""
_CONTROL = re.compile(f"[{INVISIBLE}]")
"""All of them: slow on long text (a class with ranges past U+FFFF is searched range by range)."""
_INVISIBLE_BMP = re.compile(f"[{_INVISIBLE_BELOW_10000}]")
"""Those below U+10000: the regex engine makes a bitmap of them (30-60 times faster on long text)."""
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_ASCII_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise_text(text: str) -> str:
    """NFKC, control and invisible characters removed, whitespace collapsed; otherwise unchanged."""
    if text.isascii():  # NFKC leaves ASCII unchanged, and only C0 controls and DEL can be there
        text = _ASCII_CONTROL.sub("", text)
    else:
        text = _INVISIBLE_BMP.sub("", unicodedata.normalize("NFKC", text))
        if _ASTRAL.search(text):  # tag characters and other invisible ones past U+FFFF: rare
            text = _CONTROL.sub("", text)
    # str.split() collapses the same whitespace as `\s+`, in C.
    return " ".join(text.split())


def title_key(title: str, *, normalised: bool = False) -> str:
    """Key for 'equal ignoring case, punctuation and spacing'; `normalised`: already through normalise_text."""
    return _NOT_WORD.sub("", (title if normalised else normalise_text(title)).casefold())


def abstract_key(abstract: str, *, normalised: bool = False) -> str:
    """Key for 'equal ignoring spacing'; `normalised`: already through normalise_text."""
    return "".join((abstract if normalised else normalise_text(abstract)).split())


def content_hash(*parts: str, length: int = 8) -> str:
    """A short hex digest of the parts; stable across machines, runs and hash seeds."""
    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:length]


def make_slug(text: str, max_length: int = 60) -> str:
    """A readable ASCII URL segment (may be empty for text without letters or digits)."""
    text = normalise_text(text)
    if text.isascii() and "&" not in text:
        return _ascii_slug(text, max_length)
    return slugify(text, max_length=max_length, word_boundary=True, save_order=True)


def _ascii_slug(text: str, max_length: int) -> str:
    """`slugify` of ASCII text without `&`, in its own steps minus those that change nothing.

    Unicode normalisation and transliteration leave ASCII as it is, and entities need `&`;
    the rest is python-slugify's legacy pipeline with its patterns (tested against it).
    A paper's URL is its slug: this must never differ. 14 -> 4 us a title (1 s at 100k papers).
    """
    text = _QUOTE.sub("-", text).lower()
    text = _DIGIT_COMMA.sub("", text)
    text = _DISALLOWED.sub("-", text)
    text = _DASHES.sub("-", text).strip("-")
    return smart_truncate(text, max_length, True, "-", True) if max_length > 0 else text


# python-slugify's own patterns (its default, legacy pipeline), written here rather than read from
# its private module; tests/test_records.py checks `make_slug` against `slugify` itself.
_QUOTE = re.compile(r"[']+")
_DIGIT_COMMA = re.compile(r"(?<=\d),(?=\d)")
_DISALLOWED = re.compile(r"[^-a-zA-Z0-9]+")
_DASHES = re.compile(r"-{2,}")


RESERVED_SEGMENTS = frozenset(
    {"index", "con", "prn", "aux", "nul"}
    | {f"{device}{n}" for device in ("com", "lpt") for n in (*"0123456789", "¹", "²", "³")}
)
"""URL segments no paper, source or topic may take: `index` is each folder's hub page (the list
of all digests, the topics overview), the others are device names Windows will not create as
files or folders (a checkout of the built site would break)."""


def unique_segment(segment: str, taken: set[str] | frozenset[str], *salt: str) -> str:
    """`segment`, or `segment-<6 hex digits of a hash of salt>` when it is reserved or taken.

    Deterministic: the same segment, salt and taken set give the same answer. The caller adds
    the result to `taken`.
    """
    candidate, attempt = segment, 0
    while candidate in taken or candidate in RESERVED_SEGMENTS or not candidate:
        attempt += 1
        suffix = content_hash(*salt, *(["again"] * (attempt - 1)), length=6)
        candidate = f"{segment}-{suffix}" if segment else suffix
    return candidate
