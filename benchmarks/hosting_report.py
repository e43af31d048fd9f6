"""The hosting benchmark's verdicts and report: each target met or not, and the table a person reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.visitor import ANCHOR_UI, DIGEST_UI

KINDS = ("paper pages", "listings", "search", "data files", "assets", "other")
"""Kinds of a site's bytes (`kind_of`)."""


MIB = 1024 * 1024


TARGET_PAPERS = 100_000
"""The size the issue's whole-site and build targets are for."""


SITE_LIMIT = 1e9
"""GitHub Pages refuses a published site over 1 GB."""


FILE_LIMIT = 25 * MIB
"""Cloudflare Pages refuses a file over 25 MiB."""


FIRST_RESULT_S = 0.5


SLOW_FIRST_RESULT_S = 1.5


TWO_WORD_BYTES = 500e3


VISIT_BYTES = 2e6


OLD_TITLE_LATER_S = 0.1
"""How much later than a new title an old one may come first and still count as "as fast"."""


BUILD_SECONDS = 180.0


BUILD_MB = 3072.0


def _target(
    name: str,
    value: float | None,
    limit: float,
    unit: str,
    *,
    detail: str = "",
    anchor: float | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """One target: PASS when `value` <= `limit` (MISS, or n/a when not measured), with what stands in the way."""
    if status is None:
        status = "n/a" if value is None else ("PASS" if value <= limit else "MISS")
    anchor_status = None if anchor is None else ("PASS" if anchor <= limit else "MISS")
    return {
        "target": name,
        "value": value,
        "limit": limit,
        "unit": unit,
        "status": status,
        "detail": detail if status == "MISS" else "",
        "anchor_value": anchor,
        "anchor_status": anchor_status,
    }


def _runs(search: dict[str, Any], ui: str) -> list[dict[str, Any]]:
    return list(search.get(ui, {}).get("runs", []))


def _pick(
    runs: Sequence[dict[str, Any]],
    *,
    query: str | None = None,
    queries: Sequence[str] = (),
    page: str | None = None,
    loopback: bool | None = None,
) -> list[dict[str, Any]]:
    names = {query} if query else set(queries)
    return [
        r
        for r in runs
        if (not names or r["query"] in names)
        and (page is None or r["page"] == page)
        and (loopback is None or (r["link"] == "loopback") == loopback)
    ]


def _slowest(runs: Sequence[dict[str, Any]]) -> tuple[float | None, dict[str, Any] | None]:
    """The largest first-result time of `runs` (a run with no result counts as slowest: None)."""
    if not runs:
        return None, None
    missing = [r for r in runs if r["first_s"] is None]
    if missing:
        return float("inf"), missing[0]
    worst = max(runs, key=lambda r: r["first_s"])
    return worst["first_s"], worst


def _kb(n: float) -> str:
    return f"{n / 1e3:,.0f} KB" if n < 10e6 else f"{n / 1e6:,.1f} MB"


def _fetched(run: dict[str, Any]) -> str:
    largest = ", ".join(f"{f['path']} ({_kb(f['bytes'])})" for f in run.get("largest", [])[:3])
    folders = ", ".join(f"{k} {_kb(v)}" for k, v in list(run.get("by_folder", {}).items())[:3])
    return f"{run['requests']} requests; by folder: {folders}; largest: {largest}"


def _search_targets(n: int, search: dict[str, Any]) -> list[dict[str, Any]]:
    digest, anchor = _runs(search, DIGEST_UI.name), _runs(search, ANCHOR_UI.name)
    if not digest:
        error = search.get(DIGEST_UI.name, {}).get("error", "not measured")
        return [_target(f"{n:,} papers: search", None, 0, "", status="n/a", detail=error)]
    three = ("two-word topic", "old title", "rare word")
    targets = []
    for label, page, loopback, limit in (
        ("loopback, cold page", "cold", True, FIRST_RESULT_S),
        ("loopback, settled page", "settled", True, FIRST_RESULT_S),
        ("10 Mbps / 40 ms, either page", None, False, SLOW_FIRST_RESULT_S),
    ):
        value, worst = _slowest(_pick(digest, queries=three, page=page, loopback=loopback))
        other, _ = _slowest(_pick(anchor, queries=three, page=page, loopback=loopback))
        detail = ""
        if worst is not None:
            detail = (
                f"slowest: {worst['query']} ({worst['page']} page): "
                f"{_kb(worst['bytes_before_first'])} fetched before the first result; {_fetched(worst)}"
            )
        targets.append(
            _target(
                f"{n:,} papers: first result, {label} (slowest of the three queries)",
                value,
                limit,
                "s",
                detail=detail,
                anchor=other,
            )
        )
    topic = _pick(digest, query="two-word topic")
    worst_topic = max(topic, key=lambda r: r["bytes"]) if topic else None
    anchor_topic = _pick(anchor, query="two-word topic")
    targets.append(
        _target(
            f"{n:,} papers: bytes fetched for a two-word query (gzip; most of its runs)",
            worst_topic["bytes"] / 1e3 if worst_topic else None,
            TWO_WORD_BYTES / 1e3,
            "KB",
            detail=_fetched(worst_topic) if worst_topic else "",
            anchor=max(r["bytes"] for r in anchor_topic) / 1e3 if anchor_topic else None,
        )
    )
    visit = search.get(DIGEST_UI.name, {}).get("visit")
    anchor_visit = search.get(ANCHOR_UI.name, {}).get("visit")
    if visit:
        per_query = "; ".join(f"{q['query']} {_kb(q['bytes'])}" for q in visit["queries"])
        targets.append(
            _target(
                f"{n:,} papers: bytes fetched for a visit of five queries (gzip)",
                visit["bytes"] / 1e6,
                VISIT_BYTES / 1e6,
                "MB",
                detail=per_query,
                anchor=anchor_visit["bytes"] / 1e6 if anchor_visit else None,
            )
        )
    old = _pick(digest, query="old title")
    missed = [r for r in old if not r.get("expected_first")]
    anchor_old = _pick(anchor, query="old title")
    detail = "; ".join(f"{r['page']} page, {r['link']}: first was '{r['first_result'][:80]}'" for r in missed[:2])
    targets.append(
        _target(
            f"{n:,} papers: old title not the first result (runs of {len(old)})",
            len(missed),
            0,
            "runs",
            detail=detail,
            anchor=sum(1 for r in anchor_old if not r.get("expected_first")) if anchor_old else None,
        )
    )
    later, later_detail = _old_later(digest)
    anchor_later, _ = _old_later(anchor)
    targets.append(
        _target(
            f"{n:,} papers: old title first, seconds after a new title would be (slowest page and link)",
            later,
            OLD_TITLE_LATER_S,
            "s",
            detail=later_detail,
            anchor=anchor_later,
        )
    )
    return targets


def _old_later(runs: Sequence[dict[str, Any]]) -> tuple[float | None, str]:
    """max over (page, link) of the old title's time to be first minus the new title's (inf: never first)."""
    worst: float | None = None
    detail = ""
    for r in _pick(runs, query="old title"):
        new = [x for x in _pick(runs, query="new title", page=r["page"]) if x["link"] == r["link"]]
        if not new or new[0].get("target_s") is None:
            continue
        delay = float("inf") if r.get("target_s") is None else round(r["target_s"] - new[0]["target_s"], 3)
        if worst is None or delay > worst:
            worst = delay
            detail = (
                f"{r['page']} page, {r['link']}: old title first after "
                f"{'never' if r.get('target_s') is None else str(r['target_s']) + ' s'}, new title after "
                f"{new[0]['target_s']} s; old title fetched {_kb(r['bytes_before_first'])} before its first result"
            )
    return worst, detail


def evaluate_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets against this run's figures (PASS, MISS, or n/a when not measured)."""
    targets: list[dict[str, Any]] = []
    sizes = {int(n): r for n, r in result["sizes"].items()}
    for n, r in sizes.items():
        site, build = r["site"], r["build"]
        per_paper = site["bytes"] / r["papers"]
        kinds = ", ".join(
            f"{kind} {site['per_paper'][kind] / 1e3:,.1f} KB"
            for kind in sorted(KINDS, key=lambda k: -site["kinds"][k]["bytes"])
            if site["kinds"][kind]["bytes"]
        )
        budget = f"per paper: {kinds} (budget {SITE_LIMIT / TARGET_PAPERS / 1e3:,.1f} KB a paper in all)"
        if n >= TARGET_PAPERS:
            targets.append(
                _target(f"{n:,} papers: whole site", site["bytes"] / 1e9, SITE_LIMIT / 1e9, "GB", detail=budget)
            )
        else:
            targets.append(
                _target(
                    f"{TARGET_PAPERS:,} papers: whole site, projected from {n:,} ({per_paper / 1e3:,.1f} KB a paper)",
                    per_paper * TARGET_PAPERS / 1e9,
                    SITE_LIMIT / 1e9,
                    "GB",
                    detail=budget,
                )
            )
        largest: dict[str, Any] = site["largest"][0] if site["largest"] else {"path": "", "bytes": 0}
        over = ", ".join(f"{f['path']} ({f['bytes'] / MIB:,.1f} MiB)" for f in site["over_file_limit"][:5])
        targets.append(
            _target(
                f"{n:,} papers: largest file ({largest['path']})",
                largest["bytes"] / MIB,
                FILE_LIMIT / MIB,
                "MiB",
                detail=f"{len(site['over_file_limit'])} files over: {over}",
            )
        )
        if "search" in r:
            targets += _search_targets(n, r["search"])
        if n >= TARGET_PAPERS:
            detail = (
                f"generator stages {build.get('generator_s', 0):.1f} s, MkDocs and the rest "
                f"{build.get('rest_s', 0):.1f} s; stages: "
                + ", ".join(f"{k} {v:.1f} s" for k, v in build.get("stages_s", {}).items())
            )
            wall = _target(
                f"{n:,} papers: full build (paper-digest build)", build["wall_s"], BUILD_SECONDS, "s", detail=detail
            )
            wall["cpu_value"] = build["cpu_s"]  # steadier than wall time on a shared machine
            wall["cpu_status"] = "PASS" if build["cpu_s"] <= BUILD_SECONDS else "MISS"
            targets.append(wall)
            targets.append(
                _target(f"{n:,} papers: full build peak memory", build["peak_tree_mb"], BUILD_MB, "MB", detail=detail)
            )
    return targets


def _row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def fmt(value: float | None, unit: str) -> str:
    """A target's figure in its unit."""
    if value is None:
        return "-"
    if value == float("inf"):
        return "never"
    if unit == "runs":
        return f"{value:.0f}"
    if unit in ("GB", "MB", "MiB"):
        return f"{value:,.2f} {unit}" if value < 10 else f"{value:,.1f} {unit}"
    if unit == "KB":
        return f"{value:,.0f} KB"
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:g} {unit}".strip()


def _seconds(value: float | None) -> str:
    return "none" if value is None else f"{value:.2f} s"


def format_report(result: dict[str, Any]) -> str:
    """The hosting benchmark as Markdown tables (readable on a terminal, pasteable into docs-bench.md)."""
    link = result.get("link", {})
    lines = [f"Commit {result.get('commit')}, {result['machine']['cpus']} CPUs, Python {result['machine']['python']}"]
    sizes = result["sizes"]
    lines += ["", "**Full builds** (`paper-digest build` in a fresh process; memory: PSS of the process tree)", ""]
    lines.append(
        _row(
            [
                "papers",
                "wall",
                "CPU",
                "peak memory",
                "generator stages",
                "MkDocs and the rest",
                "site",
                "files",
                "largest file",
                "files over 25 MiB",
            ]
        )
    )
    lines.append(_row(["---:"] * 8 + ["---", "---:"]))
    for n, r in sizes.items():
        b, s = r["build"], r["site"]
        largest: dict[str, Any] = s["largest"][0] if s["largest"] else {"path": "-", "bytes": 0}
        lines.append(
            _row(
                [
                    f"{int(n):,}",
                    f"{b['wall_s']:.1f} s",
                    f"{b['cpu_s']:.1f} s",
                    f"{b['peak_tree_mb']:,.0f} MB",
                    f"{b.get('generator_s', 0):.1f} s",
                    f"{b.get('rest_s', 0):.1f} s",
                    f"{s['bytes'] / 1e6:,.1f} MB",
                    f"{s['files']:,}",
                    f"{largest['path']} ({largest['bytes'] / MIB:,.1f} MiB)",
                    len(s["over_file_limit"]),
                ]
            )
        )
    for n, r in sizes.items():
        s = r["site"]
        lines += [
            "",
            f"**Bytes by kind**, {int(n):,} papers ({r['papers']:,} after merging; "
            f"hard links counted once: {s['hard_links']:,} extra links)",
            "",
        ]
        lines += [_row(["kind", "files", "bytes", "per paper", "share"]), _row(["---", "---:", "---:", "---:", "---:"])]
        for kind in sorted(KINDS, key=lambda k: -s["kinds"][k]["bytes"]):
            k = s["kinds"][kind]
            if not k["files"]:
                continue
            lines.append(
                _row(
                    [
                        kind,
                        f"{k['files']:,}",
                        f"{k['bytes'] / 1e6:,.1f} MB",
                        f"{s['per_paper'][kind] / 1e3:,.2f} KB",
                        f"{k['bytes'] / max(s['bytes'], 1):.0%}",
                    ]
                )
            )
        lines.append(
            _row(
                [
                    "total",
                    f"{s['files']:,}",
                    f"{s['bytes'] / 1e6:,.1f} MB",
                    f"{s['per_paper']['total'] / 1e3:,.2f} KB",
                    "100%",
                ]
            )
        )
        lines += [
            "",
            "Largest files: " + ", ".join(f"{f['path']} {f['bytes'] / MIB:,.1f} MiB" for f in s["largest"][:5]),
        ]
        q = r["queries"]
        lines += [
            "",
            f"Queries: topic {q['topic']!r}; old title ({q['old_day']}) {q['old_title']!r}; "
            f"rare word {q['rare_word']!r} ({q.get('rare_word_kind', 'word')}, "
            f"in {len(q['rare_word_papers'])} paper(s)); "
            f"new title ({q['new_day']}) {q['new_title']!r}; visit adds {q['extra']!r}.",
        ]
        anchor = r.get("anchor", {})
        if "index" in anchor:
            a = anchor["index"]
            lines += [
                "",
                f"**Pagefind anchor** ({a['version']}): indexed {a['pages']:,} pages in {a['wall_s']:.1f} s "
                f"(CPU {a['cpu_s']:.1f} s), peak {a['peak_mb']:,.0f} MB; {a['bytes'] / 1e6:,.1f} MB of files "
                f"({a['per_page'] / 1e3:,.2f} KB a page, {a['per_paper'] / 1e3:,.2f} KB a paper; "
                + ", ".join(f"{k} {v / 1e6:,.1f} MB" for k, v in sorted(a["parts"].items()))
                + ").",
            ]
        elif anchor:
            ran = ""
            if "wall_s" in anchor:
                ran = f" after {anchor['wall_s']:.1f} s (CPU {anchor['cpu_s']:.1f} s), peak {anchor['peak_mb']:,.0f} MB"
            lines += ["", f"**Pagefind anchor**: skipped ({anchor.get('skipped')}){ran}."]
        search = r.get("search")
        if search:
            lines += _search_table(int(n), search, link)
    lines += ["", "**Targets** (reported, never asserted; Pagefind: the anchor's figure against the same limit)", ""]
    lines += [
        _row(["target", "measured", "limit", "", "Pagefind", "what stands in the way"]),
        _row(["---", "---:", "---:", "---", "---", "---"]),
    ]
    for t in result["targets"]:
        anchor = "" if t.get("anchor_value") is None else f"{fmt(t['anchor_value'], t['unit'])} {t['anchor_status']}"
        value = fmt(t["value"], t["unit"])
        if t.get("cpu_value") is not None:
            value += f" (CPU {fmt(t['cpu_value'], t['unit'])} {t.get('cpu_status', '')})".replace(" )", ")")
        lines.append(
            _row([t["target"], value, fmt(t["limit"], t["unit"]), t["status"], anchor, t["detail"].replace("|", "/")])
        )
    return "\n".join(lines)


def _search_table(n: int, search: dict[str, Any], link: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"**Search**, {n:,} papers (headless chromium, site on loopback served gzipped; slow link "
        f"{link.get('megabits', 10):g} Mbps / {link.get('latency_ms', 40):g} ms; bytes as sent, after typing)",
        "",
    ]
    lines += [
        _row(
            [
                "search",
                "query",
                "page",
                "link",
                "first result",
                "title first",
                "bytes",
                "requests",
                "before first result",
            ]
        ),
        _row(["---"] * 4 + ["---:", "---", "---:", "---:", "---:"]),
    ]
    for name, ui in search.items():
        if "error" in ui:
            lines.append(_row([name, "error: " + ui["error"].replace("|", "/"), "", "", "", "", "", "", ""]))
            continue
        for r in ui["runs"]:
            first = "yes" if r.get("expected_first") else ("no" if "expected_first" in r else "")
            if "target_s" in r and r.get("target_s") is not None:
                first += f" ({r['target_s']:.2f} s)"
            unsettled = "" if r["settled"] else " (cut at the timeout)"
            lines.append(
                _row(
                    [
                        name,
                        r["query"],
                        r["page"],
                        r["link"],
                        _seconds(r["first_s"]),
                        first,
                        _kb(r["bytes"]) + unsettled,
                        r["requests"],
                        _kb(r["bytes_before_first"]),
                    ]
                )
            )
    for name, ui in search.items():
        if "visit" in ui:
            v = ui["visit"]
            per_query = ", ".join(f"{q['query']} {_kb(q['bytes'])}" for q in v["queries"])
            lines += [
                "",
                f"Visit of five queries ({name}): {_kb(v['bytes'])} in {v['requests']} requests ({per_query}).",
            ]
    return lines
