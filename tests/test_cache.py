"""The one cache rule (generator/runtime/cache.py): what other code cached is never used.

In a copy of the `generator` package, builds run in a subprocess that imports the copy. After
a first build fills the cache, the copy is edited three ways (a near-duplicate threshold, a
template, a text helper); after each edit a build that finds the old cache must give the same
files as a build from scratch with the edited code. Also: the fingerprint follows the files'
bytes and nothing else, other code's folders are removed, and garbage in any stage's folder
costs a rebuild, not a failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.build import StageTimer, generate
from generator.config import BuildOptions
from generator.runtime import cache
from generator.website.page_cache import page_cache_dir
from generator.website.tree import read_tree

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TOPICS = ROOT / "content" / "topics.yml"
STAGES = ("read", "similarity", "topics", "search", "pages")

BUILD_SCRIPT = """
import hashlib, json, sys
from pathlib import Path

import generator
from generator.build import StageTimer, generate
from generator.runtime.cache import code_fingerprint
from generator.config import BuildOptions
from generator.website.page_cache import page_cache_dir
from generator.website.tree import read_tree

sources, cache_dir, topics = (Path(arg) for arg in sys.argv[1:4])
options = BuildOptions(sources=(sources,), cache_dir=cache_dir, topics_file=topics)
result = generate(options, StageTimer(show_progress=False))
near = result.corpus.similarity.near_duplicates
json.dump(
    {
        "package": str(Path(generator.__file__).parent),
        "fingerprint": code_fingerprint(),
        "near_duplicates": sum(len(links) for links in near.values()),
        "files": {rel: hashlib.sha256(data).hexdigest() for rel, data in read_tree(result.tree).items()},
    },
    sys.stdout,
)
"""


def _copy_package(dest: Path) -> Path:
    """A copy of the `generator` package under `dest` (the folder to put on PYTHONPATH)."""
    shutil.copytree(ROOT / "generator", dest / "generator", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert text.count(old) == 1, f"{old!r} not once in {path}"
    path.write_text(text.replace(old, new), "utf-8")


class _Builds:
    """Generator builds of `sources` by the package copy in `code`, each in its own process."""

    def __init__(self, work: Path, sources: Path) -> None:
        self.work = work
        self.code = _copy_package(work / "code")
        self.sources = sources
        self.script = work / "build.py"
        self.script.write_text(BUILD_SCRIPT, "utf-8")
        self.fresh = 0

    def start(self, cache_dir: Path) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONPATH": str(self.code), "NO_MKDOCS_2_WARNING": "1"}
        args = [sys.executable, str(self.script), str(self.sources), str(cache_dir), str(TOPICS)]
        return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish(self, process: subprocess.Popen[str]) -> dict[str, Any]:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-4000:]
        result: dict[str, Any] = json.loads(out)
        assert Path(result["package"]) == self.code / "generator"  # the copy, not the project's package
        return result

    def warm_and_cold(self, warm_cache: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        """A build reusing `warm_cache` and one from nothing, side by side."""
        self.fresh += 1
        warm = self.start(warm_cache)
        cold = self.start(self.work / f"cold-{self.fresh}")
        return self.finish(warm), self.finish(cold)


def _write_pairs(path: Path) -> None:
    """The labelled pairs of tests/fixtures/near_duplicates.yaml as a record file: near-duplicates to find."""
    pairs = yaml.safe_load((HERE / "fixtures" / "near_duplicates.yaml").read_text("utf-8"))
    records = [
        {"title": pair[side]["title"], "abstract": pair[side]["abstract"], "date": date}
        for pair in pairs
        for side, date in (("a", "2025-02-03"), ("b", "2025-02-04"))
    ]
    path.write_text(yaml.safe_dump(records, allow_unicode=True), "utf-8")


def _differing(first: dict[str, str], second: dict[str, str]) -> list[str]:
    return sorted(rel for rel in first.keys() | second.keys() if first.get(rel) != second.get(rel))


def _stage_folders(cache_dir: Path) -> dict[str, list[str]]:
    return {stage: sorted(p.name for p in (cache_dir / f"{stage}-cache").iterdir()) for stage in STAGES}


def test_after_an_edit_a_warm_build_equals_a_cold_build(tmp_path: Path) -> None:
    """Edit a threshold, a template, a text helper: the old cache is not used, the site is the new code's."""
    sources = tmp_path / "sources"
    shutil.copytree(ROOT / "content" / "sources", sources)
    _write_pairs(sources / "pairs.yaml")
    builds = _Builds(tmp_path, sources)
    code = builds.code / "generator"
    warm_cache = tmp_path / "warm"
    before = builds.finish(builds.start(warm_cache))  # fills the cache
    folders = _stage_folders(warm_cache)
    assert all(len(names) == 1 and names[0].endswith("-" + before["fingerprint"]) for names in folders.values())

    edits = {
        "near-duplicate threshold": (
            code / "analysis" / "neardup_verify.py",
            "\nMIN_EVIDENCE = 20\n",
            "\nMIN_EVIDENCE = 200\n",
        ),
        "template": (code / "templates" / "paper.html.j2", "<h2>Abstract</h2>", "<h2>Summary</h2>"),
        "text helper": (code / "text.py", 'return " ".join(text.split())', 'return " ".join(text.split()).lower()'),
    }
    for what, (path, old, new) in edits.items():
        _edit(path, old, new)
        warm, cold = builds.warm_and_cold(warm_cache)
        assert warm["fingerprint"] == cold["fingerprint"] != before["fingerprint"], what
        assert _differing(cold["files"], before["files"]), f"{what}: the edit changes nothing visible"
        assert _differing(warm["files"], cold["files"]) == [], what
        assert warm["near_duplicates"] == cold["near_duplicates"], what
        if what == "near-duplicate threshold":
            assert cold["near_duplicates"] != before["near_duplicates"]
        # The old code's folders are gone; each stage has the new code's, for the same options.
        renamed = {
            stage: [n.rsplit("-", 1)[0] + "-" + warm["fingerprint"] for n in names] for stage, names in folders.items()
        }
        assert _stage_folders(warm_cache) == renamed, what
        before = warm


def test_the_fingerprint_follows_the_files_bytes(tmp_path: Path) -> None:
    copy = _copy_package(tmp_path) / "generator"
    original = cache.fingerprint_of(copy)
    assert original == cache.fingerprint_of(cache.PACKAGE) == cache.code_fingerprint()
    # Not a change: times, bytecode, hidden files.
    os.utime(copy / "analysis" / "neardup.py", (1, 1))
    (copy / "__pycache__").mkdir(exist_ok=True)
    (copy / "__pycache__" / "neardup.cpython-311.pyc").write_bytes(b"\0" * 64)
    (copy / ".neardup.py.swp").write_bytes(b"editor")
    assert cache.fingerprint_of(copy) == original
    # A change: one byte of code, a template, data, a new file, a renamed one.
    seen = {original}
    for change in ("code", "template", "data", "new file", "renamed"):
        if change == "code":
            _edit(copy / "text.py", "def normalise_text", "def  normalise_text")
        elif change == "template":
            (copy / "templates" / "day.html.j2").write_bytes((copy / "templates" / "day.html.j2").read_bytes() + b" ")
        elif change == "data":
            (copy / "data").mkdir(exist_ok=True)
            (copy / "data" / "extra.txt").write_text("x", "utf-8")
        elif change == "new file":
            (copy / "extra.py").write_text("", "utf-8")
        else:
            (copy / "extra.py").rename(copy / "other.py")
        fingerprint = cache.fingerprint_of(copy)
        assert fingerprint not in seen, change
        seen.add(fingerprint)
    # The same bytes again: the same fingerprint.
    shutil.rmtree(copy)
    _copy_package(tmp_path)
    assert cache.fingerprint_of(copy) == original


def test_stage_dir_keeps_only_this_code(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    base = root / "pages-cache"
    base.mkdir(parents=True)
    (base / "pages.pickle").write_bytes(b"a cache from before the rule")
    (base / "0123456789ab-00000000000000000000").mkdir()  # another code's folder
    (base / "0123456789ab-00000000000000000000" / "pages.pickle").write_bytes(b"x")
    first = cache.stage_dir(root, "pages", ["site", "https://a.example/"])
    assert first.is_dir() and first.parent == base
    assert first.name == f"{cache.options_key(['site', 'https://a.example/'])}-{cache.code_fingerprint()}"
    assert sorted(base.iterdir()) == [first]
    # Other options of the same code: the most recently used one is kept as well (serve and build).
    second = cache.stage_dir(root, "pages", ["site", "http://127.0.0.1:8000/"])
    assert second != first and sorted(base.iterdir()) == sorted([first, second])
    assert cache.stage_dir(root, "pages", ["site", "https://a.example/"]) == first
    third = cache.stage_dir(root, "pages", ["other"])
    assert sorted(base.iterdir()) == sorted([first, third])
    # A file where the stage's folder should be is replaced.
    (root / "read-cache").write_text("not a folder", "utf-8")
    assert cache.stage_dir(root, "read").is_dir()


def test_garbage_in_every_stage_folder_is_a_rebuild(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    shutil.copytree(HERE / "fixtures" / "mini", sources)
    shutil.copytree(HERE / "fixtures" / "extra", sources, dirs_exist_ok=True)
    options = BuildOptions(sources=(sources,), cache_dir=tmp_path / "cache", topics_file=TOPICS)
    expected = read_tree(generate(options, StageTimer(show_progress=False)).tree)
    folders = {stage: cache.stage_dir(options.cache_dir, stage) for stage in STAGES if stage != "pages"}
    folders["pages"] = page_cache_dir(options)
    for damage in ("garbage", "truncated", "empty"):
        for stage, folder in folders.items():
            files = [path for path in folder.rglob("*") if path.is_file()]
            assert files, f"{stage}: nothing cached"
            for path in files:
                data = path.read_bytes()
                if damage == "garbage":
                    path.write_bytes(hashlib.sha256(data).digest() * 4)
                else:
                    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"")
            (folder / "stray.pickle").write_bytes(b"\x80\x05garbage")
        assert read_tree(generate(options, StageTimer(show_progress=False)).tree) == expected, damage


@pytest.mark.parametrize("stage", STAGES)
def test_stage_folders_are_named_by_stage_options_and_code(tmp_path: Path, stage: str) -> None:
    folder = cache.stage_dir(tmp_path, stage, {"a": 1})
    assert folder.parent.name == f"{stage}-cache"
    assert folder.name == f"{cache.options_key({'a': 1})}-{cache.code_fingerprint()}"
