"""Benchmark projects and measurements: the digest site, the plain Material floor, child processes.

- `digest_project` copies the repository's `mkdocs.yml`, `theme_overrides/`, `content/topics.yml`
  and `content/pages/` into a work folder, pointing the plugin's `sources` at a synthetic corpus.
- `plain_project` makes the floor to compare against: the same theme and Markdown extensions, no
  plugin (a hook gives `theme_overrides/` the template globals it needs), and `n` small pages (a
  title and a paragraph) outside the nav (`not_in_nav`).
- `run_child` runs one `benchmarks.worker` build in a fresh interpreter and measures its
  wall time and peak memory: the largest single process (`RUSAGE_CHILDREN`, as `/usr/bin/time`
  reports) and the whole process tree (the build's worker processes included), its PSS sampled from `/proc`.
  `run_measured` does the same for any command (Pagefind's indexer), optionally stopping it at a memory limit.
- `measure_site` reads a built site's size, its largest HTML page and its search index size.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchmarks.pool import load_pool
from benchmarks.worker import RESULT_PREFIX

PLUGIN = "paper-digest"
SAMPLE_SECONDS = 0.1
"""How often the process tree's memory is sampled, at most."""
SAMPLE_SHARE = 0.05
"""Share of one CPU the sampling may take: reading a process's smaps_rollup walks its page tables
(18 ms at 1.4 GB) and holds its memory map lock; ten reads a second of two such processes took a
third of a CPU from the build being measured. The wait after a sample is its time / this share,
except while memory climbs (`SAMPLE_RISE`): then it is `SAMPLE_SECONDS`, so a peak is not missed."""
SAMPLE_RISE = 1.01
"""A sample this many times the previous one means memory is climbing."""


class ChildFailed(RuntimeError):
    """A benchmark child process exited with an error."""


@dataclass(frozen=True)
class ChildRun:
    """A finished child process: what it reported and what it cost."""

    result: dict[str, Any]
    """The JSON object the worker printed."""
    wall_seconds: float
    """From start to exit, interpreter start-up and imports included."""
    peak_rss_mb: float
    """Peak resident memory of the largest single process (the child or one of its workers)."""
    peak_tree_mb: float
    """Peak of the summed memory (PSS) of the child and its workers, sampled (at least `peak_rss_mb`)."""
    cpu_seconds: float
    """User and system CPU time of the child and its workers: steadier than wall time on a busy machine."""


@dataclass(frozen=True)
class Tagged:
    """A YAML value with a tag such as `!ENV` or `!!python/name:`, kept to be written back unchanged."""

    tag: str
    value: Any


class _Loader(yaml.SafeLoader):
    pass


class _Dumper(yaml.SafeDumper):
    pass


def _construct_tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Tagged:
    if isinstance(node, yaml.SequenceNode):
        return Tagged(node.tag, loader.construct_sequence(node, deep=True))
    if isinstance(node, yaml.MappingNode):
        return Tagged(node.tag, loader.construct_mapping(node, deep=True))
    return Tagged(node.tag, loader.construct_scalar(node))  # type: ignore[arg-type]


def _represent_tagged(dumper: yaml.SafeDumper, data: Tagged) -> yaml.Node:
    if isinstance(data.value, list):
        return dumper.represent_sequence(data.tag, data.value)
    if isinstance(data.value, dict):
        return dumper.represent_mapping(data.tag, data.value)
    return dumper.represent_scalar(data.tag, data.value)


for _prefix in ("!", "tag:yaml.org,2002:python/"):
    _Loader.add_multi_constructor(_prefix, _construct_tagged)
_Dumper.add_representer(Tagged, _represent_tagged)


def _dump(config: dict[str, Any], path: Path) -> None:
    path.write_text(yaml.dump(config, Dumper=_Dumper, sort_keys=False, allow_unicode=True), "utf-8")


def _base_config(repo: Path) -> dict[str, Any]:
    config = yaml.load((repo / "mkdocs.yml").read_text("utf-8"), Loader=_Loader)  # a SafeLoader subclass
    if not isinstance(config, dict):
        raise ValueError(f"{repo / 'mkdocs.yml'} is not a mapping")
    return config


def _digest_options(config: dict[str, Any]) -> dict[str, Any]:
    for entry in config.get("plugins") or ():
        if isinstance(entry, dict) and PLUGIN in entry:
            return dict(entry[PLUGIN] or {})
    return {}


def digest_project(repo: Path, project: Path, corpus: Path) -> Path:
    """A copy of the repository's site configuration whose plugin reads `corpus`; returns its mkdocs.yml."""
    config = _base_config(repo)
    options = _digest_options(config)
    options.pop("overrides", None)  # they name the real seed files
    options["sources"] = [str(corpus.resolve())]
    topics = options.get("topics")
    config["plugins"] = [{PLUGIN: options}]
    project.mkdir(parents=True, exist_ok=True)
    docs_dir = config.get("docs_dir", "docs")
    shutil.copytree(repo / docs_dir, project / docs_dir, dirs_exist_ok=True)
    custom_dir = (config.get("theme") or {}).get("custom_dir")
    if custom_dir:
        shutil.copytree(repo / custom_dir, project / custom_dir, dirs_exist_ok=True)
    if topics:
        (project / topics).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / topics, project / topics)
    config["site_dir"] = "site"
    config["strict"] = False
    path = project / "mkdocs.yml"
    _dump(config, path)
    return path


PLAIN_HOOKS = "bench_hooks.py"
_PLAIN_HOOKS_CODE = '''"""The plain floor's hook: the template globals of theme_overrides/ (the plugin's on_env)."""

try:
    from generator.website.chrome import theme_globals
except ImportError:  # an older tree: the overrides need no globals
    theme_globals = None


def on_env(env, config, files):
    if theme_globals is not None:
        env.globals.update(theme_globals(env, config))
    return env
'''


def plain_project(repo: Path, project: Path, n: int, *, seed: int = 0) -> Path:
    """`n` small pages (title and paragraph, not in the nav) with the digest's theme and no plugin (a hook
    gives the overrides the template globals the plugin would)."""
    base = _base_config(repo)
    config: dict[str, Any] = {
        "site_name": "plain",
        "docs_dir": "docs",
        "site_dir": "site",
        "use_directory_urls": base.get("use_directory_urls", True),
        "theme": base.get("theme", {"name": "material"}),
        "markdown_extensions": base.get("markdown_extensions", []),
        "plugins": [],
        "nav": [{"Home": "index.md"}],
        "not_in_nav": "/papers/\n",
    }
    custom_dir = (config["theme"] or {}).get("custom_dir")
    if custom_dir:
        shutil.copytree(repo / custom_dir, project / custom_dir, dirs_exist_ok=True)
        # The overrides use the template globals the plugin gives every page (its `on_env`): a hook gives
        # them here too, so the floor renders the same theme without the digest's work.
        (project / PLAIN_HOOKS).write_text(_PLAIN_HOOKS_CODE, "utf-8")
        config["hooks"] = [PLAIN_HOOKS]
    docs = project / "docs"
    (docs / "papers").mkdir(parents=True, exist_ok=True)
    (docs / "index.md").write_text("# Plain\n\nA plain Material site of small pages.\n", "utf-8")
    rng = random.Random(seed)
    sentences = [s for topic in load_pool().topics for s in topic.sentences]
    for index in range(n):
        paragraph = " ".join(rng.choice(sentences) for _ in range(6))
        text = f"# Paper {index}: {rng.choice(sentences)[:80]}\n\n{paragraph}\n"
        (docs / "papers" / f"p{index:06d}.md").write_text(text, "utf-8")
    path = project / "mkdocs.yml"
    _dump(config, path)
    return path


def _memory_kb(pid: int, status: dict[str, str]) -> int:
    """Proportional set size (KiB) of a process: shared pages counted once across the tree.

    Forked workers share their parent's pages copy-on-write; summing RSS would count those
    pages once per process. PSS (from smaps_rollup) splits them; RSS is the fallback.
    """
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(status.get("VmRSS", "0 kB").split()[0])


def _tree_memory_kb(root_pid: int) -> int:
    """Summed memory (PSS, KiB) of `root_pid` and its descendants, from /proc."""
    parents: dict[int, int] = {}
    statuses: dict[int, dict[str, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="utf-8") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
        except OSError:
            continue
        parents[int(entry)] = int(fields.get("PPid", "0").strip())
        statuses[int(entry)] = fields
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        if pid in statuses:
            total += _memory_kb(pid, statuses[pid])
        stack.extend(child for child, parent in parents.items() if parent == pid)
    return total


@dataclass(frozen=True)
class ProcessRun:
    """A finished process measured by `run_measured`."""

    returncode: int
    stdout: bytes
    wall_seconds: float
    cpu_seconds: float
    """User and system CPU time of the process and its descendants (those it waited for)."""
    peak_tree_kb: int
    """Peak of the summed PSS of the process and its descendants, sampled."""
    peak_rss_kb: int | None
    """`RUSAGE_CHILDREN`'s peak resident memory when this process raised it (else unknown: None)."""
    stopped: bool = False
    """Killed by the harness because the tree's memory passed `memory_limit_kb`."""


def run_measured(
    argv: list[str],
    log_file: Path,
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    memory_limit_kb: int | None = None,
) -> ProcessRun:
    """Run `argv` (stderr to `log_file`, stdout kept), sampling the process tree's memory as it runs.

    With `memory_limit_kb` the process is killed (`stopped`) once its tree's PSS passes it.
    """
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before, cpu_before = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    with log_file.open("wb") as log:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, cwd=cwd, env=env)
        peak = 0
        stopped = False
        done = threading.Event()

        def sample() -> None:
            nonlocal peak, stopped
            wait, last = SAMPLE_SECONDS, 0
            while not done.wait(wait):
                started = time.perf_counter()
                kb = _tree_memory_kb(process.pid)
                peak = max(peak, kb)
                if memory_limit_kb is not None and kb > memory_limit_kb and not stopped:
                    stopped = True
                    process.kill()
                # Every 0.1 s while memory climbs (a peak is only reached by climbing), else within budget.
                rising = kb > last * SAMPLE_RISE
                wait = SAMPLE_SECONDS if rising else max(SAMPLE_SECONDS, (time.perf_counter() - started) / SAMPLE_SHARE)
                last = kb

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        stdout, _ = process.communicate()
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    after, cpu = usage.ru_maxrss, usage.ru_utime + usage.ru_stime - cpu_before
    return ProcessRun(process.returncode, stdout, wall, round(cpu, 2), peak, after if after > before else None, stopped)


def harness_path() -> str:
    """PYTHONPATH for a child process that imports `benchmarks` (which is not installed): the repository first."""
    here = str(Path(__file__).resolve().parents[1])
    rest = os.environ.get("PYTHONPATH", "")
    return os.pathsep.join([here, rest]) if rest else here


def run_child(args: list[str], log_file: Path, *, cwd: Path | None = None) -> ChildRun:
    """Run `python -m benchmarks.worker ARGS`, its stderr going to `log_file`; raise on failure."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONUNBUFFERED": "1", "PYTHONPATH": harness_path()}
    run = run_measured([sys.executable, "-m", "benchmarks.worker", *args], log_file, cwd=cwd, env=env)
    if run.returncode != 0:
        tail = log_file.read_text("utf-8", errors="replace").splitlines()[-15:]
        raise ChildFailed(f"worker {' '.join(args)} failed ({run.returncode}):\n" + "\n".join(tail))
    lines = [line for line in run.stdout.decode().splitlines() if line.startswith(RESULT_PREFIX)]
    if not lines:
        raise ChildFailed(f"worker {' '.join(args)} printed no result")
    result = json.loads(lines[-1][len(RESULT_PREFIX) :])
    # RUSAGE_CHILDREN is a maximum over every child so far: it only tells about this child when
    # it grew; the child's own report (self and its finished workers) is exact.
    own = result.get("peak_rss_mb", {})
    largest = max(own.get("self", 0.0), own.get("children", 0.0), (run.peak_rss_kb or 0) / 1024)
    # A sample can miss a short peak; the largest process's exact peak is a floor for the tree's.
    return ChildRun(
        result, run.wall_seconds, round(largest, 1), round(max(run.peak_tree_kb / 1024, largest), 1), run.cpu_seconds
    )


def measure_site(site: Path) -> dict[str, Any]:
    """Size of a built site, its largest HTML page and its search index (files under `search/`)."""
    total = 0
    files = 0
    largest = ("", 0)
    search = 0
    for dirpath, _, names in os.walk(site):
        for name in names:
            path = Path(dirpath, name)
            size = path.stat().st_size
            total += size
            files += 1
            rel = path.relative_to(site).as_posix()
            if name.endswith(".html") and size > largest[1]:
                largest = (rel, size)
            if rel.startswith("search/"):
                search += size
    return {
        "site_mb": round(total / 1e6, 1),
        "site_files": files,
        "largest_html": largest[0],
        "largest_html_kb": round(largest[1] / 1024, 1),
        "search_index_mb": round(search / 1e6, 2),
    }
