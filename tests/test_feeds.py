"""Tests for generator.website.feeds: Atom/RSS output parsed back with feedparser."""

from __future__ import annotations

import datetime as dt
import html
import random
from pathlib import Path

import feedgen.entry
import feedgen.feed
import feedparser
import pytest

from generator.models import Appearance, Paper
from generator.website.feeds import (
    EMPTY_FEED_DATE,
    LOCAL_SITE_URL,
    FeedEntry,
    absolute_url,
    latest_entries,
    make_feeds,
    xml_text,
)

SITE = "https://example.org/digest/"


def paper(pid: str, *dates: dt.date | None, title: str = "", abstract: str = "An abstract.") -> Paper:
    appearances = tuple(
        Appearance(source=f"s{i}.txt", date=date, position=i + 1, line=i + 1) for i, date in enumerate(dates)
    )
    return Paper(id=pid, title=title or f"Title {pid}", abstract=abstract, appearances=appearances)


def entry(pid: str, day: int, title: str = "", abstract: str = "", categories: tuple[str, ...] = ()) -> FeedEntry:
    return FeedEntry(
        id=pid,
        title=title or f"Title {pid}",
        abstract=abstract,
        url=f"{SITE}papers/{pid}/",
        date=dt.date(2025, 5, day),
        categories=categories,
    )


def feeds(
    entries: list[FeedEntry], limit: int = 50, site_url: str = SITE, updated: dt.date | None = None
) -> tuple[bytes, bytes]:
    return make_feeds(
        entries,
        title="Paper digest",
        site_url=site_url,
        feed_url_atom="feed.xml",
        feed_url_rss="rss.xml",
        description="The newest papers",
        limit=limit,
        updated=updated,
    )


def parse(data: bytes) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def test_latest_entries_order_limit_and_undated() -> None:
    papers = [
        paper("c", dt.date(2025, 5, 1)),
        paper("b", dt.date(2025, 5, 3)),
        paper("a", dt.date(2025, 5, 3)),
        paper("old-but-seen-again", dt.date(2025, 1, 1), dt.date(2025, 5, 4)),
        paper("undated", None),
    ]
    got = latest_entries(papers, {"a": ["NLP", "Vision"]}, SITE, limit=3)
    assert [e.id for e in got] == ["old-but-seen-again", "a", "b"]
    assert got[0].date == dt.date(2025, 5, 4)  # the newest appearance counts
    assert got[1].categories == ("NLP", "Vision")
    assert got[2].categories == ()
    assert got[1].url == "https://example.org/digest/papers/a/"
    every = latest_entries(papers, {}, SITE, limit=None)
    assert [e.id for e in every] == ["old-but-seen-again", "a", "b", "c"]


def test_latest_entries_local_build_uses_localhost() -> None:
    (got,) = latest_entries([paper("a", dt.date(2025, 5, 1))], {}, "", limit=5)
    assert got.url == LOCAL_SITE_URL + "papers/a/"
    assert absolute_url("https://x.org/site", "/feed.xml") == "https://x.org/site/feed.xml"
    assert absolute_url("", "https://other.org/a") == "https://other.org/a"


def test_feeds_parse_with_entries_in_order() -> None:
    entries = [entry("b", 2, categories=("NLP",)), entry("a", 2), entry("c", 5, categories=("NLP", "ML"))]
    atom, rss = feeds(entries)
    for data in (atom, rss):
        parsed = parse(data)
        assert [e.link for e in parsed.entries] == [f"{SITE}papers/{pid}/" for pid in ("c", "a", "b")]
        assert [e.title for e in parsed.entries] == ["Title c", "Title a", "Title b"]
        assert [t.term for t in parsed.entries[0].tags] == ["NLP", "ML"]
        assert "tags" not in parsed.entries[1]
        assert parsed.entries[0].published_parsed[:6] == (2025, 5, 5, 0, 0, 0)
        assert parsed.entries[2].published_parsed[:6] == (2025, 5, 2, 0, 0, 0)
        assert parsed.feed.updated_parsed[:6] == (2025, 5, 5, 0, 0, 0)
        assert parsed.feed.title == "Paper digest"
    assert parse(atom).version == "atom10"
    assert parse(rss).version == "rss20"
    assert b"<link>https://example.org/digest/</link>" in rss
    assert b'href="https://example.org/digest/feed.xml" rel="self"' in atom
    assert b'href="https://example.org/digest/rss.xml" rel="self"' in rss


def test_limit_keeps_newest_and_one_entry_per_id() -> None:
    entries = [entry(f"p{day:02d}", day) for day in range(1, 21)] + [entry("p01", 25)]
    atom, _ = feeds(entries, limit=3)
    assert [e.link.split("/")[-2] for e in parse(atom).entries] == ["p01", "p20", "p19"]
    empty_atom, empty_rss = feeds(entries, limit=0)
    assert parse(empty_atom).entries == [] and parse(empty_rss).entries == []


def test_reproducible_and_independent_of_input_order() -> None:
    entries = [entry(f"p{day}", day, abstract=f"Abstract {day}.") for day in range(1, 11)]
    first = feeds(entries)
    shuffled = list(entries)
    random.Random(7).shuffle(shuffled)
    assert feeds(shuffled) == first
    assert feeds(list(reversed(entries))) == first


class _DatetimeLike(type):
    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, dt.datetime)


class _FrozenClock(metaclass=_DatetimeLike):
    """Stands in for feedgen's `datetime`: a clock stuck in 1999."""

    @staticmethod
    def now(tz: dt.tzinfo | None = None) -> dt.datetime:
        return dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=tz)


def test_output_does_not_depend_on_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = [entry("a", 1), entry("b", 2)]
    before = feeds(entries) + feeds([])
    monkeypatch.setattr(feedgen.feed, "datetime", _FrozenClock)
    monkeypatch.setattr(feedgen.entry, "datetime", _FrozenClock)
    after = feeds(entries) + feeds([])
    assert after == before
    assert all(b"1999" not in data for data in after)


def test_empty_feed_has_fixed_date() -> None:
    atom, rss = feeds([])
    assert parse(atom).feed.updated_parsed[:3] == EMPTY_FEED_DATE.timetuple()[:3]
    assert parse(rss).feed.updated_parsed[:3] == EMPTY_FEED_DATE.timetuple()[:3]
    atom, _ = feeds([], updated=dt.date(2025, 6, 1))
    assert parse(atom).feed.updated_parsed[:3] == (2025, 6, 1)


HOSTILE = [
    "<script>alert(1)</script>",
    "{{ 7*7 }}",
    "Fish & Chips &amp; &lt;b&gt;",
    "<![CDATA[ x ]]> ]]>",
    "Tab\there",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_survives_as_literal_text(text: str) -> None:
    atom, rss = feeds([entry("x", 1, title=text, abstract=f"Abstract: {text}", categories=(text,))])
    expected_title = " ".join(text.split())
    for data, summary_is_html in ((atom, False), (rss, True)):
        (got,) = parse(data).entries
        assert got.title == expected_title
        summary = html.unescape(got.summary) if summary_is_html else got.summary
        assert summary == f"Abstract: {expected_title}"
        assert [t.term for t in got.tags] == [expected_title]
    # Atom says what it is; an RSS title is plain text by the specification (feedparser guesses).
    assert parse(atom).entries[0].title_detail.type == "text/plain"
    assert parse(atom).entries[0].summary_detail.type == "text/plain"
    assert b"<script>" not in atom and b"<script>" not in rss


def test_control_characters_are_stripped() -> None:
    title = "Bad\x00 \x01ti\x1ftle\x7f\x85\ufffe"
    atom, rss = feeds([entry("x", 1, title=title, abstract="a\x0bb\x0cc", categories=("t\x02",))])
    for data in (atom, rss):
        (got,) = parse(data).entries
        assert got.title == "Bad title"
        assert html.unescape(got.summary) == "abc"
        assert [t.term for t in got.tags] == ["t"]
    assert xml_text("ok\ttab\nline\r\x00\x08") == "ok\ttab\nline\r"


def test_local_build_feed_urls_are_valid_absolute_urls() -> None:
    atom, rss = feeds([entry("a", 1)], site_url="")
    assert parse(atom).feed.links[0].href == LOCAL_SITE_URL + "feed.xml"
    assert parse(rss).feed.link == LOCAL_SITE_URL
    assert parse(atom).feed.id == LOCAL_SITE_URL + "feed.xml"


def test_per_topic_feed_is_filtered_entries() -> None:
    entries = [entry("a", 1, categories=("NLP",)), entry("b", 2, categories=("ML",)), entry("c", 3)]
    nlp = [e for e in entries if "NLP" in e.categories]
    assert [e.id for e in nlp] == ["a"]
    atom, _ = make_feeds(
        nlp,
        title="Paper digest: NLP",
        site_url=SITE,
        feed_url_atom="topics/nlp/feed.xml",
        feed_url_rss="topics/nlp/rss.xml",
        description="NLP papers",
        limit=10,
    )
    parsed = parse(atom)
    assert [e.link for e in parsed.entries] == [f"{SITE}papers/a/"]
    assert parsed.feed.id == f"{SITE}topics/nlp/feed.xml"


@pytest.mark.parametrize("feed_size", [1, 3, 50])
def test_feed_files_take_the_newest_papers_of_each_feed(tmp_path: Path, feed_size: int) -> None:
    """Only the newest papers become entries; the feeds equal those made from every paper's entry."""
    from benchmarks.corpus import write_corpus
    from generator.build import load_corpus
    from generator.config import BuildOptions
    from generator.website.writers import feed_files

    root = Path(__file__).resolve().parent.parent
    write_corpus(400, tmp_path / "sources", seed=5)  # several days of dated listings
    options = BuildOptions(
        sources=(tmp_path / "sources",),
        cache_dir=tmp_path / "cache",
        topics_file=root / "content" / "topics.yml",
        feed_size=feed_size,
    )
    corpus, _ = load_corpus(options)
    names = {t.slug: t.name for t in corpus.topics.topics}
    by_paper = {
        pid: [names[a.slug] for a in assignments if a.slug in names]
        for pid, assignments in corpus.topics.assignments.items()
    }
    every = latest_entries(corpus.papers, by_paper, options.site_url, None)  # every dated paper's entry
    assert len({e.date for e in every}) > 1 and len(every) > feed_size  # dated, and more than a feed holds
    newest = every[0].date
    expected = {}
    expected["feed.xml"], expected["rss.xml"] = make_feeds(
        every,
        title=options.site_name,
        site_url=options.site_url,
        feed_url_atom="feed.xml",
        feed_url_rss="rss.xml",
        description=f"The newest papers of {options.site_name}",
        limit=feed_size,
        updated=newest,
        author=options.site_name,
    )
    for topic in corpus.topics.topics:
        expected[f"topics/{topic.slug}/feed.xml"], _ = make_feeds(
            [e for e in every if topic.name in e.categories],
            title=f"{options.site_name}: {topic.name}",
            site_url=options.site_url,
            feed_url_atom=f"topics/{topic.slug}/feed.xml",
            feed_url_rss=f"topics/{topic.slug}/rss.xml",
            description=topic.description,
            limit=feed_size,
            updated=newest,
            author=options.site_name,
        )
    assert feed_files(corpus, options) == expected
