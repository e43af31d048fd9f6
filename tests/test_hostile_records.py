"""No single record may stop a build or cost unbounded work (issue 19).

Each case of the second hostile round is reported with its file and line or record, and the
rest of the corpus still builds: through `paper-digest check` and `build` as a user runs them
(the cases beside the good listing of test_bad_input), and through the stages for the cases that
need a corpus of their own (no topic matches, year 1). Limits are tested by counts and sizes;
the few subprocesses have generous time-outs that only catch a hang.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from conftest import ROOT
from test_bad_input import (
    BASE_OPTIONS,
    LISTING_HEADER,
    Case,
    built_titles,
    check_and_build,
    crashed,
    make_project,
)

from generator.analysis.discover import _make_topics
from generator.analysis.taxonomy import parse_taxonomy
from generator.build import StageTimer, generate
from generator.config import BuildOptions
from generator.errors import ConfigError, DigestError, Problem
from generator.ingest.readers import read_sources
from generator.ingest.records import merge_records
from generator.ingest.source_text import MAX_ABSTRACT_CHARS, MAX_FILE_BYTES, MAX_TITLE_CHARS
from generator.models import Appearance, Corpus, Paper, Similarity, Source, Topic, Topics
from generator.text import RESERVED_SEGMENTS, abstract_key, content_hash, normalise_text, title_key, unique_segment
from generator.website.charts import MAX_COLUMNS, topic_timeline_chart
from generator.website.meta import first_sentence
from generator.website.page_model import check_page_owners, day_md
from generator.website.tree import read_tree

TOPICS = ROOT / "content" / "topics.yml"


DEFAULT_ABSTRACT = "We study a thing. It works well."


def record(title: str, abstract: str = DEFAULT_ABSTRACT, **fields: object) -> dict[str, object]:
    return {"title": title, "abstract": abstract, **fields}


def json_file(*records: dict[str, object]) -> str:
    """JSON as a tool writes it: non-ASCII (lone surrogates too) as `\\uXXXX` escapes."""
    return json.dumps(list(records), ensure_ascii=True)


def _clash_suffix(title: str, abstract: str) -> str:
    """The id suffix records.py gives a paper whose id clashes (computed the same way)."""
    return content_hash(title_key(title), abstract_key(abstract), length=6)


ALIAS_TITLE = "word " * 20_000

CASES = {
    "lone surrogates in every field": Case(
        r"s\.json \(record 1\): field\(s\) abstract, authors, id, source, title, url hold lone UTF-16 surrogates",
        {
            "s.json": json_file(
                record(
                    "A bad \ud800 title",
                    "An abstract \udfff here. It is fine.",
                    authors=["Ann \ud800 Lee"],
                    id="x\ud800y",
                    source="src\ud800.txt",
                    url="https://example.org/\ud800",
                )
            )
        },
        check_exit=0,
    ),
    "lone surrogate in a YAML title": Case(
        r"s\.yaml:1 \(record 1\): field\(s\) title hold lone UTF-16 surrogates",
        {"s.yaml": '- title: "A YAML \\ud800 title"\n  abstract: "Fine. Really."\n'},
        check_exit=0,
    ),
    "file name that is not UTF-8": Case(
        r"the file name is not UTF-8 or holds control or invisible characters; shown as '2025-06-01-\ufffd\.txt'",
        {"2025-06-01-\udcff.txt": LISTING_HEADER + "June 1\n\nA Paper From A Latin-1 Name\n\nFine. Really.\n"},
        check_exit=0,
    ),
    "control characters in a file name": Case(
        r"shown as '2025-06-02-\[31m\.txt'",
        {"2025-06-02-\x1b[31m.txt": LISTING_HEADER + "June 2\n\nA Paper From A Coloured Name\n\nFine. Really.\n"},
        check_exit=0,
    ),
    "ids that slugify alike": Case(
        r"ids\.json:\d: id 'a-b' is shared",
        {
            "ids.json": json_file(
                record("First Paper A Slash B", id="a/b"),
                record("Second Paper A Dash B", id="a-b"),
                # the id the first would get as its suffixed one
                record(
                    "Third Paper",
                    id="a-b-" + _clash_suffix("First Paper A Slash B", "We study a thing. It works well."),
                ),
            )
        },
        check_exit=0,
    ),
    "reserved ids": Case(
        r"dev\.json:1: id 'con' is reserved",
        {"dev.json": json_file(record("Con Paper", id="con"), record("Aux Paper", id="aux"), record("Ix", id="index"))},
        check_exit=0,
    ),
    "a source named index": Case(
        r"index\.txt: the digest page digests/index/ is taken .*; this source's page is digests/index-[0-9a-f]{6}/",
        {"index.txt": LISTING_HEADER + "June 3\n\nA Paper Listed In Index Dot Txt\n\nFine. Really.\n"},
        check_exit=0,
    ),
    "sources whose slugs collide": Case(
        r"a-b\.txt: the digest page digests/a-b/ is taken",
        {
            name: LISTING_HEADER + f"June 4\n\nA Paper Of Source {number}\n\nFine. Really.\n"
            for number, name in enumerate(("a b.txt", "a-b.txt", f"a-b-{content_hash('a-b.txt', length=6)}.txt"))
        },
        check_exit=0,
    ),
    "an override for a source that does not exist": Case(
        r"mkdocs\.yml: overrides: 'nope\.txt' names no source that was read; ignored",
        options={**BASE_OPTIONS, "overrides": {"nope.txt": {"title": "Nope"}}},
        check_exit=0,
    ),
    "an abstract of 4 MB": Case(
        r"eg\.json \(record 1\): abstract of 3,999,999 characters cut to 10,000",
        {"eg.json": json_file(record("An E.g. Paper", "e.g. " * 800_000))},
        check_exit=0,
    ),
    "a title of 100 KB": Case(
        r"long\.yaml:1 \(record 1\): title of 99,999 characters cut to 2,000",
        {"long.yaml": f"- title: {'t' * 99_990} long end\n  abstract: Fine. Really.\n"},
        check_exit=0,
    ),
    "YAML aliases of a 100 KB title": Case(
        r"alias\.yaml:\d+ \(record \d+\): YAML aliases expand this record to 200,0\d\d characters, past the file's "
        r"limit of 1,000,000 characters added by aliases; skipped",
        {
            "alias.yaml": f'- {{title: &t "{ALIAS_TITLE}", abstract: &a "{ALIAS_TITLE}", id: p0}}\n'
            + "".join(f"- {{title: *t, abstract: *a, id: p{i}}}\n" for i in range(1, 900))
        },
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_record_is_reported_and_the_rest_builds(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name]
    assert case.build_exit == 0  # every case here is skipped or built, never fatal
    project = make_project(tmp_path / "project", case.files, case.options)
    monkeypatch.chdir(project)
    check_and_build(case, project)
    _assert_site_is_clean(project / "site")


def _assert_site_is_clean(site: Path) -> None:
    """Every file is UTF-8 without lone surrogates or control characters; no path is reserved."""
    for path in site.rglob("*"):
        parts = path.relative_to(site).parts
        assert not any(part.split(".")[0].lower() in RESERVED_SEGMENTS - {"index"} for part in parts), path
        assert not any(re.search(r"[\x00-\x1f\x7f]", part) for part in parts), path
        if path.suffix in {".html", ".json", ".xml", ".bib"}:
            text = path.read_bytes().decode("utf-8")  # raises on anything that is not UTF-8
            assert not re.search("[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f]", text), path


def test_the_papers_of_hostile_ids_and_sources_each_keep_a_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_bad_input import invoke_cli

    files = {
        **CASES["ids that slugify alike"].files,
        **CASES["reserved ids"].files,
        **CASES["sources whose slugs collide"].files,
    }
    files.update(CASES["a source named index"].files)
    project = make_project(tmp_path / "project", files)
    monkeypatch.chdir(project)
    built = invoke_cli("build")
    assert built.exit_code == 0, built.output[-3000:]
    site = project / "site"
    papers = json.loads((site / "papers.json").read_text("utf-8"))["papers"]
    ids = [paper["id"] for paper in papers]
    assert len(ids) == len(set(ids)) == 1 + 3 + 3 + 3 + 1
    assert not set(ids) & RESERVED_SEGMENTS
    for paper_id in ids:
        assert (site / "papers" / paper_id / "index.html").is_file()
    digests = sorted(p.name for p in (site / "digests").iterdir() if p.is_dir())
    assert len(digests) == 7, digests  # the good listing, index.txt, the three a-b sources, ids.json, dev.json
    listed = re.findall(r'href="([^"]+)/"', (site / "digests" / "index.html").read_text("utf-8"))
    assert {link.rsplit("/", 1)[-1] for link in listed} >= set(digests)  # the list of all digests is still there
    _assert_site_is_clean(site)


# ----------------------------------------------------------------------- corpora of their own


def _options(tmp_path: Path, files: dict[str, str], topics: Path | None = TOPICS) -> BuildOptions:
    sources = tmp_path / "sources"
    sources.mkdir()
    for name, text in files.items():
        (sources / name).write_text(text, "utf-8")
    return BuildOptions(sources=(sources,), cache_dir=tmp_path / "cache", topics_file=topics)


def test_papers_that_match_no_topic_phrase_build(tmp_path: Path) -> None:
    nonsense = json_file(*(record(f"Zzqx Vorp {i}", f"Blorp flarn quux {i}. Snerk.") for i in range(3)))
    result = generate(_options(tmp_path, {"n.json": nonsense}), StageTimer(show_progress=False))
    assert len(result.corpus.papers) == 3
    assert all(result.corpus.topics.assignments[p.id] for p in result.corpus.papers)


def test_a_corpus_of_year_one_builds(tmp_path: Path) -> None:
    files = {
        "y.json": json_file(
            record("Oldest Paper", date="0001-01-01"), record("Next Paper", "Other. Yes.", date="0001-01-02")
        )
    }
    result = generate(_options(tmp_path, files), StageTimer(show_progress=False))
    assert {p.last_date for p in result.corpus.papers} == {dt.date(1, 1, 1), dt.date(1, 1, 2)}
    assert "dates/0001/01/02.md" in result.pages and "week.md" in result.pages
    assert day_md(dt.date(1, 1, 2)) == "dates/0001/01/02.md" and day_md(dt.date(2025, 5, 9)) == "dates/2025/05/09.md"


def test_a_corpus_ending_in_year_9999_builds(tmp_path: Path) -> None:
    files = {
        "y.json": json_file(
            record("Newest Paper", date="9999-12-31"), record("Old Paper", "Other. Yes.", date="2025-01-01")
        )
    }
    result = generate(_options(tmp_path, files), StageTimer(show_progress=False))
    assert "dates/9999/12/31.md" in result.pages


@pytest.mark.parametrize(
    ("first", "last", "columns"),
    [
        (dt.date(2025, 5, 1), dt.date(2025, 6, 30), 61),  # days
        (dt.date(2015, 6, 1), dt.date(2025, 5, 1), 120),  # months, ten years
        (dt.date(2015, 5, 1), dt.date(2025, 5, 1), 11),  # years
        (dt.date(1, 1, 1), dt.date(2025, 5, 29), 120),  # 17 years a column
        (dt.date(2025, 1, 1), dt.date(9999, 12, 31), 120),  # 67 years a column
    ],
)
def test_timeline_has_a_bounded_number_of_columns(first: dt.date, last: dt.date, columns: int) -> None:
    series = {"a": [(first, 1), (last, 2)], "b": [(last, 1)]}
    svg = topic_timeline_chart(series, {"a": "A", "b": "B"})
    assert svg.count("</rect>") == 2 * columns  # cells (with a tooltip), not the legend's swatches
    assert columns <= MAX_COLUMNS


def test_format_characters_are_removed_as_the_readme_says() -> None:
    formats = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf"]
    others = ["\u034f", "\u115f", "\u1160", "\u3164", "\uffa0", "\ud800", "\udfff", "\ufdd0", "\ufffe", "\U0010ffff"]
    for char in formats + others:
        assert normalise_text(f"a{char}b") == "ab", hex(ord(char))
    kept = "Ré sumé ∑ 日本 🚀 ‍"  # ZWJ is Cf: removed too
    assert normalise_text(kept) == "Ré sumé ∑ 日本 🚀"


def test_problems_print_what_the_input_held_safely() -> None:
    problem = Problem("error", "a\udcff\x1b[2J.txt", 3, "title 'x\ud800\u202e'")
    text = str(problem)
    text.encode("utf-8")
    assert "\x1b" not in text and "\u202e" not in text and "\\x1b" in text and "\\u202e" in text


def test_unique_segments_avoid_reserved_and_taken_names() -> None:
    assert unique_segment("paper", set(), "salt") == "paper"
    for reserved in ("index", "con", "aux", "nul", "prn", "com1", "lpt9"):
        assert unique_segment(reserved, set(), "salt") == f"{reserved}-{content_hash('salt', length=6)}"
    first = f"x-{content_hash('salt', length=6)}"
    assert unique_segment("x", {"x", first}, "salt") not in {"x", first}


def test_reserved_taxonomy_slug_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match=r"'slug': 'index' is reserved"):
        parse_taxonomy([{"slug": "index", "name": "Index", "description": "x", "phrases": ["index"]}])


def test_discovered_topics_never_take_a_reserved_slug() -> None:
    topics = _make_topics([["Index"], ["Con"], ["Index"], ["Aux"]])
    slugs = [t.slug for t in topics]
    assert slugs[0] == "index-2" and slugs[1] == "con-2" and slugs[3] == "aux-2"
    assert len(set(slugs)) == 4 and not set(slugs) & RESERVED_SEGMENTS


def test_page_owners_are_checked_before_writing() -> None:
    def paper(paper_id: str) -> Paper:
        return Paper(paper_id, "T", "A", (Appearance("s.txt", None, 1, 1),))

    source = Source("s.txt", "s", "s.txt", None, "listing-a", ("a",))
    good = Corpus((paper("a"),), (source,), Similarity(), Topics((Topic("t", "T", "d"),)))
    check_page_owners(good)
    with pytest.raises(DigestError, match=r"paper '(a|A)' and paper '(a|A)' would both have the path papers/(a|A)\.md"):
        check_page_owners(Corpus((paper("a"), paper("A")), (source,), Similarity(), Topics(())))
    with pytest.raises(DigestError, match=re.escape("reserved path topics/index.md")):
        check_page_owners(Corpus((paper("a"),), (source,), Similarity(), Topics((Topic("index", "I", "d"),))))
    with pytest.raises(DigestError, match=re.escape("reserved path papers/nul.md")):
        check_page_owners(Corpus((paper("nul"),), (source,), Similarity(), Topics(())))


def test_merged_ids_stay_unique_when_a_suffix_is_taken() -> None:
    from generator.models import Listing, RawRecord

    abstract = "We study a thing. It works well."
    suffixed = "a-b-" + _clash_suffix("First", abstract)
    records = (
        RawRecord("s", 1, 1, "First", abstract, id="a/b"),
        RawRecord("s", 2, 2, "Second", abstract, id="a-b"),
        RawRecord("s", 3, 3, "Third", abstract, id=suffixed),
    )
    papers, problems = merge_records([Listing("s", "s", "json", records)], {})
    ids = {p.title: p.id for p in papers}
    assert len(set(ids.values())) == 3
    assert ids["Third"] == suffixed and ids["First"] != suffixed
    assert sum("is shared" in p.message for p in problems) == 2


# ------------------------------------------------------------------------------ limits


def test_a_file_over_the_size_limit_is_refused_without_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    with (sources / "huge.txt").open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: 64 MiB that take no disk
    (sources / "ok.json").write_text(json_file(record("A Small Paper")), "utf-8")
    read: list[str] = []
    original = Path.read_bytes

    def counting(self: Path) -> bytes:
        read.append(self.name)
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", counting)
    listings, problems = read_sources([sources])
    assert [listing.source for listing in listings] == ["ok.json"]
    assert "huge.txt" not in read
    assert any(re.search(r"huge\.txt: 64 MiB, over the limit of 64 MiB", str(p)) for p in problems), problems


def test_titles_and_abstracts_are_cut_visibly(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    long_title = "word " * 1000
    (sources / "a.json").write_text(json_file(record(long_title, "sentence. " * 5000)), "utf-8")
    (sources / "2025-01-01.txt").write_text(
        LISTING_HEADER + "Jan 1\n\nA Listed Title\n\n" + "An abstract sentence. " * 1000 + "\n", "utf-8"
    )
    listings, problems = read_sources([sources])
    records = {listing.layout: listing.records[0] for listing in listings}
    assert len(records["json"].title) <= MAX_TITLE_CHARS and records["json"].title.endswith("…")
    for found in records.values():
        assert len(found.abstract) <= MAX_ABSTRACT_CHARS and found.abstract.endswith("…")
        assert found.abstract.startswith(("sentence. sentence.", "An abstract sentence. An"))
    assert sum("cut to" in p.message for p in problems) == 3


def test_yaml_aliases_add_a_bounded_amount_of_text(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    alias = CASES["YAML aliases of a 100 KB title"].files["alias.yaml"]
    assert isinstance(alias, str)
    (sources / "alias.yaml").write_text(alias, "utf-8")
    listings, problems = read_sources([sources])
    (listing,) = listings
    total = sum(len(r.title) + len(r.abstract) for r in listing.records)
    # what aliases add is at most 1,000,000 characters before the records are cut to their limits
    assert len(listing.records) == 6  # the record that writes the text out, and five that use it by alias
    assert total <= 6 * (MAX_TITLE_CHARS + MAX_ABSTRACT_CHARS)
    assert sum("YAML aliases expand" in p.message for p in problems) == 894


def test_sentence_splitting_is_linear() -> None:
    """The old splitter copied the rest of the text at every "e.g." (300 s for 4 MB); a hang
    guard only: the subprocess has minutes for what takes milliseconds."""
    code = "from generator.website.meta import first_sentence; print(len(first_sentence('e.g. ' * 800_000)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "200", done.stderr
    assert first_sentence("We use e.g. Lean. Then more.") == "We use e.g. Lean."


def test_one_ancient_record_beside_the_seeds_keeps_the_topics_page_small(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    shutil.copytree(ROOT / "content" / "sources", sources)
    (sources / "old.json").write_text(json_file(record("An Ancient Paper", date="0001-01-01")), "utf-8")
    options = BuildOptions(sources=(sources,), cache_dir=tmp_path / "cache", topics_file=TOPICS)
    result = generate(options, StageTimer(show_progress=False))
    body = read_tree(result.tree)["topics/index.md"].decode("utf-8")
    topics = len(result.corpus.topics.topics)
    assert body.count("<rect") <= (topics + 1) * MAX_COLUMNS
    assert len(body.encode("utf-8")) < 1_000_000


# ----------------------------------------------------------------------- configuration


def test_cache_dir_on_a_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_bad_input import invoke_cli

    project = make_project(tmp_path / "project", {}, {**BASE_OPTIONS, "cache_dir": "afile"})
    (project / "afile").write_text("not a folder", "utf-8")
    monkeypatch.chdir(project)
    for command in ("check", "build"):
        result = invoke_cli(command)
        assert not crashed(result), crashed(result)
        assert result.exit_code == 1
        assert re.search(r"cache_dir .*afile is a file; it must be a folder", result.output), result.output[-2000:]
    assert (project / "afile").read_text("utf-8") == "not a folder"


def test_sources_over_the_project_root_skip_the_site_and_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_bad_input import invoke_cli

    project = make_project(tmp_path / "project", {})
    monkeypatch.chdir(project)
    first = invoke_cli("build")
    assert first.exit_code == 0, first.output[-2000:]
    before = built_titles(project)
    again = invoke_cli("build", "--sources", ".")
    assert not crashed(again), crashed(again)
    assert again.exit_code == 0, again.output[-2000:]
    assert built_titles(project) == before  # neither site/papers.json nor the cache was read as a source
    assert re.search(r"holds .*site, which is not read as sources", again.output), again.output[-2000:]
    assert "papers.json" not in again.output


def test_a_sources_override_does_not_outlive_its_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MkDocs reuses plugin instances within a process: `--sources` of one command must not stick."""
    from test_bad_input import invoke_cli

    project = make_project(tmp_path / "project", {})
    monkeypatch.chdir(project)
    missing = invoke_cli("check", "--sources", "no-such-folder")
    assert missing.exit_code == 1 and "no-such-folder" in missing.output, missing.output[-2000:]
    configured = invoke_cli("check")
    assert configured.exit_code == 0, configured.output[-2000:]
    assert "no-such-folder" not in configured.output
