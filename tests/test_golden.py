"""Golden files: the small fixture corpus in tests/fixtures/mini must produce exactly the
Markdown tree and papers.json in tests/golden/.

Regenerate after an intended change, then review the diff:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from generator.build import StageTimer, generate
from generator.config import BuildOptions
from generator.website.tree import read_tree

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
COMPARED = (".md",)
COMPARED_NAMES = ("papers.json",)


def _tree(root: Path) -> dict[str, bytes]:
    return {
        rel: data
        for rel, data in read_tree(root).items()
        if Path(rel).suffix in COMPARED or Path(rel).name in COMPARED_NAMES
    }


def test_fixture_corpus_matches_golden_tree(tmp_path: Path) -> None:
    options = BuildOptions(
        sources=(HERE / "fixtures" / "mini",),
        cache_dir=tmp_path / "cache",
        topics_file=HERE.parent / "content" / "topics.yml",
        site_name="mini digest",
        site_url="https://digest.example.org/",
    )
    result = generate(options, StageTimer(show_progress=False))
    produced = _tree(result.tree)
    if os.environ.get("UPDATE_GOLDEN"):
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for rel, data in produced.items():
            (GOLDEN / rel).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / rel).write_bytes(data)
    expected = {
        p.relative_to(GOLDEN).as_posix(): p.read_bytes()
        for p in sorted(GOLDEN.rglob("*"))
        if p.is_file() and (p.suffix in COMPARED or p.name in COMPARED_NAMES)
    }
    assert sorted(produced) == sorted(expected)
    for rel in expected:
        assert produced[rel].decode() == expected[rel].decode(), rel
    assert len(result.corpus.papers) == 5
