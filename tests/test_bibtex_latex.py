"""papers.bib compiled by real BibTeX and pdflatex: hostile titles and authors must neither
make LaTeX read a file (TeX's `^^5c` is a backslash: `$^^5cinput{/etc/hostname}$`) nor stop
BibTeX or LaTeX with an error.

Needs `pdflatex` and `bibtex` (Debian: `apt-get install texlive-latex-base texlive-binaries`,
which scripts/test.sh does); skipped without them. Runs with the distribution's default
settings (`openin_any` is not tightened), as a reader of papers.bib would.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

from generator.models import Appearance, Paper
from generator.website.bibtex import bibtex_file
from generator.website.citekeys import citation_keys

pytestmark = pytest.mark.skipif(
    not (shutil.which("pdflatex") and shutil.which("bibtex") and shutil.which("kpsewhich")),
    reason="needs pdflatex, bibtex and kpsewhich (Debian: apt-get install texlive-latex-base texlive-binaries)",
)

HOSTILE_TITLES = [
    r"$^^5cinput{/etc/hostname}$",
    r"$\mathrm{^^7b}$ and $^^7d$",
    r"$x^^$",
    r"^^5cinput{/etc/hostname} as text",
    r"^^5c^^5c^^5c^^M^^",
    r"$\input{x}$ and \input{x} and \input x",
    r"$\csname input\endcsname{x}$ \csname input\endcsname x",
    r"$\catcode`\^=7 ^^5cinput x$",
    r"\catcode`\@=0 @input x",
    r"$\def\x{\input x}\x$ \def\y{x}",
    r"$\string\input$ \string\input",
    r"\immediate\write18{touch pwned} \openout1=pwned",
    r"$\expandafter\input\x$",
    "{{{ unbalanced",
    "}}} closing first {",
    r"$\}{$ and $\{x$ y",
    "}, author = {Injected}, title = {x",
    "100% of #1 & a_b ~ ^ \\ | < > ends with a backslash \\",
    "ends with a percent %",
    "Ελληνικά: α-divergence, β-VAE, ΑΒΓ, μP, ε ≤ δ, Ω",
    "Café Ünïcode ñ ç Ørsted Straße Łódź ą ę ő — “quoted” – dash…",
    "Math ≤ ≥ ≠ × · → ∞ ∂ ∇ ∑ ∫ − ±",
    r"$\alpha$-divergence with $O(n^{2})$, $\mathcal{X}$ and $\frac{1}{2}$",
    r"$x^$ $x_$ $\left( x$ $$E = mc^2$$ lone $ dollar",
    r"$\left( \frac{a}{b} \right)$ and $\text{text}$ and $\{x\}$",
    "a ~ b \"quotes\" `` '' @ ! ? =",
    "control\x00\x07\x1b chars\u200b and\u2028lines\ttabs",
    "Long " * 600,
    "x" * 3000,
]

HOSTILE_AUTHORS = [
    "Smith, John, Jr., III",
    "Pérez, José, Jr.",
    "{Ürgen}, \\Ö, III",
    "Smith, Jr., John",
    "John Smith, Jr.",
    "A and B",
    "and",
    "{",
    "}",
    "Müller, Hans",
    "^^5cinput{/etc/hostname}",
    "Smith,",
    ", John",
    ",",
    "x%y",
    "Ab\\",
    "John (Jack) Smith",
    "A] B",
    "Γιώργος Παπαδόπουλος",
    "José Pérez",
    "van der Berg, Jan",
    "ab_c",
    "~",
    "Jr.",
    "$\\alpha$ Smith",
    "Very " * 100 + "Long",
]

# Pieces of the random hostile entries (CJK and emoji too: papers.bib is plain ASCII).
TRICKS = [
    *"$${}^^^_ x5c7bα≤é~#&%\\@`'\",",
    *("^^5c", "^^7b", "^^M", "\\input", "\\csname", "\\endcsname", "\\catcode", "\\def", "\\string"),
    *("\\expandafter", "\\ensuremath", "\\mathrm", "\\text", "\\left", "\\right", "\\frac", "\\^"),
    *("{\\", "\\{", "\\}", "\x0b", "\x00", " and ", ", ", "Smith", "Lee", "Ab", "Cd", "Ü", "ł", "ß"),
    *("中文", "💡", "©", "\\%", "\\$", "ε"),
]

NAME_STYLE = r"""
ENTRY { author } {} {}
INTEGERS { i }
FUNCTION {not} { { #0 } { #1 } if$ }
FUNCTION {misc} { skip$ }
FUNCTION {default.type} { skip$ }
FUNCTION {names}
{ "\count{" cite$ * "}{" * author num.names$ int.to.str$ * "}" * write$ newline$
  #1 'i :=
  { i author num.names$ > not }
  { "\name{" author i "{ff}|{vv}|{ll}|{jj}" format.name$ * "}" * write$ newline$
    i #1 + 'i :=
  }
  while$
}
READ
ITERATE {names}
"""


def _papers() -> list[Paper]:
    """One paper per hostile title (with a few hostile authors each), random ones and one
    with every hostile author."""
    papers = []
    for i, title in enumerate(HOSTILE_TITLES):
        authors = tuple(HOSTILE_AUTHORS[(3 * i + k) % len(HOSTILE_AUTHORS)] for k in range(3))
        papers.append(
            Paper(
                id=f"p{i:02d}",
                title=title,
                abstract="",
                appearances=(Appearance("s.txt", dt.date(2024, 1, 1 + i % 28), 1, 1),),
                arxiv_id=f"2401.{i:05d}" if i % 2 else None,
                authors=authors,
            )
        )
    rng = random.Random(2024)
    for i in range(150):  # seeded random mixtures of the tricks, titles and names alike
        title = "".join(rng.choices(TRICKS, k=rng.randint(1, 25)))
        authors = tuple("".join(rng.choices(TRICKS, k=rng.randint(1, 8))) for _ in range(2))
        day = dt.date(2000 + i % 25, 1 + i % 12, 1)
        papers.append(
            Paper(id=f"r{i:03d}", title=title, abstract="", appearances=(Appearance("s", day, 1, 1),), authors=authors)
        )
    papers.append(
        Paper(
            id="all",
            title="Every author",
            abstract="",
            appearances=(Appearance("s.txt", dt.date(2024, 2, 1), 1, 1),),
            authors=tuple(HOSTILE_AUTHORS),
        )
    )
    return papers


def _url_for(paper: Paper) -> str:
    if paper.id == "p01":  # a URL with every character a URI may hold, and some it may not
        return "https://example.org/a b{}\\^^5cinput%41#frag&q=1_~$!*'()[]|\"<>é"
    return f"https://example.org/~digest/{paper.path}"


@cache
def _tex_roots() -> tuple[str, ...]:
    """The directories of the TeX distribution: files read there are the installation's own."""
    names = ["TEXMF", "TEXMFROOT", "TEXMFDIST", "TEXMFMAIN", "TEXMFSYSVAR", "TEXMFSYSCONFIG", "TEXMFVAR"]
    names += ["TEXMFCONFIG", "TEXMFLOCAL", "TEXMFHOME", "TEXMFCNF"]
    roots: set[str] = set()
    for name in names:
        value = subprocess.run(["kpsewhich", f"-var-value={name}"], capture_output=True, text=True).stdout
        for part in re.split(r"[{},:;]", value.strip()):
            part = part.strip().lstrip("!")
            if part.startswith("/") and "$" not in part:
                roots.add(os.path.realpath(part))
    cnf = subprocess.run(["kpsewhich", "-all", "texmf.cnf"], capture_output=True, text=True).stdout.split()
    roots.update(os.path.realpath(Path(path).parent.parent) for path in cnf)
    assert roots, "kpsewhich names no TeX directory"
    return tuple(sorted(roots))


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith(("openin_any", "openout_any"))}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, errors="replace", timeout=300)


def _compile(tmp_path: Path, bib: str, style: str) -> dict[str, str]:
    """pdflatex, bibtex, pdflatex on a document citing every entry of `bib`; the return codes
    and the .log, .blg, .bbl, .aux and .fls texts."""
    (tmp_path / "refs.bib").write_text(bib, "utf-8")
    # Canaries: a title that reached LaTeX as `\input{x}` or `\input x` would read these.
    for name in ("x.tex", "x"):
        (tmp_path / name).write_text("\\errmessage{INJECTED: x.tex was read}\n", "utf-8")
    packages = ["[T1]{fontenc}", "{amsmath}", "{amssymb}", "{url}"]
    if subprocess.run(["kpsewhich", "lmodern.sty"], capture_output=True).returncode == 0:
        packages.append("{lmodern}")  # Type 1 fonts: no bitmap fonts to generate
    if style == "plainnat":
        packages.append("{natbib}")
    tex = "\\documentclass{article}\n" + "".join(f"\\usepackage{p}\n" for p in packages)
    tex += "\\begin{document}\n\\nocite{*}\n"
    tex += f"\\bibliographystyle{{{style}}}\n\\bibliography{{refs}}\n\\end{{document}}\n"
    (tmp_path / "doc.tex").write_text(tex, "utf-8")
    latex = ["pdflatex", "-interaction=nonstopmode", "-recorder", "doc.tex"]
    out = {"latex1": str(_run(latex, tmp_path).returncode)}
    out["bibtex"] = str(_run(["bibtex", "doc"], tmp_path).returncode)
    out["latex2"] = str(_run(latex, tmp_path).returncode)
    for suffix in ("log", "blg", "bbl", "aux", "fls"):
        path = tmp_path / f"doc.{suffix}"
        out[suffix] = path.read_text("utf-8", errors="replace") if path.exists() else ""
    return out


def _outside_files(fls: str, tmp_path: Path) -> list[str]:
    """Files pdflatex read or wrote that are neither in `tmp_path` nor in the TeX distribution."""
    pwd = next((line[4:] for line in fls.splitlines() if line.startswith("PWD ")), str(tmp_path))
    here = os.path.realpath(tmp_path)
    outside = []
    for line in fls.splitlines():
        kind, _, name = line.partition(" ")
        if kind not in {"INPUT", "OUTPUT"}:
            continue
        path = os.path.realpath(os.path.join(pwd, name))
        if path.startswith(here + os.sep):
            continue
        if kind == "INPUT" and any(path == root or path.startswith(root + os.sep) for root in _tex_roots()):
            continue
        outside.append(line)
    return outside


def _errors(result: dict[str, str]) -> list[str]:
    """Error lines of LaTeX and BibTeX, missing glyphs and the canaries' messages."""
    lines = [line for line in result["log"].splitlines() if line.startswith("! ") or "INJECTED" in line]
    lines += [line for line in result["log"].splitlines() if line.startswith("Missing character")]
    blg = result["blg"]
    lines += [line for line in blg.splitlines() if re.search(r"error message|I'm skipping|I was expecting", line)]
    lines += [line for line in blg.splitlines() if "comma" in line or "Warning--" in line]
    return lines


@pytest.mark.parametrize("style", ["plain", "plainnat", "alpha", "abbrv", "ieeetr", "apalike"])
def test_hostile_entries_compile_without_reading_outside(tmp_path: Path, style: str) -> None:
    papers = _papers()
    bib = bibtex_file(papers, _url_for)
    assert "^^" not in bib and "hostname}$" not in bib
    assert bib.isascii()
    result = _compile(tmp_path, bib, style)
    assert _errors(result) == []
    assert (result["latex1"], result["bibtex"], result["latex2"]) == ("0", "0", "0")
    assert _outside_files(result["fls"], tmp_path) == []
    assert "/etc/hostname" not in result["fls"] and "(/etc/hostname" not in result["log"]
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned.tex").exists()
    # Nothing swallowed an entry: every one is typeset and known to LaTeX under its own key.
    keys = re.findall(r"^@misc\{([^,]+),", bib, re.MULTILINE)
    assert len(keys) == len(papers)
    assert result["bbl"].count("\\bibitem") == len(keys)
    assert sorted(re.findall(r"^\\bibcite\{([^}]*)\}", result["aux"], re.MULTILINE)) == sorted(keys)


def test_the_check_sees_an_attack(tmp_path: Path) -> None:
    """The same check on the unescaped title finds LaTeX reading /etc/hostname and x.tex."""
    if not Path("/etc/hostname").is_file():
        pytest.skip("no /etc/hostname to read")
    bib = "@misc{a, title = {{$^^5cinput{/etc/hostname}$ and $\\input{x}$}}}\n"
    result = _compile(tmp_path, bib, "plain")
    assert "/etc/hostname" in "\n".join(_outside_files(result["fls"], tmp_path))
    assert any("INJECTED" in line for line in _errors(result))


def test_bibtex_reads_each_author_as_one_name(tmp_path: Path) -> None:
    """BibTeX's own name parser (`num.names$`, `format.name$`) finds exactly the names given,
    without a warning; names it cannot take as "von Last, Jr, First" are one last name."""
    papers = [
        Paper(id=f"n{i:02d}", title="Names", abstract="", appearances=(), authors=(name, "Ann Lee"))
        for i, name in enumerate(HOSTILE_AUTHORS)
    ]
    (tmp_path / "refs.bib").write_text(bibtex_file(papers, lambda p: ""), "utf-8")
    (tmp_path / "names.bst").write_text(NAME_STYLE, "utf-8")
    (tmp_path / "doc.aux").write_text("\\citation{*}\n\\bibdata{refs}\n\\bibstyle{names}\n", "utf-8")
    done = _run(["bibtex", "doc"], tmp_path)
    blg = (tmp_path / "doc.blg").read_text("utf-8", errors="replace")
    assert done.returncode == 0, blg
    assert "Warning" not in blg and "comma" not in blg
    bbl = (tmp_path / "doc.bbl").read_text("utf-8", errors="replace")
    # (BibTeX breaks lines longer than 79 characters at spaces.)
    entries = re.findall(r"^\\count\{([^}]*)\}\{(\d+)\}\n\\name\{(.*?)\}\n\\name", bbl, re.MULTILINE | re.DOTALL)
    assert [count for _, count, _ in entries] == ["2"] * len(papers)
    first = {key: name for key, _, name in entries}
    keys = citation_keys(papers)
    by_name = {name: first[keys[paper.id]] for name, paper in zip(HOSTILE_AUTHORS, papers, strict=True)}
    assert by_name["Müller, Hans"] == 'Hans||M{\\"u}ller|'
    assert by_name["van der Berg, Jan"] == "Jan|van~der|Berg|"
    assert by_name["José Pérez"] == "Jos{\\'e}||P{\\'e}rez|"
    assert by_name["Smith, John, Jr., III"] == "||{\\relax Smith, John, Jr., III}|"
    assert by_name["John Smith, Jr."] == "||{\\relax John Smith, Jr.}|"
    assert by_name["A and B"] == "||{\\relax A and B}|"
    assert by_name["A] B"] == "||{\\relax A] B}|"
    assert by_name["{"] == "||{\\textbraceleft}|"


@pytest.fixture(scope="module")
def shipped_bib(tmp_path_factory: pytest.TempPathFactory) -> str:
    """papers.bib of the shipped corpus, as `bib_files` writes it for the shipped mkdocs.yml's dates."""
    from generator.build import load_corpus
    from generator.config import BuildOptions
    from generator.ingest.dates import SourceSettings
    from generator.website.pages import PageBuilder
    from generator.website.writers import bib_files

    root = Path(__file__).resolve().parent.parent
    settings = {
        "003_95318ace2be1a82b.txt": SourceSettings(date=dt.date(2025, 5, 29)),
        "004_1cc8a7777e0ca7b3.txt": SourceSettings(date=dt.date(2025, 5, 28)),
    }
    options = BuildOptions(
        sources=(root / "content" / "sources",),
        cache_dir=tmp_path_factory.mktemp("cache"),
        topics_file=root / "content" / "topics.yml",
        settings=settings,
        site_url="https://digest.example.org/",
    )
    corpus, _ = load_corpus(options)
    files = bib_files(corpus, options, None, PageBuilder(corpus).cite_keys)
    assert list(files) == ["papers.bib"]
    return files["papers.bib"].decode("ascii")  # plain ASCII, or this raises


@pytest.mark.parametrize("style", ["plain", "plainnat", "alpha", "abbrv", "ieeetr", "apalike", "unsrt"])
def test_shipped_papers_bib_compiles_without_errors_or_warnings(tmp_path: Path, shipped_bib: str, style: str) -> None:
    """pdflatex + BibTeX + pdflatex over a document that \\nocite{*}s the whole papers.bib of the
    shipped corpus: no error, no BibTeX warning ("to sort, need author or key", ...), no missing
    character, every entry typeset under its own key."""
    result = _compile(tmp_path, shipped_bib, style)
    assert _errors(result) == []
    assert "need author or key" not in result["blg"] and "Warning" not in result["blg"]
    assert "(There were" not in result["blg"]  # "(There were N warnings)" / "error messages"
    assert (result["latex1"], result["bibtex"], result["latex2"]) == ("0", "0", "0")
    keys = re.findall(r"^@misc\{([^,]+),", shipped_bib, re.MULTILINE)
    assert len(keys) == 521 == len(set(keys))
    assert result["bbl"].count("\\bibitem") == len(keys)
    assert sorted(re.findall(r"^\\bibcite\{([^}]*)\}", result["aux"], re.MULTILINE)) == sorted(keys)
    assert all(re.fullmatch(r"[a-z0-9]+(-[0-9a-f]{4,})?", key) for key in keys)
