"""The benchmark's child processes: one build each, measured from inside, reported as JSON.

The harness (`benchmarks.run`) runs every measured build in a fresh interpreter so that
peak memory belongs to that build alone and no import or cache is shared between runs:

    python -m benchmarks.worker mkdocs PROJECT/mkdocs.yml
    python -m benchmarks.worker build PROJECT/mkdocs.yml
    python -m benchmarks.worker generate SOURCES CACHE_DIR [--topics FILE] [--no-write]

The last line of stdout is one JSON object (`RESULT_PREFIX` + JSON); everything else the
build prints goes to stderr. `mkdocs` mode times the plugin's own event handlers (the
digest's work inside the MkDocs build) by wrapping them on the class before MkDocs
instantiates the plugin, and reads the generator's stage timings and write statistics from
the plugin's result. `build` measures the same through the `paper-digest build` command (the
site built beside the old one and swapped in), what a user or a deploy job runs.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

RESULT_PREFIX = "BENCH-RESULT "
"""Marks the line of stdout that carries the result."""

PLUGIN_EVENTS = ("on_config", "on_pre_build", "on_files", "on_serve")
"""Handlers of `DigestPlugin` whose time counts as the digest's own work."""


class SearchStats(logging.Handler):
    """Reads the search stage's `search: N docs in P parts (B built, R reused)` log record."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.parts: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if not (isinstance(record.msg, str) and record.msg.startswith("search: ") and isinstance(args, tuple)):
            return
        counts = [a for a in args if isinstance(a, int)]
        if len(counts) == 4:
            self.parts = dict(zip(("docs", "parts", "built", "reused"), counts, strict=True))


def peak_rss_mb() -> dict[str, float]:
    """Peak resident memory of this process and of its largest finished child, in MB (Linux: KiB units)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"self": round(own, 1), "children": round(children, 1)}


STAGE_CPU: dict[str, float] = {}
"""CPU seconds per generator stage (this process and its finished workers), filled by `track_stage_cpu`."""


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def track_stage_cpu() -> None:
    """Make every `StageTimer` also count CPU time per stage: on a busy machine wall time is noise."""
    from generator.build import StageTimer

    timed = StageTimer.stage

    @contextmanager
    def stage(self: StageTimer, name: str) -> Iterator[None]:
        start = _cpu_seconds()
        with timed(self, name):
            yield
        STAGE_CPU[name] = STAGE_CPU.get(name, 0.0) + _cpu_seconds() - start

    StageTimer.stage = stage  # type: ignore[method-assign]


def _timed(name: str, method: Callable[..., Any], spent: dict[str, float]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - start

    return wrapper


def _instrument(spent: dict[str, float]) -> tuple[list[Any], SearchStats]:
    """Time the plugin's handlers into `spent`; the list receives the plugin instance once configured."""
    from generator.plugin import DigestPlugin

    for event in PLUGIN_EVENTS:
        setattr(DigestPlugin, event, _timed(event, getattr(DigestPlugin, event), spent))
    instances: list[Any] = []
    configure = DigestPlugin.on_config

    @functools.wraps(configure)
    def on_config(self: Any, *args: Any, **kwargs: Any) -> Any:
        instances.append(self)
        return configure(self, *args, **kwargs)

    DigestPlugin.on_config = on_config  # type: ignore[method-assign]
    search = SearchStats()
    logging.getLogger("generator.website.search").addHandler(search)
    return instances, search


def _build_result(plugin: Any, total: float, spent: dict[str, float], search: SearchStats) -> dict[str, Any]:
    from generator.plugin import DigestPlugin

    result: dict[str, Any] = {"build_seconds": total, "plugin_seconds": spent, "peak_rss_mb": peak_rss_mb()}
    if isinstance(plugin, DigestPlugin) and plugin.result is not None:
        stats = plugin.result.stats
        result["papers"] = len(plugin.result.corpus.papers)
        result["stages"] = plugin.result.timings
        result["stages_cpu"] = STAGE_CPU
        result["write"] = {"written": stats.written, "unchanged": stats.unchanged, "removed": stats.removed}
        result["search_parts"] = search.parts
    return result


def run_mkdocs(config_file: Path) -> dict[str, Any]:
    """One `mkdocs build` of `config_file`, with the digest plugin's share of it when it is enabled."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    spent: dict[str, float] = {}
    _, search = _instrument(spent)
    start = time.perf_counter()
    config = load_config(str(config_file))
    build(config)
    total = time.perf_counter() - start
    return _build_result(config.plugins.get("paper-digest"), total, spent, search)


def run_cli_build(config_file: Path) -> dict[str, Any]:
    """One `paper-digest build -f config_file` (the command, staging and swap included), measured likewise."""
    from generator.cli import main as cli

    spent: dict[str, float] = {}
    instances, search = _instrument(spent)
    start = time.perf_counter()
    cli(["build", "-f", str(config_file)], standalone_mode=False)
    total = time.perf_counter() - start
    return _build_result(instances[-1] if instances else None, total, spent, search)


def run_generate(sources: Path, cache_dir: Path, topics: Path | None, write: bool) -> dict[str, Any]:
    """The generator stages alone (no MkDocs); without `write` the new tree is dropped, not swapped in."""
    from generator.build import StageTimer, generate
    from generator.config import BuildOptions

    options = BuildOptions(sources=(sources,), cache_dir=cache_dir, topics_file=topics)
    timer = StageTimer(show_progress=False)
    search = SearchStats()
    logging.getLogger("generator.website.search").addHandler(search)
    start = time.perf_counter()
    generated = generate(options, timer, commit=write)
    stats = generated.stats
    result: dict[str, Any] = {"papers": len(generated.corpus.papers), "files": stats.written + stats.unchanged}
    result["write"] = {"written": stats.written, "unchanged": stats.unchanged, "removed": stats.removed}
    result.update(
        build_seconds=time.perf_counter() - start,
        stages=dict(timer.timings),
        stages_cpu=STAGE_CPU,
        problems=len(generated.problems),
        search_parts=search.parts,
        peak_rss_mb=peak_rss_mb(),
    )
    return result


def main(argv: list[str] | None = None) -> None:
    """Command line of the child process; see the module docstring."""
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    modes = parser.add_subparsers(dest="mode", required=True)
    mkdocs = modes.add_parser("mkdocs")
    mkdocs.add_argument("config_file", type=Path)
    build = modes.add_parser("build")
    build.add_argument("config_file", type=Path)
    generate = modes.add_parser("generate")
    generate.add_argument("sources", type=Path)
    generate.add_argument("cache_dir", type=Path)
    generate.add_argument("--topics", type=Path)
    generate.add_argument("--no-write", dest="write", action="store_false")
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)-7s -  %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    for noisy in ("markdown", "MARKDOWN", "PIL", "mkdocs.commands.build"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    track_stage_cpu()
    if args.mode == "mkdocs":
        result = run_mkdocs(args.config_file)
    elif args.mode == "build":
        result = run_cli_build(args.config_file)
    else:
        result = run_generate(args.sources, args.cache_dir, args.topics, args.write)
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
