"""Data files and sitemaps that scale (issue 15 item 5), at small configured limits.

`papers.json` holds every record while they fit in `data_shard_bytes`, else it is the index of
`data/papers-NNNN.json` shards; `sitemap.xml` is a sitemap index of split files of at most
`sitemap_urls` URLs, dated from the data; and no page of the site requests a file that is not there.
"""

from __future__ import annotations

import json
import random
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, copy_project, run_cli

from benchmarks.corpus import write_corpus
from generator.build import StageTimer, generate
from generator.config import BuildOptions, DigestConfig
from generator.website.datafiles import DEFAULT_SHARD_BYTES, MIN_SHARD_BYTES
from generator.website.sitemaps import SITEMAP_URLS
from generator.website.tree import read_tree

LIMIT = 60_000
"""`data_shard_bytes` of the sharded builds: the 400-paper corpus (about 700 KB of records) in a dozen shards."""

NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
URLSET, SITEMAPINDEX = "{{{s}}}urlset".format(**NS), "{{{s}}}sitemapindex".format(**NS)


def _is_data(rel: str) -> bool:
    return rel == "papers.json" or (rel.startswith("data/") and rel.endswith(".json"))


def build_data(sources: list[Path], cache: Path, limit: int = LIMIT) -> dict[str, bytes]:
    """The data files of a generator build (no MkDocs)."""
    options = BuildOptions(
        sources=tuple(sources),
        cache_dir=cache,
        topics_file=ROOT / "content" / "topics.yml",
        site_url="https://digest.example.org/",
        data_shard_bytes=limit,
    )
    result = generate(options, StageTimer(show_progress=False))
    return {rel: data for rel, data in read_tree(result.tree).items() if _is_data(rel)}


NONSENSE = ["blorv", "quazzle", "fendrix", "moltique", "zarbanet", "gruvel", "pexiton", "threnodal", "vimmick"]


def extra_day(path: Path, n: int = 12) -> Path:
    """A day after the corpus of `n` papers whose words no other paper has (so no old record changes)."""
    rng = random.Random(7)

    def words(k: int) -> str:
        return " ".join(rng.choice(NONSENSE) + rng.choice(NONSENSE)[:3] for _ in range(k))

    records = [{"title": f"Xq{i} {words(6)}", "abstract": f"{words(40)}.", "date": "2031-03-04"} for i in range(n)]
    path.write_text(json.dumps(records), "utf-8")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data-corpus") / "sources"
    write_corpus(400, out, seed=3)
    return out


@pytest.fixture(scope="module")
def sharded(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return build_data([corpus], tmp_path_factory.mktemp("sharded") / "cache")


@pytest.fixture(scope="module")
def whole(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return build_data([corpus], tmp_path_factory.mktemp("whole") / "cache", DEFAULT_SHARD_BYTES)


def shard_papers(files: dict[str, bytes]) -> dict[str, list[dict[str, Any]]]:
    """Each shard's records, by file name, as the index lists them."""
    index = json.loads(files["papers.json"])
    return {entry["file"]: json.loads(files[entry["file"]])["papers"] for entry in index["shards"]}


def find_record(files: dict[str, bytes], paper_id: str) -> dict[str, Any]:
    """What the README shows a script doing: papers.json, then (when it is an index) the paper's shard."""
    data = json.loads(files["papers.json"])
    if "papers" in data:
        return next(p for p in data["papers"] if p["id"] == paper_id)
    shard = data["shards"][data["shard_of"][paper_id]]
    return next(p for p in json.loads(files[shard["file"]])["papers"] if p["id"] == paper_id)


def test_a_small_digest_has_one_papers_json_with_the_documented_layout(whole: dict[str, bytes]) -> None:
    assert list(whole) == ["papers.json"]
    data = whole["papers.json"]
    assert len(data) <= DEFAULT_SHARD_BYTES
    papers = json.loads(data)["papers"]
    assert len(papers) == 400 + 12  # the plan's planted near-duplicates are papers of their own
    assert data.count(b"\n") == len(papers) + 2  # one record a line
    first_seen = [(p["dates"] or [""])[0] for p in papers]
    assert first_seen == sorted(first_seen)  # oldest first
    for paper in papers:
        assert {"id", "title", "abstract", "url", "dates", "appearances", "topics"} <= set(paper)
        assert set(paper) <= {
            *("id", "title", "abstract", "url", "arxiv_id", "authors", "dates", "appearances"),
            *("topics", "near_duplicates", "similar"),
        }
        assert paper["url"] == f"papers/{paper['id']}/"
        assert all(len(a) == 3 and isinstance(a[2], int) for a in paper["appearances"])
        assert paper["dates"] == sorted({a[1] for a in paper["appearances"] if a[1]})
        assert all(isinstance(s[0], str) and 0 <= s[1] <= 1 for s in paper.get("similar", []))
        assert all(set(n) == {"id", "score", "kind"} for n in paper.get("near_duplicates", []))
        assert paper.get("near_duplicates", True) and paper.get("similar", True) and paper.get("authors", True)
    assert any("near_duplicates" in p for p in papers)


def test_shards_hold_every_record_once_and_the_index_finds_each(
    sharded: dict[str, bytes], whole: dict[str, bytes]
) -> None:
    index = json.loads(sharded["papers.json"])
    assert set(index) == {"shards", "shard_of"}
    names = [entry["file"] for entry in index["shards"]]
    assert names == [f"data/papers-{n:04d}.json" for n in range(1, len(names) + 1)]
    assert 5 <= len(names) <= 40
    assert sorted(sharded) == sorted([*names, "papers.json"])
    for rel, data in sharded.items():
        assert len(data) <= LIMIT, rel
    shards = shard_papers(sharded)
    for number, entry in enumerate(index["shards"]):
        records = shards[entry["file"]]
        assert entry["papers"] == len(records) and entry["bytes"] == len(sharded[entry["file"]])
        assert entry["first_seen"] == [(records[0]["dates"] or [None])[0], (records[-1]["dates"] or [None])[0]]
        for record in records:
            assert index["shard_of"][record["id"]] == number
    # The same records in the same order as the whole file, and every one found through the index.
    every = [record for name in names for record in shards[name]]
    assert every == json.loads(whole["papers.json"])["papers"]
    assert sorted(index["shard_of"]) == sorted(r["id"] for r in every) == list(index["shard_of"])
    for record in every[::37]:
        assert find_record(sharded, record["id"]) == record == find_record(whole, record["id"])


def test_shards_are_byte_identical_from_scratch_and_from_the_cache(
    corpus: Path, sharded: dict[str, bytes], tmp_path: Path
) -> None:
    assert build_data([corpus], tmp_path / "cache") == sharded
    assert build_data([corpus], tmp_path / "cache") == sharded  # the warm build


def test_adding_a_day_changes_only_the_last_shard(corpus: Path, sharded: dict[str, bytes], tmp_path: Path) -> None:
    day = extra_day(tmp_path / "2031-03-04.json")
    after = build_data([corpus, day], tmp_path / "cache")
    before_index, after_index = json.loads(sharded["papers.json"]), json.loads(after["papers.json"])
    last = before_index["shards"][-1]["file"]
    for entry in before_index["shards"][:-1]:
        assert after[entry["file"]] == sharded[entry["file"]], entry["file"]
    assert after[last] != sharded[last] or len(after_index["shards"]) > len(before_index["shards"])
    assert after[last].startswith(sharded[last].removesuffix(b"\n]}\n"))  # the old records, then new ones
    assert all(after_index["shard_of"][pid] == n for pid, n in before_index["shard_of"].items())
    assert len(after_index["shard_of"]) == len(before_index["shard_of"]) + 12
    assert all(len(data) <= LIMIT for data in after.values())


def test_limits_are_validated() -> None:
    def failures(options: dict[str, Any]) -> list[str]:
        config = DigestConfig()
        config.load_dict(options)
        failed, _ = config.validate()
        return [name for name, _ in failed]

    assert failures({}) == []
    assert failures({"data_shard_bytes": MIN_SHARD_BYTES - 1}) == ["data_shard_bytes"]
    assert failures({"sitemap_urls": 0}) == ["sitemap_urls"]
    assert failures({"sitemap_urls": SITEMAP_URLS + 1}) == ["sitemap_urls"]
    assert failures({"data_shard_bytes": "20M"}) == ["data_shard_bytes"]


# --- sitemaps (a whole MkDocs build of the seeds, small limits) -----------------------------

URLS = 100
"""`sitemap_urls` of the seeds build: the 521 paper pages in six files."""


def small_limits_project(dest: Path) -> Path:
    project = copy_project(dest)
    config_path = project / "mkdocs.yml"
    text = config_path.read_text("utf-8")
    text = text.replace(
        "  - paper-digest:\n", f"  - paper-digest:\n      sitemap_urls: {URLS}\n      data_shard_bytes: 300000\n", 1
    )
    config_path.write_text(text, "utf-8")
    return project


@pytest.fixture(scope="module")
def small_sites(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The seeds built twice with small limits, from two copies of the project."""
    sites = []
    for name in ("first", "second"):
        project = small_limits_project(tmp_path_factory.mktemp(name) / "project")
        result = run_cli(
            "build",
            "--strict",
            "-f",
            str(project / "mkdocs.yml"),
            cwd=project,
            env={"SITE_URL": "https://digest.example.org/sub/"},
        )
        assert result.returncode == 0, result.stderr[-4000:]
        sites.append(project / "site")
    return sites


def site_records(site: Path) -> list[dict[str, Any]]:
    files = {"papers.json": (site / "papers.json").read_bytes()}
    for entry in json.loads(files["papers.json"]).get("shards", []):
        files[entry["file"]] = (site / entry["file"]).read_bytes()
    if "shards" not in json.loads(files["papers.json"]):
        return json.loads(files["papers.json"])["papers"]
    return [r for records in shard_papers(files).values() for r in records]


def parse(data: bytes) -> ET.Element:
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    return ET.fromstring(data)


def test_sitemap_index_and_split_files(small_sites: list[Path]) -> None:
    site = small_sites[0]
    base = "https://digest.example.org/sub/"
    assert not (site / "sitemap.xml.gz").exists()
    index = parse((site / "sitemap.xml").read_bytes())
    assert index.tag == SITEMAPINDEX
    listed = [
        (e.findtext("s:loc", namespaces=NS) or "", e.findtext("s:lastmod", namespaces=NS))
        for e in index.findall("s:sitemap", NS)
    ]
    names = [loc.removeprefix(base) for loc, _ in listed]
    assert all(loc.startswith(base) and "/" not in loc.removeprefix(base) for loc, _ in listed)  # in the root
    assert sorted(p.name for p in site.glob("sitemap*.xml")) == sorted([*names, "sitemap.xml"])
    records = site_records(site)
    assert len(records) == 521
    last_date = {base + r["url"]: max(r["dates"], default=None) for r in records}
    newest = max(d for d in last_date.values() if d)
    urls: list[str] = []
    for name, (_, file_lastmod) in zip(names, listed, strict=True):
        root = parse((site / name).read_bytes())
        assert root.tag == URLSET
        entries = [
            (u.findtext("s:loc", namespaces=NS) or "", u.findtext("s:lastmod", namespaces=NS))
            for u in root.findall("s:url", NS)
        ]
        assert 1 <= len(entries) <= URLS
        assert file_lastmod == max(mod for _, mod in entries if mod)
        for loc, lastmod in entries:
            if loc in last_date:  # a paper page: its newest appearance
                assert name.startswith("sitemap-papers-") and lastmod == (last_date[loc] or newest), loc
            elif loc in (base, base + "topics/", base + "week/", base + "digests/", base + "dates/"):
                assert lastmod == newest, loc
            elif re.fullmatch(re.escape(base) + r"dates/(\d{4})/(\d\d)/(\d\d)/", loc):
                assert lastmod == "-".join(loc.rstrip("/").split("/")[-3:]), loc
            elif loc == base + "about/":
                assert lastmod is None  # hand-written: no date the data knows
        urls += [loc for loc, _ in entries]
    assert len(names) >= 1 + (521 + URLS - 1) // URLS
    # Every page once: each built HTML page (the 404 page aside) and nothing else.
    folders = [p.parent.relative_to(site).as_posix() for p in site.rglob("index.html")]
    assert sorted(urls) == sorted(base if rel == "." else f"{base}{rel}/" for rel in folders)
    assert len(set(urls)) == len(urls)
    # Paper pages oldest first, so new papers are added to the last file.
    order = [u for u in urls if u in last_date]
    assert order == [base + r["url"] for r in records]


def test_rebuild_gives_byte_identical_sitemaps_and_data(small_sites: list[Path]) -> None:
    first, second = small_sites
    names = sorted(p.name for p in first.glob("sitemap*.xml"))
    assert names == sorted(p.name for p in second.glob("sitemap*.xml"))
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    data = sorted(p.relative_to(first).as_posix() for p in [first / "papers.json", *first.glob("data/*")])
    assert len(data) > 2  # 300,000 bytes: the seeds are sharded
    for rel in data:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
    index = json.loads((first / "papers.json").read_bytes())
    assert all((first / e["file"]).stat().st_size == e["bytes"] <= 300_000 for e in index["shards"])


def test_the_shipped_config_leaves_the_limits_at_their_defaults() -> None:
    config = yaml.load((ROOT / "mkdocs.yml").read_text("utf-8"), Loader=yaml.BaseLoader)
    options = next(p["paper-digest"] for p in config["plugins"] if isinstance(p, dict) and "paper-digest" in p)
    assert "data_shard_bytes" not in options and "sitemap_urls" not in options


# --- the browser: no request of a page fails --------------------------------------------------


@pytest.mark.browser
def test_topic_and_paper_pages_request_nothing_that_is_missing(browser, site_url: str, seed_site: Path) -> None:
    paper = json.loads((seed_site / "papers.json").read_bytes())["papers"][0]
    topic = sorted(p.parent.name for p in (seed_site / "topics").glob("*/feed.xml"))[0]
    context = browser.new_context()
    page = context.new_page()
    failed: list[str] = []
    requested: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("requestfailed", lambda r: failed.append(f"failed {r.url}"))
    page.on("request", lambda r: requested.append(r.url))
    for path in (f"topics/{topic}/", paper["url"], ""):
        page.goto(site_url + path, wait_until="networkidle")
        page.wait_for_timeout(500)  # Material fetches what it fetches after the page has loaded
    context.close()
    assert not failed, failed
    assert f"{site_url}topics/{topic}/" in requested and site_url + paper["url"] in requested
    assert not [url for url in requested if url.endswith("sitemap.xml") and url != site_url + "sitemap.xml"]


def _bib(sources: list[Path], cache: Path, limit: int) -> dict[str, bytes]:
    options = BuildOptions(
        sources=tuple(sources), cache_dir=cache, topics_file=ROOT / "content" / "topics.yml", data_shard_bytes=limit
    )
    tree = read_tree(generate(options, StageTimer(show_progress=False)).tree)
    return {rel: data for rel, data in tree.items() if rel.endswith(".bib")}


def test_papers_bib_is_split_like_the_data_files(corpus: Path, tmp_path: Path) -> None:
    whole = _bib([corpus], tmp_path / "whole", DEFAULT_SHARD_BYTES)
    assert list(whole) == ["papers.bib"]
    entries = re.findall(r"^@misc\{.*?^\}$", whole["papers.bib"].decode("utf-8"), re.M | re.S)
    assert len(entries) >= 400  # the corpus's papers (400 plus its near-duplicate variants)
    split = _bib([corpus], tmp_path / "split", 30_000)
    parts = sorted(rel for rel in split if rel != "papers.bib")
    assert len(parts) >= 3 and all(rel.startswith("data/papers-") for rel in parts)
    assert all(len(split[rel]) <= 30_000 for rel in parts)
    found = [e for rel in parts for e in re.findall(r"^@misc\{.*?^\}$", split[rel].decode("utf-8"), re.M | re.S)]
    assert found == entries  # the same entries, in the same order, each once
    index = split["papers.bib"].decode("utf-8")
    assert re.findall(r"^@comment\{(data/papers-\d{4}\.bib): \d+ entries\}$", index, re.M) == parts
    assert all(split[rel].startswith(b"% BibTeX of the paper digest") and split[rel].endswith(b"}\n") for rel in parts)
