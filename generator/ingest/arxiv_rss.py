"""Reader of arXiv's daily announcement feed (RSS 2.0 from `rss.arxiv.org/rss/<category>`).

Per `<item>`: the description starts `arXiv:2506.01234v1 Announce Type: new` (or `cross`,
`replace`, `replace-cross`) and then `Abstract: ...`; `title`, `dc:creator` (the authors in one
string: `A, B and C`), `category` (one per element) and `link` (the abs URL, used when the
description has no id). The feed's day (the channel's `pubDate`, else `lastBuildDate`, in the
feed's own time zone) is the date of every item: the day arXiv announced them. Titles in the
older feed layout end with `(arXiv:ID [cs.CL])`; that tail is dropped.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import xml.etree.ElementTree as ET

from generator.ingest import fields
from generator.ingest.xmlparse import ARXIV, DC, text_of
from generator.models import Listing

log = logging.getLogger(__name__)

LAYOUT = "arxiv-rss"

_ANNOUNCE = re.compile(
    r"^\s*(?:arXiv:(\S+)\s+)?Announce\s+Type:\s*(new|cross|replace-cross|replace)\b\s*(?:Abstract:\s*)?",
    re.I,
)
_OLD_TITLE_TAIL = re.compile(r"\s*\(arXiv:\S+\s*\[[^\]]*\](?:\s+[A-Z]+)?\)\s*$")


def is_rss(root: ET.Element) -> bool:
    """True for an RSS 2.0 `<rss>` root with a channel."""
    return root.tag == "rss" and root.find("channel") is not None


def feed_day(channel: ET.Element) -> dt.date | None:
    """The feed's day: the channel's `pubDate`, else its `lastBuildDate`, else None."""
    for tag in ("pubDate", "lastBuildDate", f"{DC}date"):
        element = channel.find(tag)
        if element is not None:
            day = fields.rfc2822_day(text_of(element)) or fields.iso_day(text_of(element))
            if day is not None:
                return day
    return None


def read_rss(root: ET.Element, maker: fields.RecordMaker) -> Listing:
    """The listing of an arXiv RSS feed; items without an arXiv id are kept with a warning."""
    channel = root.find("channel")
    assert channel is not None  # is_rss checked it
    day = feed_day(channel)
    items = channel.findall("item")
    for number, item in enumerate(items, start=1):
        _item(item, number, day, maker)
    if not items:
        log.info("paper-digest: %s: an RSS feed without items (no announcements that day)", maker.path)
    return Listing(maker.name, maker.path, LAYOUT, tuple(maker.records))


def _item(item: ET.Element, number: int, day: dt.date | None, maker: fields.RecordMaker) -> None:
    """Read one `<item>` into `maker`."""
    description = text_of(item.find("description"))
    match = _ANNOUNCE.match(description)
    announce = match.group(2).lower() if match else None
    element = item.find(f"{ARXIV}announce_type")
    if element is not None and text_of(element).strip().lower() in {"new", "cross", "replace", "replace-cross"}:
        announce = text_of(element).strip().lower()
    abstract = description[match.end() :] if match else description
    paper_id = fields.arxiv_id(match.group(1)) if match and match.group(1) else None
    paper_id = paper_id or fields.arxiv_id(text_of(item.find("link"))) or fields.arxiv_id(text_of(item.find("guid")))
    if paper_id is None:
        maker.problem("warning", None, number, "item without an arXiv id; kept without one")
    title = _OLD_TITLE_TAIL.sub("", text_of(item.find("title")))
    creators = [name for element in item.findall(f"{DC}creator") for name in fields.split_author_string(
        text_of(element))]  # fmt: skip
    terms = [text_of(element) for element in item.findall("category")]
    maker.add(
        None,
        number,
        title,
        abstract,
        arxiv_id=paper_id,
        authors=fields.clean_names(creators),
        categories=fields.categories(terms),
        date=day,
        announce_type=announce,
    )
