"""Shared chrome: the header, tabs, drawer and footer of generated pages, sent once instead of per page.

Material's chrome is about 5.5 KB of every page (the header with the palette toggle and the
search box, the tabs, the drawer's navigation, the footer) and is the same on each of the
100,000 paper, day and topic pages of a large digest. theme_overrides/lean.html marks those
parts (`<!--pd:header-->...<!--/pd-->`); `SharedChrome.share` keeps the first page's copy of
each part, with the page's relative path to the site root replaced by a placeholder, and puts
in its place `<script src=".../chrome.js" data-part="header">`. `chrome.js` (written once,
`SharedChrome.script`) inserts the part before that script element while the page is being
parsed (`insertAdjacentHTML`, not `document.write`), with links made absolute from the script's
own address, so the DOM Material's bundle finds at the end of the body is the one it would find
in the page; it also fills in the page's title in the header and applies the saved colour
scheme, as Material's inline palette script does. A page whose part differs from the shared
copy keeps its own. Without JavaScript, lean.html's `<noscript>` links stand in.
"""

from __future__ import annotations

import json
import posixpath
import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

CHROME_SCRIPT = "assets/javascripts/chrome.js"
"""Where the shared chrome is written, relative to the site root."""
_PART = re.compile(r"<!--pd:(\w+)(?:=-->|-->(.*?)<!--/pd-->)", re.S)
"""A shared part as rendered (`<!--pd:NAME-->...<!--/pd-->`), or asked for (`<!--pd:NAME=-->`)."""
_LINK = re.compile(r'\b(href|src)="(?![a-z][a-z0-9+.-]*:|#|/)([^"]*)"')
"""A relative link (not another scheme, not a fragment, not absolute)."""
_ORIGIN = "http://site.invalid/"
ROOT_MARK = "\x00"
"""Stands for the site root (with its trailing slash) in a shared part."""


class SharedChrome:
    """The shared parts of one build, collected from the pages as MkDocs renders them."""

    def __init__(self, site_name: str) -> None:
        self.site_name = site_name
        self.parts: dict[str, str] = {}
        """Part name -> HTML with `ROOT_MARK` for the site root."""

    def share(self, html: str, page_url: str) -> str:
        """The page with each marked part replaced by a script that inserts the shared copy.

        `page_url` is the page's URL relative to the site root (MkDocs' `page.url`, e.g.
        `papers/x/`): relative links in a part are made relative to the root, so that one copy
        serves pages at every depth. The markers are removed either way.
        """
        here = _ORIGIN + page_url
        script = f'<script src="{_relative(page_url, CHROME_SCRIPT)}" data-part="'

        def from_root(match: re.Match[str]) -> str:
            target = urljoin(here, match.group(2))
            if not target.startswith(_ORIGIN):  # another host, a scheme, or above the root: as it is
                return match.group(0)
            return f'{match.group(1)}="{ROOT_MARK}{target[len(_ORIGIN) :]}"'

        def replace(match: re.Match[str]) -> str:
            name, body = match.group(1), match.group(2)
            if body is None:  # lean.html did not render a part already known
                return f'{script}{name}"></script>'
            if ROOT_MARK in body:
                return body
            shared = _LINK.sub(from_root, body)
            if self.parts.setdefault(name, shared) != shared:
                return body  # this page's part is its own: keep it
            return f'{script}{name}"></script>'

        return _PART.sub(replace, html)

    def script(self) -> bytes | None:
        """The text of chrome.js, or None when no page shared anything."""
        if not self.parts:
            return None
        parts = json.dumps(dict(sorted(self.parts.items())), ensure_ascii=True, separators=(",", ":"))
        suffix = json.dumps(" - " + self.site_name, ensure_ascii=True)
        return _SCRIPT.replace("PARTS", parts).replace("SUFFIX", suffix).encode("utf-8")


TEXT_KEYS = {
    "language": "language",
    "direction": "direction",
    "skip": "action.skip",
    "nav": "nav",
    "tabs": "tabs",
    "toc": "toc",
    "top": "top",
    "clipboard_copy": "clipboard.copy",
    "clipboard_copied": "clipboard.copied",
}
"""The words of Material's interface lean.html uses (`pd_text.<name>`), by Material's translation key."""
ASSET_GLOBS = {
    "main_css": "assets/stylesheets/main.*.min.css",
    "palette_css": "assets/stylesheets/palette.*.min.css",
    "bundle_js": "assets/javascripts/bundle.*.min.js",
}
"""Material's versioned asset files lean.html links (`pd_assets.<name>`), found in the theme."""


def theme_globals(env: Any, config: Any) -> dict[str, Any]:
    """`pd_text` and `pd_assets` for lean.html, made once a build from the installed Material.

    The words come from Material's own translations for `theme.language` (its `lang.t`), the
    asset names from the files the theme ships, so lean.html follows an upgrade of Material.
    """
    lines = "".join(f"{{{{ lang.t({key!r}) }}}}\n" for key in TEXT_KEYS.values())
    rendered = env.from_string('{% import "partials/language.html" as lang with context %}' + lines).render(
        config=config
    )
    text = dict(zip(TEXT_KEYS, rendered.split("\n"), strict=False))
    text["direction"] = config.theme.get("direction") or text["direction"]
    assets: dict[str, str] = {}
    for name, pattern in ASSET_GLOBS.items():
        found = sorted(path for folder in config.theme.dirs for path in Path(folder).glob(pattern))
        if not found:
            raise ValueError(f"the theme has no {pattern}: lean.html cannot link Material's assets")
        assets[name] = found[0].relative_to(found[0].parents[2]).as_posix()
    return {"pd_text": text, "pd_assets": assets}


def parts_of(script: str) -> dict[str, str]:
    """The shared parts written in a chrome.js (the inverse of `SharedChrome.script`, for checks)."""
    start = script.index("var parts = ") + len("var parts = ")
    parts, _ = json.JSONDecoder().raw_decode(script, start)
    return dict(parts)


def _relative(page_url: str, path: str) -> str:
    """`path` (from the site root) relative to the page at `page_url`."""
    base = page_url if page_url.endswith("/") or not page_url else posixpath.dirname(page_url) + "/"
    return posixpath.relpath(path, base or ".")


_SCRIPT = """\
// paper-digest: the chrome shared by generated pages (generator/website/chrome.py). Each page has a
// <script src=".../chrome.js" data-part="header|tabs|nav|footer"> where the part belongs.
(function () {
  var parts = PARTS, s = document.currentScript, part = s.getAttribute("data-part");
  var root = new URL("../../", s.src).href;
  s.insertAdjacentHTML("beforebegin", parts[part].split("\\u0000").join(root));
  if (part !== "header") return;
  var topic = document.querySelector("[data-md-component=header-topic] .md-ellipsis");
  var title = document.title, suffix = SUFFIX;
  if (topic) topic.textContent = title.slice(-suffix.length) === suffix ? title.slice(0, -suffix.length) : title;
  // Material's inline palette script (partials/javascripts/palette.html): the saved scheme.
  var palette = __md_get("__palette");
  if (palette && palette.color) {
    if (palette.color.media === "(prefers-color-scheme)") {
      var light = matchMedia("(prefers-color-scheme: light)").matches;
      var scheme = "(prefers-color-scheme: " + (light ? "light" : "dark") + ")";
      var input = document.querySelector("[data-md-color-media='" + scheme + "']");
      ["media", "scheme", "primary", "accent"].forEach(function (key) {
        palette.color[key] = input.getAttribute("data-md-color-" + key);
      });
    }
    for (var key in palette.color) document.body.setAttribute("data-md-color-" + key, palette.color[key]);
  }
})();
"""
