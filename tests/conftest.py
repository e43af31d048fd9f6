"""Shared fixtures: temp trees, a copy of the project to build in, the built seeds site,
a loopback HTTP server for it, and Debian's chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import socketserver
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")


def make_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write `{relative path: text or bytes}` under root (MkDocs' @tempdir, as a function)."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Callable[[dict[str, str | bytes]], Path]:
    """`tree({path: text})` makes a temp tree and returns its root."""
    return functools.partial(make_tree, tmp_path)


def copy_project(dest: Path, *, sources: bool = True) -> Path:
    """A buildable copy of the project (mkdocs.yml, content, theme_overrides) in `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "mkdocs.yml", dest / "mkdocs.yml")
    shutil.copytree(ROOT / "theme_overrides", dest / "theme_overrides")
    shutil.copytree(ROOT / "content", dest / "content", ignore=None if sources else shutil.ignore_patterns("sources"))
    if not sources:
        (dest / "content" / "sources").mkdir()
    return dest


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `paper-digest ARGS` in a subprocess (as a user would), capturing output."""
    full_env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "generator.cli", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh copy of the project with the shipped sources."""
    return copy_project(tmp_path / "project")


@pytest.fixture(scope="session")
def seed_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site of the shipped seeds, built once per session with `paper-digest build --strict`."""
    project = copy_project(tmp_path_factory.mktemp("seed-project") / "project")
    result = run_cli("build", "--strict", "-f", str(project / "mkdocs.yml"), cwd=project)
    assert result.returncode == 0, result.stderr[-4000:]
    return project / "site"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def serve() -> Iterator[Callable[[Path], str]]:
    """`serve(site_dir)` serves a directory on 127.0.0.1 and returns its base URL."""
    servers: list[socketserver.TCPServer] = []

    def start(directory: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def site_url(seed_site: Path, serve: Callable[[Path], str]) -> str:
    """Base URL of the seeds site served on loopback."""
    return serve(seed_site)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = launch_chromium(playwright)
        yield instance
        instance.close()


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]


def launch_chromium(playwright: Any) -> Any:
    """Debian's chromium, headless, as every browser test runs it (fails the test when it is missing)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed: run scripts/test.sh, which installs it")
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)


@contextlib.contextmanager
def checked_page(browser: Any, **context_options: Any) -> Iterator[Any]:
    """A page in a fresh browser context; on leaving, asserts that no script error went uncaught."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == []
