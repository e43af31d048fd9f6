/* paper-digest page behaviour: render math spans with KaTeX, copy BibTeX. No data is ever
   inserted as HTML: math is rendered from the element's text, copying reads textContent. */
(function () {
  "use strict";

  function renderMath(root) {
    if (typeof katex === "undefined") return;
    root.querySelectorAll("span.math").forEach(function (el) {
      if (el.dataset.rendered) return;
      var tex = el.textContent;
      try {
        katex.render(tex, el, {
          throwOnError: false,
          displayMode: el.classList.contains("math-display"),
          trust: false,
          strict: "ignore",
          maxExpand: 1000,
        });
        el.dataset.rendered = "1";
        el.setAttribute("title", tex);
      } catch (e) {
        el.textContent = tex;
      }
    });
  }

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
