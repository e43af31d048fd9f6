"""`mkdocs serve` runs the generator through the plugin, picks up a new source, and does not
rebuild in a loop; generated Markdown never lands in content/."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import copy_project

NEW_TITLE = "Zyxwv Quokka Transformers for Counting Sheep in Dreams"
NEW_LISTING = (
    "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nbyAK and the research community\n\nJune 1\n\n"
    f"{NEW_TITLE}\n\n"
    "We introduce a transformer that counts sheep in dreams. Our method improves sleep quality metrics on three "
    "benchmarks. Experiments show that counting is all you need, and that quokkas are friendly animals in any "
    "case, which we verify with a large study of more than one thousand participants.\n"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode("utf-8")
    except OSError:
        return None


def _wait_for(url: str, predicate, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = _get(url)
        if body is not None and predicate(body):
            return body
        time.sleep(0.5)
    raise AssertionError(f"{url} did not satisfy the condition within {timeout} s")


@pytest.mark.slow
def test_serve_updates_on_new_source_without_looping(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    before = sorted(p.relative_to(project).as_posix() for p in (project / "content").rglob("*"))
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "mkdocs", "serve", "-f", "mkdocs.yml", "-a", f"127.0.0.1:{port}"],
        cwd=project,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}/"
        _wait_for(base + "papers.json", lambda body: '"papers"' in body, 180)
        assert NEW_TITLE not in (_get(base + "papers.json") or "")
        (project / "content" / "sources" / "2025-06-01.txt").write_text(NEW_LISTING, "utf-8")
        _wait_for(base + "papers.json", lambda body: NEW_TITLE in body, 180)
        home = _wait_for(base, lambda body: "Zyxwv" in body, 60)
        assert "June 1, 2025" in home
        time.sleep(8)
        text = (tmp_path / "serve.log").read_text("utf-8")
        builds = text.count("Building documentation")
        time.sleep(8)
        text = (tmp_path / "serve.log").read_text("utf-8")
        assert text.count("Building documentation") == builds, "mkdocs serve keeps rebuilding"
        assert builds <= 3, text[-3000:]
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    after = sorted(p.relative_to(project).as_posix() for p in (project / "content").rglob("*"))
    assert sorted(set(after) - set(before)) == ["content/sources/2025-06-01.txt"]
