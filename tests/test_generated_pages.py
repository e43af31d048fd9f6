"""Generated pages reach MkDocs as HTML: no Markdown conversion, same theme, working links
with and without directory URLs, headings with ids and a table of contents."""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import copy_project
from mkdocs.commands.build import build
from mkdocs.config import load_config
from mkdocs.structure.pages import Page
from test_site import check_links

from generator.plugin import GeneratedPage, toc_tokens
from generator.runtime.parallel import IN_PROCESS, Parallelism
from generator.website.chrome import CHROME_SCRIPT, parts_of
from generator.website.page_model import page_url, relative_url
from generator.website.tree import read_tree

# A forked worker shares the pages of even these few papers. Other tests leave a server thread
# running; the workers only render pages, so forking is safe here.
PAGES_FORKED = Parallelism(fork=True, pages_from=1)

HERE = Path(__file__).resolve().parent


def _mini_project(tmp_path: Path, directory_urls: bool) -> Path:
    project = copy_project(tmp_path / "project", sources=False)
    shutil.copytree(HERE / "fixtures" / "mini", project / "content" / "sources", dirs_exist_ok=True)
    config = (project / "mkdocs.yml").read_text("utf-8")
    config = config.replace("use_directory_urls: true", f"use_directory_urls: {str(directory_urls).lower()}")
    (project / "mkdocs.yml").write_text(config, "utf-8")
    return project


def _build(project: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Build in this process; return how each page was rendered (`markdown` or `generated`)."""
    rendered: dict[str, str] = {}
    markdown_render = Page.render
    generated_render = GeneratedPage.render

    def via_markdown(self: Page, *args: Any) -> None:
        rendered[self.file.src_uri] = "markdown"
        markdown_render(self, *args)

    def via_generator(self: GeneratedPage, *args: Any) -> None:
        rendered[self.file.src_uri] = "generated"
        generated_render(self, *args)

    monkeypatch.setattr(Page, "render", via_markdown)
    monkeypatch.setattr(GeneratedPage, "render", via_generator)
    monkeypatch.chdir(project)
    build(load_config(str(project / "mkdocs.yml")))
    return rendered


@pytest.mark.parametrize("directory_urls", [True, False])
def test_generated_pages_skip_markdown_and_their_links_resolve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, directory_urls: bool
) -> None:
    project = _mini_project(tmp_path, directory_urls)
    rendered = _build(project, monkeypatch)
    # Hand-written pages go through Markdown; every generated page is handed over as HTML.
    assert rendered.pop("about.md") == "markdown"
    assert rendered and set(rendered.values()) == {"generated"}
    assert {"index.md", "week.md", "topics/index.md", "papers/2501-01234.md"} <= set(rendered)

    site = project / "site"
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= len(rendered)
    broken, _ = check_links(site, pages)
    assert broken == []

    paper = site / ("papers/2501-01234/index.html" if directory_urls else "papers/2501-01234.html")
    html = paper.read_text("utf-8")
    # The theme is applied (the header is the shared chrome, inserted by chrome.js: see
    # test_page_weight.py), the title is escaped text, headings have ids and make the page's TOC.
    assert (
        'data-part="header"' in html
        and 'class="md-header' in parts_of((site / CHROME_SCRIPT).read_text("utf-8"))["header"]
    )
    assert "<title>Vision-Language Models See &lt;b&gt;Bold&lt;/b&gt; Claims" in html
    assert '<h2 id="abstract">Abstract</h2>' in html
    # A paper page's table of contents is the same on every paper page: shared (generator/website/chrome.py).
    assert 'data-part="toc"' in html
    toc = parts_of((site / CHROME_SCRIPT).read_text("utf-8"))["toc"]
    toc = toc[toc.find('data-md-component="toc"') :]
    toc = toc[: toc.find("</nav>")]
    assert re.findall(r'href="#([^"]+)"', toc) == ["abstract", "why-these-topics", "similar-papers", "cite"]


def test_page_urls_follow_mkdocs() -> None:
    assert page_url("index.md") == "" and page_url("index.md", False) == "index.html"
    assert page_url("topics/index.md") == "topics/" and page_url("topics/ml.md", False) == "topics/ml.html"
    assert page_url("feed.xml") == "feed.xml"
    assert relative_url("papers/x.md", "topics/ml.md") == "../../topics/ml/"
    assert relative_url("papers/x.md", "topics/ml.md", False) == "../topics/ml.html"
    assert relative_url("papers/x.md", "index.md") == "../../"
    assert relative_url("topics/ml/2.md", "topics/ml.md") == "../"
    assert relative_url("topics/ml.md", "topics/ml.md") == "./"
    assert relative_url("topics/ml.md", "topics/ml/feed.xml") == "feed.xml"
    assert relative_url("index.md", "week.md", False) == "week.html"


def test_toc_tokens_nest_like_markdown() -> None:
    tokens = toc_tokens(((1, "a", "A"), (2, "b", "B"), (3, "c", "C"), (2, "d", "D"), (1, "e", "E")))
    assert [t["id"] for t in tokens] == ["a", "e"]
    assert [t["id"] for t in tokens[0]["children"]] == ["b", "d"]
    assert tokens[0]["children"][0]["children"][0]["id"] == "c"


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return read_tree(root)


FRONT_PAGES = ["index.md", "topics/index.md", "dates/index.md", "digests/index.md", "week.md"]
"""The pages every build makes (they sum up the whole corpus and have no key)."""


def _seeds_and_mini(tmp_path: Path) -> tuple[Path, Callable[[str], Any]]:
    """The seed sources plus the mini listing in `tmp_path`, and BuildOptions for them by cache name."""
    from generator.config import BuildOptions

    sources = tmp_path / "sources"
    shutil.copytree(HERE.parent / "content" / "sources", sources)
    shutil.copytree(HERE / "fixtures" / "mini", sources, dirs_exist_ok=True)

    def options(cache: str) -> BuildOptions:
        topics = HERE.parent / "content" / "topics.yml"
        return BuildOptions(sources=(sources,), cache_dir=tmp_path / cache, topics_file=topics)

    return sources, options


def _add_day(sources: Path) -> None:
    """A new day: the mini listing's papers seen again, which changes their pages and listings."""
    (sources / "2025-01-05.txt").write_text(
        (HERE / "fixtures" / "mini" / "2025-01-02.txt").read_text("utf-8").replace("2025-01-02", "2025-01-05"), "utf-8"
    )


def _count_renders(monkeypatch: pytest.MonkeyPatch, log: Path) -> Callable[[], list[str]]:
    """Record each page rendered from now on, also by forked workers (through the file `log`)."""
    from generator.website import page_cache

    render_page = page_cache.render_page

    def counted(spec: Any, options: Any) -> Any:
        with log.open("a", encoding="utf-8") as handle:
            handle.write(spec.path + "\n")
        return render_page(spec, options)

    monkeypatch.setattr(page_cache, "render_page", counted)
    return lambda: log.read_text("utf-8").split() if log.exists() else []


def test_pages_rendered_by_forked_workers_are_the_same_bytes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from generator.build import StageTimer, generate
    from generator.config import BuildOptions

    def options(name: str) -> BuildOptions:
        return BuildOptions(
            sources=(HERE / "fixtures" / "mini", HERE.parent / "content" / "sources"),
            cache_dir=tmp_path / name,
            topics_file=HERE.parent / "content" / "topics.yml",
        )

    serial = generate(options("serial"), StageTimer(show_progress=False), parallel=IN_PROCESS)
    with caplog.at_level(logging.DEBUG, logger="generator.runtime.parallel"):
        parallel = generate(options("parallel"), StageTimer(show_progress=False), parallel=PAGES_FORKED)
    # One forked worker shared the pages with the building process.
    shared = [r.getMessage() for r in caplog.records if "forked worker(s) shared" in r.getMessage()]
    assert len(shared) == 1 and shared[0].startswith("parallel: 1 forked worker(s) shared ")
    assert _tree_bytes(parallel.tree) == _tree_bytes(serial.tree)
    assert parallel.pages == serial.pages
    assert parallel.stats.written == serial.stats.written == len(_tree_bytes(serial.tree))


def test_unchanged_pages_are_carried_over_and_the_result_equals_a_cold_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator.build import StageTimer, generate

    sources, options = _seeds_and_mini(tmp_path)
    first = generate(options("warm"), StageTimer(show_progress=False))
    _add_day(sources)
    rendered = _count_renders(monkeypatch, tmp_path / "renders.log")
    warm = generate(options("warm"), StageTimer(show_progress=False))
    monkeypatch.undo()
    renders = rendered()
    cold = generate(options("cold"), StageTimer(show_progress=False))

    assert _tree_bytes(warm.tree) == _tree_bytes(cold.tree)
    assert warm.pages == cold.pages
    # Most pages were carried over without being made or rendered; the changed ones were rendered.
    assert len(first.pages) > 500 and len(renders) < len(warm.pages) // 4
    assert "dates/2025/01/05.md" in renders and "index.md" in renders
    changed = {rel for rel, data in _tree_bytes(warm.tree).items() if _tree_bytes(first.tree).get(rel) != data}
    assert {rel for rel in changed if rel.endswith(".md")} <= set(renders)


def test_forked_workers_carry_pages_over_like_a_serial_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers key and carry over pages themselves; the parent learns which, and the result is a cold build's."""
    from generator.build import StageTimer, generate
    from generator.website import page_cache

    sources, options = _seeds_and_mini(tmp_path)
    first = generate(options("warm"), StageTimer(show_progress=False), parallel=PAGES_FORKED)
    _add_day(sources)
    warm = generate(options("warm"), StageTimer(show_progress=False), parallel=PAGES_FORKED)
    render_page = page_cache.render_page
    rendered = _count_renders(monkeypatch, tmp_path / "renders.log")  # the workers report through the file
    again = generate(options("warm"), StageTimer(show_progress=False), parallel=PAGES_FORKED)
    monkeypatch.setattr(page_cache, "render_page", render_page)
    cold = generate(options("cold"), StageTimer(show_progress=False), parallel=IN_PROCESS)

    assert _tree_bytes(warm.tree) == _tree_bytes(cold.tree) == _tree_bytes(again.tree)
    assert warm.pages == cold.pages == again.pages
    assert len(first.pages) > 500 and warm.stats.unchanged > 3 * warm.stats.written
    assert again.stats.written == 0  # nothing changed: every page and file carried over
    # The workers' carried-over pages reached the parent's cache: the third build made only the
    # pages that are always made (the front pages sum up the whole corpus and have no key).
    assert sorted(rendered()) == sorted(FRONT_PAGES)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "page index"])
def test_a_damaged_page_cache_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    from generator.build import StageTimer, generate
    from generator.config import BuildOptions
    from generator.website.page_cache import page_cache_dir
    from generator.website.tree import PAGES_INDEX

    options = BuildOptions(sources=(HERE / "fixtures" / "mini",), cache_dir=tmp_path / "cache")
    first = generate(options, StageTimer(show_progress=False))
    expected = _tree_bytes(first.tree)
    cache_file = page_cache_dir(options) / "pages.pickle"
    assert cache_file.is_file()
    if damage == "garbage":
        cache_file.write_bytes(b"not a pickle")
    elif damage == "truncated":  # cut inside the last part: its header promises parts that are not there
        cache_file.write_bytes(cache_file.read_bytes()[:-20])
    else:
        (first.tree / PAGES_INDEX).write_bytes(b"\x00not marshal")
    rendered = _count_renders(monkeypatch, tmp_path / "renders.log")
    again = generate(options, StageTimer(show_progress=False))
    assert _tree_bytes(again.tree) == expected
    renders = rendered()
    assert sorted(renders) == sorted(again.pages)  # nothing was carried over: every page was rendered
    intact = generate(options, StageTimer(show_progress=False))  # the cache that build saved is whole again
    assert sorted(rendered()[len(renders) :]) == sorted(FRONT_PAGES)
    assert _tree_bytes(intact.tree) == expected


def test_stages_freeze_what_they_made_and_the_build_thaws_it(tmp_path: Path) -> None:
    """Objects a paused stage made skip the collector's walks during the build, not after it."""
    import gc

    from generator.build import StageTimer, generate
    from generator.config import BuildOptions
    from generator.runtime.processes import gc_paused, gc_thawed

    gc.unfreeze()
    with gc_thawed():
        with gc_paused():
            made = [[i] for i in range(1000)]
        assert gc.isenabled() and gc.get_freeze_count() >= len(made)
    assert gc.get_freeze_count() == 0
    seen: list[int] = []
    timer = StageTimer(show_progress=False)
    stage = timer.stage

    def counting(name: str):
        seen.append(gc.get_freeze_count())
        return stage(name)

    timer.stage = counting  # type: ignore[method-assign]
    generate(BuildOptions(sources=(HERE / "fixtures" / "mini",), cache_dir=tmp_path / "cache"), timer)
    assert max(seen) > 0  # later stages started with the earlier stages' objects frozen
    assert gc.get_freeze_count() == 0 and gc.isenabled()


def test_topic_archive_pages_keep_their_papers_when_a_day_is_added(tmp_path: Path) -> None:
    from generator.build import StageTimer, generate
    from generator.config import BuildOptions

    sources = tmp_path / "sources"
    shutil.copytree(HERE.parent / "content" / "sources", sources)

    def build() -> dict[str, bytes]:
        options = BuildOptions(
            sources=(sources,),
            cache_dir=tmp_path / "cache",
            topics_file=HERE.parent / "content" / "topics.yml",
            page_size=10,
        )
        return _tree_bytes(generate(options, StageTimer(show_progress=False)).tree)

    def listed(page: bytes) -> list[str]:
        return re.findall(r'href="\.\./\.\./\.\./papers/([^/"]+)/"', page.decode())

    before = build()
    archives = {rel: data for rel, data in before.items() if re.fullmatch(r"topics/[^/]+/\d+\.md", rel)}
    assert len(archives) > 10
    # Each topic's papers are on its page and its archive pages exactly once, numbered oldest first.
    evaluation = [rel for rel in archives if rel.startswith("topics/evaluation/")]
    papers = [p for rel in evaluation for p in listed(archives[rel])]
    newest = re.findall(r'href="\.\./\.\./papers/([^/"]+)/"', before["topics/evaluation.md"].decode())
    assert len(set(papers)) == len(papers) == 10 * len(evaluation)
    assert not set(papers) & set(newest)
    assert '<ol reversed start="10">' in before["topics/evaluation/1.md"].decode()

    # A new day's papers go onto the topic pages; archived papers stay where they were.
    (sources / "2025-05-30.txt").write_text(
        (HERE / "fixtures" / "mini" / "2025-01-02.txt").read_text("utf-8").replace("Jan 2", "May 30"), "utf-8"
    )
    after = build()
    for rel, data in archives.items():
        assert listed(after[rel]) == listed(data), rel


def test_packed_pages_are_carried_over_by_link_and_sparse_packs_compacted(tmp_path: Path) -> None:
    from generator.website.tree import PACK_DIR, TreeWriter, _digest

    def build(pages: dict[str, bytes], reuse: dict[str, str]) -> tuple[Any, dict[str, str]]:
        writer = TreeWriter(tmp_path)
        digests = {}
        for rel, data in pages.items():
            digests[rel] = writer.write_page(rel, data)
        for rel, digest in reuse.items():
            assert writer.reuse_page(rel, digest)
        writer.write("papers.json", b"{}")
        return writer.commit(), digests

    first_pages = {f"papers/p{i}.md": f"page {i}\n".encode() * 50 for i in range(10)}
    first, digests = build(first_pages, {})
    assert first.written == 11 and len(list((first.root / PACK_DIR).iterdir())) == 1
    (old_pack,) = (first.root / PACK_DIR).iterdir()

    # Eight of ten pages unchanged (carried over, the pack hard-linked), two rewritten.
    changed = {"papers/p0.md": b"new 0\n", "papers/p1.md": b"new 1\n"}
    kept = {rel: digests[rel] for rel in first_pages if rel not in changed}
    second, _ = build(changed, kept)
    assert (second.written, second.unchanged) == (2, 9)
    assert (second.root / PACK_DIR / old_pack.name).stat().st_ino == old_pack.stat().st_ino
    assert read_tree(second.root) == {**first_pages, **changed, "papers.json": b"{}"}

    # Now only one of the old pack's pages is still live: the pack is compacted away.
    third_changed = {f"papers/p{i}.md": f"third {i}\n".encode() for i in range(2, 10) if i != 5}
    still = {"papers/p5.md": digests["papers/p5.md"], **{rel: _digest(data) for rel, data in changed.items()}}
    third, _ = build(third_changed, still)
    assert not (third.root / PACK_DIR / old_pack.name).exists()
    assert read_tree(third.root) == {**first_pages, **changed, **third_changed, "papers.json": b"{}"}
    assert third.pages["papers/p5.md"][0] != old_pack.name


_MADE_ENTRIES: list[str] = []
"""The papers `_counted_bibtex_entry` made an entry for."""


def _counted_bibtex_entry(paper: Any, **kwargs: Any) -> str:
    from generator.website.bibtex import bibtex_entry

    _MADE_ENTRIES.append(paper.id)
    return bibtex_entry(paper, **kwargs)


def test_bibtex_entries_are_reused_from_the_side_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """papers.bib entries are stashed to `bib.pickle` once made; an unchanged rebuild makes none."""
    from generator.build import StageTimer, generate
    from generator.config import BuildOptions
    from generator.website import page_cache, writers

    options = BuildOptions(sources=(HERE / "fixtures" / "mini",), cache_dir=tmp_path / "cache")
    # Counted from the first build on: an entry's maker is part of its cache key (a module-level
    # function: the key takes no closure), so both builds must make entries with the same one.
    monkeypatch.setattr(writers, "bibtex_entry", _counted_bibtex_entry)
    made = _MADE_ENTRIES
    made.clear()
    first = _tree_bytes(generate(options, StageTimer(show_progress=False)).tree)
    assert made  # the first build made every entry
    made.clear()
    cache_dir = page_cache.page_cache_dir(options)
    assert (cache_dir / "bib.pickle").is_file() and not list(cache_dir.glob("*.tmp"))
    again = generate(options, StageTimer(show_progress=False))
    assert made == []  # every entry came from the side file; every paper page was carried over
    assert _tree_bytes(again.tree) == first
    (cache_dir / "bib.pickle").write_bytes(b"damaged")
    third = generate(options, StageTimer(show_progress=False))
    assert made and _tree_bytes(third.tree) == first  # made again, same bytes


def test_page_cache_in_many_parts_reads_back_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page cache is pickled a part at a time; a rebuild finds every page and BibTeX entry in it."""
    from generator.build import StageTimer, generate
    from generator.config import BuildOptions
    from generator.website import page_cache

    monkeypatch.setattr(page_cache.PageCache, "PART", 7)
    options = BuildOptions(sources=(HERE.parent / "content" / "sources",), cache_dir=tmp_path / "cache")
    first = generate(options, StageTimer(show_progress=False))
    first_bytes = _tree_bytes(first.tree)
    cache = page_cache.PageCache(page_cache.page_cache_dir(options))
    assert len(cache.previous) == len(first.pages) - len(FRONT_PAGES) > 500  # every page but the front pages
    assert len(cache.previous_bib) == len(first.corpus.papers)
    rendered = _count_renders(monkeypatch, tmp_path / "renders.log")
    again = generate(options, StageTimer(show_progress=False))
    assert sorted(rendered()) == sorted(FRONT_PAGES)
    assert _tree_bytes(again.tree) == first_bytes
