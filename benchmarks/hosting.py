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
   (`benchmarks.visitor.serve`), and times in headless chromium three queries taken from
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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.corpus import plan_path, write_corpus
from benchmarks.run import _child_summary, _commit, _fresh
from benchmarks.sites import ChildFailed, digest_project, run_child, run_measured
from benchmarks.visitor import ANCHOR_UI, DIGEST_UI, SLOW_LINK, Link, Query, SearchPlan

KINDS = ("paper pages", "listings", "search", "data files", "assets", "other")
"""Kinds of a site's bytes (`kind_of`)."""
DATA_SUFFIXES = (".json", ".bib", ".xml")
MIB = 1024 * 1024
TARGET_PAPERS = 100_000
"""The size the issue's whole-site and build targets are for."""
SITE_LIMIT = 1e9
"""GitHub Pages refuses a published site over 1 GB."""
FILE_LIMIT = 25 * MIB
"""Cloudflare Pages refuses a file over 25 MiB."""
FIRST_RESULT_S = 0.5
SLOW_FIRST_RESULT_S = 1.5
TWO_WORD_BYTES = 500e3
VISIT_BYTES = 2e6
OLD_TITLE_LATER_S = 0.1
"""How much later than a new title an old one may come first and still count as "as fast"."""
BUILD_SECONDS = 180.0
BUILD_MB = 3072.0
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
    from benchmarks.visitor import browser, measure_ui, serve

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


def _target(
    name: str,
    value: float | None,
    limit: float,
    unit: str,
    *,
    detail: str = "",
    anchor: float | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """One target: PASS when `value` <= `limit` (MISS, or n/a when not measured), with what stands in the way."""
    if status is None:
        status = "n/a" if value is None else ("PASS" if value <= limit else "MISS")
    anchor_status = None if anchor is None else ("PASS" if anchor <= limit else "MISS")
    return {
        "target": name,
        "value": value,
        "limit": limit,
        "unit": unit,
        "status": status,
        "detail": detail if status == "MISS" else "",
        "anchor_value": anchor,
        "anchor_status": anchor_status,
    }


def _runs(search: dict[str, Any], ui: str) -> list[dict[str, Any]]:
    return list(search.get(ui, {}).get("runs", []))


def _pick(
    runs: Sequence[dict[str, Any]],
    *,
    query: str | None = None,
    queries: Sequence[str] = (),
    page: str | None = None,
    loopback: bool | None = None,
) -> list[dict[str, Any]]:
    names = {query} if query else set(queries)
    return [
        r
        for r in runs
        if (not names or r["query"] in names)
        and (page is None or r["page"] == page)
        and (loopback is None or (r["link"] == "loopback") == loopback)
    ]


def _slowest(runs: Sequence[dict[str, Any]]) -> tuple[float | None, dict[str, Any] | None]:
    """The largest first-result time of `runs` (a run with no result counts as slowest: None)."""
    if not runs:
        return None, None
    missing = [r for r in runs if r["first_s"] is None]
    if missing:
        return float("inf"), missing[0]
    worst = max(runs, key=lambda r: r["first_s"])
    return worst["first_s"], worst


def _kb(n: float) -> str:
    return f"{n / 1e3:,.0f} KB" if n < 10e6 else f"{n / 1e6:,.1f} MB"


def _fetched(run: dict[str, Any]) -> str:
    largest = ", ".join(f"{f['path']} ({_kb(f['bytes'])})" for f in run.get("largest", [])[:3])
    folders = ", ".join(f"{k} {_kb(v)}" for k, v in list(run.get("by_folder", {}).items())[:3])
    return f"{run['requests']} requests; by folder: {folders}; largest: {largest}"


def _search_targets(n: int, search: dict[str, Any]) -> list[dict[str, Any]]:
    digest, anchor = _runs(search, DIGEST_UI.name), _runs(search, ANCHOR_UI.name)
    if not digest:
        error = search.get(DIGEST_UI.name, {}).get("error", "not measured")
        return [_target(f"{n:,} papers: search", None, 0, "", status="n/a", detail=error)]
    three = ("two-word topic", "old title", "rare word")
    targets = []
    for label, page, loopback, limit in (
        ("loopback, cold page", "cold", True, FIRST_RESULT_S),
        ("loopback, settled page", "settled", True, FIRST_RESULT_S),
        ("10 Mbps / 40 ms, either page", None, False, SLOW_FIRST_RESULT_S),
    ):
        value, worst = _slowest(_pick(digest, queries=three, page=page, loopback=loopback))
        other, _ = _slowest(_pick(anchor, queries=three, page=page, loopback=loopback))
        detail = ""
        if worst is not None:
            detail = (
                f"slowest: {worst['query']} ({worst['page']} page): "
                f"{_kb(worst['bytes_before_first'])} fetched before the first result; {_fetched(worst)}"
            )
        targets.append(
            _target(
                f"{n:,} papers: first result, {label} (slowest of the three queries)",
                value,
                limit,
                "s",
                detail=detail,
                anchor=other,
            )
        )
    topic = _pick(digest, query="two-word topic")
    worst_topic = max(topic, key=lambda r: r["bytes"]) if topic else None
    anchor_topic = _pick(anchor, query="two-word topic")
    targets.append(
        _target(
            f"{n:,} papers: bytes fetched for a two-word query (gzip; most of its runs)",
            worst_topic["bytes"] / 1e3 if worst_topic else None,
            TWO_WORD_BYTES / 1e3,
            "KB",
            detail=_fetched(worst_topic) if worst_topic else "",
            anchor=max(r["bytes"] for r in anchor_topic) / 1e3 if anchor_topic else None,
        )
    )
    visit = search.get(DIGEST_UI.name, {}).get("visit")
    anchor_visit = search.get(ANCHOR_UI.name, {}).get("visit")
    if visit:
        per_query = "; ".join(f"{q['query']} {_kb(q['bytes'])}" for q in visit["queries"])
        targets.append(
            _target(
                f"{n:,} papers: bytes fetched for a visit of five queries (gzip)",
                visit["bytes"] / 1e6,
                VISIT_BYTES / 1e6,
                "MB",
                detail=per_query,
                anchor=anchor_visit["bytes"] / 1e6 if anchor_visit else None,
            )
        )
    old = _pick(digest, query="old title")
    missed = [r for r in old if not r.get("expected_first")]
    anchor_old = _pick(anchor, query="old title")
    detail = "; ".join(f"{r['page']} page, {r['link']}: first was '{r['first_result'][:80]}'" for r in missed[:2])
    targets.append(
        _target(
            f"{n:,} papers: old title not the first result (runs of {len(old)})",
            len(missed),
            0,
            "runs",
            detail=detail,
            anchor=sum(1 for r in anchor_old if not r.get("expected_first")) if anchor_old else None,
        )
    )
    later, later_detail = _old_later(digest)
    anchor_later, _ = _old_later(anchor)
    targets.append(
        _target(
            f"{n:,} papers: old title first, seconds after a new title would be (slowest page and link)",
            later,
            OLD_TITLE_LATER_S,
            "s",
            detail=later_detail,
            anchor=anchor_later,
        )
    )
    return targets


def _old_later(runs: Sequence[dict[str, Any]]) -> tuple[float | None, str]:
    """max over (page, link) of the old title's time to be first minus the new title's (inf: never first)."""
    worst: float | None = None
    detail = ""
    for r in _pick(runs, query="old title"):
        new = [x for x in _pick(runs, query="new title", page=r["page"]) if x["link"] == r["link"]]
        if not new or new[0].get("target_s") is None:
            continue
        delay = float("inf") if r.get("target_s") is None else round(r["target_s"] - new[0]["target_s"], 3)
        if worst is None or delay > worst:
            worst = delay
            detail = (
                f"{r['page']} page, {r['link']}: old title first after "
                f"{'never' if r.get('target_s') is None else str(r['target_s']) + ' s'}, new title after "
                f"{new[0]['target_s']} s; old title fetched {_kb(r['bytes_before_first'])} before its first result"
            )
    return worst, detail


def evaluate_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets against this run's figures (PASS, MISS, or n/a when not measured)."""
    targets: list[dict[str, Any]] = []
    sizes = {int(n): r for n, r in result["sizes"].items()}
    for n, r in sizes.items():
        site, build = r["site"], r["build"]
        per_paper = site["bytes"] / r["papers"]
        kinds = ", ".join(
            f"{kind} {site['per_paper'][kind] / 1e3:,.1f} KB"
            for kind in sorted(KINDS, key=lambda k: -site["kinds"][k]["bytes"])
            if site["kinds"][kind]["bytes"]
        )
        budget = f"per paper: {kinds} (budget {SITE_LIMIT / TARGET_PAPERS / 1e3:,.1f} KB a paper in all)"
        if n >= TARGET_PAPERS:
            targets.append(
                _target(f"{n:,} papers: whole site", site["bytes"] / 1e9, SITE_LIMIT / 1e9, "GB", detail=budget)
            )
        else:
            targets.append(
                _target(
                    f"{TARGET_PAPERS:,} papers: whole site, projected from {n:,} ({per_paper / 1e3:,.1f} KB a paper)",
                    per_paper * TARGET_PAPERS / 1e9,
                    SITE_LIMIT / 1e9,
                    "GB",
                    detail=budget,
                )
            )
        largest: dict[str, Any] = site["largest"][0] if site["largest"] else {"path": "", "bytes": 0}
        over = ", ".join(f"{f['path']} ({f['bytes'] / MIB:,.1f} MiB)" for f in site["over_file_limit"][:5])
        targets.append(
            _target(
                f"{n:,} papers: largest file ({largest['path']})",
                largest["bytes"] / MIB,
                FILE_LIMIT / MIB,
                "MiB",
                detail=f"{len(site['over_file_limit'])} files over: {over}",
            )
        )
        if "search" in r:
            targets += _search_targets(n, r["search"])
        if n >= TARGET_PAPERS:
            detail = (
                f"generator stages {build.get('generator_s', 0):.1f} s, MkDocs and the rest "
                f"{build.get('rest_s', 0):.1f} s; stages: "
                + ", ".join(f"{k} {v:.1f} s" for k, v in build.get("stages_s", {}).items())
            )
            wall = _target(
                f"{n:,} papers: full build (paper-digest build)", build["wall_s"], BUILD_SECONDS, "s", detail=detail
            )
            wall["cpu_value"] = build["cpu_s"]  # steadier than wall time on a shared machine
            wall["cpu_status"] = "PASS" if build["cpu_s"] <= BUILD_SECONDS else "MISS"
            targets.append(wall)
            targets.append(
                _target(f"{n:,} papers: full build peak memory", build["peak_tree_mb"], BUILD_MB, "MB", detail=detail)
            )
    return targets


# ---------------------------------------------------------------- the report


def _row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def fmt(value: float | None, unit: str) -> str:
    """A target's figure in its unit."""
    if value is None:
        return "-"
    if value == float("inf"):
        return "never"
    if unit == "runs":
        return f"{value:.0f}"
    if unit in ("GB", "MB", "MiB"):
        return f"{value:,.2f} {unit}" if value < 10 else f"{value:,.1f} {unit}"
    if unit == "KB":
        return f"{value:,.0f} KB"
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:g} {unit}".strip()


def _seconds(value: float | None) -> str:
    return "none" if value is None else f"{value:.2f} s"


def format_report(result: dict[str, Any]) -> str:
    """The hosting benchmark as Markdown tables (readable on a terminal, pasteable into docs-bench.md)."""
    link = result.get("link", {})
    lines = [f"Commit {result.get('commit')}, {result['machine']['cpus']} CPUs, Python {result['machine']['python']}"]
    sizes = result["sizes"]
    lines += ["", "**Full builds** (`paper-digest build` in a fresh process; memory: PSS of the process tree)", ""]
    lines.append(
        _row(
            [
                "papers",
                "wall",
                "CPU",
                "peak memory",
                "generator stages",
                "MkDocs and the rest",
                "site",
                "files",
                "largest file",
                "files over 25 MiB",
            ]
        )
    )
    lines.append(_row(["---:"] * 8 + ["---", "---:"]))
    for n, r in sizes.items():
        b, s = r["build"], r["site"]
        largest: dict[str, Any] = s["largest"][0] if s["largest"] else {"path": "-", "bytes": 0}
        lines.append(
            _row(
                [
                    f"{int(n):,}",
                    f"{b['wall_s']:.1f} s",
                    f"{b['cpu_s']:.1f} s",
                    f"{b['peak_tree_mb']:,.0f} MB",
                    f"{b.get('generator_s', 0):.1f} s",
                    f"{b.get('rest_s', 0):.1f} s",
                    f"{s['bytes'] / 1e6:,.1f} MB",
                    f"{s['files']:,}",
                    f"{largest['path']} ({largest['bytes'] / MIB:,.1f} MiB)",
                    len(s["over_file_limit"]),
                ]
            )
        )
    for n, r in sizes.items():
        s = r["site"]
        lines += [
            "",
            f"**Bytes by kind**, {int(n):,} papers ({r['papers']:,} after merging; "
            f"hard links counted once: {s['hard_links']:,} extra links)",
            "",
        ]
        lines += [_row(["kind", "files", "bytes", "per paper", "share"]), _row(["---", "---:", "---:", "---:", "---:"])]
        for kind in sorted(KINDS, key=lambda k: -s["kinds"][k]["bytes"]):
            k = s["kinds"][kind]
            if not k["files"]:
                continue
            lines.append(
                _row(
                    [
                        kind,
                        f"{k['files']:,}",
                        f"{k['bytes'] / 1e6:,.1f} MB",
                        f"{s['per_paper'][kind] / 1e3:,.2f} KB",
                        f"{k['bytes'] / max(s['bytes'], 1):.0%}",
                    ]
                )
            )
        lines.append(
            _row(
                [
                    "total",
                    f"{s['files']:,}",
                    f"{s['bytes'] / 1e6:,.1f} MB",
                    f"{s['per_paper']['total'] / 1e3:,.2f} KB",
                    "100%",
                ]
            )
        )
        lines += [
            "",
            "Largest files: " + ", ".join(f"{f['path']} {f['bytes'] / MIB:,.1f} MiB" for f in s["largest"][:5]),
        ]
        q = r["queries"]
        lines += [
            "",
            f"Queries: topic {q['topic']!r}; old title ({q['old_day']}) {q['old_title']!r}; "
            f"rare word {q['rare_word']!r} ({q.get('rare_word_kind', 'word')}, "
            f"in {len(q['rare_word_papers'])} paper(s)); "
            f"new title ({q['new_day']}) {q['new_title']!r}; visit adds {q['extra']!r}.",
        ]
        anchor = r.get("anchor", {})
        if "index" in anchor:
            a = anchor["index"]
            lines += [
                "",
                f"**Pagefind anchor** ({a['version']}): indexed {a['pages']:,} pages in {a['wall_s']:.1f} s "
                f"(CPU {a['cpu_s']:.1f} s), peak {a['peak_mb']:,.0f} MB; {a['bytes'] / 1e6:,.1f} MB of files "
                f"({a['per_page'] / 1e3:,.2f} KB a page, {a['per_paper'] / 1e3:,.2f} KB a paper; "
                + ", ".join(f"{k} {v / 1e6:,.1f} MB" for k, v in sorted(a["parts"].items()))
                + ").",
            ]
        elif anchor:
            ran = ""
            if "wall_s" in anchor:
                ran = f" after {anchor['wall_s']:.1f} s (CPU {anchor['cpu_s']:.1f} s), peak {anchor['peak_mb']:,.0f} MB"
            lines += ["", f"**Pagefind anchor**: skipped ({anchor.get('skipped')}){ran}."]
        search = r.get("search")
        if search:
            lines += _search_table(int(n), search, link)
    lines += ["", "**Targets** (reported, never asserted; Pagefind: the anchor's figure against the same limit)", ""]
    lines += [
        _row(["target", "measured", "limit", "", "Pagefind", "what stands in the way"]),
        _row(["---", "---:", "---:", "---", "---", "---"]),
    ]
    for t in result["targets"]:
        anchor = "" if t.get("anchor_value") is None else f"{fmt(t['anchor_value'], t['unit'])} {t['anchor_status']}"
        value = fmt(t["value"], t["unit"])
        if t.get("cpu_value") is not None:
            value += f" (CPU {fmt(t['cpu_value'], t['unit'])} {t.get('cpu_status', '')})".replace(" )", ")")
        lines.append(
            _row([t["target"], value, fmt(t["limit"], t["unit"]), t["status"], anchor, t["detail"].replace("|", "/")])
        )
    return "\n".join(lines)


def _search_table(n: int, search: dict[str, Any], link: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"**Search**, {n:,} papers (headless chromium, site on loopback served gzipped; slow link "
        f"{link.get('megabits', 10):g} Mbps / {link.get('latency_ms', 40):g} ms; bytes as sent, after typing)",
        "",
    ]
    lines += [
        _row(
            [
                "search",
                "query",
                "page",
                "link",
                "first result",
                "title first",
                "bytes",
                "requests",
                "before first result",
            ]
        ),
        _row(["---"] * 4 + ["---:", "---", "---:", "---:", "---:"]),
    ]
    for name, ui in search.items():
        if "error" in ui:
            lines.append(_row([name, "error: " + ui["error"].replace("|", "/"), "", "", "", "", "", "", ""]))
            continue
        for r in ui["runs"]:
            first = "yes" if r.get("expected_first") else ("no" if "expected_first" in r else "")
            if "target_s" in r and r.get("target_s") is not None:
                first += f" ({r['target_s']:.2f} s)"
            unsettled = "" if r["settled"] else " (cut at the timeout)"
            lines.append(
                _row(
                    [
                        name,
                        r["query"],
                        r["page"],
                        r["link"],
                        _seconds(r["first_s"]),
                        first,
                        _kb(r["bytes"]) + unsettled,
                        r["requests"],
                        _kb(r["bytes_before_first"]),
                    ]
                )
            )
    for name, ui in search.items():
        if "visit" in ui:
            v = ui["visit"]
            per_query = ", ".join(f"{q['query']} {_kb(q['bytes'])}" for q in v["queries"])
            lines += [
                "",
                f"Visit of five queries ({name}): {_kb(v['bytes'])} in {v['requests']} requests ({per_query}).",
            ]
    return lines


def write_json(result: dict[str, Any], path: Path) -> None:
    """The result as JSON (a never-reached time, infinity in the targets, becomes null)."""
    path.write_text(json.dumps(_finite(result), indent=1) + "\n", "utf-8")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and value == float("inf"):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


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
