"""The `paper-digest` command: `check` the sources, `build` the site, `bench` the pipeline.

A thin shell: it parses options and calls the same build as the MkDocs plugin; errors
become `click.ClickException`s only here, at the edge.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from mkdocs.commands.build import build as mkdocs_build
from mkdocs.config import load_config
from mkdocs.exceptions import Abort, ConfigurationError, PluginError

from .build import StageTimer, load_corpus
from .errors import DigestError
from .models import Corpus
from .plugin import DigestPlugin

os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")


class _Counter(logging.Handler):
    """Counts warnings and errors logged anywhere (MkDocs' config, the plugin, the generator)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def _setup_logging(verbose: bool) -> _Counter:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)-7s -  %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("markdown", "MARKDOWN", "PIL", "urllib3", "mkdocs.commands.build"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # `mkdocs` (its own command) stops its logger from propagating; ours must reach the handlers above
    # even when that command ran before in the same process (tests, tools that embed both).
    logging.getLogger("mkdocs").propagate = True
    counter = _Counter()
    root.addHandler(counter)
    return counter


def _load(
    config_file: str, sources: tuple[str, ...], site_dir: str | None, strict: bool
) -> tuple[object, DigestPlugin]:
    """Load mkdocs.yml (validated by MkDocs) and find the plugin; apply `--sources`."""
    if not Path(config_file).is_file():
        raise click.ClickException(f"configuration file not found: {config_file}")
    try:
        config = load_config(config_file, site_dir=site_dir, strict=strict)
    except (ConfigurationError, Abort) as exc:
        raise click.ClickException(f"{config_file}: {exc}") from exc
    plugin = config.plugins.get("paper-digest")
    if not isinstance(plugin, DigestPlugin):
        raise click.ClickException(f"{config_file}: the paper-digest plugin is not enabled under `plugins:`")
    if sources:
        plugin.source_override = [Path(s) for s in sources]
    return config, plugin


def _input_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options `check` and `build` share: which mkdocs.yml, which sources."""
    return click.option(
        "-f", "--config-file", default="mkdocs.yml", show_default=True, help="The MkDocs configuration."
    )(
        click.option(
            "--sources",
            multiple=True,
            type=click.Path(),
            help="A source file or folder (repeatable); replaces the configured sources.",
        )(command)
    )


@click.group()
@click.version_option(package_name="paper-digest")
def main() -> None:
    """paper-digest: turn research-paper listing dumps into a browsable, searchable static site."""


@main.command()
@_input_options
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too.")
@click.option("-v", "--verbose", is_flag=True)
def check(config_file: str, sources: tuple[str, ...], strict: bool, verbose: bool) -> None:
    """Read and validate every source; print a summary. Exit 1 on errors (or warnings with --strict)."""
    counter = _setup_logging(verbose)
    config, plugin = _load(config_file, sources, None, strict)
    plugin.on_config(config)  # type: ignore[arg-type]
    options = plugin.options
    assert options is not None
    try:
        corpus, problems = load_corpus(options, StageTimer(show_progress=False))
    except DigestError as exc:
        raise click.ClickException(str(exc)) from exc
    _print_summary(corpus)
    errors = sum(1 for p in problems if p.level == "error")
    warnings = counter.count
    for problem in problems:
        click.echo(f"{problem.level.upper():7} -  {problem}", err=True)
    click.echo(f"{errors} errors, {len(problems) - errors + warnings} warnings")
    if errors or (strict and (problems or warnings)):
        sys.exit(1)


def _print_summary(corpus: Corpus) -> None:
    records = sum(len(p.appearances) for p in corpus.papers)
    click.echo(f"records: {records}")
    click.echo(
        f"papers:  {len(corpus.papers)} ({records - len(corpus.papers)} records merged; "
        f"{sum(1 for p in corpus.papers if len(p.sources) > 1)} papers seen in more than one source)"
    )
    click.echo(f"near-duplicate papers: {sum(1 for v in corpus.similarity.near_duplicates.values() if v)}")
    counts = Counter(a.slug for v in corpus.topics.assignments.values() for a in v[:1])
    click.echo("primary topics: " + ", ".join(f"{t.slug} {counts[t.slug]}" for t in corpus.topics.topics))
    click.echo("sources:")
    for source in sorted(corpus.sources, key=lambda s: s.name):
        click.echo(
            f"  {source.name}: {len(source.paper_ids)} papers, {source.layout}, "
            f"date {source.date.isoformat() if source.date else 'undated'}, shown as {source.title!r}"
        )


@main.command()
@_input_options
@click.option("--site-dir", type=click.Path(), help="Where to put the built site (default: site_dir of mkdocs.yml).")
@click.option("--strict", is_flag=True, help="Fail (exit 1) on any warning.")
@click.option("-v", "--verbose", is_flag=True)
def build(config_file: str, sources: tuple[str, ...], site_dir: str | None, strict: bool, verbose: bool) -> None:
    """Build the site. The new site replaces the old one only when the whole build succeeded."""
    counter = _setup_logging(verbose)
    config, plugin = _load(config_file, sources, site_dir, strict)
    final = Path(config["site_dir"])  # type: ignore[index]
    staging = final.with_name(final.name + ".building")
    old = final.with_name(final.name + ".old")
    if old.is_dir() and not final.exists():
        old.rename(final)  # a build killed between the two renames below: the previous site comes back
    shutil.rmtree(staging, ignore_errors=True)
    config["site_dir"] = str(staging)  # type: ignore[index]
    with _sigterm_as_exit():
        try:
            mkdocs_build(config)  # type: ignore[arg-type]
            if strict and counter.count:
                raise Abort(f"Aborted with {counter.count} warnings in strict mode!")
        except (Abort, PluginError, DigestError, ConfigurationError) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            plugin.restore_tree()
            raise click.ClickException(str(exc)) from exc
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            plugin.restore_tree()
            raise
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        staging.rename(final)
        plugin.finish_tree()
        shutil.rmtree(old, ignore_errors=True)
    click.echo(f"Site built in {final}")


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """Turn SIGTERM into SystemExit while building, so that a terminated build cleans up after
    itself (staging site removed, previous generated tree restored) as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _exit(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _sizes(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        return tuple(int(part.replace("_", "")) for part in value.split(",") if part.strip())
    except ValueError as exc:
        raise click.BadParameter("expected sizes separated by commas, e.g. 1000,10000") from exc


@main.group()
def bench() -> None:
    """Benchmark the digest on synthetic corpora (see docs-bench.md)."""


@bench.command("corpus")
@click.argument("n", type=click.IntRange(min=1))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace the day files already in OUT_DIR.")
def bench_corpus(n: int, out_dir: Path, seed: int, overwrite: bool) -> None:
    """Write N synthetic papers as daily layout-B dumps into OUT_DIR."""
    from .bench.corpus import plan_path, write_corpus

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

    from .bench.sites import ChildFailed

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

    from .bench.run import BenchOptions, format_report, run_bench

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
    from .bench.hosting import HostingOptions, format_report, run_hosting, write_json
    from .bench.visitor import Link

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
    main()
