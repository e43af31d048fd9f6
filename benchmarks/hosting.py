"""What the host and the visitor pay: the full build, the site's bytes, search in a browser, Pagefind as anchor.

`python -m benchmarks hosting` (issue 15 item 1), for each size (default 10k and 100k papers):

1. writes a synthetic corpus (`benchmarks.corpus`) and a project over it
   (`benchmarks.sites.digest_project`), and runs `paper-digest build` in a fresh process
   (`benchmarks.worker build`): wall and CPU time, peak memory (PSS of the process tree),
   the generator's stages and what is left for MkDocs;
2. counts the built site (`site_bytes`): bytes with every hard-linked file counted once, files,
   bytes per paper by kind (`kind_of`), the largest files and any file over 25 MiB;
3. builds a Pagefind index of the same site (`pagefind[bin]`, if installed) into
   `site/pagefind_anchor/` with its time and memory, and adds a small page that searches it
   through Pagefind's JS API with the same selectors as the site's search box;
4. serves the site on 127.0.0.1, gzipped as a static host serves it
   (`benchmarks.static_server.serve`), and times in headless chromium three queries taken from
   the corpus (`corpus_queries`: a two-word topic query, the exact title of a paper from the
   oldest day, a word found in one or two papers only) plus the title of a paper from the
   newest day (the reference an old title is compared with): on a cold page (typed as soon as
   the load event fired) and on a settled page, on loopback and over an emulated 10 Mbps /
   40 ms link; then a visit of five queries on one page. The same for the Pagefind page.

Targets are reported with PASS or MISS, never asserted; for a MISS the report says which bytes
or seconds stand in the way. `format_report` gives the Markdown; the result dict is the JSON.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.corpus import plan_path, write_corpus
from benchmarks.hosting_report import FILE_LIMIT, KINDS, MIB, TARGET_PAPERS, evaluate_targets, format_report
from benchmarks.results import write_json
from benchmarks.run import _child_summary, _commit, _fresh
from benchmarks.sites import ChildFailed, digest_project, run_child, run_measured
from benchmarks.visitor import ANCHOR_UI, DIGEST_UI, SLOW_LINK, Link, Query, SearchPlan

DATA_SUFFIXES = (".json", ".bib", ".xml")
TOP_FILES = 10

TOPIC_QUERY = "language models"
EXTRA_QUERY = "theorem proving"
"""The visit's fifth query (another topic)."""
ANCHOR_DIR = "pagefind_anchor"
ANCHOR_RESULTS = 5
"""Results the Pagefind page shows (and fetches a fragment for), as Pagefind's own UI first does."""
_INDEXED = re.compile(r"Indexed (\d+) pages?")
_DATE_BLOCK = re.compile(r"^[A-Z][a-z]{2} \d{1,2}$")
_PLAIN_TITLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 :,'\-]*$")
"""Titles typed as queries: letters, digits and plain punctuation only (nothing math or markup could change)."""
_TOKEN_EDGES = re.compile(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$")

ANCHOR_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pagefind anchor</title>
</head>
<body>
<input type="search" data-ds-input placeholder="Search papers" aria-label="Search papers" autocomplete="off">
<ol data-ds-results></ol>
<script>
/* The benchmark's anchor: Pagefind's JS API (loaded when the box gets focus, as the site's own
   search is), the first RESULTS results shown with their title and excerpt. */
(function () {
  var RESULTS = %(results)d;
  var input = document.querySelector("[data-ds-input]");
  var list = document.querySelector("[data-ds-results]");
  var loading = null;
  var current = "";
  function load() {
    if (!loading) {
      loading = import("./pagefind.js").then(function (pagefind) {
        return pagefind.options({ baseUrl: "/" }).then(function () { return pagefind.init(); })
          .then(function () { return pagefind; });
      });
    }
    return loading;
  }
  document.addEventListener("keydown", function (event) {
    if (event.key === "/" && document.activeElement !== input) { event.preventDefault(); input.focus(); }
  });
  input.addEventListener("focus", load);
  input.addEventListener("input", async function () {
    var query = input.value.trim();
    current = query;
    if (!query) { list.replaceChildren(); return; }
    var pagefind = await load();
    var search = await pagefind.search(query);
    if (current !== query || !search) return;
    list.replaceChildren();
    var pending = search.results.slice(0, RESULTS).map(function (result) { return result.data(); });
    for (var i = 0; i < pending.length; i++) {
      var data = await pending[i];
      if (current !== query) return;
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = data.url;
      link.textContent = (data.meta && data.meta.title) || data.url;
      var excerpt = document.createElement("p");
      excerpt.innerHTML = data.excerpt;
      item.append(link, excerpt);
      list.append(item);
    }
  });
})();
</script>
</body>
</html>
"""


@dataclass(frozen=True)
class HostingOptions:
    """What one hosting benchmark run does."""

    repo: Path
    """Folder of the site configuration (mkdocs.yml, theme_overrides/, content/) to benchmark."""
    work: Path
    sizes: tuple[int, ...] = (10_000, TARGET_PAPERS)
    seed: int = 0
    browser: bool = True
    """Measure search in chromium (else only the build and the bytes)."""
    anchor: bool = True
    """Build and measure a Pagefind index of the same site."""
    link: Link = SLOW_LINK
    timeout: float = 120.0
    """Seconds a query may take to settle (a search that fetches everything over a slow link is cut here)."""
    repeat: int = 1
    """Fresh pages per query, page and link (the median run is reported)."""
    anchor_memory_mb: float = 8192.0
    """Pagefind's indexer is stopped past this much memory (its issues report trouble past 30k pages)."""
    say: Callable[[str], None] = field(default=print, compare=False)


# ---------------------------------------------------------------- bytes of the site


def kind_of(rel: str) -> str:
    """The kind of a site file (`rel`: its path in the site, with `/`), for bytes per paper by kind.

    `papers/**` paper pages, `search/**` search, `assets/**` assets; elsewhere `*.json`, `*.bib`
    and `*.xml` (also gzipped) are data files (data shards, feeds, sitemaps), other HTML is
    listings (topics, dates, digests, week, the home page, about, 404), anything else other.
    """
    top, _, rest = rel.partition("/")
    if rest:
        if top == "papers":
            return "paper pages"
        if top == "search":
            return "search"
        if top == "assets":
            return "assets"
    name = rel.rsplit("/", 1)[-1].lower().removesuffix(".gz")
    if name.endswith(DATA_SUFFIXES):
        return "data files"
    if name.endswith((".html", ".htm")):
        return "listings"
    return "other"


def site_bytes(site: Path, *, papers: int | None = None, exclude: Iterable[str] = (ANCHOR_DIR,)) -> dict[str, Any]:
    """Bytes and files of a built site as a host stores them: a file with several hard links (the
    same `(st_dev, st_ino)`) is counted once, its bytes under the first path the walk meets (sorted,
    a folder's files before its subfolders); every path counts as a file. Top-level folders in
    `exclude` are left out (the benchmark's own Pagefind anchor)."""
    skip = set(exclude)
    seen: set[tuple[int, int]] = set()
    kinds = {kind: {"bytes": 0, "files": 0} for kind in KINDS}
    files = links = total = 0
    sizes: list[tuple[int, str]] = []
    for dirpath, dirnames, names in os.walk(site):
        dirnames.sort()
        if Path(dirpath) == site:
            dirnames[:] = [d for d in dirnames if d not in skip]
        for name in sorted(names):
            path = os.path.join(dirpath, name)
            stat = os.stat(path)
            rel = Path(path).relative_to(site).as_posix()
            kind = kind_of(rel)
            files += 1
            kinds[kind]["files"] += 1
            key = (stat.st_dev, stat.st_ino)
            if key in seen:
                links += 1
                continue
            seen.add(key)
            total += stat.st_size
            kinds[kind]["bytes"] += stat.st_size
            sizes.append((stat.st_size, rel))
    sizes.sort(key=lambda s: (-s[0], s[1]))
    result: dict[str, Any] = {
        "bytes": total,
        "files": files,
        "hard_links": links,
        "kinds": kinds,
        "largest": [{"path": rel, "bytes": size} for size, rel in sizes[:TOP_FILES]],
        "over_file_limit": [{"path": rel, "bytes": size} for size, rel in sizes if size > FILE_LIMIT],
    }
    if papers:
        result["papers"] = papers
        result["per_paper"] = {kind: round(k["bytes"] / papers, 1) for kind, k in kinds.items()}
        result["per_paper"]["total"] = round(total / papers, 1)
    return result


# ---------------------------------------------------------------- queries from the corpus


def read_day(path: Path) -> list[tuple[str, str]]:
    """(title, abstract) of each entry of a layout-B day file written by `write_corpus`."""
    blocks = [b.strip() for b in path.read_text("utf-8").split("\n\n")]
    start = next((i + 1 for i, b in enumerate(blocks) if _DATE_BLOCK.match(b)), 0)
    body = [b for b in blocks[start:] if b]
    return list(zip(body[0::2], body[1::2], strict=False))


def _tokens(text: str) -> set[str]:
    """Words as a search splits them (on whitespace and hyphens, edge punctuation trimmed), lower-cased."""
    words = set()
    for chunk in text.split():
        for part in chunk.split("-"):
            word = _TOKEN_EDGES.sub("", part).lower()
            if word:
                words.add(word)
    return words


def rare_word(papers: dict[str, set[str]], names: set[str]) -> tuple[str, list[str], str]:
    """A word in the titles or abstracts of exactly one or two papers; returns it, its papers' titles
    and its kind.

    Preferred: an ordinary word (not a made-up paper name) that no other word shares its first five
    letters with (so neither stemming nor a prefix match widens it), then any ordinary word; the
    seed sentences recur, so past some 30k papers every ordinary word is in three papers or more,
    and a paper's made-up name (in its title and its abstract) is taken instead, again preferring
    one without such neighbours. Within each, the alphabetically first word in one paper, else in two.
    """
    df = Counter(word for words in papers.values() for word in words)
    prefixes: Counter[str] = Counter()
    for word, count in df.items():
        prefixes[word[:5]] += count
    ordinary = [w for w in df if len(w) >= 6 and w.isascii() and w.isalpha() and w not in names]
    made_up = [w for w in df if len(w) >= 5 and w.isascii() and w.isalpha() and w in names]
    pools = (
        ("word", ordinary, True),
        ("word", ordinary, False),
        ("paper name", made_up, True),
        ("paper name", made_up, False),
    )
    for kind, pool, clean in pools:
        for wanted in (1, 2):
            candidates = sorted(w for w in pool if df[w] == wanted and (not clean or prefixes[w[:5]] == wanted))
            if candidates:
                word = candidates[0]
                return word, sorted(title for title, words in papers.items() if word in words), kind
    raise ValueError("no word occurs in only one or two papers of the corpus")


def corpus_queries(corpus: Path) -> dict[str, Any]:
    """The queries of a `write_corpus` corpus: topic, oldest-day title, newest-day title, rare word.

    Titles are taken from papers with no planted duplicate of any kind (their plan, beside the
    folder, says which) and plain characters only; the old one from the oldest day, the new
    one from the newest day, first in file order.
    """
    days = sorted(corpus.glob("????-??-??.txt"))
    if not days:
        raise ValueError(f"no day files in {corpus}")
    planted: set[str] = set()
    plan = plan_path(corpus)
    if plan.is_file():
        for original, variant, _kind in json.loads(plan.read_text("utf-8")).get("near_duplicates", []):
            planted.update((original, variant))
    entries = {day.stem: read_day(day) for day in days}
    seen: Counter[str] = Counter(title for rows in entries.values() for title, _ in rows)
    papers: dict[str, set[str]] = {}
    names: set[str] = set()
    for rows in entries.values():
        for title, abstract in rows:
            papers.setdefault(title, set()).update(_tokens(title + " " + abstract))
            names.update(_tokens(title.split(":", 1)[0].replace("-", " ")))

    def pick(day: str) -> str:
        for title, _ in entries[day]:
            if seen[title] == 1 and title not in planted and _PLAIN_TITLE.match(title):
                return title
        raise ValueError(f"no plain, unduplicated title on {day}")

    word, rare_titles, kind = rare_word(papers, names)
    return {
        "topic": TOPIC_QUERY,
        "old_day": days[0].stem,
        "old_title": pick(days[0].stem),
        "new_day": days[-1].stem,
        "new_title": pick(days[-1].stem),
        "rare_word": word,
        "rare_word_papers": rare_titles,
        "rare_word_kind": kind,
        "extra": EXTRA_QUERY,
    }


def search_plan(queries: dict[str, Any], options: HostingOptions) -> SearchPlan:
    """The three queries and the reference new title, on loopback and the slow link; the five-query visit."""
    topic = Query("two-word topic", queries["topic"])
    old = Query("old title", queries["old_title"], expected=queries["old_title"])
    rare = Query("rare word", queries["rare_word"])
    new = Query("new title", queries["new_title"], expected=queries["new_title"])
    visit = [topic, old, rare, new, Query("another topic", queries["extra"])]
    return SearchPlan([topic, old, rare, new], visit, [None, options.link], options.timeout, options.repeat)


# ---------------------------------------------------------------- Pagefind, the anchor


def pagefind_version() -> str | None:
    """Pagefind's version when `python -m pagefind` (PyPI `pagefind[bin]`) runs here, else None."""
    try:
        out = subprocess.run(
            [sys.executable, "-m", "pagefind", "--version"], capture_output=True, text=True, timeout=60, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def build_anchor(site: Path, log_file: Path, options: HostingOptions, *, papers: int) -> dict[str, Any]:
    """A Pagefind index of `site` in `site/pagefind_anchor/` (time, memory, bytes) and its search page."""
    version = pagefind_version()
    if version is None:
        return {"skipped": "pagefind[bin] is not installed here (pip install 'pagefind[bin]')"}
    run = run_measured(
        [sys.executable, "-m", "pagefind", "--site", str(site), "--output-subdir", ANCHOR_DIR],
        log_file,
        memory_limit_kb=int(options.anchor_memory_mb * 1024),
    )
    output = run.stdout.decode("utf-8", "replace")
    log_file.write_text(log_file.read_text("utf-8", errors="replace") + output, "utf-8")
    peak = max(run.peak_tree_kb, run.peak_rss_kb or 0) / 1024
    index: dict[str, Any] = {
        "version": version,
        "wall_s": round(run.wall_seconds, 2),
        "cpu_s": run.cpu_seconds,
        "peak_mb": round(peak, 1),
    }
    if run.stopped:
        stage = re.findall(r"^\[([^\]]+)\]", output, re.MULTILINE)
        where = f" while {stage[-1].lower()}" if stage else ""
        return {"skipped": f"Pagefind's indexer passed {options.anchor_memory_mb:,.0f} MB{where} and was stopped",
                **index}  # fmt: skip
    if run.returncode != 0:
        return {"skipped": f"Pagefind's indexer failed ({run.returncode}); see {log_file}", **index}
    found = _INDEXED.findall(output)
    pages = int(found[-1]) if found else 0
    folder = site / ANCHOR_DIR
    parts = Counter[str]()
    total = 0
    for path in folder.rglob("*"):
        if path.is_file():
            size = path.stat().st_size
            total += size
            rel = path.relative_to(folder).as_posix()
            parts["fragments" if rel.startswith("fragment/") else "index" if rel.startswith("index/") else "other"] += (
                size
            )
    (folder / "bench.html").write_text(ANCHOR_PAGE % {"results": ANCHOR_RESULTS}, "utf-8")
    index.update(
        pages=pages,
        bytes=total,
        parts=dict(parts),
        per_page=round(total / pages, 1) if pages else None,
        per_paper=round(total / papers, 1) if papers else None,
    )
    return {"index": index}


# ---------------------------------------------------------------- the run


def hosting_size(options: HostingOptions, n: int) -> dict[str, Any]:
    """Everything measured for `n` papers (see the module docstring)."""
    say = options.say
    root = _fresh(options.work / f"hosting-{n}")
    corpus = root / "corpus"
    plan = write_corpus(n, corpus, seed=options.seed)
    queries = corpus_queries(corpus)  # before the build: a corpus without them fails in seconds, not minutes
    say(f"{n} papers: corpus of {plan.records} records in {plan.days} daily files; paper-digest build…")
    config = digest_project(options.repo, root / "digest", corpus)
    run = run_child(["build", str(config)], root / "build.log")
    build = _child_summary(run)
    if "generator_s" in build:
        build["rest_s"] = round(build["build_s"] - build["generator_s"], 2)
    papers = int(build.get("papers") or plan.papers)
    site = config.parent / "site"
    bytes_ = site_bytes(site, papers=papers)
    say(
        f"    {build['wall_s']:.1f} s (CPU {build['cpu_s']:.1f} s), peak {build['peak_tree_mb']:,.0f} MB; "
        f"site {bytes_['bytes'] / 1e6:,.1f} MB in {bytes_['files']:,} files; largest "
        f"{bytes_['largest'][0]['path']} ({bytes_['largest'][0]['bytes'] / MIB:,.1f} MiB)"
    )
    result: dict[str, Any] = {
        "papers": papers,
        "records": plan.records,
        "days": plan.days,
        "queries": queries,
        "build": build,
        "site": bytes_,
    }
    if options.anchor:
        say(f"{n} papers: Pagefind index of the site (the anchor)…")
        result["anchor"] = build_anchor(site, root / "pagefind.log", options, papers=papers)
        anchor_index = result["anchor"].get("index")
        if anchor_index:
            say(
                f"    {anchor_index['wall_s']:.1f} s, peak {anchor_index['peak_mb']:,.0f} MB, "
                f"{anchor_index['pages']:,} pages, {anchor_index['bytes'] / 1e6:,.1f} MB"
            )
        else:
            say(f"    skipped: {result['anchor']['skipped']}")
    else:
        result["anchor"] = {"skipped": "not asked for (--no-anchor)"}
    if options.browser:
        result["search"] = measure_search_ui(site, search_plan(queries, options), options, result["anchor"])
    return result


def measure_search_ui(site: Path, plan: SearchPlan, options: HostingOptions, anchor: dict[str, Any]) -> dict[str, Any]:
    """The site's search, and Pagefind's when its index was built, on the loopback host in chromium."""
    from benchmarks.static_server import serve
    from benchmarks.visitor import browser, measure_ui

    uis = [DIGEST_UI] + ([ANCHOR_UI] if "index" in anchor else [])
    out: dict[str, Any] = {}
    with serve(site) as server, browser() as chromium:
        for ui in uis:
            options.say(f"search: {ui.name}…")
            try:
                out[ui.name] = measure_ui(chromium, server, ui, plan, options.say)
            except Exception as exc:  # a search broken mid-change must not lose the rest of the run
                options.say(f"    {ui.name} search failed: {exc}")
                out[ui.name] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
    return out


def run_hosting(options: HostingOptions) -> dict[str, Any]:
    """The whole hosting benchmark; returns the result that `--json` writes."""
    started = dt.datetime.now(dt.UTC)
    sizes = {str(n): hosting_size(options, n) for n in sorted(set(options.sizes))}
    result: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "commit": _commit(options.repo),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "seed": options.seed,
        "link": dataclasses.asdict(options.link),
        "sizes": sizes,
    }
    result["targets"] = evaluate_targets(result)
    return result


# ---------------------------------------------------------------- targets


# ---------------------------------------------------------------- the report


__all__ = [
    "ChildFailed",
    "HostingOptions",
    "corpus_queries",
    "evaluate_targets",
    "format_report",
    "kind_of",
    "run_hosting",
    "site_bytes",
    "write_json",
]
