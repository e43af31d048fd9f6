"""Issue #4 item 4: progress per stage on a terminal, plain log lines otherwise (CI)."""

from __future__ import annotations

import io
import logging
import sys
from pathlib import Path

import pytest

from generator.build import STAGES, StageTimer, generate
from generator.config import BuildOptions

HERE = Path(__file__).parent


def _options(tmp_path: Path) -> BuildOptions:
    return BuildOptions(sources=(HERE / "fixtures" / "mini",), cache_dir=tmp_path / "cache")


def test_without_a_terminal_each_stage_logs_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO, logger="generator.build")
    timer = StageTimer(show_progress=False)
    generate(_options(tmp_path), timer)
    lines = [r.getMessage() for r in caplog.records if " done in " in r.getMessage()]
    assert [line.split(" done in ")[0] for line in lines] == [f"paper-digest: {name}" for name in STAGES]
    assert all(line.endswith(" s") for line in lines)
    assert "\r" not in capsys.readouterr().err  # no terminal control characters in a log


def test_on_a_terminal_each_stage_shows_a_progress_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    caplog.set_level(logging.INFO, logger="generator.build")
    timer = StageTimer()  # decides from stderr: a terminal here
    assert timer.show_progress
    generate(_options(tmp_path), timer)
    shown = terminal.getvalue()
    for name in STAGES:
        assert f"\rpaper-digest: {name}…" in shown and f"\rpaper-digest: {name} done in " in shown
    assert not [r for r in caplog.records if " done in " in r.getMessage()]  # shown, not also logged
