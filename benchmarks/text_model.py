"""What the similarity and topics stages give on a corpus, and what they cost: for comparing versions.

`python -m benchmarks.text_model SOURCES OUT.json [--topics FILE] [--runs N] [--discover]` reads and
merges SOURCES, then runs the similarity and topics stages (cold: no cache) N times in this
process and writes every paper's topics, similar papers and near-duplicates with the CPU seconds
(this process and its waited-for children) and wall seconds of each run. `--compare A.json B.json`
counts the papers whose primary topic, topic list, similar list or near-duplicate links differ.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from generator.analysis import similarity as similarity_stage
from generator.analysis.similarity import find_similarity
from generator.analysis.taxonomy import load_taxonomy
from generator.analysis.topics import assign_topics
from generator.config import BuildOptions
from generator.ingest.dates import resolve_dates
from generator.ingest.readers import read_sources
from generator.ingest.records import merge_records
from generator.models import Paper


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _papers(sources: Path) -> list[Paper]:
    options = BuildOptions(sources=(sources,), cache_dir=Path("/nonexistent"))
    listings, _ = read_sources(list(options.sources), None)
    dates, _ = resolve_dates(listings, options.settings, options.year)
    papers, _ = merge_records(listings, dates)
    return papers


def measure(sources: Path, topics_file: Path | None, runs: int) -> dict[str, Any]:
    """Each run's CPU and wall seconds per stage, and the last run's results."""
    papers = _papers(sources)
    taxonomy = load_taxonomy(topics_file) if topics_file else None
    timings = []
    shared = getattr(similarity_stage, "find_similarity_and_text", None)
    for _ in range(runs):
        cpu, wall = _cpu(), time.perf_counter()
        if shared is None:  # the code before one text model
            similarity, handed = find_similarity(papers), {}
        else:  # as the build runs the stages: the similarity stage's text model handed to topics
            similarity, text = shared(papers)
            handed = {"text": text}
        cpu_s, wall_s = _cpu(), time.perf_counter()
        topics = assign_topics(papers, taxonomy, **handed)
        cpu_t, wall_t = _cpu(), time.perf_counter()
        timings.append(
            {
                "similarity_cpu": cpu_s - cpu,
                "similarity_wall": wall_s - wall,
                "topics_cpu": cpu_t - cpu_s,
                "topics_wall": wall_t - wall_s,
            }
        )
    result = {
        p.id: {
            "topics": [a.slug for a in topics.assignments[p.id]],
            "similar": [[s.id, s.score] for s in similarity.similar[p.id]],
            "near": sorted(d.id for d in similarity.near_duplicates[p.id]),
        }
        for p in papers
    }
    return {"papers": len(papers), "timings": timings, "result": result}


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, int]:
    """Papers whose primary topic, topic list, similar list (ids), similar scores, near-duplicates differ."""
    ra, rb = a["result"], b["result"]
    assert ra.keys() == rb.keys()
    count = dict.fromkeys(("papers", "primary", "topic_list", "similar_ids", "similar_scores", "near"), 0)
    for pid, x in ra.items():
        y = rb[pid]
        count["papers"] += 1
        count["primary"] += x["topics"][:1] != y["topics"][:1]
        count["topic_list"] += x["topics"] != y["topics"]
        count["similar_ids"] += [s[0] for s in x["similar"]] != [s[0] for s in y["similar"]]
        count["similar_scores"] += x["similar"] != y["similar"]
        count["near"] += x["near"] != y["near"]
    return count


def main(argv: list[str]) -> None:
    if argv[0] == "--compare":
        a, b = (json.loads(Path(p).read_text()) for p in argv[1:3])
        print(json.dumps(compare(a, b)))
        return
    sources, out = Path(argv[0]), Path(argv[1])
    topics_file = Path(argv[argv.index("--topics") + 1]) if "--topics" in argv else None
    runs = int(argv[argv.index("--runs") + 1]) if "--runs" in argv else 1
    found = measure(sources, topics_file, runs)
    out.write_text(json.dumps(found))
    for t in found["timings"]:
        print(" ".join(f"{k}={v:.2f}" for k, v in t.items()))


if __name__ == "__main__":
    main(sys.argv[1:])
