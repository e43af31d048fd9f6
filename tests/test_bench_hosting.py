"""The hosting benchmark's own parts: byte accounting, kinds, queries, targets, the gzip server.

Nothing here times anything (speed is the benchmark's business, never a test's); the browser
test checks that a query on a small page is measured (a result seen, its bytes counted), not how fast.
"""

from __future__ import annotations

import gzip
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from benchmarks import hosting, hosting_report
from benchmarks.__main__ import bench as bench_cli
from benchmarks.corpus import write_corpus
from benchmarks.hosting import corpus_queries, kind_of, rare_word, read_day, site_bytes
from benchmarks.hosting_report import MIB, evaluate_targets, fmt, format_report
from benchmarks.results import write_json
from benchmarks.static_server import Served, compressible, serve, summarize
from benchmarks.visitor import Query, SearchUI, median_run

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("rel", "kind"),
    [
        ("papers/some-paper-1a2b/index.html", "paper pages"),
        ("papers/some-paper-1a2b/cite.bib", "paper pages"),
        ("search/manifest.json", "search"),
        ("search/terms/ab.json", "search"),
        ("assets/javascripts/bundle.js", "assets"),
        ("assets/vendor/katex/LICENSE", "assets"),
        ("topics/llm/index.html", "listings"),
        ("dates/2024/01/02/index.html", "listings"),
        ("digests/2024-01-02/index.html", "listings"),
        ("week/index.html", "listings"),
        ("index.html", "listings"),
        ("404.html", "listings"),
        ("papers.json", "data files"),
        ("data/papers-0001.json", "data files"),
        ("papers.bib", "data files"),
        ("sitemap.xml", "data files"),
        ("sitemap-papers-0001.xml.gz", "data files"),
        ("topics/llm/feed.xml", "data files"),
        ("rss.xml", "data files"),
        ("robots.txt", "other"),
        ("papers", "other"),  # a file named like the folder is not inside it
    ],
)
def test_kind_of(rel: str, kind: str) -> None:
    assert kind_of(rel) == kind


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_site_bytes_counts_hard_links_once(tmp_path: Path) -> None:
    site = tmp_path / "site"
    page = _write(site / "papers" / "a" / "index.html", b"x" * 1000)
    os.link(page, site / "papers" / "b.html")  # same inode, same kind
    (site / "topics").mkdir()
    os.link(page, site / "topics" / "index.html")  # same inode, another kind: a file, no bytes
    _write(site / "search" / "manifest.json", b"y" * 300)
    _write(site / "papers.json", b"z" * 200)
    _write(site / "assets" / "app.js", b"j" * 100)
    _write(site / "pagefind_anchor" / "pagefind.js", b"p" * 5000)  # the benchmark's own anchor: left out
    result = site_bytes(site, papers=2)
    assert result["bytes"] == 1000 + 300 + 200 + 100
    assert result["files"] == 6 and result["hard_links"] == 2
    kinds = result["kinds"]
    assert kinds["paper pages"] == {"bytes": 1000, "files": 2}
    assert kinds["listings"] == {"bytes": 0, "files": 1}
    assert kinds["search"]["bytes"] == 300 and kinds["data files"]["bytes"] == 200 and kinds["assets"]["bytes"] == 100
    assert result["per_paper"]["paper pages"] == 500 and result["per_paper"]["total"] == 800
    # the first path the walk meets (sorted; a folder's files before its subfolders) stands for the inode
    assert [f["path"] for f in result["largest"]] == [
        "papers/b.html",
        "search/manifest.json",
        "papers.json",
        "assets/app.js",
    ]
    assert result["over_file_limit"] == []


def test_site_bytes_reports_files_over_the_limit(tmp_path: Path) -> None:
    site = tmp_path / "site"
    big = _write(site / "papers.json", b"")
    with big.open("r+b") as handle:
        handle.truncate(26 * MIB)  # sparse: no 26 MiB written
    _write(site / "index.html", b"<p>")
    result = site_bytes(site)
    assert result["over_file_limit"] == [{"path": "papers.json", "bytes": 26 * MIB}]
    assert "per_paper" not in result


def test_read_day_and_corpus_queries(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    plan = write_corpus(400, corpus, seed=3)
    days = sorted(corpus.glob("*.txt"))
    first = read_day(days[0])
    assert 40 <= len(first) <= 120 and all(title and abstract for title, abstract in first)
    queries = corpus_queries(corpus)
    assert queries["old_day"] == days[0].stem and queries["new_day"] == days[-1].stem
    assert queries["old_title"] in {title for title, _ in first}
    assert queries["new_title"] in {title for title, _ in read_day(days[-1])}
    planted = {t for pair in plan.near_duplicates for t in pair[:2]}
    assert queries["old_title"] not in planted and queries["new_title"] not in planted
    word = queries["rare_word"]
    holders = {
        title for day in days for title, abstract in read_day(day) if word in hosting._tokens(title + " " + abstract)
    }
    assert 1 <= len(holders) <= 2 and sorted(holders) == queries["rare_word_papers"]
    assert queries["rare_word_kind"] == "word"


def test_rare_word_skips_names_and_stem_neighbours() -> None:
    papers = {
        "Kaho: A": {"kaho", "gigantic", "models", "listening"},
        "Wipi: B": {"wipi", "models", "listens", "scrutiny"},
        "Bado: C": {"bado", "models", "scrutiny", "fostering"},
    }
    names = {"kaho", "wipi", "bado"}
    # kaho/wipi/bado are names; listening shares "liste" with listens; fostering is the first single-paper word
    assert rare_word(papers, names) == ("fostering", ["Bado: C"], "word")
    papers["Bado: C"].discard("fostering")
    assert rare_word(papers, names) == ("gigantic", ["Kaho: A"], "word")
    papers["Kaho: A"].discard("gigantic")
    assert rare_word(papers, names) == ("scrutiny", ["Bado: C", "Wipi: B"], "word")
    papers["Wipi: B"].discard("scrutiny")  # scrutiny in one paper again, ahead of listening (a neighbour)
    assert rare_word(papers, names)[0] == "scrutiny"
    papers["Bado: C"].discard("scrutiny")
    assert rare_word(papers, names) == ("listening", ["Kaho: A"], "word")  # neighbours only: still a word


def test_rare_word_falls_back_to_a_paper_name() -> None:
    common = {"models", "language", "learning"}
    papers = {f"{name.title()}: X": {name, *common} for name in ("vupawu", "vupawa", "kibeso")}
    papers["Kibeso: Y"] = {"kibeso", *common}  # a retitled variant: the name in two papers
    # no ordinary word in fewer than three papers; vupawu/vupawa share a prefix, kibeso is in two
    assert rare_word(papers, {"vupawu", "vupawa", "kibeso"}) == ("kibeso", ["Kibeso: X", "Kibeso: Y"], "paper name")
    del papers["Kibeso: Y"]
    assert rare_word(papers, {"vupawu", "vupawa", "kibeso"})[0] == "kibeso"
    papers = {"A": common, "B": common, "C": common}
    with pytest.raises(ValueError, match="no word"):
        rare_word(papers, set())


def _run(query: str, page: str, link: str, first: float | None, nbytes: int, **extra: Any) -> dict[str, Any]:
    return {
        "query": query,
        "page": page,
        "link": link,
        "first_s": first,
        "bytes": nbytes,
        "requests": 3,
        "bytes_before_first": nbytes // 2,
        "settled": True,
        "first_result": "x",
        "results": 5,
        "largest": [{"path": "search/big.json", "bytes": nbytes}],
        "by_folder": {"search": nbytes},
        **extra,
    }


def _result(n: int, *, site_bytes_: int, slow: float, old_first: bool) -> dict[str, Any]:
    runs = []
    for link in ("loopback", "10 Mbps / 40 ms"):
        for page in ("cold", "settled"):
            runs += [
                _run("two-word topic", page, link, 0.2, 600_000 if page == "cold" else 100_000),
                _run(
                    "old title",
                    page,
                    link,
                    slow if page == "cold" else 0.2,
                    50_000,
                    target_s=(slow if page == "cold" else 0.2) if old_first else None,
                    expected_first=old_first,
                ),
                _run("rare word", page, link, 0.1, 10_000),
                _run("new title", page, link, 0.2, 40_000, target_s=0.2, expected_first=True),
            ]
    visit = {
        "bytes": 1_500_000,
        "requests": 30,
        "queries": [{"query": "two-word topic", "bytes": 1_000_000}, {"query": "old title", "bytes": 500_000}],
    }
    kinds = {k: {"bytes": 0, "files": 0} for k in hosting_report.KINDS}
    kinds["paper pages"] = {"bytes": site_bytes_, "files": n}
    site = {
        "bytes": site_bytes_,
        "files": n,
        "hard_links": 0,
        "kinds": kinds,
        "papers": n,
        "per_paper": {**{k: v["bytes"] / n for k, v in kinds.items()}, "total": site_bytes_ / n},
        "largest": [{"path": "papers.json", "bytes": 30 * MIB}],
        "over_file_limit": [{"path": "papers.json", "bytes": 30 * MIB}],
    }
    build = {
        "wall_s": 200.0,
        "cpu_s": 300.0,
        "peak_tree_mb": 2000.0,
        "build_s": 198.0,
        "generator_s": 60.0,
        "rest_s": 138.0,
        "stages_s": {"pages": 20.0},
    }
    queries = {
        "topic": "language models",
        "old_title": "Old",
        "old_day": "2024-01-01",
        "new_title": "New",
        "new_day": "2024-02-01",
        "rare_word": "gigantic",
        "rare_word_papers": ["A"],
        "extra": "x y",
    }
    return {
        "papers": n,
        "records": n,
        "days": 10,
        "queries": queries,
        "build": build,
        "site": site,
        "anchor": {"skipped": "not asked for (--no-anchor)"},
        "search": {"digest": {"runs": runs, "visit": visit}},
    }


def _targets(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["target"]: t for t in result["targets"]}


def test_targets_at_10k_project_the_site_and_name_what_stands_in_the_way() -> None:
    result: dict[str, Any] = {
        "commit": "abc",
        "machine": {"cpus": 2, "python": "3.11"},
        "link": {"megabits": 10, "latency_ms": 40},
        "sizes": {"10000": _result(10_000, site_bytes_=300_000_000, slow=0.7, old_first=True)},
    }
    result["targets"] = evaluate_targets(result)
    targets = _targets(result)
    site = targets["100,000 papers: whole site, projected from 10,000 (30.0 KB a paper)"]
    assert site["status"] == "MISS" and site["value"] == pytest.approx(3.0)
    assert "paper pages 30.0 KB" in site["detail"] and "budget 10.0 KB" in site["detail"]
    largest = targets["10,000 papers: largest file (papers.json)"]
    assert largest["status"] == "MISS" and "papers.json (30.0 MiB)" in largest["detail"]
    cold = targets["10,000 papers: first result, loopback, cold page (slowest of the three queries)"]
    assert cold["status"] == "MISS" and cold["value"] == 0.7 and cold["detail"].startswith("slowest: old title")
    settled = targets["10,000 papers: first result, loopback, settled page (slowest of the three queries)"]
    assert settled["status"] == "PASS" and settled["detail"] == ""
    two_word = targets["10,000 papers: bytes fetched for a two-word query (gzip; most of its runs)"]
    assert two_word["status"] == "MISS" and two_word["value"] == 600 and "search/big.json" in two_word["detail"]
    assert targets["10,000 papers: bytes fetched for a visit of five queries (gzip)"]["status"] == "PASS"
    assert targets["10,000 papers: old title not the first result (runs of 4)"]["status"] == "PASS"
    later = targets["10,000 papers: old title first, seconds after a new title would be (slowest page and link)"]
    assert later["status"] == "MISS" and later["value"] == pytest.approx(0.5)
    assert not any("full build" in name for name in targets)  # build targets are for 100k papers only
    report = format_report(result)
    for t in result["targets"]:
        assert f"| {t['target']} |" in report
    assert "| paper pages | 10,000 | 300.0 MB | 30.00 KB | 100% |" in report


def test_targets_at_100k_include_the_build_and_an_old_title_never_first() -> None:
    result: dict[str, Any] = {
        "commit": None,
        "machine": {"cpus": 2, "python": "3.11"},
        "sizes": {"100000": _result(100_000, site_bytes_=900_000_000, slow=0.3, old_first=False)},
    }
    result["targets"] = evaluate_targets(result)
    targets = _targets(result)
    assert targets["100,000 papers: whole site"]["status"] == "PASS"
    build = targets["100,000 papers: full build (paper-digest build)"]
    assert (
        build["status"] == "MISS" and build["cpu_value"] == 300.0 and "MkDocs and the rest 138.0 s" in build["detail"]
    )
    assert build["cpu_status"] == "MISS" and "| 200.00 s (CPU 300.00 s MISS) | 180.00 s | MISS |" in format_report(
        result
    )
    assert targets["100,000 papers: full build peak memory"]["status"] == "PASS"
    never = targets["100,000 papers: old title not the first result (runs of 4)"]
    assert never["status"] == "MISS" and never["value"] == 4
    later = targets["100,000 papers: old title first, seconds after a new title would be (slowest page and link)"]
    assert later["status"] == "MISS" and later["value"] == float("inf") and fmt(later["value"], "s") == "never"
    assert "| never | 0.10 s | MISS |" in format_report(result)


def test_targets_without_search_are_not_applicable() -> None:
    one = _result(1000, site_bytes_=1_000_000, slow=0.1, old_first=True)
    one["search"] = {"digest": {"error": "TimeoutError: no results"}}
    targets = evaluate_targets({"sizes": {"1000": one}})
    search = [t for t in targets if t["target"] == "1,000 papers: search"]
    assert search and search[0]["status"] == "n/a"


def test_anchor_figures_sit_beside_the_digest_ones() -> None:
    one = _result(1000, site_bytes_=1_000_000, slow=0.1, old_first=True)
    one["search"]["pagefind"] = {
        "runs": [dict(r, first_s=0.9) for r in one["search"]["digest"]["runs"]],
        "visit": {"bytes": 400_000, "requests": 9, "queries": []},
    }
    targets = {t["target"]: t for t in evaluate_targets({"sizes": {"1000": one}})}
    cold = targets["1,000 papers: first result, loopback, cold page (slowest of the three queries)"]
    assert cold["status"] == "PASS" and cold["anchor_value"] == 0.9 and cold["anchor_status"] == "MISS"
    assert targets["1,000 papers: bytes fetched for a visit of five queries (gzip)"]["anchor_value"] == 0.4


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (None, "s", "-"),
        (0.456, "s", "0.46 s"),
        (1.234, "GB", "1.23 GB"),
        (26.0, "MiB", "26.0 MiB"),
        (612.4, "KB", "612 KB"),
        (3, "runs", "3"),
        (float("inf"), "s", "never"),
    ],
)
def test_fmt(value: float | None, unit: str, text: str) -> None:
    assert fmt(value, unit) == text


def test_write_json_has_no_infinity(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    write_json({"targets": [{"value": float("inf")}], "x": [1.5]}, out)
    assert json.loads(out.read_text("utf-8")) == {"targets": [{"value": None}], "x": [1.5]}


def _get(url: str, *, gzip_ok: bool, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        url, headers={**({"Accept-Encoding": "gzip"} if gzip_ok else {}), **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), b""


def test_gzip_server(tmp_path: Path) -> None:
    site = tmp_path / "site"
    html = ("<!doctype html><p>" + "paper digest " * 500 + "</p>").encode()
    _write(site / "index.html", html)
    _write(site / "search" / "part.json", json.dumps({"words": ["language"] * 400}).encode())
    _write(site / "assets" / "logo.png", bytes(range(256)) * 20)
    script = b"console.log('x');" * 100
    _write(site / "assets" / "app.js", script)
    packed = gzip.compress(script, 9)
    _write(site / "assets" / "app.js.gz", packed)  # a precompressed copy is sent as it is
    with serve(site) as server:
        status, headers, body = _get(server.url, gzip_ok=True)
        assert status == 200 and headers["Content-Encoding"] == "gzip" and gzip.decompress(body) == html
        assert headers["Content-Type"].startswith("text/html") and len(body) < len(html) / 5
        status, headers, body = _get(server.url + "index.html", gzip_ok=False)
        assert status == 200 and "Content-Encoding" not in headers and body == html
        status, headers, body = _get(server.url + "search/part.json", gzip_ok=True)
        assert headers["Content-Encoding"] == "gzip" and json.loads(gzip.decompress(body))["words"][0] == "language"
        status, headers, body = _get(server.url + "assets/logo.png", gzip_ok=True)
        assert "Content-Encoding" not in headers and len(body) == 256 * 20
        status, headers, body = _get(server.url + "assets/app.js", gzip_ok=True)
        assert body == packed and headers["Content-Encoding"] == "gzip"
        status, _, _ = _get(server.url + "search/missing.json", gzip_ok=True)
        assert status == 404
        status, _, body = _get(server.url, gzip_ok=True, headers={"If-Modified-Since": headers["Last-Modified"]})
        assert status == 304 and body == b""
        log = list(server.log.entries)
    assert [(e.path, e.status, e.gzip) for e in log] == [
        ("index.html", 200, True),
        ("index.html", 200, False),
        ("search/part.json", 200, True),
        ("assets/logo.png", 200, False),
        ("assets/app.js", 200, True),
        ("search/missing.json", 404, False),
        ("index.html", 304, False),
    ]
    assert log[0].raw_bytes == len(html) and log[0].bytes < len(html) / 5 and log[1].bytes == len(html)
    assert log[3].bytes == log[3].raw_bytes == 256 * 20 and log[4].bytes == len(packed)
    assert log[5].raw_bytes == 0 and log[5].bytes > 0 and log[6].bytes == log[6].raw_bytes == 0  # the 404 page is sent
    summary = summarize(log, top=2)
    assert summary["requests"] == 7 and summary["bytes"] == sum(e.bytes for e in log)
    assert summary["not_found"] == ["search/missing.json"]
    assert summary["largest"] == [
        {"path": "index.html", "bytes": log[0].bytes + log[1].bytes},
        {"path": "assets/logo.png", "bytes": 256 * 20},
    ]
    assert set(summary["by_folder"]) == {"(top level)", "search", "assets"}


def test_compressible_types() -> None:
    assert compressible("text/html; charset=utf-8") and compressible("application/json")
    assert compressible("text/javascript") and compressible("image/svg+xml")
    assert not compressible("image/png") and not compressible("font/woff2")
    assert not compressible("application/octet-stream")  # Pagefind's packed index files


def test_summarize_orders_largest_first() -> None:
    entries = [
        Served(1.0, "search/a.json", 200, 10, 40, True),
        Served(2.0, "search/b.json", 200, 30, 90, True),
        Served(3.0, "search/a.json", 200, 25, 40, True),
    ]
    summary = summarize(entries)
    assert [f["path"] for f in summary["largest"]] == ["search/a.json", "search/b.json"]
    assert summary["bytes"] == 65 and summary["raw_bytes"] == 170 and summary["by_folder"] == {"search": 65}


_FAKE_SEARCH = """<!doctype html><html><head><link rel="icon" href="data:,"></head><body>
<input data-ds-input><ol data-ds-results></ol>
<script>
const input = document.querySelector("[data-ds-input]");
document.addEventListener("keydown", (e) => { if (e.key === "/" && document.activeElement !== input) {
  e.preventDefault(); input.focus(); } });
input.addEventListener("input", async () => {
  const list = document.querySelector("[data-ds-results]");
  list.replaceChildren();
  if (!input.value) return;
  const data = await (await fetch("index.json")).json();
  for (const title of data.titles.filter((t) => t.toLowerCase().includes(input.value.toLowerCase()))) {
    const li = document.createElement("li"); li.textContent = title; list.append(li);
  }
});
</script></body></html>"""


@pytest.mark.browser
def test_measure_search_on_a_small_page(tmp_path: Path) -> None:
    from benchmarks.visitor import SLOW_LINK, browser, measure_search, measure_visit

    site = tmp_path / "site"
    _write(site / "find.html", _FAKE_SEARCH.encode())
    titles = ["Old Paper About Language Models", "New Paper On Theorem Proving"] + [f"Filler {i}" for i in range(300)]
    _write(site / "index.json", json.dumps({"titles": titles}).encode())
    ui = SearchUI("fake", "find.html", "[data-ds-input]", "[data-ds-results] li")
    query = Query("old title", "Old Paper About Language Models", expected="Old Paper About Language Models")
    with serve(site) as server, browser() as chromium:
        cold = measure_search(chromium, server, ui, query, settled=False, timeout=20)
        slow = measure_search(chromium, server, ui, query, settled=True, link=SLOW_LINK, timeout=20)
        visit = measure_visit(chromium, server, ui, [query, Query("other", "theorem")], timeout=20)
    for run in (cold, slow):
        assert run["first_s"] is not None and run["expected_first"] and run["settled"]
        assert run["requests"] == 1 and run["largest"][0]["path"] == "index.json"
        assert 0 < run["bytes"] < run["raw_bytes"]  # served gzipped
        assert run["bytes_before_first"] == run["bytes"] and not run["stale_results"]
    assert cold["page"] == "cold" and slow["link"] == "10 Mbps / 40 ms"
    assert [q["results"] for q in visit["queries"]] == [1, 1] and not visit["queries"][1]["stale_results"]
    assert visit["requests"] in (1, 2)  # the second fetch may come from the browser's cache
    assert visit["bytes"] == sum(q["bytes"] for q in visit["queries"])


@pytest.mark.slow
def test_hosting_command_without_browser(tmp_path: Path) -> None:
    out = tmp_path / "hosting.json"
    result = CliRunner().invoke(
        bench_cli,
        [
            "hosting",
            "-f",
            str(ROOT / "mkdocs.yml"),
            "--sizes",
            "200",
            "--no-browser",
            "--no-anchor",
            "--work",
            str(tmp_path / "work"),
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text("utf-8"))
    run = data["sizes"]["200"]
    assert run["build"]["wall_s"] > 0 and run["build"]["peak_tree_mb"] > 10 and run["build"]["papers"] >= 200
    assert set(run["build"]["stages_s"]) >= {"read", "pages", "search index"}
    site = run["site"]
    assert site["kinds"]["paper pages"]["files"] >= 200 and site["kinds"]["search"]["bytes"] > 0
    assert site["bytes"] == sum(k["bytes"] for k in site["kinds"].values())
    assert run["queries"]["old_day"] < run["queries"]["new_day"] and run["queries"]["rare_word"]
    assert "search" not in run and run["anchor"]["skipped"]
    assert "| 100,000 papers: whole site, projected from 200" in result.output


def test_median_run_of_repeats() -> None:
    tries: list[dict[str, Any]] = [
        {"first_s": 0.4, "bytes": 1, "expected_first": True, "target_s": 0.4},
        {"first_s": None, "bytes": 2, "expected_first": False, "target_s": None},
        {"first_s": 0.2, "bytes": 3, "expected_first": True, "target_s": 0.2},
    ]
    run = median_run(tries)
    assert run["first_s"] == 0.4 and run["bytes"] == 1 and run["repeats"] == 3
    assert run["first_s_all"] == [0.4, None, 0.2] and run["target_s_all"] == [0.4, None, 0.2]
    assert run["expected_first"] is False  # not first in every try
    assert median_run(tries[:1]) == tries[0] and "repeats" not in median_run(tries[:1])
    assert median_run([tries[0], tries[2]])["first_s"] == 0.2  # of two, the faster
