"""The small records listing and paper templates receive (view models).

Templates read these by attribute. Slotted dataclasses rather than dicts: Jinja2 looks an
attribute up with `getattr` first and only then by key, so each `entry.title` of a dict
raised and caught an AttributeError; at 100k papers the templates read 3.5 million of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup


@dataclass(frozen=True, slots=True)
class TopicRef:
    """One of a paper's topics, with why it is there."""

    name: str
    md: str
    """Markdown path of the topic's page."""
    reason: str
    primary: bool
    slug: str


@dataclass(frozen=True, slots=True)
class TopicLink:
    """A topic's name and the link to its page from the page that shows it."""

    name: str
    href: Markup


@dataclass(frozen=True, slots=True)
class ListItem:
    """A paper's entry in a listing (topic, day, digest, home and week pages)."""

    title: str
    href: Markup
    """The link to the paper's page from the listing page."""
    date: str
    topics: tuple[TopicLink, ...]
    near_duplicate: bool
    primary: bool = False
    """On a topic's pages: the topic is the paper's primary topic."""
    reason: str = ""
    """On a topic's pages: why the paper has that topic."""


@dataclass(frozen=True, slots=True)
class SeenIn:
    """One appearance of a paper: the day and the listing it was seen in (links from the paper's page)."""

    date: str
    day_href: Markup
    source: str
    digest_href: Markup | None
    position: int


@dataclass(frozen=True, slots=True)
class PaperTopic:
    """One of a paper's topics on its page: name, link, why, and whether it is the primary one."""

    name: str
    href: Markup
    reason: str
    primary: bool


@dataclass(frozen=True, slots=True)
class NearRef:
    """A likely duplicate of a paper."""

    title: str
    href: Markup
    score: str
    kind: str
    date: str


@dataclass(frozen=True, slots=True)
class SimilarRef:
    """A similar paper."""

    title: str
    href: Markup
    score: str
