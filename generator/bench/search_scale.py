"""Search latency at scale without a full digest build: the search files alone, in a small Material site.

For each size (default 10k and 50k papers) this:

1. writes a synthetic corpus (`generator.bench.corpus`) and reads, merges, dates and assigns
   topics to it (the digest's own stages, minus similarity, with the repository's
   `content/topics.yml`), then times `build_search_files` on the resulting `SearchDoc`s. That
   stage runs in a fresh interpreter so its peak memory is its own (`ru_maxrss` of the build
   process, and of its largest search worker);
2. makes a small MkDocs project (the repository's theme and `theme_overrides/`, no plugin, an
   index and a few pages) with the search files under `docs/search/`, and runs `mkdocs build`;
3. serves the site on 127.0.0.1 and times, in a fresh headless chromium each time
   (`generator.search_bench.time_first_result`), the first visible result for three queries:
   words of a title from the newest day, words of a title from the oldest month, and the most
   common word pair of the abstracts. For the two title queries it also times the moment the
   paper itself is listed (it can come after other, closer-scored results from newer parts).

Nothing is asserted; the table reports PASS or MISS against the issue's targets (first result
within 1.0 s at 10k papers, within 2.0 s at 50k). Run it with

    python -m generator.bench.search_scale --papers 10000 --papers 50000 --work /tmp/search50k
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import http.server
import itertools
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
"""The repository: theme_overrides/ and content/topics.yml come from here."""

DEFAULT_SIZES = (10_000, 50_000)
TARGETS = {10_000: 1.0, 50_000: 2.0}
"""Issue targets: seconds from typing to the first visible result, by corpus size."""

REPEAT = 5
TITLE_WORDS = 3
"""Words of a title typed for the title queries (its made-up name and the next words)."""
PAGES = 5
"""Small content pages besides the index."""
STOP_WORDS = frozenset(
    {"a", "an", "and", "are", "as", "at", "be", "by", "can", "for", "from", "has", "have", "in", "is"}
    | {"it", "its", "of", "on", "or", "our", "that", "the", "their", "these", "this", "to", "we"}
    | {"which", "with", "while", "both", "such", "than", "into", "over", "under", "not", "more"}
    | {"most", "also", "using", "based", "via", "new", "show", "results"}
)
"""Words left out when picking the common abstract word pair."""
_RESULT_PREFIX = "SEARCH_SCALE_RESULT "
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Query:
    """One timed query: what is typed and, optionally, the paper expected among the results."""

    name: str
    text: str
    target_url: str | None = None


# ---------- step 1: corpus and search files (runs in a child interpreter) ----------


def build_step(papers: int, work: Path, seed: int = 0) -> dict[str, Any]:
    """Corpus, papers, topics and search files for one size; writes the search files into the project.

    Returns timings, peak memory, file sizes and the queries to time.
    """
    from generator.bench.corpus import write_corpus
    from generator.config import BuildOptions
    from generator.dates import resolve_dates
    from generator.readers import read_sources
    from generator.records import merge_records
    from generator.search import build_search_files
    from generator.taxonomy import load_taxonomy
    from generator.topics import assign_topics
    from generator.writers import search_docs

    corpus_dir = work / "corpus"
    if not corpus_dir.is_dir():
        write_corpus(papers, corpus_dir, seed=seed)
    options = BuildOptions(sources=(corpus_dir,), cache_dir=work / "cache", topics_file=REPO / "content/topics.yml")

    started = time.perf_counter()
    listings, _ = read_sources(list(options.sources))
    dates, _ = resolve_dates(listings, options.settings, options.year)
    merged, _ = merge_records(listings, dates)
    assert options.topics_file is not None
    topics = assign_topics(merged, load_taxonomy(options.topics_file))
    load_s = time.perf_counter() - started

    docs = search_docs(merged, topics)
    rss_before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    started = time.perf_counter()
    files = build_search_files(docs, cache_dir=None, workers=2)
    index_s = time.perf_counter() - started

    docs_dir = work / "site-project" / "docs"
    search_dir = docs_dir / "search"
    if search_dir.exists():
        shutil.rmtree(search_dir)
    for rel, data in files.items():
        path = docs_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    parts = {rel: len(data) for rel, data in files.items() if rel != "search/manifest.json"}
    largest = max(parts, key=lambda rel: parts[rel])
    manifest = json.loads(files["search/manifest.json"])
    return {
        "papers": len(docs),
        "load_s": round(load_s, 2),
        "index_build_s": round(index_s, 2),
        "peak_rss_mb_before_index": round(rss_before_mb),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "peak_rss_mb_largest_worker": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
        "search_files": len(files),
        "parts": len(manifest.get("parts", [])),
        "search_mb": round(sum(len(d) for d in files.values()) / 1e6, 2),
        "largest_file": largest,
        "largest_file_mb": round(parts[largest] / 1e6, 2),
        "newest_part_mb": _newest_part_mb(manifest, files),
        "titles_part_mb": _titles_part_mb(manifest, files),
        "queries": [q.__dict__ for q in pick_queries(docs)],
    }


def _newest_part_mb(manifest: dict[str, Any], files: dict[str, bytes]) -> float | None:
    parts = manifest.get("parts") or []
    if not parts:
        return None
    first = parts[0]
    return round(sum(len(files[first[k]]) for k in ("index", "docs") if first.get(k) in files) / 1e6, 2)


def _titles_part_mb(manifest: dict[str, Any], files: dict[str, bytes]) -> float | None:
    """Size of the title chunks together (MB)."""
    chunks = manifest.get("title_parts") or []
    if not chunks:
        return None
    return round(sum(len(files[chunk[k]]) for chunk in chunks for k in ("index", "docs")) / 1e6, 2)


def pick_queries(docs: Sequence[Any]) -> list[Query]:
    """A title from the newest day, a title from the oldest month, and the commonest abstract word pair."""
    dated = sorted((d for d in docs if d.date is not None), key=lambda d: (d.date, d.id))
    newest = dated[-1]
    oldest = dated[0]
    pairs: Counter[tuple[str, str]] = Counter()
    for doc in docs:
        words = _WORD.findall(doc.abstract.lower())
        for a, b in itertools.pairwise(words):
            if a not in STOP_WORDS and b not in STOP_WORDS and len(a) > 3 and len(b) > 3:
                pairs[(a, b)] += 1
    common = " ".join(min(pairs.items(), key=lambda item: (-item[1], item[0]))[0])

    def title_words(title: str) -> str:
        return " ".join(_WORD.findall(title)[:TITLE_WORDS])

    return [
        Query("newest day title", title_words(newest.title), newest.url),
        Query("oldest month title", title_words(oldest.title), oldest.url),
        Query("common abstract pair", common),
    ]


# ---------- step 2: the small MkDocs site ----------


class _IgnoreTagsLoader(yaml.SafeLoader):
    """SafeLoader that reads `!ENV` and other custom tags of mkdocs.yml as null."""


_IgnoreTagsLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def write_project(project: Path, papers: int) -> None:
    """mkdocs.yml (the repository's theme, no plugins) and a few Markdown pages in `project`."""
    with (REPO / "mkdocs.yml").open(encoding="utf-8") as handle:
        source = yaml.load(handle, Loader=_IgnoreTagsLoader)
    theme = dict(source.get("theme") or {})
    theme.update({"name": "material", "custom_dir": str(REPO / "theme_overrides"), "font": False})
    config = {
        "site_name": f"search scale {papers}",
        "site_url": "http://127.0.0.1:8000/",
        "docs_dir": "docs",
        "site_dir": "site",
        "use_directory_urls": True,
        "theme": theme,
        "plugins": [],
        "markdown_extensions": source.get("markdown_extensions") or [],
    }
    project.mkdir(parents=True, exist_ok=True)
    (project / "mkdocs.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    docs = project / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "index.md").write_text(
        f"# Search at scale\n\nA small site carrying the search files of {papers} synthetic papers.\n",
        encoding="utf-8",
    )
    for i in range(1, PAGES + 1):
        (docs / f"page-{i}.md").write_text(f"# Page {i}\n\nA small page.\n", encoding="utf-8")


def mkdocs_build(project: Path) -> float:
    """`mkdocs build` in `project`; returns its wall time."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--quiet", "--clean"],
        cwd=project,
        check=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    return time.perf_counter() - started


# ---------- step 3: latency in chromium ----------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    """Closing a browser mid-response is expected here: no traceback for a dropped connection."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def time_queries(site: Path, queries: Sequence[Query], repeat: int = REPEAT) -> list[dict[str, Any]]:
    """First visible result (and the expected paper, when known) for each query, `repeat` times."""
    from generator.search_bench import time_first_result

    handler = functools.partial(_QuietHandler, directory=str(site))
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    out = []
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        for query in queries:
            loads = [os.getloadavg()[0]]
            first = []
            for _ in range(repeat):
                first.append(time_first_result(url, query.text))
                loads.append(os.getloadavg()[0])
            row: dict[str, Any] = {"query": query.name, "text": query.text, "first_result": _summary(first)}
            if query.target_url:
                selector = f'.ds__result a[href$="/{query.target_url}"]'
                target = []
                for _ in range(repeat):
                    target.append(time_first_result(url, query.text, result_selector=selector))
                    loads.append(os.getloadavg()[0])
                row["target_result"] = _summary(target)
            row["load1"] = [round(min(loads), 2), round(max(loads), 2)]
            out.append(row)
    finally:
        server.shutdown()
        server.server_close()
    return out


def _summary(times: Sequence[float]) -> dict[str, Any]:
    return {
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
        "seconds": [round(t, 3) for t in times],
    }


# ---------- driver ----------


def run_size(papers: int, work: Path, seed: int = 0, repeat: int = REPEAT) -> dict[str, Any]:
    """Steps 1-3 for one size, under `work/<papers>/`."""
    size_dir = work / str(papers)
    size_dir.mkdir(parents=True, exist_ok=True)
    project = size_dir / "site-project"
    write_project(project, papers)
    command = [sys.executable, "-m", "generator.bench.search_scale", "--work", str(size_dir)]
    command += ["--seed", str(seed), "--build-step", str(papers)]
    proc = subprocess.run(
        command,
        check=True,
        capture_output=True,
        text=True,
    )
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(_RESULT_PREFIX))
    result: dict[str, Any] = json.loads(line[len(_RESULT_PREFIX) :])
    result["mkdocs_build_s"] = round(mkdocs_build(project), 2)
    queries = [Query(**q) for q in result.pop("queries")]
    result["latency"] = time_queries(project / "site", queries, repeat)
    target = TARGETS.get(papers)
    if target is not None:
        worst = max(row["first_result"]["median_s"] for row in result["latency"])
        result["target_s"] = target
        result["verdict"] = "PASS" if worst <= target else "MISS"
    return result


def format_table(results: Sequence[dict[str, Any]]) -> str:
    """The readable report."""
    lines = []
    for r in results:
        verdict = f"  target {r['target_s']} s: {r['verdict']}" if "target_s" in r else ""
        lines.append(
            f"{r['papers']} papers: index build {r['index_build_s']} s (load+topics {r['load_s']} s), "
            f"peak RSS {r['peak_rss_mb']} MB (largest worker {r['peak_rss_mb_largest_worker']} MB), "
            f"{r['search_files']} files / {r['parts']} parts, {r['search_mb']} MB, largest "
            f"{r['largest_file_mb']} MB ({r['largest_file']}), newest part {r['newest_part_mb']} MB, "
            f"title chunks {r.get('titles_part_mb')} MB{verdict}"
        )
        lines.append(f"  {'query':<22} {'typed':<34} {'first median [range] s':<26} {'paper itself':<24} load1")
        for row in r["latency"]:
            f = row["first_result"]
            t = row.get("target_result")
            paper = f"{t['median_s']:.3f} [{t['min_s']:.3f}-{t['max_s']:.3f}]" if t else "-"
            lines.append(
                f"  {row['query']:<22} {row['text'][:34]:<34} "
                f"{f['median_s']:.3f} [{f['min_s']:.3f}-{f['max_s']:.3f}]{'':<6} {paper:<24} "
                f"{row['load1'][0]}-{row['load1'][1]}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command line: run each `--papers` size, print the table (and `--json` the results)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--papers", type=int, action="append", help="corpus size (repeatable; default 10k and 50k)")
    parser.add_argument("--work", type=Path, required=True, help="work folder (corpora, projects, sites)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=REPEAT)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--build-step", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.build_step is not None:
        result = build_step(args.build_step, args.work, args.seed)
        print(_RESULT_PREFIX + json.dumps(result), flush=True)
        return

    sizes = sorted(set(args.papers or DEFAULT_SIZES))
    started = dt.datetime.now(dt.UTC)
    results = [run_size(n, args.work, args.seed, args.repeat) for n in sizes]
    print(format_table(results))
    if args.json:
        payload = {
            "started": started.isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "chromium": shutil.which("chromium"),
            "results": results,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
