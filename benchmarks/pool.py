"""The text pool behind the synthetic benchmark corpus: real sentences and title phrases by topic.

The pool is extracted once from the seed listings in `content/sources/` and kept as
`benchmarks/bench_pool.json`, so the benchmark does not depend on the seed corpus staying as it
is. Regenerate it (only needed when the seed corpus changes) with:

    .venv/bin/python -m benchmarks.pool

Extraction groups the seed papers into topics (TF-IDF + k-means, fixed random state), so a
synthetic paper that draws its title and sentences from one topic reads like one subject
and the topic stages see real structure. The JSON is sorted and indented so a rebuild
shows up as a readable diff.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from generator.text import normalise_text, title_key

log = logging.getLogger(__name__)

POOL_VERSION = 1
REPO_ROOT = Path(__file__).resolve().parents[1]
SEED_DIR = REPO_ROOT / "content" / "sources"
POOL_PATH = Path(__file__).with_name("bench_pool.json")

_LAYOUT_B_HEADER = 5  # non-blank header lines of a layout-B dump: new, Get..., Subscribe, byAK..., date
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
# Words that join noun phrases in a title; splitting on them leaves phrases to recombine.
_TITLE_JOINERS = re.compile(
    r"\s+(?:for|with|via|in|of|on|from|to|and|using|through|by|towards?|a|an|the|at|as|into|"
    r"under|beyond|without|is|are|do|does|can|what|how|when|why|or|vs\.?)\s+|[:,?!;]\s*|\s+-\s+",
    re.IGNORECASE,
)
_LEADING_JOINER = re.compile(r"^(?:(?:a|an|the|and|or|but|towards?|for|with|on|of|in|to)\s+)+", re.IGNORECASE)


@dataclass(frozen=True)
class Topic:
    """Material for papers on one subject."""

    sentences: tuple[str, ...]
    """Whole sentences from the seed abstracts of this topic."""
    phrases: tuple[str, ...]
    """Title-cased noun phrases (2-5 words) from the seed titles of this topic."""


@dataclass(frozen=True)
class Pool:
    """The whole pool: a few topics, each with sentences and title phrases."""

    topics: tuple[Topic, ...]
    """Topics in a fixed order."""


def read_seed_papers(paths: Iterable[Path]) -> list[tuple[str, str]]:
    """(title, abstract) pairs from seed dumps in listing layout A or B, first copy of each title.

    A deliberately small parser for the known seed files, not the project's reader: layout A
    has two header lines and the first title glued to `Subscribe`; layout B has five
    blank-separated header lines. After the header, non-blank lines alternate title, abstract.
    """
    papers: list[tuple[str, str]] = []
    seen: set[str] = set()
    for path in sorted(paths):
        lines = path.read_text(encoding="utf-8").splitlines()
        if lines and lines[0].strip() == "new":
            body = [line for line in lines if line.strip()][_LAYOUT_B_HEADER:]
        else:
            body = [line for line in lines[2:] if line.strip()]
            if body and body[0].startswith("Subscribe"):
                body[0] = body[0][len("Subscribe") :]
        for title, abstract in zip(body[0::2], body[1::2], strict=False):
            title, abstract = normalise_text(title), normalise_text(abstract)
            key = title_key(title)
            if not key or key in seen or len(abstract) < 100:
                continue
            seen.add(key)
            papers.append((title, abstract))
    return papers


def split_sentences(abstract: str) -> list[str]:
    """Sentences of an abstract that are usable on their own (complete, not too short or long)."""
    return [
        s
        for s in _SENTENCE_END.split(abstract)
        if 40 <= len(s) <= 400 and s[-1] in ".!?" and "..." not in s and "…" not in s
    ]


def title_phrases(title: str) -> list[str]:
    """Noun-phrase-like pieces of a title, title-cased, without the part before a colon."""
    _, sep, rest = title.partition(":")
    text = rest if sep and rest.strip() else title
    phrases = []
    for piece in _TITLE_JOINERS.split(text):
        piece = _LEADING_JOINER.sub("", piece.strip(" .'\"()[]"))
        words = piece.split()
        # A lone word left between joiners ("Fast", "Simulating", "Decade") is rarely a subject.
        if not 2 <= len(words) <= 5 or not any(len(w) > 3 for w in words):
            continue
        phrases.append(" ".join(w[:1].upper() + w[1:] if w[:1].islower() else w for w in words))
    return phrases


def extract_pool(papers: Sequence[tuple[str, str]], *, topics: int = 8, max_sentences: int = 360) -> Pool:
    """Group papers into topics by their abstracts and collect each topic's sentences and phrases.

    At most `max_sentences` per topic (a seeded sample) keeps the shipped JSON compact; the
    corpus generator splices sentence halves, so a few hundred sentences give plenty of variety.
    """
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer

    matrix = TfidfVectorizer(stop_words="english", min_df=2, sublinear_tf=True).fit_transform(
        [f"{t} {a}" for t, a in papers]
    )
    labels = KMeans(n_clusters=topics, random_state=0, n_init=10).fit_predict(matrix)
    groups: list[list[tuple[str, str]]] = [[] for _ in range(topics)]
    for paper, label in zip(papers, labels, strict=True):
        groups[int(label)].append(paper)
    result = []
    for group in sorted(groups, key=len, reverse=True):
        sentences = sorted({s for _, a in group for s in split_sentences(a)})
        if len(sentences) > max_sentences:
            sentences = sorted(random.Random(0).sample(sentences, max_sentences))
        phrases = sorted({p for t, _ in group for p in title_phrases(t)})
        result.append(Topic(sentences=tuple(sentences), phrases=tuple(phrases)))
        log.info(
            "topic %d: %d papers, %d sentences, %d phrases",
            len(result),
            len(group),
            len(sentences),
            len(phrases),
        )
    return Pool(topics=tuple(result))


def save_pool(pool: Pool, path: Path = POOL_PATH) -> None:
    """Write the pool as sorted, indented JSON."""
    data = {
        "version": POOL_VERSION,
        "about": "Text pool for benchmarks.corpus; rebuild with `python -m benchmarks.pool`.",
        "topics": [{"sentences": list(t.sentences), "phrases": list(t.phrases)} for t in pool.topics],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((json.dumps(data, ensure_ascii=False, indent=1) + "\n").encode("utf-8"))


def load_pool() -> Pool:
    """The kept pool (`benchmarks/bench_pool.json`)."""
    text = POOL_PATH.read_text(encoding="utf-8")
    data = json.loads(text)
    if data.get("version") != POOL_VERSION:
        raise ValueError(f"bench_pool.json has version {data.get('version')!r}, expected {POOL_VERSION}")
    return Pool(
        topics=tuple(Topic(sentences=tuple(t["sentences"]), phrases=tuple(t["phrases"])) for t in data["topics"])
    )


def rebuild_pool(seed_dir: Path = SEED_DIR, path: Path = POOL_PATH) -> Pool:
    """Extract the pool from the seed listings in `seed_dir` and write it to `path`."""
    papers = read_seed_papers(seed_dir.glob("*.txt"))
    pool = extract_pool(papers)
    save_pool(pool, path)
    return pool


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    built = rebuild_pool()
    print(f"wrote {POOL_PATH}: {len(built.topics)} topics")
