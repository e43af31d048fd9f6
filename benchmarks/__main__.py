"""The benchmark harness's command line: `python -m benchmarks corpus|run|hosting` from the repository.

The harness is not part of the installed package: it needs the repository (its corpus pool, the
site configuration it copies) and the test extras (chromium through Playwright).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def _sizes(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        return tuple(int(part.replace("_", "")) for part in value.split(",") if part.strip())
    except ValueError as exc:
        raise click.BadParameter("expected sizes separated by commas, e.g. 1000,10000") from exc


@click.group()
def bench() -> None:
    """Benchmark the digest on synthetic corpora (see docs-bench.md)."""


@bench.command("corpus")
@click.argument("n", type=click.IntRange(min=1))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace the day files already in OUT_DIR.")
def bench_corpus(n: int, out_dir: Path, seed: int, overwrite: bool) -> None:
    """Write N synthetic papers as daily layout-B dumps into OUT_DIR."""
    from benchmarks.corpus import plan_path, write_corpus

    try:
        plan = write_corpus(n, out_dir, seed=seed, overwrite=overwrite)
    except (FileExistsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"{plan.records} records ({plan.papers} papers, {plan.exact_duplicates} exact and "
        f"{len(plan.near_duplicates)} near duplicates) in {plan.days} files; plan: {plan_path(out_dir)}"
    )


def _bench_repo(config_file: str) -> Path:
    """The folder of the site configuration a benchmark copies (mkdocs.yml must be there)."""
    repo = Path(config_file).resolve().parent
    if not (repo / Path(config_file).name).is_file():
        raise click.ClickException(f"configuration file not found: {config_file}")
    return repo


def _in_work_folder(work: Path | None, prefix: str, run: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """`run(folder)` in `work`, or in a temporary folder removed afterwards; a failed child process
    becomes a message naming the folder of its logs."""
    import tempfile

    from benchmarks.sites import ChildFailed

    folder = work or Path(tempfile.mkdtemp(prefix=prefix))
    try:
        return run(folder.resolve())
    except ChildFailed as exc:
        raise click.ClickException(f"{exc}\n(logs in {folder})") from exc
    finally:
        if work is None:
            shutil.rmtree(folder, ignore_errors=True)


@bench.command("run")
@click.option("-f", "--config-file", default="mkdocs.yml", show_default=True, help="The site to benchmark.")
@click.option("--sizes", default="1000,10000", show_default=True, callback=_sizes, help="Sizes built in full.")
@click.option("--generator-only-sizes", default="100000", show_default=True, callback=_sizes,
              help="Sizes run through the generator stages only.")  # fmt: skip
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Also write the result as JSON here.")
@click.option("--work", type=click.Path(path_type=Path), help="Work folder, kept (default: a temporary one).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--search-latency/--no-search-latency", default=False, show_default=True,
              help="Time the first search result in chromium at the largest full size.")  # fmt: skip
@click.option("--rebuild-papers", type=click.IntRange(min=0), default=100, show_default=True,
              help="Papers in the day added before the rebuild (0: no rebuild).")  # fmt: skip
def bench_run(config_file: str, sizes: tuple[int, ...], generator_only_sizes: tuple[int, ...],
              json_out: Path | None, work: Path | None, seed: int, search_latency: bool,
              rebuild_papers: int) -> None:  # fmt: skip
    """Build synthetic digests and plain Material sites; print timings, memory and targets."""
    import json

    from benchmarks.run import BenchOptions, format_report, run_bench

    repo = _bench_repo(config_file)

    def run(folder: Path) -> dict[str, Any]:
        return run_bench(BenchOptions(
            repo=repo, work=folder, sizes=sizes, generator_only_sizes=generator_only_sizes,
            search_latency=search_latency, seed=seed, say=lambda line: click.echo(line, err=True),
            rebuild_papers=rebuild_papers,
        ))  # fmt: skip

    result = _in_work_folder(work, "paper-digest-bench-", run)
    if json_out is not None:
        json_out.write_text(json.dumps(result, indent=1) + "\n", "utf-8")
        click.echo(f"JSON written to {json_out}", err=True)
    click.echo(format_report(result))


@bench.command("hosting")
@click.option("-f", "--config-file", default="mkdocs.yml", show_default=True, help="The site to benchmark.")
@click.option("--sizes", default="10000,100000", show_default=True, callback=_sizes, help="Corpus sizes built.")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Also write the result as JSON here.")
@click.option("--work", type=click.Path(path_type=Path), help="Work folder, kept (default: a temporary one).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--browser/--no-browser", default=True, show_default=True, help="Measure search in chromium.")
@click.option("--anchor/--no-anchor", default=True, show_default=True,
              help="Build and measure a Pagefind index of the same site (needs pagefind[bin]).")  # fmt: skip
@click.option("--link", default="10,40", show_default=True, help="Emulated slow link: megabits per second,latency ms.")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds a query may take to settle.")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True,
              help="Fresh pages per query, page and link; the median is reported.")  # fmt: skip
@click.option("--anchor-memory-mb", type=float, default=8192.0, show_default=True,
              help="Stop Pagefind's indexer past this much memory.")  # fmt: skip
def bench_hosting(config_file: str, sizes: tuple[int, ...], json_out: Path | None, work: Path | None, seed: int,
                  browser: bool, anchor: bool, link: str, timeout: float, repeat: int,
                  anchor_memory_mb: float) -> None:  # fmt: skip
    """Full builds: what the host stores (bytes by kind, largest files), what a visitor's search fetches and waits."""
    from benchmarks.hosting import HostingOptions, format_report, run_hosting, write_json
    from benchmarks.visitor import Link

    try:
        megabits, latency = (float(v) for v in link.split(","))
    except ValueError as exc:
        raise click.BadParameter("expected megabits,latency_ms, e.g. 10,40", param_hint="--link") from exc
    repo = _bench_repo(config_file)

    def run(folder: Path) -> dict[str, Any]:
        return run_hosting(HostingOptions(
            repo=repo, work=folder, sizes=sizes, seed=seed, browser=browser, anchor=anchor,
            link=Link(megabits, latency), timeout=timeout, repeat=repeat, anchor_memory_mb=anchor_memory_mb,
            say=lambda line: click.echo(line, err=True),
        ))  # fmt: skip

    result = _in_work_folder(work, "paper-digest-hosting-", run)
    if json_out is not None:
        write_json(result, json_out)
        click.echo(f"JSON written to {json_out}", err=True)
    click.echo(format_report(result))


if __name__ == "__main__":  # pragma: no cover
    bench()
