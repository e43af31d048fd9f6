"""`paper-digest fetch` then `paper-digest build --strict`, as the daily workflow runs them: the files
the fetcher writes are read by the readers, the same paper fetched from Hugging Face, the arXiv API
and arXiv RSS is one page beside the shipped listings, and fetching the same day again changes
nothing in the built site."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import copy_project, run_cli
from replay_server import OWN, SHARED, ReplayServer, Reply, arxiv_recordings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (SHARED / "arxiv-api" / "responses.json").is_file(),
        reason="the real arXiv API answers are in ../shared/fixtures, which is not beside this clone",
    ),
]
FAST = ["--interval", "0", "--backoff", "0", "--retries", "2", "--timeout", "5"]


def fetch_all(project: Path, server: ReplayServer) -> list[str]:
    """Fetch one HF day, one paged arXiv query and one RSS feed into the configured sources folder."""
    written = []
    for args in (
        ["hf", "--date", "2025-06-02", "--endpoint", server.url + "/api/daily_papers"],
        [
            "arxiv",
            "--query",
            "testing",
            "--sort",
            "relevance",
            "--max",
            "30",
            "--page-size",
            "10",
            "--endpoint",
            server.url + "/api/query",
        ],
        ["rss", "cs.LG", "--endpoint", server.url + "/rss"],
    ):
        result = run_cli("fetch", *args, *FAST, cwd=project)
        assert result.returncode == 0, result.stderr
        written.append(result.stdout.strip())
    return written


def site_bytes(site: Path) -> dict[str, bytes]:
    return {p.relative_to(site).as_posix(): p.read_bytes() for p in sorted(site.rglob("*")) if p.is_file()}


def test_fetched_files_build_into_the_site(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    shipped = sorted(p.name for p in (project / "content" / "sources").iterdir())
    with ReplayServer() as server:
        for url, reply, _ in arxiv_recordings():
            server.add_url(url, reply)
        server.add("/api/daily_papers", Reply((OWN / "hf-daily.json").read_bytes()), query={"date": ["2025-06-02"]})
        server.add("/rss/cs.LG", Reply((OWN / "rss-cs.LG.xml").read_bytes()))
        written = fetch_all(project, server)
        sources = project / "content" / "sources"
        assert [Path(w).parent for w in written] == [sources] * 3
        new = sorted(p.name for p in sources.iterdir() if p.name not in shipped)
        assert len(new) == 3 and new[0].startswith("arxiv-testing-") and new[1] == "hf-2025-06-02.json"

        build = run_cli("build", "--strict", cwd=project)
        assert build.returncode == 0, build.stderr[-3000:]
        site = project / "site"
        papers = json.loads((site / "papers.json").read_text("utf-8"))["papers"]
        by_arxiv = {p["arxiv_id"]: p for p in papers if p.get("arxiv_id")}
        # 30 arXiv entries (three pages), plus the RSS paper not among them; HF's two are among them.
        assert len(by_arxiv) == 31
        # 2202.12139 was fetched from all three: one paper, listed on HF's day and in the RSS and API files.
        both = by_arxiv["2202.12139"]
        assert len({source for source, _, _ in both["appearances"]}) == 3
        assert (site / "papers" / "2202-12139" / "index.html").is_file()
        # The shipped listings are still there.
        assert len(papers) == 521 + 31
        first = site_bytes(site)

        # The same day fetched again: no new file, the same site.
        again = fetch_all(project, server)
        assert again == written
        assert sorted(p.name for p in sources.iterdir() if p.name not in shipped) == new
        rebuild = run_cli("build", "--strict", cwd=project)
        assert rebuild.returncode == 0, rebuild.stderr[-3000:]
        assert site_bytes(site) == first
