"""The benchmark harness: the digest against a plain Material build, cold and rebuilt, at scale.

One run (`python -m benchmarks run`) measures, for each full size (default 1k and 10k papers):
the synthetic corpus; the digest's `mkdocs build` in a fresh process (wall time, peak memory,
the generator's stage timings and the plugin's own time); a plain Material build of the same
number of small pages (the floor) and the ratio of the two; the site's size, its largest HTML
page and its search index size. At the largest full size it then adds one 100-paper day and
rebuilds, reporting the digest's own work as a share of the plain build, the generated files
rewritten versus unchanged, and the search parts rebuilt versus reused; optionally it times the
first search result in chromium. For each generator-only size (default 100k) it runs just the
generator stages and compares each stage with the largest full size.

Targets are reported with PASS or MISS, never asserted: speed is measured here, not in tests.
`format_report` gives the readable table; the result dict is what `--json` writes, for comparing
commits.
"""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import logging
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.corpus import write_corpus
from benchmarks.sites import ChildRun, digest_project, measure_site, plain_project, run_child

log = logging.getLogger(__name__)

STAGES = ("read", "merge", "similarity", "topics", "pages", "search index", "writing")
REBUILD_PAPERS = 100
"""Papers in the day added for the rebuild case."""
SEARCH_QUERY = "language models"
SEARCH_REPEAT = 3


@dataclass(frozen=True)
class BenchOptions:
    """What one benchmark run does."""

    repo: Path
    """Folder of the site configuration (mkdocs.yml, theme_overrides/, content/) to benchmark."""
    work: Path
    """Where corpora, projects and built sites go."""
    sizes: tuple[int, ...] = (1_000, 10_000)
    """Corpus sizes built in full (digest and plain Material)."""
    generator_only_sizes: tuple[int, ...] = (100_000,)
    """Corpus sizes run through the generator stages only."""
    search_latency: bool = False
    """Time the first search result in chromium on the largest full size."""
    seed: int = 0
    """Seed of the synthetic corpora."""
    rebuild_papers: int = REBUILD_PAPERS
    """Papers in the day added before the rebuild; 0 skips the rebuild."""
    say: Callable[[str], None] = field(default=print, compare=False)
    """Where progress lines go."""


def _stages(timings: dict[str, float]) -> dict[str, float]:
    return {name: round(timings[name], 3) for name in (*STAGES, *sorted(set(timings) - set(STAGES))) if name in timings}


def _child_summary(run: ChildRun) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "wall_s": round(run.wall_seconds, 2),
        "cpu_s": run.cpu_seconds,
        "build_s": round(run.result["build_seconds"], 2),
        "peak_rss_mb": run.peak_rss_mb,
        "peak_tree_mb": run.peak_tree_mb,
    }
    if "stages" in run.result:
        summary["stages_s"] = _stages(run.result["stages"])
        summary["generator_s"] = round(sum(run.result["stages"].values()), 2)
    if "stages_cpu" in run.result:
        summary["stages_cpu_s"] = _stages(run.result["stages_cpu"])
        summary["generator_cpu_s"] = round(sum(run.result["stages_cpu"].values()), 2)
    if "plugin_seconds" in run.result:
        summary["plugin_s"] = {k: round(v, 3) for k, v in run.result["plugin_seconds"].items()}
        summary["digest_work_s"] = round(sum(run.result["plugin_seconds"].values()), 2)
    for key in ("papers", "files", "write", "search_parts"):
        if key in run.result:
            summary[key] = run.result[key]
    return summary


def _say_stages(say: Callable[[str], None], stages: dict[str, float]) -> None:
    say("    stages: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in stages.items()))


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def add_day(corpus: Path, papers: int, *, seed: int) -> Path:
    """Write one more daily dump of `papers` new papers (layout B) into `corpus`, the day after its last."""
    days = sorted(corpus.glob("????-??-??.txt"))
    day = dt.date.fromisoformat(days[-1].stem) + dt.timedelta(days=1) if days else dt.date(2024, 1, 1)
    staging = Path(tempfile.mkdtemp(prefix="bench-day-", dir=corpus.parent)) / "day"
    try:
        plan = write_corpus(papers, staging, seed=seed, start=day, dup_share=0, near_share=0)
        [name] = plan.files
        target = corpus / name
        shutil.move(staging / name, target)
    finally:
        shutil.rmtree(staging.parent, ignore_errors=True)
    return target


def full_size(options: BenchOptions, n: int, *, rebuild: bool) -> dict[str, Any]:
    """Digest and plain builds of `n` papers; with `rebuild`, also one more day and a rebuild."""
    say = options.say
    root = _fresh(options.work / f"full-{n}")
    corpus = root / "corpus"
    plan = write_corpus(n, corpus, seed=options.seed)
    say(f"{n} papers: corpus of {plan.records} records in {plan.days} daily files")

    config = digest_project(options.repo, root / "digest", corpus)
    say(f"{n} papers: digest build (mkdocs build, cold)…")
    cold = run_child(["mkdocs", str(config)], root / "digest-cold.log")
    digest = _child_summary(cold) | measure_site(config.parent / "site")
    digest["pages"] = _count_pages(config.parent / "site")
    say(f"    {digest['wall_s']:.1f} s, peak {digest['peak_tree_mb']:.0f} MB, {digest['pages']} pages")
    _say_stages(say, digest.get("stages_s", {}))

    say(f"{n} papers: plain Material build of {n} small pages…")
    plain_config = plain_project(options.repo, root / "plain", n, seed=options.seed)
    plain_run = run_child(["mkdocs", str(plain_config)], root / "plain.log")
    plain = _child_summary(plain_run) | measure_site(plain_config.parent / "site")
    plain["pages"] = _count_pages(plain_config.parent / "site")
    say(f"    {plain['wall_s']:.1f} s, peak {plain['peak_tree_mb']:.0f} MB")
    shutil.rmtree(plain_config.parent / "site", ignore_errors=True)

    result: dict[str, Any] = {
        "papers": n,
        "records": plan.records,
        "days": plan.days,
        "digest": digest,
        "plain": plain,
        "ratio_to_plain": round(digest["wall_s"] / plain["wall_s"], 2),
        "cpu_ratio_to_plain": round(digest["cpu_s"] / plain["cpu_s"], 2),
    }
    if rebuild and options.rebuild_papers:
        result["rebuild"] = rebuild_after_day(options, config, corpus, plain["wall_s"])
    if rebuild and options.search_latency:
        result["search_latency"] = search_latency(config.parent / "site")
    return result


def rebuild_after_day(options: BenchOptions, config: Path, corpus: Path, plain_wall: float) -> dict[str, Any]:
    """Add one day of new papers to a built digest and rebuild it; the digest's share of the plain build."""
    say = options.say
    day = add_day(corpus, options.rebuild_papers, seed=options.seed + 1)
    say(f"rebuild: added {day.name} ({options.rebuild_papers} papers); mkdocs build…")
    run = run_child(["mkdocs", str(config)], config.parent.parent / "digest-rebuild.log")
    rebuild = _child_summary(run)
    rebuild["day"] = day.name
    rebuild["digest_share_of_plain"] = round(rebuild["digest_work_s"] / plain_wall, 3)
    say(
        f"    {rebuild['wall_s']:.1f} s; digest's own work {rebuild['digest_work_s']:.2f} s "
        f"= {rebuild['digest_share_of_plain']:.0%} of the plain build"
    )
    _say_stages(say, rebuild.get("stages_s", {}))
    write, parts = rebuild.get("write", {}), rebuild.get("search_parts", {})
    say(
        f"    files: {write.get('written')} rewritten, {write.get('unchanged')} unchanged; "
        f"search parts: {parts.get('built')} rebuilt, {parts.get('reused')} reused"
    )
    return rebuild


def generator_only(options: BenchOptions, n: int) -> dict[str, Any]:
    """The generator stages alone on `n` papers, written to a fresh cache (no MkDocs)."""
    say = options.say
    root = _fresh(options.work / f"generator-{n}")
    corpus = root / "corpus"
    plan = write_corpus(n, corpus, seed=options.seed)
    say(f"{n} papers (generator only): corpus of {plan.records} records in {plan.days} daily files…")
    args = ["generate", str(corpus), str(root / "cache")]
    topics = _topics_file(options.repo)
    if topics is not None:
        args += ["--topics", str(topics)]
    run = run_child(args, root / "generate.log")
    result = {"papers": n, "records": plan.records, "days": plan.days, **_child_summary(run)}
    say(f"    {result['generator_s']:.1f} s in the stages, peak {result['peak_tree_mb']:.0f} MB")
    _say_stages(say, result["stages_s"])
    shutil.rmtree(root / "cache", ignore_errors=True)
    return result


def _topics_file(repo: Path) -> Path | None:
    from benchmarks.sites import _base_config, _digest_options

    topics = _digest_options(_base_config(repo)).get("topics")
    return (repo / topics).resolve() if topics else None


def _count_pages(site: Path) -> int:
    return sum(1 for _ in site.rglob("*.html") if _.name != "404.html")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def search_latency(site: Path, query: str = SEARCH_QUERY, repeat: int = SEARCH_REPEAT) -> dict[str, Any]:
    """Seconds to the first search result in chromium, the site served on 127.0.0.1 (median of `repeat`)."""
    from benchmarks.search_bench import time_first_result

    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        times = [time_first_result(url, query) for _ in range(repeat)]
    finally:
        server.shutdown()
        server.server_close()
    return {"query": query, "seconds": [round(t, 3) for t in times], "median_s": round(statistics.median(times), 3)}


def run_bench(options: BenchOptions) -> dict[str, Any]:
    """The whole benchmark; returns the result that `--json` writes."""
    started = dt.datetime.now(dt.UTC)
    sizes = sorted(set(options.sizes))
    full = {n: full_size(options, n, rebuild=n == sizes[-1]) for n in sizes}
    generator = {n: generator_only(options, n) for n in sorted(set(options.generator_only_sizes))}
    result: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "commit": _commit(options.repo),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "seed": options.seed,
        "full": {str(n): r for n, r in full.items()},
        "generator_only": {str(n): r for n, r in generator.items()},
    }
    if sizes:
        reference = full[sizes[-1]]
        for r in generator.values():
            r["reference_papers"] = sizes[-1]
            r["stage_ratio_to_reference"] = _stage_ratios(r["stages_s"], reference["digest"].get("stages_s", {}))
            r["stage_cpu_ratio_to_reference"] = _stage_ratios(
                r.get("stages_cpu_s", {}), reference["digest"].get("stages_cpu_s", {})
            )
    result["targets"] = evaluate_targets(result)
    return result


def _stage_ratios(stages: dict[str, float], reference: dict[str, float]) -> dict[str, float | None]:
    return {name: round(t / reference[name], 1) if reference.get(name) else None for name, t in stages.items()}


def _commit(repo: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "describe", "--always", "--dirty"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def _target(name: str, value: float | None, limit: float, unit: str, cpu: float | None = None) -> dict[str, Any]:
    """One target; `cpu` is the same figure from CPU time, which a busy machine disturbs less."""
    status = "n/a" if value is None else ("PASS" if value <= limit else "MISS")
    cpu_status = None if cpu is None else ("PASS" if cpu <= limit else "MISS")
    return {"target": name, "value": value, "limit": limit, "unit": unit, "status": status,
            "cpu_value": cpu, "cpu_status": cpu_status}  # fmt: skip


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def evaluate_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets against this run's figures: PASS, MISS, or n/a when not measured."""
    full = {int(n): r for n, r in result["full"].items()}
    generator = {int(n): r for n, r in result["generator_only"].items()}
    targets = []
    if full:
        n = max(full)
        ref = full[n]
        targets.append(
            _target(
                f"{n} papers: cold build / plain Material build",
                ref["ratio_to_plain"],
                2.0,
                "x",
                ref.get("cpu_ratio_to_plain"),
            )
        )
        rebuild = ref.get("rebuild", {})
        share = rebuild.get("digest_share_of_plain")
        cpu_share = _ratio(rebuild.get("generator_cpu_s"), ref["plain"].get("cpu_s"))
        targets.append(_target(f"{n} papers + 1 day: digest's own work / plain build", share, 0.30, "share", cpu_share))
        targets.append(_target(f"{n} papers: largest HTML page", ref["digest"]["largest_html_kb"], 300, "KB"))
        latency = ref.get("search_latency", {}).get("median_s")
        targets.append(_target(f"{n} papers: search first result", latency, 1.0, "s"))
    if generator:
        g = max(generator)
        big = generator[g]
        targets.append(
            _target(f"{g} papers: generator stages", big["generator_s"], 60.0, "s", big.get("generator_cpu_s"))
        )
        targets.append(_target(f"{g} papers: generator peak memory", big["peak_tree_mb"], 2048.0, "MB"))
        ratios = [r for r in big.get("stage_ratio_to_reference", {}).values() if r is not None]
        cpu_ratios = [r for r in big.get("stage_cpu_ratio_to_reference", {}).values() if r is not None]
        if ratios and "reference_papers" in big:
            limit = round(1.5 * g / big["reference_papers"], 1)
            name = f"{g}/{big['reference_papers']} papers: slowest stage's time ratio"
            targets.append(_target(name, max(ratios), limit, "x", max(cpu_ratios) if cpu_ratios else None))
    return targets


def _row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def format_report(result: dict[str, Any]) -> str:
    """The benchmark result as Markdown tables (readable on a terminal, pasteable into the README)."""
    lines = [f"Commit {result.get('commit')}, {result['machine']['cpus']} CPUs, Python {result['machine']['python']}"]
    full = result["full"]
    if full:
        lines += [
            "",
            "**Full builds** (wall time of the whole `mkdocs build` in a fresh process; CPU ratio: user+system time)",
            "",
        ]
        lines.append(_row(["papers", "digest build", "plain build", "ratio", "CPU ratio", "peak memory", "pages",
                           "site", "largest HTML page", "search index"]))  # fmt: skip
        lines.append(_row(["---:"] * 10))
        for n, r in full.items():
            d, p = r["digest"], r["plain"]
            lines.append(
                _row(
                    [
                        f"{int(n):,}",
                        f"{d['wall_s']:.1f} s",
                        f"{p['wall_s']:.1f} s",
                        f"{r['ratio_to_plain']:.2f}x",
                        f"{r['cpu_ratio_to_plain']:.2f}x",
                        f"{d['peak_tree_mb']:.0f} MB",
                        f"{d['pages']:,}",
                        f"{d['site_mb']:.0f} MB",
                        f"{d['largest_html_kb']:.0f} KB ({d['largest_html']})",
                        f"{d['search_index_mb']:.1f} MB",
                    ]
                )
            )
        lines += ["", "**Generator stages inside the build** (seconds)", ""]
        stage_rows: list[tuple[str, dict[str, Any]]] = [(f"{int(n):,} cold", r["digest"]) for n, r in full.items()]
        stage_rows += [(f"{int(n):,} + 1 day", r["rebuild"]) for n, r in full.items() if "rebuild" in r]
        stage_rows += [(f"{int(n):,} generator only", r) for n, r in result["generator_only"].items()]
        lines += _stage_table(stage_rows, "stages_s", "generator_s")
        lines += ["", "**CPU time of the generator stages** (seconds, worker processes included)", ""]
        lines += _stage_table(stage_rows, "stages_cpu_s", "generator_cpu_s")
    for n, r in full.items():
        if "rebuild" in r:
            b = r["rebuild"]
            write, parts = b.get("write", {}), b.get("search_parts", {})
            lines += [
                "",
                f"**Rebuild** of {int(n):,} papers after adding one {REBUILD_PAPERS}-paper day ({b['day']}): "
                f"whole build {b['wall_s']:.1f} s; the digest's own work (plugin: generator stages and "
                f"file registration) {b['digest_work_s']:.2f} s = {b['digest_share_of_plain']:.0%} of the plain "
                f"build; generated files {write.get('written')} rewritten, {write.get('unchanged')} unchanged, "
                f"{write.get('removed')} removed; search parts {parts.get('built')} rebuilt, "
                f"{parts.get('reused')} reused.",
            ]
        if "search_latency" in r:
            s = r["search_latency"]
            lines += ["", f"**Search** at {int(n):,} papers: first result for {s['query']!r} in "
                          f"{s['median_s']:.2f} s (median of {s['seconds']})."]  # fmt: skip
    for n, r in result["generator_only"].items():
        ratios = ", ".join(f"{k} {v}" for k, v in r.get("stage_ratio_to_reference", {}).items())
        cpu_ratios = ", ".join(f"{k} {v}" for k, v in r.get("stage_cpu_ratio_to_reference", {}).items())
        text = (
            f"**Generator only**, {int(n):,} papers: {r['generator_s']:.1f} s in the stages, peak "
            f"{r['peak_tree_mb']:.0f} MB (PSS of the process and its workers; largest single process "
            f"{r['peak_rss_mb']:.0f} MB)"
        )
        if "reference_papers" in r:
            text += f"; time ratio to {r['reference_papers']:,} papers per stage: {ratios} (CPU time: {cpu_ratios})"
        lines += ["", text + "."]
    lines += ["", "**Targets** (measured on wall time; the last column: the same figure from CPU time)", ""]
    lines += [_row(["target", "measured", "limit", "", "from CPU time"]), _row(["---", "---:", "---:", "---", "---"])]
    for t in result["targets"]:
        value = "-" if t["value"] is None else _fmt(t["value"], t["unit"])
        cpu = "" if t.get("cpu_value") is None else f"{_fmt(t['cpu_value'], t['unit'])} {t['cpu_status']}"
        lines.append(_row([t["target"], value, _fmt(t["limit"], t["unit"]), t["status"], cpu]))
    return "\n".join(lines)


def _fmt(value: float, unit: str) -> str:
    if unit == "share":
        return f"{value:.0%}"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:,.1f} {unit}" if unit != "MB" else f"{value:,.0f} MB"


def _stage_table(rows: list[tuple[str, dict[str, Any]]], key: str, total: str) -> list[str]:
    names = [s for s in STAGES if any(s in r.get(key, {}) for _, r in rows)]
    out = [_row(["run", *names, "total", "peak memory"]), _row(["---", *["---:"] * (len(names) + 2)])]
    for label, r in rows:
        stages = r.get(key, {})
        out.append(
            _row(
                [
                    label,
                    *(f"{stages[s]:.2f}" if s in stages else "-" for s in names),
                    f"{r.get(total, 0):.2f}",
                    f"{r['peak_tree_mb']:.0f} MB",
                ]
            )
        )
    return out
