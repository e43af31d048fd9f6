"""A seeded synthetic corpus of daily listing dumps (layout B), with planted duplicates, for benchmarks.

`write_corpus(n, out_dir)` writes `n` distinct made-up papers as one `YYYY-MM-DD.txt` file a
day (40 to 120 entries each) in listing layout B, the format of the newer seed dumps::

    new
    <blank>
    Get trending papers in your email inbox!
    <blank>
    Subscribe
    <blank>
    byAK and the research community
    <blank>
    Jan 5
    <blank>
    <title>
    <blank>
    <abstract>
    <blank>
    ...
    <abstract of the last entry>

Every file ends with a single newline after the last abstract. On top of the `n` papers it
plants, at known places, exact duplicates (an entry repeated verbatim 1-7 days after its
first appearance) and near-duplicates of three kinds, also 1-7 days later:

- `edited`: same title, one sentence of the abstract dropped, added or reworded;
- `truncated`: same title, abstract cut mid-way and ending in "…" or "...";
- `retitled`: same abstract, the subtitle after the paper's name replaced.

What was planted comes back as a `CorpusPlan` and is also written *next to* the sources
folder, as `<out_dir>.plan.json` (never inside it: a `.json` file in a sources folder would
be read as a record file).

Text comes from `generator/data/bench_pool.json` (see `benchmarks.pool`): real seed
sentences grouped into topics. A synthetic abstract keeps to one topic and mixes whole seed
sentences with sentences spliced from two halves, so word statistics are realistic while
unrelated synthetic papers stay far apart for near-duplicate detection. Each title starts
with a made-up name that is unique to the paper (a seeded permutation of its index spelled
in syllables), so no two distinct papers share a title even ignoring case and punctuation.

Everything is drawn from one `random.Random(seed)` in a fixed order and never depends on
`hash()` or set order: the same arguments give byte-identical files on any machine.
Regenerate from the command line with `python -m benchmarks.corpus N OUT_DIR [--seed S]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.pool import Pool, Topic, load_pool

log = logging.getLogger(__name__)

MIN_PER_DAY = 40
MAX_PER_DAY = 120
MAX_DAYS_LATER = 7
MAX_PLANTED_SHARE = 0.25
SPLICED_SHARE = 0.85
"""Share of abstract sentences spliced from two halves; the rest are whole seed sentences."""
HEADER = "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nbyAK and the research community\n\n"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAY_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}\.txt$")

_CONSONANTS = "bcdfghjklmnprstvwxyz"
_VOWELS = "aeiou"
_SYLLABLES = tuple(c + v for c in _CONSONANTS for v in _VOWELS)  # 100 two-letter syllables
_NAME_SUFFIXES = ("LM", "Net", "Bench", "Agent", "X", "R1", "VL", "Former", "GPT", "Zero", "Lite", "Pro")
_SPLIT_WORDS = frozenset(
    {"which", "that", "by", "to", "and", "with", "for", "in", "on", "while", "using", "through", "via"}
    | {"where", "whereas", "but", "thereby"}
)
_TITLE_PATTERNS = (
    "{n}: {p} for {q}",
    "{n}: {p} with {q}",
    "{n}: Towards {p} via {q}",
    "{n}: {p}",
    "{n}: Learning {p} from {q}",
    "{n}: Scaling {p} for {q}",
    "{n}: {p} in {q}",
    "{n}: {p} and {q}",
    "{n}: Rethinking {p} through {q}",
    "{n}: A Benchmark for {p}",
)
_NAME_SENTENCES = (
    "We introduce {n}, a {p} for {q}.",
    "To this end, we propose {n}, a framework for {p}.",
    "We present {n}, which combines {p} with {q}.",
    "In this paper, we propose {n}, a new approach to {p}.",
    "Building on this observation, we develop {n} to address {p} in {q}.",
)
_REWORDS = {
    "propose": "present",
    "present": "introduce",
    "novel": "new",
    "demonstrate": "show",
    "show": "demonstrate",
    "significantly": "substantially",
    "method": "approach",
    "approach": "method",
    "results": "findings",
    "improves": "enhances",
    "existing": "prior",
    "framework": "pipeline",
    "performance": "accuracy",
    "large": "big",
    "however": "yet",
    "model": "network",
    "models": "networks",
}
_REWORD = re.compile(r"\b(" + "|".join(_REWORDS) + r")\b")
NEAR_KINDS = ("edited", "truncated", "retitled")


@dataclass(frozen=True)
class CorpusPlan:
    """What `write_corpus` wrote: the ground truth a benchmark checks the pipeline against."""

    papers: int
    """Distinct papers intended, before planted duplicates."""
    records: int
    """Entries written in total: papers + exact_duplicates + len(near_duplicates)."""
    days: int
    """Number of daily files (consecutive days from `start`)."""
    exact_duplicates: int
    """Entries that repeat an earlier paper verbatim 1-7 days later."""
    near_duplicates: list[tuple[str, str, str]]
    """Planted pairs (title of the original, title of the variant, kind), kind one of NEAR_KINDS."""
    files: list[str]
    """File names written, in date order, relative to the output folder."""


@dataclass
class _Paper:
    title: str
    sentences: list[str]
    name: str
    topic: int

    @property
    def abstract(self) -> str:
        return " ".join(self.sentences)


class _Writer:
    """Draws titles and abstracts from the pool with one seeded generator."""

    def __init__(self, pool: Pool, rng: random.Random) -> None:
        self.rng = rng
        self.topics = pool.topics
        self.halves = [_halves(topic) for topic in pool.topics]
        # Tails come from every topic: the head carries the topic's vocabulary, and the wider
        # choice keeps unrelated synthetic abstracts from sharing long runs of words.
        self.tails = [tail for _, tails in self.halves for tail in tails]

    def phrases(self, topic: int) -> tuple[str, str]:
        """Two different title phrases of the topic."""
        choices = self.topics[topic].phrases
        p, q = self.rng.choice(choices), self.rng.choice(choices)
        while q == p and len(choices) > 1:
            q = self.rng.choice(choices)
        return p, q

    def title(self, name: str, topic: int) -> str:
        p, q = self.phrases(topic)
        return self.rng.choice(_TITLE_PATTERNS).format(n=name, p=p, q=q)

    def sentence(self, topic: int) -> str:
        if self.rng.random() < SPLICED_SHARE:
            return f"{self.rng.choice(self.halves[topic][0])} {self.rng.choice(self.tails)}"
        return self.rng.choice(self.topics[topic].sentences)

    def name_sentence(self, name: str, topic: int) -> str:
        p, q = (_in_sentence(phrase) for phrase in self.phrases(topic))
        return self.rng.choice(_NAME_SENTENCES).format(n=name, p=p, q=q)

    def paper(self, name: str) -> _Paper:
        topic = self.rng.randrange(len(self.topics))
        count = self.rng.randint(4, 10)
        sentences = [self.sentence(topic) for _ in range(count - 1)]
        sentences.insert(self.rng.randint(1, min(3, len(sentences))), self.name_sentence(name, topic))
        return _Paper(title=self.title(name, topic), sentences=sentences, name=name, topic=topic)

    def variant(self, paper: _Paper, kind: str) -> _Paper:
        """A near-duplicate of `paper` of the given kind (always different from it)."""
        rng = self.rng
        if kind == "retitled":
            title = paper.title
            while title == paper.title:
                title = self.title(paper.name, paper.topic)
            return _Paper(title, list(paper.sentences), paper.name, paper.topic)
        if kind == "truncated":
            text = paper.abstract
            cut = text.rfind(" ", 0, int(len(text) * rng.uniform(0.4, 0.8)))
            cut = cut if cut > 0 else len(text) // 2
            ellipsis = rng.choice(("…", "..."))
            return _Paper(paper.title, [text[:cut].rstrip(" ,;:.") + ellipsis], paper.name, paper.topic)
        sentences = list(paper.sentences)
        while sentences == paper.sentences:
            operation = rng.choice(("drop", "add", "reword"))
            droppable = [i for i, s in enumerate(sentences) if i and paper.name not in s]
            if operation == "drop" and len(sentences) >= 5 and droppable:
                del sentences[rng.choice(droppable)]
            elif operation == "add":
                sentences.insert(rng.randint(1, len(sentences)), self.sentence(paper.topic))
            elif operation == "reword":
                where = rng.randrange(len(sentences))
                reworded = _REWORD.sub(lambda m: _REWORDS[m.group(1)], sentences[where])
                sentences[where] = reworded if reworded != sentences[where] else self.sentence(paper.topic)
        return _Paper(paper.title, sentences, paper.name, paper.topic)


def _halves(topic: Topic) -> tuple[list[str], list[str]]:
    """Heads and tails of the topic's sentences, split at a joining word near the middle."""
    heads, tails = [], []
    for sentence in topic.sentences:
        words = sentence.split()
        middle = len(words) / 2
        cuts = [
            k
            for k in range(max(3, len(words) // 4), min(len(words) - 3, 3 * len(words) // 4) + 1)
            if words[k].lower() in _SPLIT_WORDS
        ]
        if cuts:
            k = min(cuts, key=lambda k: (abs(k - middle), k))
            heads.append(" ".join(words[:k]))
            tails.append(" ".join(words[k:]))
    return heads, tails


def _in_sentence(phrase: str) -> str:
    """A title phrase as it reads inside a sentence: ordinary capitalised words lower-cased."""
    return " ".join(w.lower() if w[1:].islower() else w for w in phrase.split())


def _names(n: int, rng: random.Random) -> list[str]:
    """`n` distinct names: a seeded permutation of 0..M-1 spelled as fixed-length syllables, styled.

    The letters of a name are fixed-length, so the casefolded letters of any title starting
    with it are unique even after styling (capitals, a suffix).
    """
    length = max(2, math.ceil(math.log(max(n, 2) * 4, len(_SYLLABLES))))
    size = len(_SYLLABLES) ** length
    step = rng.randrange(1, size)
    while math.gcd(step, size) != 1:
        step += 1
    offset = rng.randrange(size)
    names = []
    for index in range(n):
        code = (index * step + offset) % size
        syllables = []
        for _ in range(length):
            code, digit = divmod(code, len(_SYLLABLES))
            syllables.append(_SYLLABLES[digit])
        style = rng.random()
        if style < 0.5:
            name = "".join(syllables).capitalize()
        elif style < 0.7:
            name = "".join(syllables).upper()
        elif style < 0.85:
            name = "".join(s.capitalize() for s in syllables)
        else:
            name = "".join(syllables).capitalize() + "-" + rng.choice(_NAME_SUFFIXES)
        names.append(name)
    return names


def _day_sizes(total: int, rng: random.Random) -> list[int]:
    """Entries per day, each 40-120 (a single smaller day only when `total` is under 40)."""
    sizes = []
    remaining = total
    while remaining > MAX_PER_DAY:
        size = rng.randint(MIN_PER_DAY, MAX_PER_DAY)
        if remaining - size < MIN_PER_DAY:
            size = remaining - MIN_PER_DAY
        sizes.append(size)
        remaining -= size
    sizes.append(remaining)
    return sizes


def _extras_per_day(sizes: list[int], extras: int) -> list[int]:
    """Planted entries per day, proportional to the day's size; none on the first day."""
    weight = sum(sizes[1:])
    result, done, cumulative = [0], 0, 0
    for size in sizes[1:]:
        cumulative += size
        target = (2 * extras * cumulative + weight) // (2 * weight)
        result.append(target - done)
        done = target
    return result


def _date_line(day: dt.date) -> str:
    return f"{_MONTHS[day.month - 1]} {day.day}"


def write_corpus(
    n: int,
    out_dir: Path,
    *,
    seed: int = 0,
    start: dt.date = dt.date(2024, 1, 1),
    dup_share: float = 0.08,
    near_share: float = 0.03,
    overwrite: bool = False,
) -> CorpusPlan:
    """Write `n` synthetic papers plus planted duplicates as daily layout-B dumps into `out_dir`.

    `dup_share` and `near_share` are the numbers of planted exact and near-duplicate entries
    as shares of `n` (rounded; together at most 0.25); a corpus that fits in one day gets none.
    `out_dir` must be empty or missing; with `overwrite=True` its `YYYY-MM-DD.txt` files are
    deleted first (nothing else). Returns the plan, also written to `<out_dir>.plan.json`.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, not {n}")
    if dup_share < 0 or near_share < 0 or dup_share + near_share > MAX_PLANTED_SHARE:
        raise ValueError(f"dup_share and near_share must be >= 0 and sum to at most {MAX_PLANTED_SHARE}")
    _prepare(out_dir, overwrite)
    rng = random.Random(seed)
    writer = _Writer(load_pool(), rng)

    exact, near = round(n * dup_share), round(n * near_share)
    sizes = _day_sizes(n + exact + near, rng)
    if len(sizes) == 1:
        exact = near = 0
        sizes = [n]
    kinds = ["exact"] * exact + [rng.choice(NEAR_KINDS) for _ in range(near)]
    rng.shuffle(kinds)
    extras = _extras_per_day(sizes, exact + near)

    names = _names(n, rng)
    papers: list[_Paper] = []
    listed: list[range] = []  # per day: the papers first listed that day
    unused: list[list[int]] = []  # per day: those of them not repeated yet
    near_pairs: list[tuple[str, str, str]] = []
    files: list[str] = []
    next_kind = 0
    for day_index, (size, extra) in enumerate(zip(sizes, extras, strict=True)):
        entries: list[_Paper] = []
        first = len(papers)
        for index in range(first, first + size - extra):
            papers.append(writer.paper(names[index]))
            entries.append(papers[-1])
        for _ in range(extra):
            source = _pick_source(unused, listed, day_index, rng)
            kind = kinds[next_kind]
            next_kind += 1
            if kind == "exact":
                entries.append(papers[source])
            else:
                variant = writer.variant(papers[source], kind)
                near_pairs.append((papers[source].title, variant.title, kind))
                entries.append(variant)
        listed.append(range(first, len(papers)))
        unused.append(list(listed[-1]))
        rng.shuffle(entries)
        day = start + dt.timedelta(days=day_index)
        body = "\n\n".join(f"{p.title}\n\n{p.abstract}" for p in entries)
        name = f"{day.isoformat()}.txt"
        (out_dir / name).write_bytes(f"{HEADER}{_date_line(day)}\n\n{body}\n".encode())
        files.append(name)

    plan = CorpusPlan(
        papers=n,
        records=sum(sizes),
        days=len(sizes),
        exact_duplicates=exact,
        near_duplicates=near_pairs,
        files=files,
    )
    save_plan(plan, plan_path(out_dir), seed=seed, start=start)
    log.info("wrote %d records (%d papers) over %d days to %s", plan.records, n, plan.days, out_dir)
    return plan


def _prepare(out_dir: Path, overwrite: bool) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    existing = sorted(out_dir.iterdir())
    if existing and not overwrite:
        raise FileExistsError(f"{out_dir} is not empty (pass overwrite=True to replace its day files)")
    for path in existing:
        if path.is_file() and _DAY_FILE.match(path.name):
            path.unlink()


def _pick_source(unused: list[list[int]], listed: list[range], day_index: int, rng: random.Random) -> int:
    """A paper first listed 1-7 days before `day_index`, preferring one not repeated yet."""
    window = range(max(0, day_index - MAX_DAYS_LATER), day_index)
    open_days = [d for d in window if unused[d]]
    if not open_days:  # only with very high shares: repeat an already repeated paper
        return rng.choice(listed[rng.choice(window)])
    candidates = unused[rng.choice(open_days)]
    at = rng.randrange(len(candidates))
    candidates[at], candidates[-1] = candidates[-1], candidates[at]
    return candidates.pop()


def plan_path(out_dir: Path) -> Path:
    """Where the plan of a corpus in `out_dir` goes: beside the folder, `<out_dir>.plan.json`."""
    return out_dir.parent / f"{out_dir.name}.plan.json"


def save_plan(plan: CorpusPlan, path: Path, *, seed: int, start: dt.date) -> None:
    """Write the plan (and the seed and start date that made it) as JSON."""
    data = {"seed": seed, "start": start.isoformat(), **asdict(plan)}
    path.write_bytes((json.dumps(data, ensure_ascii=False, indent=1) + "\n").encode("utf-8"))


def load_plan(path: Path) -> CorpusPlan:
    """Read a plan written by `save_plan`."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return CorpusPlan(
        papers=data["papers"],
        records=data["records"],
        days=data["days"],
        exact_duplicates=data["exact_duplicates"],
        near_duplicates=[(a, b, kind) for a, b, kind in data["near_duplicates"]],
        files=list(data["files"]),
    )


def main(argv: list[str] | None = None) -> None:
    """Command line: `python -m benchmarks.corpus N OUT_DIR [--seed S] [--start DATE] [--overwrite]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("n", type=int, help="distinct papers to write")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2024, 1, 1))
    parser.add_argument("--overwrite", action="store_true", help="replace the day files already in OUT_DIR")
    args = parser.parse_args(argv)
    plan = write_corpus(args.n, args.out_dir, seed=args.seed, start=args.start, overwrite=args.overwrite)
    print(
        f"{plan.records} records ({plan.papers} papers, {plan.exact_duplicates} exact and "
        f"{len(plan.near_duplicates)} near duplicates) in {plan.days} files; plan: {plan_path(args.out_dir)}"
    )


if __name__ == "__main__":
    main()
