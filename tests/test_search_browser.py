"""Browser tests of the header search (digest-search.js) on the built seeds site, in chromium."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import checked_page
from playwright.sync_api import expect

from generator.runtime.parallel import IN_PROCESS
from generator.website import search, search_index
from generator.website.search import build_search_files, index_words

pytestmark = pytest.mark.browser

SEED_TITLE = "A Solvable Model of Neural Scaling Laws"
"""A title from content/sources/000_*.txt."""
OTHER_SEED_TITLE = "Quantum Spin Glass in the Two-Dimensional Disordered Heisenberg Model"
"""The start of another seed title, searched for from a paper page (a deeper URL)."""


def fetch_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def search_site(site_url: str) -> str:
    """The seeds site, checked to load our search script (mkdocs.yml `extra_javascript`)."""
    with urllib.request.urlopen(site_url, timeout=10) as response:
        home = response.read().decode("utf-8")
    if "digest-search.js" not in home or "data-ds-root" not in home:
        pytest.fail(
            "the seeds site does not load the search: theme_overrides/main.html (or mkdocs.yml extra_javascript) "
            "must load assets/javascripts/digest-search.js and assets/stylesheets/digest-search.css"
        )
    return site_url


def site_docs(site: str) -> list[dict[str, Any]]:
    """Every doc of the search files, with where it lives: segment folder, number, chunk file."""
    manifest = fetch_json(site + search.MANIFEST_PATH)
    chunk = manifest["chunk"]
    docs = []
    for segment in manifest["segments"]:
        for c in range(-(-segment["count"] // chunk)):
            path = f"{segment['path']}d{c}.json"
            for i, (url, title, date, slugs, abstract) in enumerate(fetch_json(site + path)):
                docs.append(
                    {
                        "url": url,
                        "title": title,
                        "date": date,
                        "slugs": slugs,
                        "abstract": abstract,
                        "segment": segment,
                        "number": c * chunk + i,
                        "chunk": path,
                    }
                )
    return docs


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; fails the test on any uncaught script error."""
    with checked_page(browser) as made:
        yield made


def search_for(page: Any, text: str, *, paste: bool = False) -> None:
    """Type (or paste, in one input event) `text` into the box and wait until every piece it needs is shown."""
    box = page.locator("[data-ds-input]")
    box.click()
    box.fill("")
    if paste:
        box.fill(text)
    else:
        box.press_sequentially(text)
    settled(page)
    page.locator(".ds__result").first.wait_for(state="visible")


def answered(page: Any) -> None:
    """Wait until the shown results answer the text now in the box."""
    page.wait_for_function(
        "() => { const root = document.querySelector('[data-ds-root]');"
        " return root.getAttribute('data-ds-query') === root.querySelector('[data-ds-input]').value; }"
    )


def settled(page: Any) -> None:
    """Wait until the results answer the text in the box and every file they need is in (state `ready`)."""
    answered(page)
    page.wait_for_selector('[data-ds-root][data-ds-state="ready"]', state="attached")
    answered(page)


def result_titles(page: Any) -> list[str]:
    titles: list[str] = page.locator(".ds__result .ds__title").all_text_contents()
    return titles


def test_title_words_find_the_paper_and_enter_opens_it(page: Any, search_site: str) -> None:
    page.goto(search_site)
    search_for(page, "solvable model neural scal")  # last word still being typed: a prefix
    first = page.locator(".ds__result").first
    assert first.locator(".ds__title").text_content() == SEED_TITLE
    assert first.locator(".ds__title mark").count() >= 4  # matched words highlighted
    href = first.locator("a").get_attribute("href")
    assert href.startswith(search_site + "papers/")
    page.locator("[data-ds-input]").press("Enter")
    page.wait_for_url(href)
    expect(page.locator("h1").first).to_contain_text(SEED_TITLE)
    expect(page).to_have_title(re.compile(re.escape(SEED_TITLE)))

    # From the paper page (two levels down) links still resolve against the site root.
    search_for(page, OTHER_SEED_TITLE.lower())
    first = page.locator(".ds__result").first
    assert first.locator(".ds__title").text_content().startswith(OTHER_SEED_TITLE)
    other = first.locator("a").get_attribute("href")
    assert other.startswith(search_site + "papers/")
    first.locator("a").click()
    page.wait_for_url(other)
    expect(page.locator("h1").first).to_contain_text(OTHER_SEED_TITLE)


def test_title_matches_come_first_and_snippets_are_highlighted(page: Any, search_site: str) -> None:
    docs = site_docs(search_site)
    in_title = {d["url"] for d in docs if re.search(r"\bquantum\b", d["title"], re.I)}
    elsewhere = {d["url"] for d in docs if d["url"] not in in_title and re.search(r"\bquantum", d["abstract"], re.I)}
    assert in_title and elsewhere
    page.goto(search_site)
    search_for(page, "quantum ")
    hrefs = page.locator(".ds__result a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    titled = [href[len(search_site) :] in in_title for href in hrefs]
    assert titled[0] and titled == sorted(titled, reverse=True)  # papers with the word in their title first
    # Snippets show the word highlighted; every <mark> is the word (or a word of the same stem).
    marks = page.locator(".ds__snippet mark").all_text_contents()
    assert marks and all(search_index.terms_of(index_words(m)) == ["quantum"] for m in marks)
    assert page.locator(".ds__title mark").count() >= 1


def test_arrows_move_and_escape_closes(page: Any, search_site: str) -> None:
    page.goto(search_site)
    search_for(page, "language models")
    box = page.locator("[data-ds-input]")
    box.press("ArrowDown")  # the focus moves to the results' links, as in Material's search
    page.keyboard.press("ArrowDown")
    selected = page.locator(".ds__result--active")
    assert selected.count() == 1
    assert selected.get_attribute("data-ds-index") == "1"
    assert page.evaluate("document.activeElement.closest('.ds__result').id") == selected.get_attribute("id")
    page.keyboard.press("ArrowUp")
    assert selected.get_attribute("data-ds-index") == "0"
    page.keyboard.press("Escape")
    assert page.locator("[data-ds-panel]").is_hidden()


def test_show_more_adds_results(page: Any, search_site: str) -> None:
    page.goto(search_site)
    search_for(page, "model")
    results = page.locator(".ds__result")
    shown = results.count()
    total = int(page.locator(".ds__status").text_content().split()[0])
    assert shown == 10 < total
    page.locator(".ds__more").click()
    settled(page)
    assert results.count() == min(20, total)
    titles = result_titles(page)
    assert len(set(titles)) == len(titles)


def test_user_syntax_does_not_break_the_query(page: Any, search_site: str) -> None:
    page.goto(search_site)
    # lunr's query syntax characters are only separators here: these are four plain words.
    search_for(page, "neural~ +scaling^ laws: -solvable*")
    assert result_titles(page)[0] == SEED_TITLE


def test_topic_filter_narrows_to_that_topic(page: Any, search_site: str) -> None:
    manifest = fetch_json(search_site + "search/manifest.json")
    papers = site_docs(search_site)
    matching = [doc for doc in papers if "model" in (doc["title"] + " " + doc["abstract"]).lower()]
    # A topic held by some, not all, of the papers matching "model".
    counts: dict[str, int] = {}
    for doc in matching:
        for slug in doc["slugs"]:
            counts[slug] = counts.get(slug, 0) + 1
    slug = min((s for s, n in counts.items() if 0 < n < len(matching)), key=lambda s: (-counts[s], s))
    name = dict(map(tuple, manifest["topics"]))[slug]
    topic_urls = {search_site + doc["url"] for doc in papers if slug in doc["slugs"]}
    dates = {search_site + doc["url"]: doc["date"] for doc in papers}

    page.goto(search_site)
    search_for(page, "model")
    before = page.locator(".ds__status").text_content()
    page.locator("[data-ds-topic]").select_option(slug)
    page.wait_for_function(f"() => document.querySelector('[data-ds-status]').textContent !== {json.dumps(before)}")
    settled(page)
    results = page.locator(".ds__result")
    assert results.count() > 0
    assert int(page.locator(".ds__status").text_content().split()[0]) < int(before.split()[0])
    for i in range(results.count()):
        result = results.nth(i)
        href = result.locator("a").get_attribute("href")
        assert href in topic_urls
        assert name in result.locator(".ds__topic").all_text_contents()
        shown = result.locator("time").all_text_contents()
        assert shown == ([dates[href]] if dates[href] else [])  # the date, when the paper has one

    # With no words at all the filter alone lists that topic's papers, newest first.
    page.locator("[data-ds-input]").fill("")
    settled(page)
    hrefs = page.locator(".ds__result a").evaluate_all("links => links.map(a => a.href)")
    assert hrefs and set(hrefs) <= topic_urls
    assert int(page.locator(".ds__status").text_content().split()[0]) == len(topic_urls)
    shown_dates = [dates[h] or "" for h in hrefs]
    assert shown_dates == sorted(shown_dates, reverse=True)


def test_date_range_narrows_to_those_days(page: Any, search_site: str) -> None:
    papers = site_docs(search_site)
    dated = [doc["date"] for doc in papers if doc["date"] and "model" in doc["title"].lower()]
    assert dated, "the seeds have dated listings"
    last = max(dated)
    page.goto(search_site)
    search_for(page, "model")
    total = int(page.locator(".ds__status").text_content().split()[0])
    page.locator("[data-ds-from]").fill(last)
    page.locator("[data-ds-to]").fill(last)
    page.locator("[data-ds-to]").dispatch_event("change")
    settled(page)
    dates = page.locator(".ds__result time").evaluate_all("times => times.map(t => t.getAttribute('datetime'))")
    assert dates and len(dates) == page.locator(".ds__result").count()
    assert int(page.locator(".ds__status").text_content().split()[0]) <= total
    assert set(dates) == {last}


def test_slash_and_s_focus_the_box(page: Any, search_site: str) -> None:
    page.goto(search_site)
    box = page.locator("[data-ds-input]")
    assert box.is_visible()
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.hasAttribute('data-ds-input')")
    assert box.input_value() == ""  # the key itself is not typed into the box
    page.keyboard.press("Escape")
    assert not page.evaluate("document.activeElement.hasAttribute('data-ds-input')")
    page.keyboard.press("s")
    assert page.evaluate("document.activeElement.hasAttribute('data-ds-input')")


def test_untrusted_text_is_never_markup(page: Any, search_site: str) -> None:
    page.goto(search_site)
    search_for(page, "model")
    # Only our own elements inside results: titles, topics and snippets are text nodes and <mark>s.
    tags = page.locator(".ds__results").evaluate(
        "list => [...new Set([...list.querySelectorAll('*')].map(e => e.tagName.toLowerCase()))].sort()"
    )
    assert set(tags) <= {"li", "a", "div", "time", "span", "p", "mark"}


# ---------- what a query fetches, on a site of many small segments ----------

SEGMENT_DOCS = 100
"""A bench corpus cut into segments of this many docs (merged by two), so that a query spans several."""


@pytest.fixture(scope="module")
def segmented_site(
    seed_site: Path, serve: Callable[[Path], str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    """The seeds site carrying the search files of a 1,000-paper bench corpus (about 14 days) in small
    segments and small shards; its URL and folder. (Result links lead to no page: only search is tested.)"""
    from test_search import corpus_docs

    from benchmarks.corpus import write_corpus

    work = tmp_path_factory.mktemp("segmented")
    write_corpus(1000, work / "corpus", seed=5)
    site = work / "site"
    shutil.copytree(seed_site, site)
    shutil.rmtree(site / "search")
    patch = pytest.MonkeyPatch()
    try:
        patch.setattr(search, "SEGMENT_DOCS", SEGMENT_DOCS)
        patch.setattr(search, "MERGE_RUNS", 2)
        patch.setattr(search_index, "SHARD_BYTES", 2500)
        files = build_search_files(corpus_docs(work / "corpus"), parallel=IN_PROCESS)
    finally:
        patch.undo()
    for rel, data in files.items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return serve(site), site


def shard_of(segment: dict[str, Any], term: str) -> str:
    bounds = [search_index.utf16_key(b) for b in segment["shards"]]
    key = search_index.utf16_key(term)
    return f"{segment['path']}t{max(i for i, b in enumerate(bounds) if b <= key)}.json"


def expected_shards(manifest: dict[str, Any], text: str) -> set[str]:
    """The shards a query needs: per segment, each word's term; for the last word, still being typed, also the
    shards of the word and of its term as prefixes (and the next shard when its first term has that prefix)."""
    words = index_words(text).split()
    typing = not text[-1:].isspace()
    needed: set[str] = set()
    for segment in manifest["segments"]:
        bounds = segment["shards"]
        if not bounds:
            continue
        for i, word in enumerate(words):
            terms = search_index.terms_of(word)
            needed.update(shard_of(segment, term) for term in terms)
            if typing and i == len(words) - 1:
                for prefix in {word, *terms}:
                    shard = shard_of(segment, prefix)
                    needed.add(shard)
                    after = int(shard.rsplit("t", 1)[1].split(".")[0]) + 1
                    if after < len(bounds) and bounds[after].startswith(prefix):
                        needed.add(f"{segment['path']}t{after}.json")
    return needed


def record_search_requests(page: Any, base: str) -> list[str]:
    paths: list[str] = []
    page.on("request", lambda request: paths.append(request.url[len(base) :]) if request.url.startswith(base) else None)
    return paths


def test_a_query_fetches_only_the_files_of_its_words(page: Any, segmented_site: tuple[str, Path]) -> None:
    base, _site = segmented_site
    manifest = fetch_json(base + search.MANIFEST_PATH)
    assert len(manifest["segments"]) >= 4
    docs = {d["url"]: d for d in site_docs(base)}
    page.goto(base)
    requests = record_search_requests(page, base)
    text = "language models for rea"
    search_for(page, text, paste=True)  # one input event: no query on the way
    searched = [path for path in requests if path.startswith("search/")]
    assert searched[0] == search.MANIFEST_PATH
    shards = {path for path in searched if path.rsplit("/", 1)[1].startswith("t")}
    chunks = {path for path in searched if path.rsplit("/", 1)[1].startswith("d")}
    assert set(searched) == {search.MANIFEST_PATH} | shards | chunks  # no doc metadata without a filter
    assert len(searched) == len(set(searched))  # each file once
    assert shards == expected_shards(manifest, text)
    assert len(shards) < sum(len(s["shards"]) for s in manifest["segments"]) / 3
    hrefs = page.locator(".ds__result a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert chunks == {docs[href[len(base) :]]["chunk"] for href in hrefs}  # the shown results' chunks, no more
    # The same query again fetches nothing; a filter fetches the doc metadata of the segments it concerns.
    before = len(requests)
    page.locator("[data-ds-input]").fill("")
    search_for(page, text, paste=True)
    assert requests[before:] == []
    newest = manifest["segments"][0]
    page.locator("[data-ds-from]").fill(newest["first"])
    page.locator("[data-ds-from]").dispatch_event("change")
    settled(page)
    metas = {path for path in requests[before:] if path.endswith("/m.json")}
    in_range = [s for s in manifest["segments"] if s["last"] and s["last"] >= newest["first"]]
    assert metas == {s["path"] + "m.json" for s in in_range}
    assert len(in_range) < len(manifest["segments"])


def test_a_typed_prefix_is_completed_across_a_shard_boundary(page: Any, segmented_site: tuple[str, Path]) -> None:
    """A word being typed whose completions run on into the next shard is looked up in both, no more."""
    base, _site = segmented_site
    manifest = fetch_json(base + search.MANIFEST_PATH)

    # A prefix of two letters or more shared by the last term of a shard and the first of the next (their
    # boundary is one letter longer), its own term, whose terms span at most two shards in every segment.
    def spans(segment: dict[str, Any], p: str) -> int:
        bounds = segment["shards"]
        first = bounds.index(max((b for b in bounds if b <= p), key=search_index.utf16_key))
        return 1 + sum(1 for b in bounds[first + 1 :] if b.startswith(p))

    candidates = {
        b[:-1]
        for segment in manifest["segments"]
        for b in segment["shards"]
        if len(b) >= 3 and b[:-1].isalpha() and search_index.terms_of(b[:-1]) == [b[:-1]]
    }
    fitting = [p for p in candidates if all(spans(s, p) <= 2 for s in manifest["segments"] if s["shards"])]
    assert fitting
    prefix = min(fitting, key=lambda p: (len(p), p))
    docs: set[Any] = set()
    for s, seg in enumerate(manifest["segments"]):
        for i in range(len(seg["shards"])):
            shard = fetch_json(f"{base}{seg['path']}t{i}.json")
            for term, postings in zip(shard[0::2], shard[1::2], strict=True):
                if term.startswith(prefix):
                    docs.update((s, d) for d, _t, _q in decode(postings))
    page.goto(base)
    requests = record_search_requests(page, base)
    search_for(page, prefix, paste=True)
    shards_fetched = {path for path in requests if path.rsplit("/", 1)[1].startswith("t")}
    assert shards_fetched == expected_shards(manifest, prefix)
    assert int(page.locator(".ds__status").text_content().split()[0]) == len(docs)


def decode(text: str) -> list[tuple[int, bool, int]]:
    from test_search import decode_postings

    return decode_postings(text)


def test_an_old_paper_by_its_exact_title_is_the_first_result(page: Any, segmented_site: tuple[str, Path]) -> None:
    base, _site = segmented_site
    manifest = fetch_json(base + search.MANIFEST_PATH)
    docs = site_docs(base)
    oldest_segment = [s for s in manifest["segments"] if s["first"]][-1]
    newest_segment = manifest["segments"][0]
    for segment in (oldest_segment, newest_segment):
        doc = next(d for d in docs if d["segment"] == segment and len(index_words(d["title"]).split()) >= 4)
        page.goto(base)
        requests = record_search_requests(page, base)
        search_for(page, doc["title"])  # typed key by key, as a person would
        assert result_titles(page)[0] == doc["title"]
        assert page.locator(".ds__result a").first.get_attribute("href") == base + doc["url"]
        # Only the manifest, shards and doc chunks: no segment is fetched whole.
        kinds = {path.rsplit("/", 1)[1][0] for path in requests if path.startswith("search/") and "/" in path[7:]}
        assert kinds <= {"t", "d"}


def test_nothing_is_fetched_from_another_host(page: Any, search_site: str) -> None:
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(request.url.split("/")[2]))
    page.goto(search_site)
    search_for(page, "quantum spin")
    assert hosts == {search_site.split("/")[2]}


# ---------- the same words on both sides ----------

TRICKY_WORDS = [
    "the", "of", "and", "a", "neural", "networks", "network", "scaling", "laws", "law", "sing", "singing",
    "généralisation", "schrödinger", "ﬁnite", "σίσυφος", "ασ", "istanbul", "数据", "x²", "3", "gpt", "4",
    "relational", "conditional", "hopefulness", "ization", "ies", "sses", "agreed", "y", "by", "e", "1",
    "generalization", "generalizations", "oscillators", "feed", "bled", "hoping", "controlling", "rolling",
]  # fmt: skip


def test_python_and_browser_make_the_same_terms(page: Any, search_site: str) -> None:
    """lunr.py (index) and the vendored lunr.js (query) stem and drop stop words alike, on every seed word."""
    from test_search import seed_docs

    words = sorted(
        {w for d in seed_docs() for w in index_words(f"{d.title} {d.abstract} {' '.join(d.topics)}").split()}
        | {w for t in TRICKY_WORDS for w in index_words(t).split()}
    )
    assert len(words) > 2000
    page.goto(search_site)
    page.locator("[data-ds-input]").focus()  # loads lunr.js
    page.wait_for_function("() => !!window.lunr")
    browser_terms = page.evaluate(
        """words => words.map(w => {
             const token = new lunr.Token(w);
             return lunr.stopWordFilter(token) ? [lunr.stemmer(token).toString()] : [];
           })""",
        words,
    )
    python_terms = [search_index.terms_of(w) for w in words]
    different = [(w, p, b) for w, p, b in zip(words, python_terms, browser_terms, strict=True) if p != b]
    assert different == []


def test_state_and_status_when_nothing_matches(page: Any, search_site: str) -> None:
    page.goto(search_site)
    box = page.locator("[data-ds-input]")
    box.click()
    box.fill("zzzqqqxxx ")
    settled(page)
    assert page.locator(".ds__result").count() == 0
    assert page.locator(".ds__status").text_content() == "No matching papers"
    box.fill("")
    settled(page)
    assert "Search" in page.locator(".ds__status").text_content()


def test_dates_in_results_are_iso_days(page: Any, search_site: str) -> None:
    page.goto(search_site)
    search_for(page, "model")
    for text in page.locator(".ds__result time").all_text_contents():
        dt.date.fromisoformat(text)
