"""The benchmark harness end to end at a tiny size: every field of the JSON is there and sane.

No timing is asserted (speed is measured by the benchmark, never by a test); what can fail is
the harness itself: a missing field, a build that did not run, a rebuild that reused nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from benchmarks.__main__ import bench as bench_cli
from benchmarks.run import STAGES, add_day, evaluate_targets, format_report
from benchmarks.sites import _base_config, _digest_options, digest_project

ROOT = Path(__file__).resolve().parent.parent

SITE_FIELDS = {"wall_s", "build_s", "peak_rss_mb", "peak_tree_mb", "site_mb", "site_files", "pages",
               "largest_html", "largest_html_kb", "search_index_mb"}  # fmt: skip
TARGETS = 7


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str, Path]:
    work = tmp_path_factory.mktemp("bench")
    out = work / "bench.json"
    result = CliRunner().invoke(
        bench_cli,
        ["run", "-f", str(ROOT / "mkdocs.yml"), "--sizes", "200", "--generator-only-sizes", "500",
         "--work", str(work / "work"), "--json", str(out), "--no-search-latency", "--rebuild-papers", "20"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text("utf-8")), result.output, work / "work"


@pytest.mark.slow
def test_full_build_fields(bench: tuple[dict, str, Path]) -> None:
    data, _, _ = bench
    assert set(data) >= {"started", "commit", "machine", "seed", "full", "generator_only", "targets"}
    run = data["full"]["200"]
    assert run["papers"] == 200 and run["records"] >= 200 and run["days"] >= 1
    for side in ("digest", "plain"):
        assert set(run[side]) >= SITE_FIELDS
        assert run[side]["wall_s"] > 0 and run[side]["peak_rss_mb"] > 10
    digest = run["digest"]
    assert set(digest["stages_s"]) == set(STAGES)
    assert digest["papers"] >= 200
    assert digest["pages"] > 200  # a page per paper, plus hubs, topics and dates
    assert run["plain"]["pages"] >= 200
    assert digest["search_index_mb"] > 0 and run["plain"]["search_index_mb"] == 0
    assert digest["largest_html"].endswith(".html") and digest["largest_html_kb"] > 0
    assert run["ratio_to_plain"] == pytest.approx(digest["wall_s"] / run["plain"]["wall_s"], rel=0.01)
    assert digest["write"]["unchanged"] == 0 and digest["write"]["written"] > 200
    assert digest["search_parts"]["built"] >= 1 and digest["search_parts"]["reused"] == 0


@pytest.mark.slow
def test_rebuild_reuses_work(bench: tuple[dict, str, Path]) -> None:
    data, _, _ = bench
    rebuild = data["full"]["200"]["rebuild"]
    assert rebuild["papers"] >= 220  # the added day's 20 papers are in
    assert rebuild["digest_work_s"] > 0 and rebuild["digest_share_of_plain"] > 0
    assert set(rebuild["plugin_s"]) >= {"on_pre_build", "on_files"}
    write = rebuild["write"]
    # The new papers' pages written; with no model step crossed (200 -> 220 papers), the pages of
    # papers whose similar papers, topics and appearances did not change are carried over.
    assert write["written"] >= 20 and write["unchanged"] > 50
    assert rebuild["search_parts"]["reused"] + rebuild["search_parts"]["built"] == rebuild["search_parts"]["parts"]


@pytest.mark.slow
def test_generator_only_and_targets(bench: tuple[dict, str, Path]) -> None:
    data, output, _ = bench
    run = data["generator_only"]["500"]
    assert run["papers"] >= 500 and run["files"] > 500
    assert set(run["stages_s"]) == set(STAGES)
    assert run["generator_s"] == pytest.approx(sum(run["stages_s"].values()), abs=0.05)
    assert run["reference_papers"] == 200 and set(run["stage_ratio_to_reference"]) == set(STAGES)
    assert len(data["targets"]) == TARGETS
    statuses = {t["target"]: t["status"] for t in data["targets"]}
    assert statuses["200 papers: search first result"] == "n/a"
    assert all(s in {"PASS", "MISS"} for name, s in statuses.items() if "search" not in name)
    for t in data["targets"]:
        assert f"| {t['target']} |" in output


def test_digest_project_points_at_the_corpus(tmp_path: Path) -> None:
    config = digest_project(ROOT, tmp_path / "project", tmp_path / "corpus")
    text = config.read_text("utf-8")
    assert str((tmp_path / "corpus").resolve()) in text
    assert "!ENV" in text or "site_url" not in (ROOT / "mkdocs.yml").read_text("utf-8")
    options = _digest_options(_base_config(config.parent))
    assert options["sources"] == [str((tmp_path / "corpus").resolve())]
    assert "overrides" not in options  # the seed files they name are not in the corpus
    assert (tmp_path / "project" / "theme_overrides").is_dir()


def test_add_day_writes_the_next_day(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "2024-03-31.txt").write_text("x\n", "utf-8")
    day = add_day(corpus, 100, seed=1)
    assert day.name == "2024-04-01.txt"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus"]  # no staging left behind
    assert day.read_text("utf-8").count("\n\n") > 200  # header, date and 100 titles + abstracts


def test_targets_without_measurements_are_not_applicable() -> None:
    targets = evaluate_targets({"full": {}, "generator_only": {}})
    assert targets == []


def test_report_of_a_generator_only_run() -> None:
    run = {"generator_s": 2.0, "generator_cpu_s": 2.5, "peak_tree_mb": 300.0, "peak_rss_mb": 250.0,
           "stages_s": {"read": 1.0, "pages": 1.0}, "stages_cpu_s": {"read": 1.0, "pages": 1.5}}  # fmt: skip
    machine = {"cpus": 2, "python": "3.11"}
    result: dict[str, Any] = {"commit": "abc", "machine": machine, "full": {}, "generator_only": {"500": run}}
    result["targets"] = evaluate_targets(result)
    report = format_report(result)
    assert "**Generator only**, 500 papers: 2.0 s" in report
    assert [t["status"] for t in result["targets"]] == ["PASS", "PASS"]
