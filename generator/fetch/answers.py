"""The three kinds of answer the fetch command stores, checked before anything is written.

Each kind says what its items are (a key and the item's canonical bytes, so two answers can be
compared item by item) and how answers combine into one (`union`: the first answer's items,
then every item of the later ones whose key is new; the first answer's bytes unchanged when
nothing is added). The arXiv API's pages, and a re-fetch of a day already on disk, are combined
this way. XML is parsed with entities and the network off, and a DOCTYPE is refused (no external
entity, no billion laughs); an answer that does not parse, or is not the kind expected, is an `InvalidAnswer`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any, ClassVar

from lxml import etree

from generator.errors import DigestError

ATOM = "{http://www.w3.org/2005/Atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
Item = tuple[str, bytes]
"""An item's key (what makes it the same item in another answer) and its canonical bytes."""
_VERSION = re.compile(r"v\d+$")


class InvalidAnswer(DigestError):
    """An answer that is not what its API sends: not JSON or XML, or the wrong shape."""


def _parse_xml(body: bytes) -> Any:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise InvalidAnswer(f"not valid XML ({' '.join(str(exc).split())[:200]})") from None
    if root is None:
        raise InvalidAnswer("not valid XML (no document element)")
    if root.getroottree().docinfo.doctype:
        raise InvalidAnswer("has a DOCTYPE (entity declarations), which these APIs never send")
    return root


def _text(element: Any, path: str) -> str:
    found = element.find(path)
    return " ".join((found.text or "").split()) if found is not None else ""


def _canonical(element: Any) -> bytes:
    return bytes(etree.tostring(element, encoding="UTF-8", with_tail=False))


def _key_or_digest(key: str, canonical: bytes) -> str:
    return key or "sha256:" + hashlib.sha256(canonical).hexdigest()


def _serialise(root: Any) -> bytes:
    return bytes(etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")) + b"\n"


class AnswerKind:
    """One kind of answer; subclasses say how to find its items."""

    name: ClassVar[str] = ""
    """What the answer is, for messages."""
    suffix: ClassVar[str] = ""
    """The file extension it is stored with."""

    def items(self, body: bytes) -> list[Item]:
        """The items of an answer, in order (raises `InvalidAnswer`)."""
        raise NotImplementedError

    def union(self, bodies: Sequence[bytes]) -> bytes:
        """One answer: the first one's items, then the new items of each later one, by key."""
        raise NotImplementedError


class JsonList(AnswerKind):
    """Hugging Face `daily_papers`: a JSON list of items, each `{paper: {id: <arXiv id>, ...}, ...}`."""

    name = "Hugging Face daily papers JSON"
    suffix = ".json"

    def _load(self, body: bytes) -> list[Any]:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise InvalidAnswer(f"not valid JSON ({' '.join(str(exc).split())[:200]})") from None
        if not isinstance(data, list):
            raise InvalidAnswer(f"expected a JSON list of papers, got {type(data).__name__}")
        return data

    @staticmethod
    def _item(item: Any) -> Item:
        canonical = json.dumps(item, sort_keys=True, ensure_ascii=False).encode()
        paper = item.get("paper") if isinstance(item, dict) else None
        key = paper.get("id") if isinstance(paper, dict) else None
        return _key_or_digest(key if isinstance(key, str) else "", canonical), canonical

    def items(self, body: bytes) -> list[Item]:
        return [self._item(item) for item in self._load(body)]

    def union(self, bodies: Sequence[bytes]) -> bytes:
        first = self._load(bodies[0])
        seen: set[str] = set()
        kept: list[Any] = []
        for items in [first, *(self._load(body) for body in bodies[1:])]:
            for item in items:
                key = self._item(item)[0]
                if key not in seen:
                    seen.add(key)
                    kept.append(item)
        if len(kept) == len(first):
            return bodies[0]
        return json.dumps(kept, ensure_ascii=False, indent=1).encode() + b"\n"


class XmlItems(AnswerKind):
    """An XML feed whose items are the children `item_tag` of one container element."""

    item_tag: ClassVar[str] = ""

    def root(self, body: bytes) -> Any:
        """The parsed document element, checked to be this kind's (raises `InvalidAnswer`)."""
        raise NotImplementedError

    def container(self, root: Any) -> Any:
        """The element the items are children of."""
        return root

    def key(self, element: Any) -> str:
        """What makes an item the same item in another answer ('' when it has nothing)."""
        raise NotImplementedError

    def _items(self, root: Any) -> list[tuple[str, bytes, Any]]:
        found = []
        for element in self.container(root).findall(self.item_tag):
            canonical = _canonical(element)
            found.append((_key_or_digest(self.key(element), canonical), canonical, element))
        return found

    def items(self, body: bytes) -> list[Item]:
        return [(key, canonical) for key, canonical, _ in self._items(self.root(body))]

    def union(self, bodies: Sequence[bytes]) -> bytes:
        root = self.root(bodies[0])
        container = self.container(root)
        seen: set[str] = set()
        changed = False
        for key, _, element in self._items(root):
            if key in seen:
                container.remove(element)
                changed = True
            seen.add(key)
        for body in bodies[1:]:
            for key, _, element in self._items(self.root(body)):
                if key not in seen:
                    seen.add(key)
                    self._append(container, element)
                    changed = True
        return _serialise(root) if changed else bodies[0]

    def _append(self, container: Any, element: Any) -> None:
        last = container.findall(self.item_tag)
        if last:
            last[-1].addnext(element)
        else:
            container.append(element)


class ArxivAtom(XmlItems):
    """The arXiv API's Atom feed; entries keyed by their abs URL without its version."""

    name = "arXiv API Atom feed"
    suffix = ".xml"
    item_tag = f"{ATOM}entry"

    def root(self, body: bytes) -> Any:
        root = _parse_xml(body)
        if root.tag != f"{ATOM}feed":
            raise InvalidAnswer(f"expected an Atom <feed>, got <{etree.QName(root).localname}>")
        return root

    def key(self, element: Any) -> str:
        return _VERSION.sub("", _text(element, f"{ATOM}id"))

    @staticmethod
    def error(root: Any) -> str | None:
        """arXiv's own report of a bad request (an entry whose id is under `api/errors`), if any."""
        for entry in root.findall(f"{ATOM}entry"):
            if "/api/errors" in _text(entry, f"{ATOM}id"):
                return _text(entry, f"{ATOM}summary") or _text(entry, f"{ATOM}id")
        return None

    @staticmethod
    def total(root: Any) -> int | None:
        """`opensearch:totalResults`: how many entries the query has in all."""
        text = _text(root, f"{OPENSEARCH}totalResults")
        return int(text) if text.isdigit() else None

    def count(self, root: Any) -> int:
        """The entries of one page."""
        return len(root.findall(self.item_tag))


class ArxivRss(XmlItems):
    """arXiv's daily announcement feed (RSS 2.0); items keyed by `guid`, else `link`."""

    name = "arXiv RSS feed"
    suffix = ".xml"
    item_tag = "item"

    def root(self, body: bytes) -> Any:
        root = _parse_xml(body)
        if root.tag != "rss" or root.find("channel") is None:
            raise InvalidAnswer(f"expected an RSS <rss><channel>, got <{etree.QName(root).localname}>")
        return root

    def container(self, root: Any) -> Any:
        return root.find("channel")

    def key(self, element: Any) -> str:
        return _VERSION.sub("", _text(element, "guid") or _text(element, "link"))

    @staticmethod
    def published(root: Any) -> str:
        """The channel's `pubDate` (else `lastBuildDate`) as written, or ''."""
        return _text(root, "channel/pubDate") or _text(root, "channel/lastBuildDate")
