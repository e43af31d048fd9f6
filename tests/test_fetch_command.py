"""`paper-digest fetch` against a replay server on 127.0.0.1: the real arXiv API answers of
`../shared/fixtures` (paging, the error answer, the empty answer) and this project's small HF
and RSS fixtures; failures exit non-zero and leave the folder as it was, with no temp file."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import run_cli
from lxml import etree
from replay_server import OWN, SHARED, ReplayServer, Reply, arxiv_recordings, dead_url

from generator.cli import main
from generator.fetch.client import user_agent

ATOM = "{http://www.w3.org/2005/Atom}"
needs_shared = pytest.mark.skipif(
    not (SHARED / "arxiv-api" / "responses.json").is_file(),
    reason="the real arXiv API answers are in ../shared/fixtures, which is not beside this clone",
)
HF = ["hf", "--date", "2025-06-02"]
ARXIV = ["arxiv", "--query", "testing"]
FAST = ("--interval", "0", "--backoff", "0", "--retries", "2", "--timeout", "5")


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """The command sets up the root logger for its run; put it back for the next test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def fetch(*args: str) -> Result:
    return CliRunner().invoke(main, ["fetch", *args], catch_exceptions=False)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (hidden ones too) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def entry_ids(body: bytes) -> list[str]:
    root = etree.fromstring(body)
    return [e.findtext(f"{ATOM}id") for e in root.findall(f"{ATOM}entry")]


def recorded(name: str) -> bytes:
    return (SHARED / "arxiv-api" / name).read_bytes()


@pytest.fixture
def arxiv() -> Iterator[ReplayServer]:
    """A server replaying every recorded arXiv API answer at its recorded request."""
    with ReplayServer() as server:
        for url, reply, _ in arxiv_recordings():
            server.add_url(url, reply)
        yield server


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "sources"
    folder.mkdir()
    (folder / "2025-05-29.txt").write_text("a listing already there\n", "utf-8")
    return folder


def arxiv_args(server: ReplayServer, out: Path, *more: str) -> list[str]:
    return [
        "arxiv",
        "--query",
        "testing",
        "--sort",
        "relevance",
        "--endpoint",
        server.url + "/api/query",
        "--out",
        str(out),
        *FAST,
        *more,
    ]


@needs_shared
def test_arxiv_pages_10_at_a_time_over_the_real_pages(arxiv: ReplayServer, out: Path) -> None:
    result = fetch(*arxiv_args(arxiv, out, "--max", "30", "--page-size", "10"))
    assert result.exit_code == 0, result.output
    path = out / "arxiv-testing-2026-04-12.xml"  # the day of the answer's <updated>
    assert result.stdout == f"{path}\n"
    assert "arxiv testing: 30 papers, new file" in result.stderr
    pages = [recorded(f"query-testing-page-{start}.xml") for start in (0, 10, 20)]
    assert entry_ids(path.read_bytes()) == [i for page in pages for i in entry_ids(page)]
    assert [(r.query["start"], r.query["max_results"]) for r in arxiv.requests] == [
        (["0"], ["10"]),
        (["10"], ["10"]),
        (["20"], ["10"]),
    ]
    assert {r.query["search_query"][0] for r in arxiv.requests} == {"testing"}
    assert sorted(p.name for p in out.iterdir()) == ["2025-05-29.txt", path.name]


@needs_shared
def test_one_page_is_stored_as_received(arxiv: ReplayServer, out: Path) -> None:
    result = fetch(*arxiv_args(arxiv, out, "--max", "100"))
    assert result.exit_code == 0, result.output
    assert (out / "arxiv-testing-2026-04-12.xml").read_bytes() == recorded("query-testing-0-100.xml")
    assert len(arxiv.requests) == 1


@needs_shared
def test_overlapping_pages_keep_each_paper_once(out: Path) -> None:
    """A paper that moved to the next page between two requests (here in a newer version) is kept
    once: the first time it was seen."""
    page0, page10 = recorded("query-testing-page-0.xml"), recorded("query-testing-page-10.xml")
    root = etree.fromstring(page10)
    moved = etree.fromstring(page0).findall(f"{ATOM}entry")[-3:]
    for entry in moved:
        entry.find(f"{ATOM}id").text = entry.findtext(f"{ATOM}id")[:-2] + "v9"
        root.find(f"{ATOM}entry").addprevious(entry)
    overlapping = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    with ReplayServer() as server:
        server.add("/api/query", Reply(page0), query=_query(start=0))
        server.add("/api/query", Reply(overlapping), query=_query(start=10))
        result = fetch(*arxiv_args(server, out, "--max", "20", "--page-size", "10"))
    assert result.exit_code == 0, result.output
    ids = entry_ids((out / "arxiv-testing-2026-04-12.xml").read_bytes())
    assert ids == entry_ids(page0) + entry_ids(page10)
    assert "arxiv testing: 20 papers, new file" in result.stderr


def _query(start: int, size: int = 10) -> dict[str, list[str]]:
    return {
        "search_query": ["testing"],
        "id_list": [""],
        "sortBy": ["relevance"],
        "sortOrder": ["descending"],
        "start": [str(start)],
        "max_results": [str(size)],
    }


@needs_shared
def test_paging_stops_at_the_total(out: Path) -> None:
    page0 = recorded("query-testing-page-0.xml").replace(b">214881<", b">25<")
    with ReplayServer() as server:
        server.add("/api/query", Reply(page0), query=_query(0))
        server.add("/api/query", Reply(recorded("query-testing-page-10.xml")), query=_query(10))
        server.add("/api/query", Reply(recorded("query-testing-page-20.xml")), query=_query(20, 5))
        result = fetch(*arxiv_args(server, out, "--max", "100", "--page-size", "10"))
    assert result.exit_code == 0, result.output
    assert [(r.query["start"][0], r.query["max_results"][0]) for r in server.requests] == [
        ("0", "10"),
        ("10", "10"),
        ("20", "5"),
    ]


@needs_shared
@pytest.mark.parametrize("status", [400, 200])
def test_the_arxiv_error_answer_is_a_failure(status: int, out: Path) -> None:
    before = snapshot(out)
    with ReplayServer() as server:
        server.add("/api/query", Reply(recorded("error-bad-id.xml"), status))
        result = fetch(*arxiv_args(server, out))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: arxiv testing: http://127.0.0.1:")
    assert result.stderr.endswith(": the arXiv API reports an error: incorrect id format for abc\n")
    assert snapshot(out) == before


@needs_shared
def test_the_real_empty_answer_writes_nothing(out: Path) -> None:
    before = snapshot(out)
    with ReplayServer() as server:
        server.add("/api/query", Reply(recorded("empty-result.xml")))
        result = fetch(*arxiv_args(server, out))
    assert (result.exit_code, result.stdout) == (0, "")
    assert "arxiv testing: no papers" in result.stderr
    assert snapshot(out) == before


def endpoint_of(path: str) -> str:
    """The `--endpoint` that asks for `path`: the RSS endpoint is a folder of categories."""
    return "/rss/" if path.startswith("/rss/") else path


@pytest.mark.parametrize(
    ("args", "path", "body"),
    [
        (["hf", "--date", "2025-06-02"], "/api/daily_papers", b"[]\n"),
        (["rss", "cs.LG"], "/rss/cs.LG", (OWN / "rss-empty.xml").read_bytes()),
    ],
)
def test_an_empty_day_writes_nothing(args: list[str], path: str, body: bytes, out: Path) -> None:
    before = snapshot(out)
    with ReplayServer() as server:
        server.add(path, Reply(body))
        result = fetch(*args, "--endpoint", server.url + endpoint_of(path), "--out", str(out), *FAST)
    assert (result.exit_code, result.stdout) == (0, "")
    assert ": no papers (http://127.0.0.1:" in result.stderr
    assert snapshot(out) == before


def hf(server: ReplayServer, out: Path, *more: str) -> Result:
    return fetch(
        "hf", "--date", "2025-06-02", "--endpoint", server.url + "/api/daily_papers", "--out", str(out), *FAST, *more
    )


def test_hf_writes_the_answer_as_received_and_sends_the_user_agent(out: Path) -> None:
    body = (OWN / "hf-daily.json").read_bytes()
    with ReplayServer() as server:
        server.add("/api/daily_papers", Reply(body), query={"date": ["2025-06-02"]})
        result = hf(server, out)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{out / 'hf-2025-06-02.json'}\n"
    assert (out / "hf-2025-06-02.json").read_bytes() == body
    assert [r.headers["User-Agent"] for r in server.requests] == [user_agent()]


@pytest.mark.skipif(not (SHARED / "hf-daily-papers").is_dir(), reason="../shared/fixtures is not beside this clone")
def test_hf_real_layout_answer(out: Path) -> None:
    body = (SHARED / "hf-daily-papers" / "2025-06-03.json").read_bytes()
    with ReplayServer() as server:
        server.add("/api/daily_papers", Reply(body), query={"date": ["2025-06-03"]})
        result = fetch(
            "hf", "--date", "2025-06-03", "--endpoint", server.url + "/api/daily_papers", "--out", str(out), *FAST
        )
    assert result.exit_code == 0, result.output
    assert (out / "hf-2025-06-03.json").read_bytes() == body
    assert f"hf daily: {len(json.loads(body))} papers, new file" in result.stderr


def test_rss_is_named_by_its_announcement_day(out: Path) -> None:
    body = (OWN / "rss-cs.LG.xml").read_bytes()
    with ReplayServer() as server:
        server.add("/rss/cs.LG", Reply(body))
        result = fetch("rss", "cs.LG", "--endpoint", server.url + "/rss", "--out", str(out), *FAST)
    assert result.exit_code == 0, result.output
    assert (out / "rss-cs.LG-2025-06-02.xml").read_bytes() == body
    assert "rss cs.LG: 2 papers, new file" in result.stderr


def test_429_and_503_then_success_waits_as_asked(out: Path) -> None:
    body = (OWN / "hf-daily.json").read_bytes()
    with ReplayServer() as server:
        server.add(
            "/api/daily_papers",
            Reply(b'{"error": "rate limited"}', 429, (("Retry-After", "1"),)),
            Reply(b"<html>busy</html>", 503, (("Retry-After", "1"),)),
            Reply(body),
        )
        result = hf(server, out)
    assert result.exit_code == 0, result.output
    assert (out / "hf-2025-06-02.json").read_bytes() == body
    times = [r.at for r in server.requests]
    assert len(times) == 3
    assert times[1] - times[0] >= 1.0 and times[2] - times[1] >= 1.0, times
    assert result.stderr.count("retrying in 1.0 s") == 2


def test_a_dead_server_exits_1_and_leaves_the_folder_as_it_was(out: Path) -> None:
    (out / "hf-2025-06-02.json").write_bytes(b"[]\n")
    before = snapshot(out)
    url = dead_url()
    result = fetch("hf", "--date", "2025-06-02", "--endpoint", url + "/api/daily_papers", "--out", str(out), *FAST)
    assert result.exit_code == 1
    assert result.stdout == ""
    last = result.stderr.splitlines()[-1]
    assert last.startswith(f"Error: hf daily: {url}/api/daily_papers?date=2025-06-02: connection failed (")
    assert last.endswith("(gave up after 3 attempts)")
    assert snapshot(out) == before


def test_a_truncated_body_fails_and_writes_nothing(out: Path) -> None:
    before = snapshot(out)
    with ReplayServer() as server:
        server.add("/api/daily_papers", Reply((OWN / "hf-daily.json").read_bytes(), truncate=300))
        result = hf(server, out)
    assert result.exit_code == 1
    assert "the answer broke off" in result.stderr
    assert len(server.requests) == 3
    assert snapshot(out) == before


@pytest.mark.parametrize(
    ("args", "path", "body", "message"),
    [
        (HF, "/api/daily_papers", b'[{"paper": {"id": "2202.1', "not valid JSON"),
        (HF, "/api/daily_papers", b'{"papers": []}', "expected a JSON list of papers, got dict"),
        (HF, "/api/daily_papers", b"[" * 100000 + b"]" * 100000, "not valid JSON"),
        (["rss", "cs.LG"], "/rss/cs.LG", b"<rss><channel><item><title>x</title>", "not valid XML"),
        (
            ["rss", "cs.LG"],
            "/rss/cs.LG",
            b"<html><p>maintenance</p></html>",
            "expected an RSS <rss><channel>, got <html>",
        ),
        (ARXIV, "/api/query", b"<feed xmlns='http://www.w3.org/2005/Atom'><entry>", "not valid XML"),
        (ARXIV, "/api/query", b"<rss><channel/></rss>", "expected an Atom <feed>, got <rss>"),
    ],
)
def test_an_invalid_answer_fails_and_writes_nothing(
    args: list[str], path: str, body: bytes, message: str, out: Path
) -> None:
    before = snapshot(out)
    with ReplayServer() as server:
        server.add(path, Reply(body))
        result = fetch(*args, "--endpoint", server.url + endpoint_of(path), "--out", str(out), *FAST)
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(out) == before


def test_an_http_error_names_the_status_and_what_the_server_said(out: Path) -> None:
    with ReplayServer() as server:
        server.add("/api/daily_papers", Reply(b'{"error": "Invalid date\\u001b[2J"}', 400))
        result = hf(server, out)
    assert result.exit_code == 1
    assert result.stderr.endswith(": HTTP 400: Invalid date\\x1b[2J\n")


def test_fetching_the_same_day_again_is_idempotent(out: Path) -> None:
    items = json.loads((OWN / "hf-daily.json").read_bytes())
    later = [{**items[0], "paper": {**items[0]["paper"], "upvotes": 40}}, {"paper": {"id": "2506.00001"}}]
    path = out / "hf-2025-06-02.json"
    with ReplayServer() as server:
        server.add(
            "/api/daily_papers",
            Reply((OWN / "hf-daily.json").read_bytes()),
            Reply(json.dumps(items, indent=2).encode()),  # the same items, other bytes
            Reply(json.dumps(later).encode()),
        )
        first = hf(server, out)
        stamp = path.stat()
        again = hf(server, out)
        assert path.stat().st_mtime_ns == stamp.st_mtime_ns and path.stat().st_ino == stamp.st_ino
        assert path.read_bytes() == (OWN / "hf-daily.json").read_bytes()
        updated = hf(server, out)
    assert first.stdout == again.stdout == updated.stdout == f"{path}\n"
    assert "unchanged (same papers as the file already has)" in again.stderr
    assert "hf daily: 3 papers, updated (1 papers no longer in the answer kept)" in updated.stderr
    assert json.loads(path.read_bytes()) == [*later, items[1]]
    assert sorted(p.name for p in out.iterdir()) == ["2025-05-29.txt", path.name]


def test_out_defaults_to_the_first_configured_source_folder(tmp_path: Path) -> None:
    (tmp_path / "pages").mkdir()
    (tmp_path / "extra.json").write_text("[]", "utf-8")
    (tmp_path / "mkdocs.yml").write_text(
        "site_name: t\ndocs_dir: pages\nplugins:\n  - paper-digest:\n      sources: [extra.json, listings, more]\n",
        "utf-8",
    )
    with ReplayServer() as server:
        server.add("/api/daily_papers", Reply((OWN / "hf-daily.json").read_bytes()))
        result = fetch(
            "hf",
            "--date",
            "2025-06-02",
            "--endpoint",
            server.url + "/api/daily_papers",
            "-f",
            str(tmp_path / "mkdocs.yml"),
            *FAST,
        )
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{tmp_path / 'listings' / 'hf-2025-06-02.json'}\n"


def write_config(folder: Path, feeds: str) -> Path:
    (folder / "pages").mkdir(exist_ok=True)
    config = folder / "mkdocs.yml"
    config.write_text(
        "site_name: t\ndocs_dir: pages\nplugins:\n  - paper-digest:\n"
        f"      sources: [listings]\n      feeds: {feeds}\n",
        "utf-8",
    )
    return config


def test_fetch_alone_fetches_every_feed_and_a_failing_one_is_a_warning(tmp_path: Path) -> None:
    with ReplayServer() as server:
        server.add("/api/daily_papers", Reply((OWN / "hf-daily.json").read_bytes()))
        server.add("/rss/cs.LG", Reply((OWN / "rss-cs.LG.xml").read_bytes()))
        feeds = (
            f"[{{hf: daily, endpoint: '{server.url}/api/daily_papers'}}, "
            f"{{arxiv: 'cat:cs.LG', max: 20, endpoint: '{dead_url()}/api/query'}}, "
            f"{{rss: cs.LG, endpoint: '{server.url}/rss/'}}]"
        )
        result = fetch("-f", str(write_config(tmp_path, feeds)), *FAST)
    assert result.exit_code == 3
    today = dt.datetime.now(dt.UTC).date()
    written = sorted(p.name for p in (tmp_path / "listings").iterdir())
    assert written in (
        sorted([f"hf-{day}.json", "rss-cs.LG-2025-06-02.xml"]) for day in (today, today + dt.timedelta(days=1))
    )
    assert len(result.stdout.splitlines()) == 2
    assert "WARNING -  arxiv cat:cs.LG: http://127.0.0.1:" in result.stderr
    assert "1 of 3 feeds failed; the others were fetched" in result.stderr


def test_fetch_alone_with_every_feed_fetched_exits_0(tmp_path: Path) -> None:
    with ReplayServer() as server:
        server.add("/rss/cs.LG", Reply((OWN / "rss-cs.LG.xml").read_bytes()))
        server.add("/rss/cs.CL", Reply((OWN / "rss-empty.xml").read_bytes()))
        config = write_config(
            tmp_path, f"[{{rss: cs.LG, endpoint: '{server.url}/rss'}}, {{rss: cs.CL, endpoint: '{server.url}/rss'}}]"
        )
        result = fetch("-f", str(config), *FAST)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{tmp_path / 'listings' / 'rss-cs.LG-2025-06-02.xml'}\n"
    assert "rss cs.CL: no papers" in result.stderr


def test_fetch_alone_without_feeds_fetches_nothing(tmp_path: Path) -> None:
    result = fetch("-f", str(write_config(tmp_path, "[]")))
    assert (result.exit_code, result.stdout) == (0, "")
    assert "no feeds configured under `feeds:`; nothing fetched" in result.stderr


def test_bad_feeds_are_reported_all_at_once(tmp_path: Path) -> None:
    feeds = (
        "[{hf: weekly}, {arxiv: 'cat:cs.LG', max: 0, sort: newest}, {rss: 'cs LG', max: 5},"
        " {hf: daily, rss: cs.LG}, cs.LG, {arxiv: x, every: 2}]"
    )
    config = write_config(tmp_path, feeds)
    result = fetch("-f", str(config))
    assert result.exit_code == 1
    message = result.stderr
    for expected in (
        "feed 1: hf: the only feed is 'daily', got 'weekly'",
        "feed 2: max: expected a whole number from 1 to 10000, got 0",
        "feed 2: sort: expected one of submittedDate, lastUpdatedDate, relevance, got 'newest'",
        "feed 3: rss: 'cs LG' is not an arXiv category such as cs.LG or hep-th",
        "feed 3: 'max' applies to arxiv feeds only",
        "feed 4: name exactly one of hf, arxiv, rss (found hf, rss)",
        "feed 5: expected a mapping such as {hf: daily}, got 'cs.LG'",
        "feed 6: unknown key 'every'",
    ):
        assert expected in message, message
    assert not (tmp_path / "listings").exists()


def test_a_failure_in_a_subprocess_is_one_line_without_traceback(tmp_path: Path) -> None:
    result = run_cli("fetch", "rss", "cs.LG", "--endpoint", dead_url(), "--out", str(tmp_path), *FAST)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("Error: rss cs.LG: http://127.0.0.1:")
    assert list(tmp_path.iterdir()) == []


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    assert fetch("rss", "cs LG", "--out", str(tmp_path)).exit_code == 2
    assert fetch("hf", "--date", "June 2", "--out", str(tmp_path)).exit_code == 2
    assert fetch("hf", "--endpoint", "file:///etc/passwd", "--out", str(tmp_path)).exit_code == 2
    assert fetch("arxiv", "--query", "x", "--max", "0", "--out", str(tmp_path)).exit_code == 2
    assert list(tmp_path.iterdir()) == []
