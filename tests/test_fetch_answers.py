"""What the fetch command stores: answers combined by item key, files written whole and
idempotently, XML parsed without entities, file names from the query."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from replay_server import OWN

from generator.fetch.answers import ArxivAtom, ArxivRss, InvalidAnswer, JsonList
from generator.fetch.apis import query_slug
from generator.fetch.client import FetchError
from generator.fetch.specs import FeedSpec, parse_feed
from generator.fetch.store import save_answer, write_atomically

FEED = """<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns="http://www.w3.org/2005/Atom">
  <title>arXiv Query</title>
  <opensearch:totalResults>{total}</opensearch:totalResults>
{entries}</feed>
"""


def atom(*ids: str, total: int = 3) -> bytes:
    entries = "".join(f"  <entry><id>http://arxiv.org/abs/{i}</id><title>Paper {i}</title></entry>\n" for i in ids)
    return FEED.format(total=total, entries=entries).encode()


def keys(kind: ArxivAtom | ArxivRss | JsonList, body: bytes) -> list[str]:
    return [key for key, _ in kind.items(body)]


def test_atom_entries_are_keyed_without_their_version() -> None:
    assert keys(ArxivAtom(), atom("2005.14124v2", "cs/0503050v1")) == [
        "http://arxiv.org/abs/2005.14124",
        "http://arxiv.org/abs/cs/0503050",
    ]


def test_atom_union_keeps_the_first_of_each_paper_in_order() -> None:
    combined = ArxivAtom().union([atom("1v1", "2v1", "2v2"), atom("3v1", "1v3", "4v1")])
    assert keys(ArxivAtom(), combined) == [f"http://arxiv.org/abs/{n}" for n in (1, 2, 3, 4)]
    assert b"<id>http://arxiv.org/abs/1v1</id>" in combined and b"1v3" not in combined
    assert combined.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<feed")
    assert b"<opensearch:totalResults>3</opensearch:totalResults>" in combined


def test_a_union_that_adds_nothing_is_the_first_answer_byte_for_byte() -> None:
    first = atom("1v1", "2v1")
    assert ArxivAtom().union([first, atom("2v2")]) is first
    hf = (OWN / "hf-daily.json").read_bytes()
    assert JsonList().union([hf, hf]) is hf


def test_json_union_by_paper_id() -> None:
    first = json.dumps([{"paper": {"id": "1"}, "n": 1}, {"paper": {"id": "2"}}]).encode()
    later = json.dumps([{"paper": {"id": "3"}}, {"paper": {"id": "1"}, "n": 2}, {"no": "id"}]).encode()
    combined = json.loads(JsonList().union([first, later]))
    assert combined == [{"paper": {"id": "1"}, "n": 1}, {"paper": {"id": "2"}}, {"paper": {"id": "3"}}, {"no": "id"}]


def test_rss_items_keyed_by_guid_without_version() -> None:
    body = (OWN / "rss-cs.LG.xml").read_bytes()
    assert keys(ArxivRss(), body) == ["oai:arXiv.org:2202.12139", "oai:arXiv.org:2005.14124"]
    assert ArxivRss().published(ArxivRss().root(body)) == "Mon, 02 Jun 2025 00:00:00 -0400"


def test_arxiv_error_and_total() -> None:
    error = (
        atom("x")
        .replace(b"http://arxiv.org/abs/x", b"https://arxiv.org/api/errors#bad")
        .replace(b"<title>Paper x</title>", b"<title>Error</title><summary>incorrect id format</summary>")
    )
    root = ArxivAtom().root(error)
    assert ArxivAtom.error(root) == "incorrect id format"
    assert ArxivAtom.error(ArxivAtom().root(atom("1"))) is None
    assert ArxivAtom.total(ArxivAtom().root(atom("1", total=214881))) == 214881


def entity_feed(declarations: str, title: str) -> bytes:
    return (
        f'<?xml version="1.0"?><!DOCTYPE feed [{declarations}]>'
        '<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>http://arxiv.org/abs/1</id>'
        f"<title>{title}</title></entry></feed>"
    ).encode()


def test_xml_with_entity_declarations_is_refused(tmp_path: Path) -> None:
    """No external entity is read, no billion laughs multiplied: a DOCTYPE is not what these APIs send."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET", "utf-8")
    with pytest.raises(InvalidAnswer, match="has a DOCTYPE") as caught:
        ArxivAtom().items(entity_feed(f'<!ENTITY x SYSTEM "file://{secret}">', "&x;"))
    assert "TOP-SECRET" not in str(caught.value)
    laughs = "".join(f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10))
    with pytest.raises(InvalidAnswer, match=r"has a DOCTYPE|not valid XML"):
        ArxivRss().items(entity_feed(f'<!ENTITY l0 "lol">{laughs}', "&l9;").replace(b"feed", b"rss"))


@pytest.mark.parametrize(
    ("kind", "body", "message"),
    [
        (JsonList(), b"", "not valid JSON"),
        (JsonList(), b"null", "expected a JSON list of papers, got NoneType"),
        (ArxivAtom(), b"", "not valid XML"),
        (ArxivAtom(), b"<feed/>", "expected an Atom <feed>, got <feed>"),
        (ArxivRss(), b"<rss version='2.0'/>", "expected an RSS <rss><channel>, got <rss>"),
    ],
)
def test_invalid_answers(kind: JsonList | ArxivAtom | ArxivRss, body: bytes, message: str) -> None:
    with pytest.raises(InvalidAnswer, match=message):
        kind.items(body)


def test_save_new_unchanged_updated(tmp_path: Path) -> None:
    kind = ArxivAtom()
    first = save_answer(tmp_path / "new", "a.xml", atom("1v1", "2v1"), kind)
    assert (first.outcome, first.items, first.kept) == ("new", 2, 0)
    again = save_answer(tmp_path / "new", "a.xml", atom("1v1", "2v1").replace(b"arXiv Query", b"made later"), kind)
    assert (again.outcome, again.items) == ("unchanged", 2)
    assert first.path.read_bytes() == atom("1v1", "2v1")
    updated = save_answer(tmp_path / "new", "a.xml", atom("2v2", "3v1"), kind)
    assert (updated.outcome, updated.items, updated.kept) == ("updated", 3, 1)
    assert keys(kind, first.path.read_bytes()) == [f"http://arxiv.org/abs/{n}" for n in (2, 3, 1)]
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["a.xml"]


def test_an_unreadable_file_already_there_is_left_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_bytes(b"edited by hand")
    with pytest.raises(FetchError, match=r"a\.xml: already there and not a readable arXiv API Atom feed"):
        save_answer(tmp_path, "a.xml", atom("1"), ArxivAtom())
    assert (tmp_path / "a.xml").read_bytes() == b"edited by hand"


def test_a_failed_write_leaves_no_temp_file_and_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.xml").write_bytes(atom("1"))

    def refuse(source: str, target: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(FetchError, match=r"a\.xml: cannot write \(No space left on device\); nothing written"):
        save_answer(tmp_path, "a.xml", atom("2"), ArxivAtom())
    assert [p.name for p in tmp_path.iterdir()] == ["a.xml"]
    assert (tmp_path / "a.xml").read_bytes() == atom("1")


def test_write_atomically_makes_the_folder(tmp_path: Path) -> None:
    write_atomically(tmp_path / "a" / "b.json", b"[]")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["b.json"]
    assert (tmp_path / "a" / "b.json").stat().st_mode & 0o777 == 0o644


def test_query_slugs() -> None:
    assert query_slug("cat:cs.LG") == "cat-cs-lg"
    assert query_slug('all:"large language models" AND cat:cs.CL') == "all-large-language-models-and-cat-cs-cl"
    assert query_slug("::") == "query"
    assert len(query_slug("ti:" + "transformer " * 20)) <= 60


def test_feed_specs() -> None:
    assert parse_feed({"hf": "daily"}) == (FeedSpec("hf", "daily"), [])
    assert parse_feed({"arxiv": " cat:cs.LG ", "max": 200, "sort": "relevance"}) == (
        FeedSpec("arxiv", "cat:cs.LG", 200, "relevance"),
        [],
    )
    assert parse_feed({"rss": "cs.CL+cs.LG", "endpoint": "http://127.0.0.1:8/rss"}) == (
        FeedSpec("rss", "cs.CL+cs.LG", endpoint="http://127.0.0.1:8/rss"),
        [],
    )
    assert parse_feed({"arxiv": "x", "max": True}) == (None, ["max: expected a whole number from 1 to 10000, got True"])
    assert parse_feed({"rss": "cs.LG", "endpoint": "ftp://x"}) == (
        None,
        ["endpoint 'ftp://x' is not an http:// or https:// address"],
    )
