"""The MkDocs plugin: runs the generator inside `mkdocs build` and `mkdocs serve`.

The generated tree lives in the cache dir, outside `docs_dir`, and is added to MkDocs'
files in `on_files`; so generated pages never clutter `content/` and `mkdocs serve`
does not rebuild in a loop. Sources and the taxonomy are watched, so editing or adding a
listing while `mkdocs serve` runs updates the preview.

Generated pages are already HTML (writers.py). MkDocs would read each file, parse its front
matter and run Python-Markdown on it; instead `on_files` gives each generated file a
`GeneratedPage` (`File.page`, as Material's blog plugin does for its views), which takes its
meta, body and table of contents from the generator's result in memory. MkDocs and Material
do everything else as for any page (nav, theme, `not_in_nav`). Hand-written pages in
`docs_dir` are read and converted as usual.

The sitemaps are ours (sitemaps.py): MkDocs' one-file `sitemap.xml`, dated by the build
clock, is not rendered; `on_post_build` writes a sitemap index and split files instead.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import mmap
import operator
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File, Files, InclusionLevel
from mkdocs.structure.pages import Page
from mkdocs.structure.toc import get_toc
from tqdm import tqdm

from generator.build import GenerateResult, StageTimer, generate
from generator.config import BuildOptions, DigestConfig, build_options
from generator.errors import DigestError, Problem
from generator.website.chrome import CHROME_SCRIPT, SharedChrome, theme_globals
from generator.website.pages import HUB_PAGES  # the only generated pages that may appear in the nav
from generator.website.render import RenderedPage
from generator.website.sitemaps import sitemap_files
from generator.website.tree import PACK_DIR, finish_tree, restore_tree

# Under "mkdocs." so that MkDocs counts our warnings and `--strict` fails on them.
log = logging.getLogger("mkdocs.plugins.paper_digest")


LEAN_TEMPLATE = "lean.html"
"""The theme template (theme_overrides/lean.html) of generated pages outside the nav."""
_PRE = re.compile(r"(<pre\b.*?</pre>)", re.S | re.I)
_STRIP = operator.methodcaller("strip", " \t\r")


def compact_html(html: str) -> str:
    """The page with each line stripped of the spaces and tabs around it and blank lines dropped.

    Templates are indented for people (Material's base template alone adds about 3.6 KB to a
    page); a browser shows any run of white space as one space, so this changes nothing it
    renders, except inside `<pre>`, which is kept as it is. Line breaks are kept (they are
    white space where it matters, and scripts may rely on them). About 0.1 ms a page.
    """
    if "<pre" not in html:
        return _squeeze(html)
    parts = _PRE.split(html)
    return "".join(part if i % 2 else _squeeze(part) for i, part in enumerate(parts))


def _squeeze(text: str) -> str:
    return "\n".join(filter(None, map(_STRIP, text.split("\n"))))


def report_problems(problems: list[Problem]) -> None:
    """Log input problems where MkDocs (and `--strict`) counts them."""
    for problem in problems:
        (log.error if problem.level == "error" else log.warning)(str(problem))


def toc_tokens(headings: tuple[tuple[int, str, str], ...]) -> list[Any]:
    """Nest (level, id, name) headings the way Python-Markdown's `toc` extension does."""
    root: list[Any] = []
    stack: list[dict[str, Any]] = []
    for level, anchor, name in headings:
        token: dict[str, Any] = {"level": level, "id": anchor, "name": name, "children": []}
        while stack and stack[-1]["level"] >= level:
            stack.pop()
        (stack[-1]["children"] if stack else root).append(token)
        stack.append(token)
    return root


class GeneratedPage(Page):
    """A generated page: meta, HTML and table of contents come from the generator, not from Markdown.

    Made by the plugin in `on_files` for each generated page file, the way Material's blog
    plugin makes its views: MkDocs then uses it (`File.page`) for the nav and the build.
    """

    def __init__(
        self, title: str | None, file: File, config: MkDocsConfig, generated: RenderedPage, html: Callable[[], str]
    ) -> None:
        super().__init__(title, file, config)
        self.generated = generated
        self._html = html

    def read_source(self, config: MkDocsConfig) -> None:
        self.markdown = ""
        self.meta = dict(self.generated.meta)
        if self.file.src_uri not in HUB_PAGES:
            self.meta.setdefault("template", LEAN_TEMPLATE)

    def render(self, config: MkDocsConfig, files: Files) -> None:
        self.content = self._html()
        self.toc = get_toc(toc_tokens(self.generated.toc))
        self.present_anchor_ids = {anchor for _, anchor, _ in self.generated.toc}
        self.links_to_anchors = {}


def nav_titles(nav: Any) -> dict[str, str]:
    """The titles `nav:` in mkdocs.yml gives pages, by path (`- Home: index.md`), at any depth."""
    titles: dict[str, str] = {}
    stack = list(nav or [])
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for title, value in item.items():
                if isinstance(value, str):
                    titles.setdefault(value, str(title))
                elif isinstance(value, list):
                    stack.extend(value)
    return titles


class DigestPlugin(BasePlugin[DigestConfig]):
    """`plugins: - paper-digest` in mkdocs.yml."""

    supports_multiple_instances = False

    def __init__(self) -> None:
        self.source_override: list[Path] | None = None
        """Set by `paper-digest build --sources`: replaces the configured sources."""
        self.options: BuildOptions | None = None
        self.result: GenerateResult | None = None
        self._tree_settled = True
        """False while the generated tree of this build may still have to be undone."""
        self._built = False
        self._packs: dict[str, mmap.mmap] = {}
        """The page packs of this build's tree, mapped while MkDocs reads the pages."""
        self._chrome = SharedChrome("")
        """The chrome lean pages share (generator/website/chrome.py), collected anew by each build."""
        self._progress: tqdm | None = None
        """On a terminal: MkDocs' page passes (Markdown, then HTML), the long silent part of a build."""
        self._site_pages: list[tuple[str, str]] = []
        """(Markdown path, URL) of every page MkDocs builds, for the sitemaps."""

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        config_dir = Path(config.config_file_path or "mkdocs.yml").resolve().parent
        options = build_options(
            self.config,
            config_dir,
            site_name=config.site_name,
            site_url=config.site_url or "",
            site_author=config.site_author or "",
            directory_urls=config.use_directory_urls,
            site_dir=Path(config.site_dir),
        )
        if self.source_override:
            options = dataclasses.replace(options, sources=tuple(p.resolve() for p in self.source_override))
        self.options = options
        config.theme.static_templates.discard("sitemap.xml")  # ours replace it (on_post_build)
        return config

    def on_pre_build(self, config: MkDocsConfig) -> None:
        assert self.options is not None
        self._settle_tree()  # the previous build of `mkdocs serve`
        self._chrome = SharedChrome(config.site_name)
        try:
            self.result = generate(self.options, StageTimer(logger=log))
        except DigestError as exc:
            # Raised before MkDocs cleans site_dir: the previously built site stays intact.
            raise PluginError(f"paper-digest: {exc}") from exc
        self._tree_settled, self._built = False, False
        report_problems(self.result.problems)
        if config.strict and self.result.problems:
            # --strict fails on these anyway: fail now, before MkDocs empties site_dir.
            raise PluginError(
                f"paper-digest: aborted with {len(self.result.problems)} problems in the sources in strict mode"
            )

    def on_files(self, files: Files, config: MkDocsConfig) -> Files:
        assert self.result is not None
        root = self.result.tree
        packed = self.result.stats.pages
        titles = nav_titles(config.nav)
        packs: dict[str, str] = {}  # a few packs hold every page: their paths made once, not a Path a page
        by_uri = files.src_uris  # the writer's paths are POSIX already (get_file_from_path parses each)
        for src_uri in self.result.stats.files:  # the writer's index: no directory walk
            # A page's "source" is its pack: GeneratedPage never reads it as a file.
            if src_uri in packed:
                name = packed[src_uri][0]
                path = packs.get(name) or packs.setdefault(name, str(root / PACK_DIR / name))
            else:
                path = str(root / src_uri)
            existing = by_uri.get(src_uri)
            if existing is not None:
                log.warning("paper-digest: %s in docs_dir is replaced by the generated page", src_uri)
                files.remove(existing)
            inclusion = (
                InclusionLevel.INCLUDED
                if src_uri in HUB_PAGES or not src_uri.endswith(".md")
                else InclusionLevel.NOT_IN_NAV
            )
            file = File.generated(config, src_uri, abs_src_path=path, inclusion=inclusion)
            files.append(file)
            rendered = self.result.pages.get(src_uri)
            if rendered is not None and src_uri in packed:
                html = functools.partial(self._page_html, src_uri, rendered)
                GeneratedPage(titles.get(src_uri), file, config, rendered, html)  # becomes file.page
        return files

    def _page_html(self, src_uri: str, rendered: RenderedPage) -> str:
        """A generated page's HTML, read from its pack (mapped once a build)."""
        assert self.result is not None
        name, offset, length, _ = self.result.stats.pages[src_uri]
        pack = self._packs.get(name)
        if pack is None:
            with (self.result.tree / PACK_DIR / name).open("rb") as handle:
                pack = self._packs[name] = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        return pack[offset + rendered.body_start : offset + length].decode("utf-8")

    def on_env(self, env: Any, config: MkDocsConfig, files: Files) -> Any:
        self._site_pages = [(file.src_uri, file.url) for file in files.documentation_pages()]
        env.globals.update(theme_globals(env, config))  # lean.html's words and Material's asset names
        return env

    def on_page_context(self, context: Any, *, page: Page, config: MkDocsConfig, nav: Any) -> Any:
        context["pd_shared"] = frozenset(self._chrome.parts)  # lean.html renders only the parts not known yet
        return context

    def on_nav(self, nav: Any, config: MkDocsConfig, files: Files) -> Any:
        if sys.stderr.isatty():
            pages = 2 * len(files.documentation_pages())
            self._progress = tqdm(total=pages, desc="paper-digest: MkDocs pages", unit="step", leave=False)
        return nav

    def on_page_markdown(self, markdown: str, **kwargs: Any) -> str:
        if self._progress is not None:
            self._progress.update()
        return markdown

    def on_post_page(self, output: str, *, page: Page, config: MkDocsConfig) -> str:
        if self._progress is not None:
            self._progress.update()
        output = compact_html(output)
        if page.meta.get("template") == LEAN_TEMPLATE:
            output = self._chrome.share(output, page.url)
        return output

    def _close_packs(self) -> None:
        for pack in self._packs.values():
            pack.close()
        self._packs = {}

    def _close_progress(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None

    def on_post_build(self, config: MkDocsConfig) -> None:
        self._close_progress()
        self._close_packs()
        script = self._chrome.script()
        if script is not None:
            (Path(config.site_dir) / CHROME_SCRIPT).write_bytes(script)
        self.write_sitemaps(config)
        self._built = True

    def on_build_error(self, error: Exception) -> None:
        # MkDocs failed (or `--strict` aborted) after the generator swapped its new tree in.
        self._close_progress()
        self._close_packs()
        self.restore_tree()

    def on_shutdown(self) -> None:
        # End of `mkdocs build`/`serve`; a KeyboardInterrupt reaches here without on_build_error.
        self._close_packs()
        self._settle_tree()

    def write_sitemaps(self, config: MkDocsConfig) -> None:
        """`sitemap.xml` (an index) and the split sitemaps, into the site's root."""
        assert self.result is not None and self.options is not None
        site = Path(config.site_dir)
        for rel, data in sitemap_files(
            self.result.corpus,
            self._site_pages,
            self.result.pages,
            site_url=config.site_url or "",
            limit=self.options.sitemap_urls,
        ):
            (site / rel).write_bytes(data)

    def _settle_tree(self) -> None:
        if self._built:
            self.finish_tree()
        else:
            self.restore_tree()

    def finish_tree(self) -> None:
        """The whole build succeeded: drop the generated tree the new one replaced."""
        if self.result is not None and not self._tree_settled:
            self._tree_settled = True
            finish_tree(self.result.stats)

    def restore_tree(self) -> None:
        """The build failed after generating: put the previously generated tree back."""
        if self.result is not None and not self._tree_settled:
            self._tree_settled = True
            restore_tree(self.result.stats)
            log.info("paper-digest: build failed; the previously generated tree is kept")

    def on_serve(self, server: Any, config: MkDocsConfig, builder: Any) -> Any:
        assert self.options is not None
        for source in self.options.sources:
            if source.exists():
                server.watch(str(source))
        if self.options.topics_file and self.options.topics_file.exists():
            server.watch(str(self.options.topics_file))
        return server
