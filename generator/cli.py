"""The `paper-digest` command: `check` the sources, `build` the site, `fetch` new papers.

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

import click
from mkdocs.commands.build import build as mkdocs_build
from mkdocs.config import load_config
from mkdocs.exceptions import Abort, ConfigurationError, PluginError

from generator.build import StageTimer, load_corpus
from generator.errors import DigestError
from generator.fetch.command import fetch
from generator.models import Corpus
from generator.plugin import DigestPlugin

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
    # MkDocs keeps plugin instances between loads in one process (for `mkdocs serve`): an
    # override from an earlier command must not outlive it.
    plugin.source_override = [Path(s) for s in sources] if sources else None
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


main.add_command(fetch)


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


if __name__ == "__main__":  # pragma: no cover
    main()
