"""Safe XML parsing for source files: defusedxml's ElementTree, so entity expansion (the
"billion laughs"), external entities and DTD tricks are refused instead of followed.

The file's size is already bounded by `source_text.MAX_FILE_BYTES`; a document that is cut short or
not well-formed is a `SourceError` naming the file and the line where parsing stopped.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import defusedxml
import defusedxml.ElementTree

from generator.errors import SourceError

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
DC = "{http://purl.org/dc/elements/1.1/}"


def parse_xml(path: str, data: bytes) -> ET.Element:
    """The root element of `data`; raise `SourceError` for XML that is invalid, cut short or unsafe."""
    try:
        return defusedxml.ElementTree.fromstring(data)
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else None
        reason = str(exc).split(":", 1)[0]
        if "no element found" in str(exc):
            reason = "the document ends early (truncated?)"
        raise SourceError(path, line, f"invalid XML: {reason}") from None
    except defusedxml.DefusedXmlException as exc:
        raise SourceError(
            path, None, f"XML with entity declarations or external references is not read ({exc})"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise SourceError(path, None, f"invalid XML: {exc}") from None


def text_of(element: ET.Element | None) -> str:
    """All text inside `element` ("" when it is None)."""
    return "".join(element.itertext()) if element is not None else ""
