"""paper-digest: turn scraped research-paper listings into a static, searchable digest site."""

from __future__ import annotations

__version__ = "0.1.0"
