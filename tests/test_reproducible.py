"""Reproducible builds and stable URLs.

Two builds of the same sources, in different folders, with the source files created in a
different order with different modification times, another PYTHONHASHSEED and another time
zone, give byte-identical sites and generated trees (sitemap dates aside); so does a rebuild
that reuses the search cache. Adding sources (a new paper, a near-duplicate of a seed paper,
exact duplicates on a new and on an earlier day) keeps every seed paper's id and URL.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, copy_project

from generator.ingest.records import merge_records
from generator.models import Listing, RawRecord
from generator.website.tree import read_tree

EXTRA = Path(__file__).parent / "fixtures" / "extra"
SEEDS = sorted((ROOT / "content" / "sources").iterdir())


def start_build(project: Path, **env: str) -> subprocess.Popen[str]:
    """`paper-digest build` in the background, so that independent builds share the wall clock."""
    return subprocess.Popen(
        [sys.executable, "-m", "generator.cli", "build", "-f", str(project / "mkdocs.yml")],
        cwd=project, env={**os.environ, "NO_MKDOCS_2_WARNING": "1", **env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def finish(process: subprocess.Popen[str]) -> None:
    _, stderr = process.communicate(timeout=900)
    assert process.returncode == 0, stderr[-4000:]


def add_sources(project: Path, files: list[Path], first_mtime: int) -> None:
    """Copy `files` into the project's sources in the given order, each with its own mtime."""
    for index, path in enumerate(files):
        target = project / "content" / "sources" / path.name
        shutil.copy(path, target)
        os.utime(target, (first_mtime + 3600 * index, first_mtime + 3600 * index))


def without_sitemap_dates(data: bytes) -> bytes:
    return re.sub(rb"<lastmod>[^<]*</lastmod>", b"", data)


def site_files(site: Path) -> dict[str, bytes]:
    """Every file of a site; the sitemaps (which carry the build date) without their dates."""
    files: dict[str, bytes] = {}
    for path in sorted(site.rglob("*")):
        if not path.is_file():
            continue
        name = path.relative_to(site).as_posix()
        data = path.read_bytes()
        if name == "sitemap.xml":
            data = without_sitemap_dates(data)
        elif name == "sitemap.xml.gz":
            data = without_sitemap_dates(gzip.decompress(data))
        files[name] = data
    return files


def tree_files(project: Path) -> dict[str, bytes]:
    return read_tree(project / ".paper-digest" / "generated")


def assert_same_files(first: dict[str, bytes], second: dict[str, bytes]) -> None:
    assert sorted(first) == sorted(second), {
        "only in the first": sorted(set(first) - set(second))[:10],
        "only in the second": sorted(set(second) - set(first))[:10],
    }
    differ = sorted(name for name in first if first[name] != second[name])
    assert not differ, f"{len(differ)} files differ, e.g. {differ[:10]}"


def papers(site: Path) -> dict[str, dict[str, Any]]:
    data = json.loads((site / "papers.json").read_text("utf-8"))
    return {paper["id"]: paper for paper in data["papers"]}


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The seeds built twice at once (not the session's seed site: code edited while a long test
    run goes on must not look like irreproducibility), the second project rebuilt with its caches,
    and the seeds plus the extra corpus."""
    root = tmp_path_factory.mktemp("reproducible")
    first = copy_project(root / "first", sources=False)
    add_sources(first, SEEDS, first_mtime=1_600_000_000)
    again = copy_project(root / "again", sources=False)
    add_sources(again, SEEDS[::-1], first_mtime=2_000_000_000)
    more = copy_project(root / "more", sources=False)
    add_sources(more, [*SEEDS, *sorted(EXTRA.glob("*.txt")), *sorted(EXTRA.glob("*.yaml"))], 1_500_000_000)
    seeds = start_build(first, PYTHONHASHSEED="0", TZ="UTC")
    cold = start_build(again, PYTHONHASHSEED="12345", TZ="Pacific/Kiritimati", LC_ALL="C")
    extra = start_build(more, PYTHONHASHSEED="1")
    finish(seeds)
    finish(cold)
    again_site = root / "again-cold-site"
    shutil.copytree(again / "site", again_site)
    warm = start_build(again, PYTHONHASHSEED="777", TZ="America/Adak")
    finish(extra)
    finish(warm)
    return {"seeds": first / "site", "cold": again_site, "warm": again / "site", "more": more / "site"}


def test_second_build_is_byte_identical(builds: dict[str, Path]) -> None:
    assert_same_files(site_files(builds["seeds"]), site_files(builds["cold"]))


def test_rebuild_with_caches_is_byte_identical(builds: dict[str, Path]) -> None:
    assert_same_files(site_files(builds["seeds"]), site_files(builds["warm"]))


def test_generated_trees_are_byte_identical(builds: dict[str, Path]) -> None:
    assert_same_files(tree_files(builds["seeds"].parent), tree_files(builds["warm"].parent))


def test_seed_urls_survive_more_sources(builds: dict[str, Path]) -> None:
    before, after = papers(builds["seeds"]), papers(builds["more"])
    moved = {pid: (paper["url"], after.get(pid, {}).get("url")) for pid, paper in before.items()}
    moved = {pid: urls for pid, urls in moved.items() if urls[0] != urls[1]}
    assert not moved, f"{len(moved)} seed papers lost their URL, e.g. {list(moved.items())[:5]}"
    for paper in before.values():
        assert (builds["more"] / paper["url"] / "index.html").is_file(), paper["url"]
    assert len(after) == len(before) + 3  # the new listing paper, the near-duplicate, the new record


def by_title(site_papers: dict[str, dict[str, Any]], start: str) -> dict[str, Any]:
    found = [paper for paper in site_papers.values() if paper["title"].startswith(start)]
    assert len(found) == 1, (start, [p["id"] for p in found])
    return found[0]


def test_exact_duplicates_join_the_seed_paper(builds: dict[str, Path]) -> None:
    before, after = papers(builds["seeds"]), papers(builds["more"])
    for title, new_day in [
        ("Unsupervised Discovery of Formulas for Mathematical Constants", "2025-06-02"),  # later day
        ("A Solvable Model of Neural Scaling Laws", "2025-06-02"),  # an undated seed, now dated
        ("Mamo: a Mathematical Modeling Benchmark with Solvers", "2025-05-01"),  # an earlier day
    ]:
        seed, merged = by_title(before, title), by_title(after, title)
        assert merged["id"] == seed["id"] and merged["url"] == seed["url"]
        assert new_day in merged["dates"] and set(seed["dates"]) <= set(merged["dates"])


def test_near_duplicate_is_its_own_paper_linked_to_the_seed(builds: dict[str, Path]) -> None:
    before, after = papers(builds["seeds"]), papers(builds["more"])
    seed = by_title(before, "ToolBeHonest: A Multi-level Hallucination Diagnostic Benchmark for Tool-Augmented Large")
    variant = by_title(after, "ToolBeHonest: A Multi-level Hallucination Diagnostic Benchmark for Tool-Augmented LLMs")
    assert variant["id"] != seed["id"] and after[seed["id"]]["url"] == seed["url"]
    assert seed["id"] in [n["id"] for n in variant["near_duplicates"]]


SPACING = pytest.mark.xfail(
    strict=True,
    reason="known: records merge titles that differ only in spacing (title_key drops spaces), but the id's "
    "readable stem keeps the word breaks of the earliest appearance, so such a variant on an earlier day "
    "changes the id",
)


@pytest.mark.parametrize(
    ("published", "variant"),
    [
        ("GPT-4o Beats Humans", "GPT4o beats humans!"),
        ("Transformers: A Survey", "Transformers -- a survey"),
        pytest.param("GPT 4o Beats Humans", "GPT4o beats humans!", marks=SPACING),
        pytest.param("Pre-training at Scale", "Pre training at scale", marks=SPACING),
        pytest.param("Self Attention Is Enough", "SelfAttention is enough", marks=SPACING),
    ],
)
def test_title_variant_on_an_earlier_day_keeps_the_id(published: str, variant: str) -> None:
    """A variant the records merge as the same paper, seen on an earlier day, keeps the published URL."""
    first = Listing("b.txt", "b.txt", "listing-b", (RawRecord("b.txt", 1, 1, published, "We show it."),))
    later = Listing("a.txt", "a.txt", "listing-b", (RawRecord("a.txt", 1, 1, variant, "We show it."),))
    (alone,), _ = merge_records([first], {("b.txt", 1): dt.date(2025, 5, 2)})
    dates = {("b.txt", 1): dt.date(2025, 5, 2), ("a.txt", 1): dt.date(2025, 5, 1)}
    merged, _ = merge_records([first, later], dates)
    assert len(merged) == 1, "the variant is not merged: the test no longer shows what it is about"
    assert merged[0].id == alone.id
