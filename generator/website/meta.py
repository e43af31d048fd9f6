"""Short plain-text descriptions of papers for `<meta name="description">` and Open Graph."""

from __future__ import annotations

import logging
import re

from generator.text import normalise_text

log = logging.getLogger(__name__)


def _word_set(text: str) -> frozenset[str]:
    """The whitespace-separated words of `text` (keeps long word lists readable)."""
    return frozenset(text.split())


ELLIPSIS = "…"

# Tokens ending in a full stop that do not end a sentence (compared in lower case, without
# leading brackets or quotes).
_ABBREVIATIONS = _word_set(
    """
    e.g. i.e. cf. vs. viz. al. etc. approx. resp. fig. figs. eq. eqs. sec. secs. ref. refs.
    no. nos. vol. pp. ch. dr. mr. mrs. ms. prof. st. jr. sr. inc. ltd. corp. dept. univ.
    appx. tab. thm. def. prop. lem. cor. alg. ca. avg. w.r.t. a.k.a. et.
    """
)
# After "et al.", "etc." or a capital letter, a new sentence usually starts with one of these words.
_SENTENCE_STARTERS = _word_set(
    """
    We Our This These That Those The In It Its Here However Moreover Furthermore Finally
    Unlike Experiments Results Code Additionally Further Such Then Thus Hence Therefore
    """
)
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s)")
_OPENERS = "([{\"'“‘"


def _ends_sentence(text: str, end: int) -> bool:
    """True when the punctuation ending at `end` (exclusive) closes a sentence."""
    rest = text[end : end + 80].lstrip()  # the next word is all that is looked at: never copy the rest
    if not rest:
        return True
    following = rest.split(" ", 1)[0]
    if following[0].islower():
        return False
    start = text.rfind(" ", 0, end) + 1
    token = text[start:end].lstrip(_OPENERS).rstrip("\"'”’)]").lower()
    if not token.endswith("."):
        return True  # "!" or "?"
    if token in {"al.", "etc."}:
        return following.strip(_OPENERS + ",;:") in _SENTENCE_STARTERS
    if token in _ABBREVIATIONS:
        return False
    if len(token) == 2 and token[0].isalpha():
        # An initial ("J. Smith"), unless a usual sentence start follows ("... Z. We").
        return following.strip(_OPENERS + ",;:") in _SENTENCE_STARTERS
    return True


def first_sentence(abstract: str, max_chars: int = 200) -> str:
    """The abstract's first sentence as plain text of at most `max_chars` characters.

    Whitespace is collapsed and control characters are removed. The text is cut after the
    first sentence ("e.g.", "i.e.", "et al.", "Fig." and initials do not end one); when that
    sentence is longer than `max_chars`, it is cut at the last word boundary that fits and
    ends with "…" (the ellipsis counts towards `max_chars`). Empty for an empty abstract.
    """
    text = normalise_text(abstract)
    if not text or max_chars <= 0:
        return ""
    # A sentence ending past `max_chars` is cut like the whole text, so only the text up to
    # there is searched: linear work however long the abstract ("e.g. " 800,000 times).
    for match in _SENTENCE_END.finditer(text, 0, max_chars + 80):
        if _ends_sentence(text, match.end()):
            text = text[: match.end()]
            break
    if len(text) <= max_chars:
        return text
    room = text[: max_chars - len(ELLIPSIS) + 1]
    cut = room.rfind(" ")
    head = room[:cut] if cut > 0 else room[: max_chars - len(ELLIPSIS)]
    return head.rstrip(" ,;:-–—([{\"'“‘") + ELLIPSIS
