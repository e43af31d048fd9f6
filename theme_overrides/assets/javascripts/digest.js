/* paper-digest page behaviour: render math spans with KaTeX, copy BibTeX. No data is ever
   inserted as HTML: math is rendered from the element's text, copying reads textContent. */
(function () {
  "use strict";

  /* Math that cannot hurt: the limits of generator/escaping.py (MATH_MAX_LENGTH,
     MATH_MAX_DEPTH, MATH_DENIED_COMMANDS), which already leaves such math as literal text,
     applied again here for pages built before it did or math that reaches a page otherwise.
     The commands are refused where the TeX names them, not by overriding them with KaTeX
     macros: KaTeX's own macros use some of them (\not uses \mathrlap, \TeX \kern). */
  var MATH_MAX_LENGTH = 300;
  var MATH_MAX_DEPTH = 8;
  var DENIED = new Set((
    "rule vrule hrule colorbox fcolorbox fbox boxed color textcolor " +
    "large Large LARGE huge Huge " +
    "kern mkern hskip mskip hspace mspace hfill raisebox raise lower " +
    "smash llap rlap clap mathllap mathrlap mathclap genfrac above " +
    "href url htmlStyle htmlClass htmlId htmlData includegraphics " +
    "def gdef edef xdef let futurelet global long expandafter noexpand " +
    "newcommand renewcommand providecommand \\ newline cr begin end"
  ).split(" ").map(function (name) { return "\\" + name; }));
  var TEX_TOKEN =
    /\\(?:(sqrt|x[A-Za-z]*(?:arrows?|harpoon[a-z]*|equilibrium|mapsto|equal|tofrom))\s*\[|[A-Za-z@]+|[^])|[{}\]]/g;
  var KATEX_OPTIONS = {
    throwOnError: false,
    trust: false,  // no \href, \url, \includegraphics, \html*
    strict: "ignore",
    maxSize: 1,  // em: the most any size written in the TeX can be
    // With \def and its kin refused, only KaTeX's own macros expand: a 300-character piece
    // of them needs at most about 600 expansions (\iff\iff...; 100 would refuse 13 \iff).
    maxExpand: 1000,
  };

  /* Whether KaTeX may typeset this TeX: escaping.py's math_is_safe, token for token. */
  function mathIsSafe(tex) {
    if (tex.length > MATH_MAX_LENGTH) return false;
    var depth = 0, brackets = 0, match, token;
    TEX_TOKEN.lastIndex = 0;
    while ((match = TEX_TOKEN.exec(tex)) !== null) {
      token = match[0];
      if (match[1] !== undefined) {  // \sqrt[: its optional argument is a level
        brackets++;
        depth++;
      } else if (token === "{" || token === "\\left") {
        depth++;
      } else if (token === "}" || token === "\\right") {
        depth = Math.max(depth - 1, 0);
        continue;
      } else if (token === "]") {
        if (brackets) { brackets--; depth = Math.max(depth - 1, 0); }
        continue;
      } else if (DENIED.has(token) || token.indexOf("@") !== -1) {
        return false;
      }
      if (depth > MATH_MAX_DEPTH) return false;
    }
    return true;
  }

  function renderMath(root) {
    if (typeof katex === "undefined") return;
    root.querySelectorAll("span.math").forEach(function (el) {
      if (el.dataset.rendered) return;
      var tex = el.textContent;
      var display = el.classList.contains("math-display");
      if (mathIsSafe(tex)) {
        try {
          katex.render(tex, el, Object.assign({ displayMode: display }, KATEX_OPTIONS));
          el.dataset.rendered = "1";
          el.setAttribute("title", tex);
          return;
        } catch (e) { /* shown as text below */ }
      }
      var dollars = display ? "$$" : "$";
      el.textContent = dollars + tex + dollars;  // as escaping.py shows refused math
      el.dataset.rendered = "literal";
    });
  }

  /* KaTeX is on a page only when the page has math (partials/digest-scripts.html). Whatever adds
     math later (the search results) calls `digestMath.render(element)`: KaTeX's script and
     stylesheet are loaded then, once, from beside this script. */
  var KATEX_DIR = document.currentScript && document.currentScript.src
    ? new URL("../vendor/katex/", document.currentScript.src).href
    : null;
  var katexLoading = null;

  function loadKatex() {
    if (typeof katex !== "undefined") return Promise.resolve();
    if (katexLoading) return katexLoading;
    if (!KATEX_DIR) return Promise.reject(new Error("KaTeX's folder is unknown"));
    katexLoading = new Promise(function (resolve, reject) {
      if (!document.querySelector("link[href$='katex.min.css']")) {
        var css = document.createElement("link");
        css.rel = "stylesheet";
        css.href = KATEX_DIR + "katex.min.css";
        document.head.appendChild(css);
      }
      var script = document.createElement("script");
      script.src = KATEX_DIR + "katex.min.js";
      script.onload = function () { resolve(); };
      script.onerror = function () { katexLoading = null; reject(new Error("KaTeX could not be loaded")); };
      document.head.appendChild(script);
    });
    return katexLoading;
  }

  /* Typesets the math spans under `root`, loading KaTeX first if it is not on the page yet. */
  function renderLater(root) {
    if (!root.querySelector("span.math:not([data-rendered])")) return Promise.resolve();
    return loadKatex().then(function () { renderMath(root); }, function () { /* math stays as its TeX */ });
  }

  window.digestMath = { render: renderLater, isSafe: mathIsSafe };

  function copyText(text, button) {
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text); done(); });
    } else {
      fallbackCopy(text);
      done();
    }
  }

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing else to try */ }
    document.body.removeChild(area);
  }

  function init() {
    renderMath(document);
    document.querySelectorAll("button.pd-copy").forEach(function (button) {
      button.addEventListener("click", function () {
        var target = document.getElementById(button.getAttribute("data-copy-target"));
        if (target) copyText(target.textContent, button);
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
