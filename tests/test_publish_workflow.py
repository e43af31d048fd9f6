"""The publish workflow: on its schedule it fetches the configured feeds (a feed that is down is
a warning), commits the fetched source files, builds with --strict and deploys. The fetch and
commit steps' shell scripts are run here as written, with a stand-in `paper-digest`, against a
local git remote."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.fetch.command import SOME_FEEDS_FAILED

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "publish.yml"


def workflow() -> dict[Any, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text("utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def steps() -> list[dict[str, Any]]:
    return list(workflow()["jobs"]["build"]["steps"])


def step(name: str) -> dict[str, Any]:
    [found] = [s for s in steps() if s.get("name") == name]
    return found


def test_the_schedule_fetches_commits_builds_strictly_and_deploys() -> None:
    flow = workflow()
    triggers = flow[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["schedule"] == [{"cron": "30 6 * * *"}]
    assert "workflow_dispatch" in triggers and triggers["push"] == {"branches": ["main"]}
    assert flow["permissions"] == {"contents": "write", "pages": "write", "id-token": "write"}
    names = [s.get("name") or s.get("uses") for s in steps()]
    assert names == [
        "actions/checkout@v4",
        "Install and test",
        "Fetch the configured feeds",
        "Commit the fetched sources",
        "Build the site",
        "actions/upload-pages-artifact@v3",
    ]
    fetch, commit = step("Fetch the configured feeds"), step("Commit the fetched sources")
    for scheduled in (fetch, commit):
        assert scheduled["if"] == "github.event_name != 'push'"
        assert scheduled["shell"] == "bash"
    assert ".venv/bin/paper-digest fetch >" in fetch["run"]
    assert f'"$rc" -eq {SOME_FEEDS_FAILED}' in fetch["run"]
    assert step("Build the site")["run"] == ".venv/bin/paper-digest build --strict"
    deploy = flow["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert deploy["steps"] == [{"id": "deployment", "uses": "actions/deploy-pages@v4"}]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A clone of a local bare 'origin' with one commit on main, and a stand-in `.venv/bin/paper-digest`."""
    if shutil.which("git") is None or shutil.which("bash") is None:
        pytest.skip("git and bash are needed to run the workflow's scripts")
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(origin), str(work))
    (work / "content" / "sources").mkdir(parents=True)
    (work / "content" / "sources" / "2025-05-29.txt").write_text("a listing\n", "utf-8")
    git(work, "add", ".")
    git(work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "start")
    git(work, "push", "-q", "origin", "HEAD:main")
    stand_in = work / ".venv" / "bin" / "paper-digest"
    stand_in.parent.mkdir(parents=True)
    stand_in.write_text(
        "#!/bin/sh\n"
        'for f in $STAND_IN_FILES; do echo new > "content/sources/$f"; echo "$PWD/content/sources/$f"; done\n'
        'echo "WARNING -  a feed: down" >&2\n'
        'exit "$STAND_IN_RC"\n',
        "utf-8",
    )
    stand_in.chmod(0o755)
    (work / ".git" / "info" / "exclude").write_text(".venv/\n", "utf-8")
    return work


def run_step(name: str, work: Path, **env: str) -> subprocess.CompletedProcess[str]:
    temp = work.parent / "runner-temp"
    temp.mkdir(exist_ok=True)
    home = work.parent / "home"
    home.mkdir(exist_ok=True)
    full = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "RUNNER_TEMP": str(temp),
        "GITHUB_WORKSPACE": str(work),
        "GITHUB_REF_NAME": "main",
        "STAND_IN_FILES": "",
        "STAND_IN_RC": "0",
        **env,
    }
    script = step(name)["run"]
    return subprocess.run(["bash", "-e", "-c", script], cwd=work, env=full, capture_output=True, text=True)


@pytest.mark.parametrize(("rc", "step_rc", "warned"), [(0, 0, False), (SOME_FEEDS_FAILED, 0, True), (1, 1, False)])
def test_the_fetch_step_warns_when_some_feeds_failed_and_stops_on_other_failures(
    checkout: Path, rc: int, step_rc: int, warned: bool
) -> None:
    result = run_step("Fetch the configured feeds", checkout, STAND_IN_FILES="hf-2025-06-02.json", STAND_IN_RC=str(rc))
    assert result.returncode == step_rc
    assert ("::warning title=fetch::" in result.stdout) == warned
    assert result.stdout.startswith(f"{checkout}/content/sources/hf-2025-06-02.json\n")


def test_the_commit_step_pushes_the_fetched_files_only(checkout: Path) -> None:
    (checkout / "notes.txt").write_text("not fetched\n", "utf-8")
    fetched = "hf-2025-06-02.json rss-cs.LG-2025-06-02.xml"
    assert run_step("Fetch the configured feeds", checkout, STAND_IN_FILES=fetched, STAND_IN_RC="3").returncode == 0
    result = run_step("Commit the fetched sources", checkout)
    assert result.returncode == 0, result.stderr
    origin = checkout.parent / "origin.git"
    assert (
        git(origin, "log", "--format=%an %s", "main")
        .splitlines()[0]
        .startswith("github-actions[bot] Sources fetched on ")
    )
    assert git(origin, "show", "--name-only", "--format=", "main").split() == [
        "content/sources/hf-2025-06-02.json",
        "content/sources/rss-cs.LG-2025-06-02.xml",
    ]
    again = run_step("Commit the fetched sources", checkout)
    assert again.returncode == 0 and "no new or changed sources" in again.stdout
    assert len(git(origin, "log", "--format=%H", "main").split()) == 2


def test_the_commit_step_with_nothing_fetched_commits_nothing(checkout: Path) -> None:
    assert run_step("Fetch the configured feeds", checkout).returncode == 0
    result = run_step("Commit the fetched sources", checkout)
    assert result.returncode == 0, result.stderr
    assert "no new or changed sources" in result.stdout
    assert len(git(checkout.parent / "origin.git", "log", "--format=%H", "main").split()) == 1
