"""The small records listing and paper templates receive (view models), and what they are made from.

Templates read these by attribute. Slotted dataclasses rather than dicts: Jinja2 looks an
attribute up with `getattr` first and only then by key, so each `entry.title` of a dict
raised and caught an AttributeError; at 100k papers the templates read 3.5 million of them.

The `*Input` records are what page makers receive instead (`page_model.LazyPage.inputs`): plain
values gathered from the corpus, digested for the page's key, and turned into the views above
(links, dates as text) only when the page is rendered.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple

from markupsafe import Markup


class TopicRef(NamedTuple):
    """One of a paper's topics, with why it is there (page inputs, see below)."""

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


class ItemInput(NamedTuple):
    """What a listing entry is made from (`page_model.list_item`): the paper's id, title and newest
    day, the one topic reference the entry uses, and whether the paper has possible duplicates."""

    id: str
    title: str
    date: dt.date | None
    ref: TopicRef | None
    """On a topic's pages: the paper's reference to that topic; elsewhere its primary topic."""
    near_duplicate: bool


class NearInput(NamedTuple):
    """A likely duplicate as a paper page is made from it."""

    id: str
    title: str
    score: float
    kind: str
    date: dt.date | None


class SimilarInput(NamedTuple):
    """A similar paper as a paper page is made from it."""

    id: str
    title: str
    score: float


class SeenInput(NamedTuple):
    """One appearance of a paper with the title and slug of its listing (None: no digest page)."""

    date: dt.date | None
    source: str
    slug: str | None
    position: int
