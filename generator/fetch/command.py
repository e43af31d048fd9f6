"""`paper-digest fetch`: get today's papers from an API into a new source file.

`fetch hf|arxiv|rss ...` fetches one source; `fetch` alone fetches every feed configured under
`feeds:` in mkdocs.yml, where one feed failing is a warning and the others are still fetched.
Exit codes: 0 everything asked for was fetched (or was an empty day); 1 a fetch failed or the
configuration is unusable (nothing written); 2 a usage error; 3 (`fetch` alone) at least one
configured feed failed, the others were fetched.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from generator.errors import DigestError
from generator.fetch.apis import ARXIV_INTERVAL, ARXIV_PAGE_SIZE, Fetched, fetch_arxiv, fetch_hf, fetch_rss
from generator.fetch.client import Client, FetchError, Politeness
from generator.fetch.specs import DEFAULT_MAX, MAX_MAX, SORTS, FeedSpec, check_category, check_endpoint
from generator.fetch.store import save_answer

log = logging.getLogger(__name__)

SOME_FEEDS_FAILED = 3
"""The exit code of `fetch` (all configured feeds) when at least one feed failed."""


def _endpoint(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and (why := check_endpoint(value)):
        raise click.BadParameter(why)
    return value


def _common_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Where to write and how politely to ask: the options every fetch command takes."""
    options = [
        click.option("-f", "--config-file", default=None, help="The MkDocs configuration  [default: mkdocs.yml]."),
        click.option(
            "--out",
            type=click.Path(path_type=Path),
            default=None,
            help="The folder to write to  [default: the first configured source folder].",
        ),
        click.option(
            "--interval",
            type=click.FloatRange(min=0),
            default=None,
            help=f"Seconds between requests to one host  [default: {ARXIV_INTERVAL:g}, as arXiv asks].",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0.1),
            default=None,
            help="Seconds to wait to connect and for each part of an answer  [default: 30].",
        ),
        click.option(
            "--retries",
            type=click.IntRange(min=0, max=20),
            default=None,
            help="Retries of a request after a 429, a 5xx or a broken connection  [default: 4].",
        ),
        click.option(
            "--backoff",
            type=click.FloatRange(min=0),
            default=None,
            help="Seconds before the first retry, doubled for each next one  [default: 2].",
        ),
        click.option("-v", "--verbose", is_flag=True, default=None),
    ]
    for option in reversed(options):
        command = option(command)
    return command


_DEFAULTS: dict[str, Any] = {
    "config_file": "mkdocs.yml",
    "out": None,
    "interval": ARXIV_INTERVAL,
    "timeout": 30.0,
    "retries": 4,
    "backoff": 2.0,
    "verbose": False,
}


def _settings(ctx: click.Context, given: dict[str, Any]) -> dict[str, Any]:
    """The common options: the subcommand's, else the group's (`fetch --out X hf`), else the default."""
    group = ctx.parent.params if ctx.parent is not None else {}
    return {
        name: given.get(name) if given.get(name) is not None else group.get(name) if group.get(name) is not None
        else default
        for name, default in _DEFAULTS.items()
    }  # fmt: skip


def _client(settings: dict[str, Any]) -> Client:
    return Client(
        Politeness(
            interval=settings["interval"],
            timeout=settings["timeout"],
            attempts=settings["retries"] + 1,
            backoff=settings["backoff"],
        )
    )


def _plugin_config(config_file: str) -> tuple[Any, Path]:
    """The plugin's validated options and the folder of mkdocs.yml, read as `check` and `build` do."""
    from generator.cli import _load

    config, plugin = _load(config_file, (), None, False)
    return plugin.config, Path(config["config_file_path"]).resolve().parent  # type: ignore[index]


def _out_folder(settings: dict[str, Any]) -> Path:
    """`--out`, else the first configured source that is a folder (or not there yet)."""
    out: Path | None = settings["out"]
    if out is None:
        digest, root = _plugin_config(settings["config_file"])
        folders = [root / source for source in digest.sources if not (root / source).is_file()]
        if not folders:
            raise click.ClickException(f"{settings['config_file']}: no source folder configured; pass --out DIR")
        out = folders[0]
    if out.exists() and not out.is_dir():
        raise click.ClickException(f"--out {out}: not a folder")
    return out


def _save(fetched: Fetched, out: Path, what: str) -> None:
    """Save a fetched answer and say what happened: its path on stdout, the rest on stderr."""
    if fetched.items == 0:
        click.echo(f"{what}: no papers ({fetched.url}); nothing written", err=True)
        return
    saved = save_answer(out, fetched.name, fetched.body, fetched.kind)
    detail = {
        "new": "new file",
        "unchanged": "unchanged (same papers as the file already has)",
        "updated": f"updated ({saved.kept} papers no longer in the answer kept)",
    }[saved.outcome]
    click.echo(f"{what}: {saved.items} papers, {detail}", err=True)
    click.echo(str(saved.path))


def _fetch(spec: FeedSpec, client: Client, *, day: dt.date | None = None, page_size: int = ARXIV_PAGE_SIZE) -> Fetched:
    if spec.kind == "hf":
        return fetch_hf(client, day, spec.endpoint)
    if spec.kind == "arxiv":
        return fetch_arxiv(client, spec.value, spec.max, endpoint=spec.endpoint, sort=spec.sort, page_size=page_size)
    return fetch_rss(client, spec.value, spec.endpoint)


def _run_one(ctx: click.Context, given: dict[str, Any], spec: FeedSpec, **extra: Any) -> None:
    settings = _settings(ctx, given)
    _logging(settings["verbose"])
    out = _out_folder(settings)
    client = _client(settings)
    try:
        _save(_fetch(spec, client, **extra), out, spec.describe())
    except DigestError as exc:
        raise click.ClickException(f"{spec.describe()}: {exc}") from None
    finally:
        client.close()


def _logging(verbose: bool) -> None:
    from generator.cli import _setup_logging

    _setup_logging(verbose)


@click.group("fetch", invoke_without_command=True)
@_common_options
@click.pass_context
def fetch(ctx: click.Context, **given: Any) -> None:
    """Fetch new papers into a source file named by source and day; alone, every feed in `feeds:`.

    Exit 0 when all was fetched, 1 when a fetch failed (nothing written), 3 when some configured
    feeds failed and the others were fetched.
    """
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings(ctx, given)
    _logging(settings["verbose"])
    digest, _ = _plugin_config(settings["config_file"])
    feeds: list[FeedSpec] = digest.feeds
    if not feeds:
        click.echo(f"{settings['config_file']}: no feeds configured under `feeds:`; nothing fetched", err=True)
        return
    out = _out_folder(settings)
    client = _client(settings)
    failed = 0
    try:
        for spec in feeds:
            try:
                _save(_fetch(spec, client), out, spec.describe())
            except DigestError as exc:
                failed += 1
                log.warning("%s: %s", spec.describe(), exc)
    finally:
        client.close()
    if failed:
        click.echo(f"{failed} of {len(feeds)} feeds failed; the others were fetched", err=True)
        sys.exit(SOME_FEEDS_FAILED)


def _day(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected a date YYYY-MM-DD, got {value!r}") from None


def _category(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if why := check_category(value):
        raise click.BadParameter(why)
    return value


_endpoint_option = functools.partial(
    click.option, "--endpoint", callback=_endpoint, help="Another address for the API (a mirror, a test server)."
)


@fetch.command("hf")
@click.option("--date", "day", callback=_day, help="The day's list  [default: today, UTC].")
@_endpoint_option()
@_common_options
@click.pass_context
def fetch_hf_command(ctx: click.Context, day: dt.date | None, endpoint: str | None, **given: Any) -> None:
    """Hugging Face daily papers of a day, into hf-<day>.json."""
    _run_one(ctx, given, FeedSpec("hf", "daily", endpoint=endpoint), day=day)


@fetch.command("arxiv")
@click.option("--query", required=True, help='An arXiv API search query, e.g. "cat:cs.LG" or "all:diffusion".')
@click.option("--max", "max_results", type=click.IntRange(1, MAX_MAX), default=DEFAULT_MAX, show_default=True,
              help="The most results.")  # fmt: skip
@click.option("--sort", type=click.Choice(SORTS), default=SORTS[0], show_default=True, help="Newest or most relevant.")
@click.option("--page-size", type=click.IntRange(1, 2000), default=ARXIV_PAGE_SIZE, show_default=True,
              help="Results per request.")  # fmt: skip
@_endpoint_option()
@_common_options
@click.pass_context
def fetch_arxiv_command(ctx: click.Context, query: str, max_results: int, sort: str, page_size: int,
                        endpoint: str | None, **given: Any) -> None:  # fmt: skip
    """An arXiv API search, paged, into arxiv-<query>-<day>.xml."""
    if not query.strip():
        raise click.BadParameter("expected a search query", param_hint="--query")
    spec = FeedSpec("arxiv", query.strip(), max_results, sort, endpoint)
    _run_one(ctx, given, spec, page_size=page_size)


@fetch.command("rss")
@click.argument("category", callback=_category)
@_endpoint_option()
@_common_options
@click.pass_context
def fetch_rss_command(ctx: click.Context, category: str, endpoint: str | None, **given: Any) -> None:
    """arXiv's daily announcements of CATEGORY (cs.LG; cs.CL+cs.LG) into rss-<category>-<day>.xml."""
    _run_one(ctx, given, FeedSpec("rss", category, endpoint=endpoint))


__all__ = ["SOME_FEEDS_FAILED", "FetchError", "fetch"]
