"""The plugin's options, declared once with MkDocs' own config machinery, and the build options.

Users configure paper-digest in `mkdocs.yml` under `plugins: - paper-digest:`; MkDocs
validates every option and reports `Config value ...` messages, warning on unknown keys.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mkdocs.config import base
from mkdocs.config import config_options as c

from generator.fetch.specs import FeedsOption
from generator.ingest.dates import SourceSettings
from generator.website.datafiles import DEFAULT_SHARD_BYTES, MIN_SHARD_BYTES
from generator.website.sitemaps import SITEMAP_URLS


class DateOption(c.BaseConfigOption[dt.date]):
    """A date written `YYYY-MM-DD` (YAML may already have parsed it into a date)."""

    def run_validation(self, value: object) -> dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise base.ValidationError(f"expected a date YYYY-MM-DD, got {value!r}")


class SourceOverride(base.Config):
    """Settings for one source file, keyed by its name in `overrides`."""

    date = c.Optional(DateOption())
    """Date of every entry in the source."""
    title = c.Optional(c.Type(str))
    """Display title of the source's digest page."""
    year = c.Optional(c.Type(int))
    """Year for the page's header date (`May 29`)."""


class DigestConfig(base.Config):
    """Options of the `paper-digest` MkDocs plugin."""

    sources = c.ListOfItems(c.Type(str), default=["content/sources"])
    """Source files or folders, relative to mkdocs.yml."""
    year = c.Optional(c.Type(int))
    """Year for header dates (`May 29`) when neither the file name nor an override gives one."""
    overrides = c.DictOfItems(c.SubConfig(SourceOverride), default={})
    """Per-source settings keyed by source file name: date, title, year."""
    topics = c.Optional(c.Type(str))
    """Taxonomy file (YAML), relative to mkdocs.yml; unset: topics are discovered from the corpus."""
    cache_dir = c.Type(str, default=".paper-digest")
    """Where the generated tree (pages as front matter + HTML, data files, search) and the caches
    are kept, relative to mkdocs.yml."""
    feed_size = c.Type(int, default=50)
    """Number of newest papers in each feed."""
    similar_count = c.Type(int, default=5)
    """Similar papers listed on each paper page (0 to 5)."""
    page_size = c.Type(int, default=100)
    """Papers per page on topic listings (longer listings are split into numbered pages)."""
    data_shard_bytes = c.Type(int, default=DEFAULT_SHARD_BYTES)
    """The most bytes of a data file: above it, papers.json becomes an index of `data/papers-NNNN.json` shards."""
    sitemap_urls = c.Type(int, default=SITEMAP_URLS)
    """The most URLs of one sitemap file (the protocol allows 50,000)."""
    feeds = FeedsOption()
    """What `paper-digest fetch` fetches: a list such as `[{hf: daily}, {arxiv: "cat:cs.LG", max: 200}]`."""

    def validate(self) -> tuple[list[Any], list[Any]]:
        failed, warnings = super().validate()
        if isinstance(self.feed_size, int) and self.feed_size < 1:
            failed.append(("feed_size", base.ValidationError("must be at least 1")))
        if isinstance(self.similar_count, int) and not 0 <= self.similar_count <= 5:
            failed.append(("similar_count", base.ValidationError("must be between 0 and 5")))
        if isinstance(self.page_size, int) and self.page_size < 10:
            failed.append(("page_size", base.ValidationError("must be at least 10")))
        if isinstance(self.data_shard_bytes, int) and self.data_shard_bytes < MIN_SHARD_BYTES:
            failed.append(("data_shard_bytes", base.ValidationError(f"must be at least {MIN_SHARD_BYTES}")))
        if isinstance(self.sitemap_urls, int) and not 1 <= self.sitemap_urls <= SITEMAP_URLS:
            failed.append(("sitemap_urls", base.ValidationError(f"must be between 1 and {SITEMAP_URLS}")))
        return failed, warnings


@dataclass(frozen=True)
class BuildOptions:
    """Everything one build needs, with paths resolved; made by the plugin or the CLI."""

    sources: tuple[Path, ...]
    """Source files and folders."""
    cache_dir: Path
    """The generated tree and the caches live here (outside docs_dir: no serve loop)."""
    year: int | None = None
    """Global year for header dates."""
    settings: dict[str, SourceSettings] = field(default_factory=dict)
    """Per-source overrides."""
    topics_file: Path | None = None
    """Taxonomy file, or None to discover topics."""
    site_name: str = "paper-digest"
    """Site title (for feeds)."""
    site_url: str = ""
    """Public URL of the site, when configured (for feeds, sitemap and BibTeX URLs)."""
    site_author: str = ""
    """MkDocs' `site_author`: the Atom feeds' author (the site name when empty)."""
    feed_size: int = 50
    """Number of newest papers per feed."""
    similar_count: int = 5
    """Similar papers per paper page."""
    page_size: int = 100
    """Papers per topic listing page."""
    data_shard_bytes: int = DEFAULT_SHARD_BYTES
    """The most bytes of `papers.json` or of one data shard."""
    sitemap_urls: int = SITEMAP_URLS
    """The most URLs of one sitemap file."""
    directory_urls: bool = True
    """MkDocs' `use_directory_urls`: generated pages link to `papers/<id>/` or `papers/<id>.html`."""
    site_dir: Path | None = None
    """Where MkDocs writes the site; never read as sources (nor its `.building`/`.old` siblings)."""

    @property
    def not_sources(self) -> tuple[Path, ...]:
        """Folders a sources folder may hold that are never read: the cache and the built site."""
        folders = [self.cache_dir]
        if self.site_dir is not None:
            base = self.site_dir.name.removesuffix(".building").removesuffix(".old")
            folders += [self.site_dir.with_name(base + suffix) for suffix in ("", ".building", ".old")]
        return tuple(folders)


def build_options(
    config: DigestConfig,
    config_dir: Path,
    *,
    site_name: str,
    site_url: str,
    directory_urls: bool = True,
    site_dir: Path | None = None,
    site_author: str = "",
) -> BuildOptions:
    """Resolve validated plugin options against the directory of mkdocs.yml."""
    return BuildOptions(
        sources=tuple((config_dir / source).resolve() for source in config.sources),
        cache_dir=(config_dir / config.cache_dir).resolve(),
        year=config.year,
        settings={
            name: SourceSettings(date=o.date, title=o.title, year=o.year) for name, o in config.overrides.items()
        },
        topics_file=(config_dir / config.topics).resolve() if config.topics else None,
        site_name=site_name,
        site_url=site_url or "",
        site_author=site_author or "",
        feed_size=config.feed_size,
        similar_count=config.similar_count,
        page_size=config.page_size,
        data_shard_bytes=config.data_shard_bytes,
        sitemap_urls=config.sitemap_urls,
        directory_urls=directory_urls,
        site_dir=site_dir.resolve() if site_dir is not None else None,
    )
