"""Text normalisation and the keys that decide when two records are the same paper."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from slugify import _legacy as _slugify_legacy
from slugify import slugify

# Control characters (C0, DEL, C1) except the whitespace we collapse anyway; also
# bidi controls and zero-width characters, which only ever hide or reorder text.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise_text(text: str) -> str:
    """NFKC, control and invisible characters removed, whitespace collapsed; otherwise unchanged."""
    if not text.isascii():  # NFKC leaves ASCII unchanged; skipping it halves the cost
        text = unicodedata.normalize("NFKC", text)
    # str.split() collapses the same whitespace as `\s+`, in C.
    return " ".join(_CONTROL.sub("", text).split())


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
    the rest is python-slugify's legacy pipeline with its own patterns (tested against it).
    A paper's URL is its slug: this must never differ. 14 -> 4 us a title (1 s at 100k papers).
    """
    text = _slugify_legacy.QUOTE_PATTERN.sub("-", text).lower()
    text = _slugify_legacy.NUMBERS_PATTERN.sub("", text)
    text = _slugify_legacy.DISALLOWED_CHARS_PATTERN.sub("-", text)
    text = _slugify_legacy.DUPLICATE_DASH_PATTERN.sub("-", text).strip("-")
    return _slugify_legacy.smart_truncate(text, max_length, True, "-", True) if max_length > 0 else text
