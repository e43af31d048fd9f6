"""Bad input and failed builds, end to end through the `paper-digest` command.

Each bad input is built next to a good source: the message names the file and the line or
record, the good source's paper is still in the site, and the exit codes of `build`,
`build --strict` and `check` say whether anything was lost. A build that fails (bad
configuration, a crash in a stage, an interruption) leaves the previously generated tree
and the previously built site exactly as they were.

The command runs in-process (click's CliRunner), which is several times faster than a
subprocess per build and lets a test make a stage crash.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from conftest import copy_project

from generator import cli

GOOD_TITLE = "Graph Neural Networks Keep Working Next to Broken Sources"
GOOD_LISTING = (
    "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nbyAK and the research community\n\n"
    f"May 29\n\n{GOOD_TITLE}\n\n"
    "We show that one broken source never takes a good one down with it. The good paper is built as usual.\n"
)
LISTING_HEADER = "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nbyAK and the research community\n\n"
BASE_OPTIONS: dict[str, object] = {"sources": ["content/sources"], "topics": "content/topics.yml"}
PLUGIN_OPTION = r"Config value 'plugins': Plugin 'paper-digest' option "
"""How MkDocs names a bad plugin option in mkdocs.yml (its users know this form)."""


def invoke_cli(*args: str) -> Result:
    """Run `paper-digest ARGS` in-process, restoring the logging set-up the command replaces."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        return CliRunner().invoke(cli.main, list(args), catch_exceptions=True)
    finally:
        root.handlers[:], root.level = saved


@pytest.fixture
def invoke() -> Callable[..., Result]:
    """`invoke(*args)` runs `paper-digest ARGS` in-process (see `invoke_cli`)."""
    return invoke_cli


def set_plugin_options(project: Path, options: dict[str, object]) -> None:
    """Replace the `plugins:` block of the project's mkdocs.yml with paper-digest and `options`."""
    config = project / "mkdocs.yml"
    block = yaml.safe_dump({"plugins": [{"paper-digest": options}]}, sort_keys=False)
    text, count = re.subn(r"(?m)^plugins:\n(?:[ \t].*\n|\n)*", lambda _: block + "\n", config.read_text("utf-8"))
    assert count == 1, "mkdocs.yml has no plugins: block"
    config.write_text(text, "utf-8")


def make_project(root: Path, files: dict[str, str | bytes], options: dict[str, object] | None = None) -> Path:
    """A project with the good listing plus `files` in content/sources."""
    project = copy_project(root, sources=False)
    sources = project / "content" / "sources"
    (sources / "2025-05-29-good.txt").write_text(GOOD_LISTING, "utf-8")
    for name, content in files.items():
        path = sources / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, "utf-8")
    set_plugin_options(project, options if options is not None else BASE_OPTIONS)
    return project


def built_titles(project: Path) -> set[str]:
    papers = json.loads((project / "site" / "papers.json").read_text("utf-8"))["papers"]
    return {paper["title"] for paper in papers}


def crashed(result: Result) -> str:
    """Describe an unexpected exception (a traceback instead of a message), or ''."""
    if result.exception is None or isinstance(result.exception, SystemExit):
        return ""
    return f"crashed with {type(result.exception).__name__}: {result.exception}\n{result.output[-3000:]}"


@dataclass(frozen=True)
class Case:
    """One bad input: files next to the good source, or plugin options, and what must happen."""

    message: str
    """A regex the output must match: it names the file and the line or record."""
    files: dict[str, str | bytes] = field(default_factory=dict)
    options: dict[str, object] | None = None
    """Plugin options instead of the defaults (sources and topics)."""
    build_exit: int = 0
    """Exit code of `paper-digest build` without --strict: 0 when only bad input was skipped."""
    check_exit: int = 1
    """Exit code of `paper-digest check`: 1 when data was skipped (an error), 0 for warnings."""


CASES = {
    "empty file": Case(r"empty\.txt: empty file; file skipped", {"empty.txt": ""}),
    "blank lines only": Case(r"blank\.txt: empty file", {"blank.txt": "\n \r\n\t\n"}),
    "binary file": Case(r"binary\.txt: binary file", {"binary.txt": bytes(range(256)) * 8}),
    "non-UTF-8 file": Case(
        r"latin1\.txt:11: not UTF-8 text \(byte 0xe9\)",
        {"latin1.txt": (LISTING_HEADER + "May 29\n\nCaf\xe9 Models\n").encode("latin-1")},
    ),
    "unknown layout": Case(
        r"other\.txt:1: unknown layout: expected a listing page header, found 'Some other page'",
        {"other.txt": "Some other page\n\nWith other text in it.\n"},
    ),
    "listing cut after a title": Case(
        r"2025-05-30-cut\.txt:11: title without an abstract: 'A Paper Whose Abstract Was Cut Off'",
        {"2025-05-30-cut.txt": LISTING_HEADER + "May 30\n\nA Paper Whose Abstract Was Cut Off\n"},
        check_exit=0,
    ),
    "YAML cut mid-record": Case(
        r"cut\.yaml:4: invalid YAML: found unexpected end of stream; file skipped",
        {"cut.yaml": '- title: A Whole Record\n  abstract: Whole.\n- title: A Cut Record\n  abstract: "We sh'},
    ),
    "invalid YAML": Case(
        r"bad\.yaml:2: invalid YAML: .*; file skipped",
        {"bad.yaml": "- title: [unclosed\n- abstract: x\n"},
    ),
    "YAML that is not a list": Case(
        r"map\.yaml:1: expected a list of records; file skipped", {"map.yaml": "title: A\nabstract: B\n"}
    ),
    "invalid JSON": Case(
        r"bad\.json:2: invalid JSON: Expecting value; file skipped",
        {"bad.json": '[{"title": "A", "abstract": "B"},\n {"title": }]\n'},
    ),
    "invalid JSON line": Case(
        r"bad\.jsonl:2: invalid JSON: .*; skipped",
        {"bad.jsonl": '{"title": "A JSON Line Paper", "abstract": "Fine."}\n{"title": "B", \n'},
    ),
    "record without title": Case(
        r"notitle\.yaml:2 \(record 2\): record without a title; skipped",
        {"notitle.yaml": "- {title: A Titled Record, abstract: Fine.}\n- {abstract: No title here.}\n"},
    ),
    "record with a non-text title": Case(
        r"numtitle\.yaml:1 \(record 1\): field 'title' must be text \(quote it\), not int '1995'",
        {"numtitle.yaml": "- {title: 1995, abstract: A number is not a title.}\n"},
    ),
    "one id, different text": Case(
        r"ids\.yaml:2: id 'dup-1' is also used at .*ids\.yaml:1 for a different title",
        {
            "ids.yaml": "- {id: dup-1, title: First Paper With The Id, abstract: One.}\n"
            "- {id: dup-1, title: Second Paper With The Id, abstract: Two.}\n"
        },
        check_exit=0,
    ),
    "impossible date in a record": Case(
        r"baddate\.yaml:1 \(record 1\): impossible date '2025-02-30' ignored",
        {"baddate.yaml": "- {title: A Paper Of February 30, abstract: Dated impossibly., date: 2025-02-30}\n"},
        check_exit=0,
    ),
    "impossible date in a file name": Case(
        r"2025-02-30-x\.txt: impossible date 2025-02-30 in the file name ignored",
        {"2025-02-30-x.txt": LISTING_HEADER + "Feb 28\n\nA Paper From A Misnamed File\n\nIt is fine. Really.\n"},
        check_exit=0,
    ),
    "unknown configuration key": Case(
        PLUGIN_OPTION + r"'colour': Unrecognised configuration name: colour",
        options={**BASE_OPTIONS, "colour": "blue"},
        check_exit=0,
    ),
    "bad option value": Case(
        PLUGIN_OPTION + r"'feed_size': must be at least 1", options={**BASE_OPTIONS, "feed_size": 0}, build_exit=1
    ),
    "bad option type": Case(
        PLUGIN_OPTION + r"'page_size': Expected type: <class 'int'>",
        options={**BASE_OPTIONS, "page_size": "many"},
        build_exit=1,
    ),
    "impossible override date": Case(
        PLUGIN_OPTION + r"'overrides': Sub-option 'date': expected a date YYYY-MM-DD, got '2025-02-30'",
        options={**BASE_OPTIONS, "overrides": {"2025-05-29-good.txt": {"date": "2025-02-30"}}},
        build_exit=1,
    ),
    "missing sources folder": Case(
        r"content/missing: sources path does not exist",
        options={**BASE_OPTIONS, "sources": ["content/sources", "content/missing"]},
    ),
    "missing topics file": Case(
        r"content/nope\.yml: cannot read the taxonomy file",
        options={**BASE_OPTIONS, "topics": "content/nope.yml"},
        build_exit=1,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_reported_and_good_sources_still_build(
    name: str, tmp_path: Path, invoke: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name]
    project = make_project(tmp_path / "project", case.files, case.options)
    monkeypatch.chdir(project)
    check_and_build(case, project, invoke)


def check_and_build(case: Case, project: Path, invoke: Callable[..., Result] = invoke_cli) -> None:
    """`check`, `build --strict` and `build` in `project` (the current folder) report `case.message`
    with the case's exit codes, leave no site after a failure and, when the build passes, the
    good listing's paper is built."""
    checked = invoke("check")
    assert not crashed(checked), crashed(checked)
    assert re.search(case.message, checked.output), checked.output[-3000:]
    assert checked.exit_code == case.check_exit, checked.output[-3000:]

    strict = invoke("build", "--strict")
    assert not crashed(strict), crashed(strict)
    assert strict.exit_code != 0, strict.output[-3000:]
    assert not (project / "site").exists(), "a failed strict build left a site behind"

    built = invoke("build")
    assert not crashed(built), crashed(built)
    assert re.search(case.message, built.output), built.output[-3000:]
    assert built.exit_code == case.build_exit, built.output[-3000:]
    if case.build_exit == 0:
        assert GOOD_TITLE in built_titles(project)
    else:
        assert not (project / "site").exists()


def test_listing_cut_mid_abstract_keeps_the_partial_abstract(
    tmp_path: Path, invoke: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listing pages show abstracts cut off (the seeds are full of them): a dump that ends
    mid-abstract is not an error; the paper keeps what was there, and --strict passes."""
    cut = (
        LISTING_HEADER + "May 30\n\nSparse Mixtures of Quokka Experts for Sheep Counting\n\n"
        "We propose a sparse mixture of experts that counts sheep. In this work we show that the experts special"
    )
    project = make_project(tmp_path / "project", {"2025-05-30-cut.txt": cut})
    monkeypatch.chdir(project)
    built = invoke("build", "--strict")
    assert built.exit_code == 0, crashed(built) or built.output[-3000:]
    papers = json.loads((project / "site" / "papers.json").read_text("utf-8"))["papers"]
    cut_paper = next(p for p in papers if p["title"] == "Sparse Mixtures of Quokka Experts for Sheep Counting")
    assert cut_paper["abstract"].endswith("the experts special")
    assert GOOD_TITLE in built_titles(project)


# ------------------------------------------------------------------------------ nothing lost

NEW_LISTING = (
    LISTING_HEADER + "May 30\n\nA Newer Paper That A Failed Build Must Not Publish\n\n"
    "We add a paper to the sources before every failing build. Were it published, the trees would differ.\n"
)
TREE = Path(".paper-digest") / "generated"


def snapshot(project: Path) -> dict[str, bytes]:
    """Every file of the built site and of the current generated tree, and which tree is current."""
    files = {f"{TREE} -> ": os.readlink(project / TREE).encode()}
    for top in (Path("site"), TREE):
        root = project / top
        for path in sorted(root.rglob("*")):
            if path.is_file():
                files[f"{top}/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    return files


def assert_unchanged(project: Path, before: dict[str, bytes]) -> None:
    after = snapshot(project)
    assert sorted(after) == sorted(before), {"lost": sorted(set(before) - set(after))[:10],
                                             "new": sorted(set(after) - set(before))[:10]}  # fmt: skip
    changed = sorted(name for name in before if before[name] != after[name])
    assert not changed, f"changed by a failed build: {changed[:10]}"
    assert not (project / "site.building").exists() and not (project / "site.old").exists()


@pytest.fixture(scope="module")
def built_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project built once with the good source; tests work on copies of it."""
    project = make_project(tmp_path_factory.mktemp("built") / "project", {})
    previous = Path.cwd()
    os.chdir(project)
    try:
        result = invoke_cli("build", "--strict")
    finally:
        os.chdir(previous)
    assert result.exit_code == 0, crashed(result) or result.output[-3000:]
    return project


@pytest.fixture
def built(built_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, bytes]]:
    """A copy of the built project (cwd), a newer source added, and its snapshot before the failure."""
    project = tmp_path / "project"
    shutil.copytree(built_project, project, symlinks=True)
    (project / "content" / "sources" / "2025-05-30-newer.txt").write_text(NEW_LISTING, "utf-8")
    monkeypatch.chdir(project)
    return project, snapshot(project)


def boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("simulated crash")


def interrupt(*args: object, **kwargs: object) -> None:
    raise KeyboardInterrupt


# Where a build can fail: (how to make it fail, arguments of `paper-digest build`).
FAILURES: dict[str, tuple[Callable[[Path, pytest.MonkeyPatch], object], tuple[str, ...]]] = {
    "invalid YAML in mkdocs.yml": (
        lambda p, m: (p / "mkdocs.yml").write_text((p / "mkdocs.yml").read_text("utf-8") + "extra: {a: [\n", "utf-8"),
        (),
    ),
    "bad option value": (lambda p, m: set_plugin_options(p, {**BASE_OPTIONS, "page_size": 0}), ()),
    "no papers in the sources": (
        lambda p, m: set_plugin_options(p, {**BASE_OPTIONS, "sources": ["content/sources/nothing-here"]}),
        (),
    ),
    "crash reading sources": (lambda p, m: m.setattr("generator.build.read_sources", boom), ()),
    "crash comparing papers": (lambda p, m: m.setattr("generator.build.find_similarity_and_text", boom), ()),
    "crash assigning topics": (lambda p, m: m.setattr("generator.build.assign_topics", boom), ()),
    "crash rendering pages": (lambda p, m: m.setattr("generator.build.render_keyed", boom), ()),
    "crash building the search index": (lambda p, m: m.setattr("generator.build.search_files", boom), ()),
    "crash writing the tree": (lambda p, m: m.setattr("generator.website.tree._digest", boom), ()),
    "crash in MkDocs after generating": (lambda p, m: m.setattr("mkdocs.commands.build._build_page", boom), ()),
    "Ctrl-C in MkDocs after generating": (
        lambda p, m: m.setattr("mkdocs.commands.build._build_page", interrupt),
        (),
    ),
    "strict build with a warning": (
        lambda p, m: (p / "content" / "sources" / "2025-05-31-cut.txt").write_text(
            LISTING_HEADER + "May 31\n\nA Title Whose Abstract Is Missing\n", "utf-8"
        ),
        ("--strict",),
    ),
}


@pytest.mark.parametrize("name", list(FAILURES))
def test_failed_build_keeps_generated_tree_and_site(
    name: str, built: tuple[Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    project, before = built
    make_fail, args = FAILURES[name]
    make_fail(project, monkeypatch)
    result = invoke_cli("build", *args)
    assert result.exit_code != 0, result.output[-3000:]
    assert_unchanged(project, before)


def test_build_after_failures_recovers_and_cleans_up(
    built: tuple[Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    project, _ = built
    with monkeypatch.context() as patch:
        patch.setattr("generator.website.tree._digest", boom)
        assert invoke_cli("build").exit_code != 0
    with monkeypatch.context() as patch:
        patch.setattr("mkdocs.commands.build._build_page", boom)
        assert invoke_cli("build").exit_code != 0
    result = invoke_cli("build")
    assert result.exit_code == 0, crashed(result) or result.output[-3000:]
    assert "A Newer Paper That A Failed Build Must Not Publish" in built_titles(project)
    trees = sorted(p.name for p in (project / ".paper-digest").glob("tree-*"))
    assert trees == [os.readlink(project / TREE)], "failed builds left trees behind"
    assert sorted(p.name for p in project.iterdir() if p.name.startswith("site")) == ["site"]


def _wait_until(predicate: Callable[[], bool], process: subprocess.Popen[bytes], timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if predicate():
            return True
        time.sleep(0.005)
    return False


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_interrupted_build_keeps_generated_tree_and_site(
    signal_name: str, built: tuple[Path, dict[str, bytes]]
) -> None:
    """A build interrupted once MkDocs writes the site (the generated tree is new by then)."""
    project, before = built
    # MkDocs renders this small site in well under a second once it has copied the assets; each
    # page is slowed down a little so that the signal surely arrives while it is still writing.
    slow_pages = (
        "import runpy, sys, time; import mkdocs.commands.build as b; page = b._build_page; "
        "b._build_page = lambda *a, **k: (time.sleep(0.01), page(*a, **k))[1]; "
        "sys.argv = ['paper-digest', 'build']; runpy.run_module('generator.cli', run_name='__main__')"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", slow_pages], cwd=project,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    try:
        reached = _wait_until(lambda: (project / "site.building" / "assets").exists(), process)
        assert reached, "the build ended before MkDocs wrote the site"
        process.send_signal(getattr(signal, signal_name))
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode != 0, stderr.decode()[-3000:]
    assert_unchanged(project, before)


def test_killed_build_keeps_site_and_next_build_recovers(built: tuple[Path, dict[str, bytes]]) -> None:
    """SIGKILL cannot be handled: the site is still intact, and the next build cleans up."""
    project, before = built
    process = subprocess.Popen(
        [sys.executable, "-m", "generator.cli", "build"], cwd=project,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    try:
        assert _wait_until(lambda: (project / "site.building" / "assets").exists(), process)
        process.kill()
    finally:
        process.wait()
    site_before = {name: data for name, data in before.items() if name.startswith("site/")}
    site_after = {name: data for name, data in snapshot(project).items() if name.startswith("site/")}
    assert site_after == site_before
    current = project / TREE
    manifest = json.loads((current / ".manifest.json").read_text("utf-8"))
    assert all((current / name).is_file() for name in manifest), "the current generated tree is incomplete"
    result = invoke_cli_in(project, "build")
    assert result.exit_code == 0, crashed(result) or result.output[-3000:]
    assert sorted(p.name for p in project.iterdir() if p.name.startswith("site")) == ["site"]


def invoke_cli_in(project: Path, *args: str) -> Result:
    previous = Path.cwd()
    os.chdir(project)
    try:
        return invoke_cli(*args)
    finally:
        os.chdir(previous)


def test_build_killed_between_site_renames_gets_the_site_back(
    built: tuple[Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    project, before = built
    (project / "site").rename(project / "site.old")  # as if killed right after `site -> site.old`
    monkeypatch.setattr("generator.build.find_similarity_and_text", boom)
    assert invoke_cli("build").exit_code != 0
    assert_unchanged(project, before)


def invoke_mkdocs(*args: str) -> Result:
    """Plain `mkdocs ARGS` in-process (its own CLI, with on_startup/on_shutdown)."""
    from mkdocs.__main__ import cli as mkdocs_cli

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        return CliRunner().invoke(mkdocs_cli, list(args), catch_exceptions=True)
    finally:
        root.handlers[:], root.level = saved


def test_plain_mkdocs_build_keeps_everything_when_the_generator_fails(
    built: tuple[Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    project, before = built
    monkeypatch.setattr("generator.build.assign_topics", boom)
    result = invoke_mkdocs("build", "-q")
    assert result.exit_code != 0
    assert_unchanged(project, before)


def test_plain_mkdocs_strict_build_with_input_problems_keeps_everything(
    built: tuple[Path, dict[str, bytes]],
) -> None:
    """--strict fails on input problems before MkDocs empties site_dir (MkDocs' own strict abort
    comes after that)."""
    project, before = built
    (project / "content" / "sources" / "2025-05-31-cut.txt").write_text(
        LISTING_HEADER + "May 31\n\nA Title Whose Abstract Is Missing\n", "utf-8"
    )
    result = invoke_mkdocs("build", "--strict")  # not -q: MkDocs then drops warnings uncounted
    assert result.exit_code != 0
    assert_unchanged(project, before)
