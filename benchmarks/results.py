"""Benchmark results as JSON: written sorted and indented, with non-finite numbers as null."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_json(result: dict[str, Any], path: Path) -> None:
    """The result as JSON (a never-reached time, infinity in the targets, becomes null)."""
    path.write_text(json.dumps(_finite(result), indent=1) + "\n", "utf-8")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and value == float("inf"):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
