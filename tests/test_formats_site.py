"""A whole site built with `mkdocs build --strict` from the real answers in ../shared/fixtures
(read in place) and the project's RSS fixture: paper pages show authors, categories, abs and
PDF links; search finds a paper by an author's name and filters by arXiv category; BibTeX
carries authors, eprint and primaryClass."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import copy_project
from test_search import find
from test_site import check_links

FORMATS = Path(__file__).parent / "fixtures" / "formats"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "fixtures"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (SHARED / "arxiv-api").is_dir(), reason="../shared/fixtures (real API answers) is not beside the clone"
    ),
]

SOURCES = [
    SHARED / "arxiv-api" / "query-testing-0-100.xml",
    SHARED / "arxiv-api" / "query-testing-page-0.xml",
    SHARED / "arxiv-api" / "empty-result.xml",
    SHARED / "hf-daily-papers",
    SHARED / "arxiv-snapshot" / "sample.jsonl",
    FORMATS / "rss-cs.CL.xml",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = copy_project(tmp_path_factory.mktemp("formats") / "project", sources=False)
    config = (project / "mkdocs.yml").read_text("utf-8")
    plugin = "plugins:\n  - paper-digest:\n      topics: content/topics.yml\n      sources:\n" + "".join(
        f"        - {json.dumps(str(path))}\n" for path in SOURCES
    )
    config = re.sub(r"(?ms)^plugins:\n.*?(?=^markdown_extensions:)", lambda _: plugin + "\n", config)
    (project / "mkdocs.yml").write_text(config, "utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return project / "site"


def search_files(site: Path) -> dict[str, bytes]:
    return {p.relative_to(site).as_posix(): p.read_bytes() for p in (site / "search").rglob("*") if p.is_file()}


def test_one_page_per_paper_across_formats(site: Path) -> None:
    papers = json.loads((site / "papers.json").read_text("utf-8"))["papers"]
    ids = [p.get("arxiv_id") for p in papers]
    # 100 in the Atom answer (pages 0-10 and the HF and snapshot papers are among them) + 3 from RSS.
    assert len(papers) == 103 and len(set(ids)) == 103
    both_days = [p for p in papers if len(p["appearances"]) >= 3 and p.get("arxiv_id") == "2202.12139"]
    assert len(both_days) == 1
    # The metadata the formats give is in the data file too.
    (record,) = both_days
    assert record["categories"] == ["cs.SE", "cs.LG"] and record["primary_category"] == "cs.SE"
    assert record["published"] == "2022-02-24" and record["upvotes"] == 83
    assert (
        record["doi"] == "10.1109/ICSTW55395.2022.00035"
        and record["code_url"] == "https://github.com/example/2202.12139"
    )
    assert "journal_ref" in record and "comment" in record


def test_paper_page_shows_authors_categories_and_links(site: Path) -> None:
    page = html.unescape((site / "papers" / "2202-12139" / "index.html").read_text("utf-8"))
    assert "Mohit Kumar Ahuja, Arnaud Gotlieb, Helge Spieker" in page
    assert "<code>cs.SE</code> (primary)" in page and "<code>cs.LG</code>" in page
    assert 'href="https://arxiv.org/abs/2202.12139"' in page
    assert 'href="https://arxiv.org/pdf/2202.12139"' in page
    assert 'href="https://doi.org/10.1109/ICSTW55395.2022.00035"' in page
    assert "Hugging Face upvotes: 83" in page
    assert "First arXiv version: February 24, 2022" in page  # dates as pages write them
    assert 'href="https://github.com/example/2202.12139"' in page
    old = (site / "papers" / "cs-0503050" / "index.html").read_text("utf-8")
    assert 'href="https://arxiv.org/abs/cs/0503050"' in old
    mojibake = html.unescape((site / "papers" / "2405-13786" / "index.html").read_text("utf-8"))
    assert "Aurora Ramírez" in mojibake and "Ã" not in mojibake


def test_search_finds_a_paper_by_an_authors_name_and_filters_by_category(site: Path) -> None:
    files = search_files(site)
    assert find(files, "Gotlieb")[0] == "papers/2202-12139/"
    assert "papers/cs-0503050/" in find(files, "Sakhanenko")
    manifest = json.loads(files["search/manifest.json"])
    filters = dict(manifest["topics"])
    assert filters["arxiv:cs.SE"] == "arXiv cs.SE" and filters["arxiv:q-bio.QM"] == "arXiv q-bio.QM"


def test_bibtex_has_authors_eprint_and_primary_class(site: Path) -> None:
    bib = (site / "papers.bib").read_text("utf-8")
    (entry,) = [e for e in bib.split("\n@") if "eprint        = {2202.12139}," in e]
    assert "author        = {Mohit Kumar Ahuja and Arnaud Gotlieb and Helge Spieker}" in entry
    assert "primaryClass  = {cs.SE}" in entry and "archivePrefix = {arXiv}" in entry


def test_links_resolve(site: Path) -> None:
    pages = [site / "papers" / name / "index.html" for name in ("2202-12139", "cs-0503050", "2506-00002")]
    broken, remote = check_links(site, pages)
    assert broken == [] and remote == []
