"""Rendering a page: the Jinja2 environment and a `PageSpec` to the bytes MkDocs reads.

Every value a template outputs goes through `_finalize`, which escapes it (`escaping.escape_text`)
unless it is already `Markup`; headings get stable ids; the page is written as front matter + HTML,
which MkDocs takes as the page's content without running Markdown (`RenderedPage` is what the
plugin needs of it: the escaped title, the table of contents and where the body starts).
"""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass
from typing import Any

import jinja2
from markdown.extensions.toc import slugify, unique
from markupsafe import Markup

from generator.config import BuildOptions
from generator.models import Paper
from generator.website.bibtex import bibtex_entry
from generator.website.escaping import escape_attribute, escape_text, front_matter_value
from generator.website.feeds import absolute_url
from generator.website.page_model import Linker, PageSpec


def _finalize(value: Any) -> Any:
    """Escape every template value that is not already `Markup` (the one escaping point)."""
    if isinstance(value, Markup):
        return value
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return str(value)
    return escape_text(str(value))


@functools.cache
def template_environment() -> jinja2.Environment:
    """The Jinja2 environment for page templates: strict, every output value escaped by `_finalize`.

    `_finalize` sees every `{{ ... }}` value and escapes all that is not `Markup`, so Jinja's own
    autoescaping is off: it only re-wrapped each already escaped value (two more calls and a copy
    per expression, a quarter of a listing page's rendering). A macro's output is template HTML
    made of finalized values; call sites mark it `| safe`.
    """
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("generator", "templates"),
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # one build renders each template many times; no need to stat it each time
    )
    env.filters["fm"] = front_matter_value
    env.filters["attr"] = escape_attribute
    return env


@dataclass(frozen=True)
class RenderedPage:
    """A generated page as the plugin gives it to MkDocs, bypassing Markdown."""

    meta: dict[str, Any]
    """Front matter: HTML-escaped strings (Material prints `title` and `description` as they are)."""
    toc: tuple[tuple[int, str, str], ...]
    """(level, id, HTML text) of each heading, in order."""
    body_start: int
    """Offset of the HTML body in the file's bytes (after the front matter)."""


_HEADING = re.compile(r"<h([1-6])((?: class=\"[^\"]*\")?)>(.*?)</h\1>", re.S)


_TAG = re.compile(r"<[^>]*>")


def _add_heading_ids(body: str) -> tuple[str, tuple[tuple[int, str, str], ...]]:
    """Give each heading the id Python-Markdown's `toc` extension would, and list them."""
    used: set[str] = set()
    toc: list[tuple[int, str, str]] = []

    def add_id(match: re.Match[str]) -> str:
        level, attrs, inner = match.groups()
        text = _TAG.sub("", inner).strip()
        anchor = unique(_heading_slug(text), used)
        toc.append(_shared((int(level), anchor, text)))
        return f'<h{level} id="{anchor}"{attrs}>{inner}</h{level}>'

    return _HEADING.sub(add_id, body), tuple(toc)


_SHARED: dict[Any, Any] = {}


_SHARED_LIMIT = 4096


def _shared(value: Any) -> Any:
    """One object for values that recur on many pages (section headings, `hide` lists).

    What the plugin keeps of every page stays in memory for the whole build: at 100k papers,
    a copy of "Abstract", "Similar papers" ... per page was about half of it (90 MB).
    """
    known = _SHARED.get(value)
    if known is not None:
        return known
    if len(_SHARED) < _SHARED_LIMIT:
        _SHARED[value] = value
    return value


@functools.lru_cache(maxsize=1024)
def _heading_slug(text: str) -> str:
    """The id Python-Markdown's `toc` gives a heading's text; most headings recur on many pages."""
    return slugify(html.unescape(text), "-") or "section"


def _front_matter(meta: dict[str, Any]) -> str:
    lines = ["---"]
    for key, value in meta.items():
        if isinstance(value, list | tuple):
            lines.append(f"{key}:")
            lines.extend(f"  - {front_matter_value(item)}" for item in value)
        else:
            lines.append(f"{key}: {front_matter_value(value)}")
    lines.append("---\n")
    return "\n".join(lines)


def render_page(spec: PageSpec, options: BuildOptions) -> tuple[bytes, RenderedPage]:
    """One page's file bytes (front matter + HTML) and what the plugin needs of it."""
    template = template_environment().get_template(spec.template)  # cached by Jinja (auto_reload is off)
    link = Linker(spec.path, options.directory_urls)
    context = {"link": link, **spec.context}
    if spec.template == "paper.html.j2":
        paper: Paper = spec.context["paper"]
        context["bibtex"] = bibtex_entry(
            paper, url=absolute_url(options.site_url, paper.path), key=spec.context.get("cite_key")
        )
    body, toc = _add_heading_ids(template.render(context))
    meta = {key: value for key, value in spec.meta.items() if value}
    head = _front_matter(meta).encode("utf-8")
    escaped = {
        key: _shared(tuple(str(escape_attribute(v)) for v in value))
        if isinstance(value, list | tuple)
        else str(escape_attribute(value))
        for key, value in meta.items()
    }
    return head + body.encode("utf-8"), RenderedPage(escaped, toc, len(head))
