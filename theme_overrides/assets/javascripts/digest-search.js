/*
 * digest-search.js: instant search over the whole digest, from lunr indexes prebuilt at
 * build time by generator/search.py. No index is built in the browser.
 *
 * Flow: on first use of the header box (focus, hover, `/` or `s`), load lunr.js (vendor/)
 * and search/manifest.json, then the newest month part, then all the title chunks at once
 * (small lunr indexes of the title field; together they hold every paper's title, no
 * abstract), then the other month parts newest first (two at a time). Every loaded part
 * answers the current query at once; results from later parts are merged in and sorted by
 * compareResults: how many query words they have, then title evidence (the typed words as a
 * phrase in the title, then all of them in it), then lunr's score. Scores of different lunr
 * indexes are not strictly comparable (idf is per index); they only order results of equal
 * title evidence, where title chunks (similar sizes, one field) come close enough, and a
 * month part's score (title boosted x10, plus abstract) outranks a title chunk's.
 * A paper found only by a title chunk is shown without its snippet until its month part
 * arrives; then the month part's result (same url) replaces it.
 *
 * Query words are split exactly as generator/search.py split the indexed text (NFKC, lower
 * case, runs of letters and digits), stemmed with lunr's stemmer and given to lunr as terms
 * (never through lunr's query parser, so `:` `~` `^` `+` `-` `*` typed by a person are only
 * separators). The last word, while it is being typed, also matches as a prefix. A result must
 * contain every word (stop words excepted); when no paper does, the closest ones are shown.
 *
 * All text from the data (titles, abstracts, topic names) reaches the DOM as text nodes;
 * highlighting builds <mark> elements. No innerHTML anywhere.
 */
(function () {
  "use strict";

  // Loaded twice (main.html and mkdocs.yml extra_javascript both)? One copy is enough.
  if (window.__digestSearch) return;
  window.__digestSearch = true;

  var FORMAT = 3; // generator/search.py FORMAT_VERSION
  var PAGE_SIZE = 50;
  var PARALLEL_LOADS = 2;
  var TITLE_PARALLEL_LOADS = 6; // title chunks are small: fetched all at once (the browser's own limit)
  var TITLE_RANK_LIMIT = 500;
  var WORD = /[\p{L}\p{N}]+/gu;
  var SEPARATOR = /[^\p{L}\p{N}]+/u;

  var ROOT = siteRoot();
  var LUNR_URL = new URL("assets/javascripts/vendor/lunr.min.js", ROOT).href;
  if (document.currentScript && document.currentScript.src) {
    LUNR_URL = new URL("vendor/lunr.min.js", document.currentScript.src).href;
  }

  /* Search data, kept across Material's instant navigation. */
  var data = {
    started: false,
    ready: null, // Promise of the manifest, once lunr is loaded too
    manifest: null,
    topicNames: Object.create(null),
    parts: [], // {meta, index, docs, loaded, failed, base}
    titleParts: [], // the title chunks, newest first, same shape; their docs have no excerpt, refs are base 36
    partByKey: Object.create(null), // month part key -> part
    fullByUrl: Object.create(null), // url -> doc of a loaded month part
    pending: 0,
    error: null,
  };
  var ui = null; // the bound search box of the current page
  var stemCache = Object.create(null);

  /* ---------- set-up ---------- */

  function siteRoot() {
    var base = ".";
    var config = document.getElementById("__config");
    if (config) {
      try {
        base = JSON.parse(config.textContent).base || ".";
      } catch (e) {
        base = ".";
      }
    }
    if (base.slice(-1) !== "/") base += "/";
    return new URL(base, location.href);
  }

  /* Runs on every page: at load, and after each of Material's instant navigations. */
  function onPage() {
    var root = document.querySelector("[data-ds-root]");
    if (!root) return;
    if (root.getAttribute("data-ds-bound") === "1") {
      closePanel(true); // the header survived an instant navigation: a new page, a closed panel
      return;
    }
    init(root);
  }

  function init(root) {
    root.setAttribute("data-ds-bound", "1");
    ui = {
      root: root,
      input: root.querySelector("[data-ds-input]"),
      panel: root.querySelector("[data-ds-panel]"),
      topic: root.querySelector("[data-ds-topic]"),
      from: root.querySelector("[data-ds-from]"),
      to: root.querySelector("[data-ds-to]"),
      status: root.querySelector("[data-ds-status]"),
      list: root.querySelector("[data-ds-results]"),
      more: root.querySelector("[data-ds-more]"),
      results: [],
      shown: PAGE_SIZE,
      active: -1,
      activeKey: null,
      query: null,
      perPart: new Map(),
      titleResults: new Map(),
      scheduled: false,
    };
    root.classList.add("ds--ready");
    setState(currentState());

    ui.input.addEventListener("focus", function () {
      start();
      openPanel(); // filters are reachable before typing
      render();
    });
    root.addEventListener("pointerenter", start);
    ui.input.addEventListener("input", function () {
      start();
      ui.shown = PAGE_SIZE;
      scheduleSearch();
    });
    ui.input.addEventListener("keydown", onInputKey);
    [ui.topic, ui.from, ui.to].forEach(function (el) {
      el.addEventListener("change", function () {
        ui.shown = PAGE_SIZE;
        runSearch();
      });
      el.addEventListener("keydown", function (event) {
        if (event.key === "Escape") closePanel(true);
      });
    });
    ui.more.addEventListener("click", function () {
      ui.shown += PAGE_SIZE;
      render();
    });
    ui.list.addEventListener("mousemove", function (event) {
      var item = event.target.closest && event.target.closest("[data-ds-index]");
      if (item) setActive(Number(item.getAttribute("data-ds-index")), false);
    });
    root.addEventListener("focusout", function (event) {
      if (event.relatedTarget && !root.contains(event.relatedTarget)) closePanel(false);
    });
    ui.list.addEventListener("click", function (event) {
      if (event.target.closest && event.target.closest("a")) closePanel(true);
    });
    if (data.manifest) fillTopics();

    var q = new URLSearchParams(location.search).get("q");
    if (q) {
      ui.input.value = q;
      start();
      runSearch();
    }
  }

  function onGlobalKey(event) {
    if (!ui || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key !== "/" && event.key !== "s") return;
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    event.preventDefault();
    event.stopPropagation();
    ui.input.focus();
    ui.input.select();
  }

  /* ---------- loading ---------- */

  /* `data-ds-state` on the box: idle, loading, ready or error (for tests and benchmarks). */
  function setState(state) {
    if (ui) ui.root.setAttribute("data-ds-state", state);
  }

  function currentState() {
    if (data.error) return "error";
    if (!data.started) return "idle";
    return data.manifest && data.pending === 0 ? "ready" : "loading";
  }

  function start() {
    if (data.started) return;
    data.started = true;
    setState("loading");
    data.ready = Promise.all([loadLunr(), fetchJSON(new URL("search/manifest.json", ROOT), "no-cache")])
      .then(function (values) {
        var manifest = values[1];
        // A cached old copy of this script must not misread a newer format: fail visibly instead.
        if (manifest.format !== FORMAT) throw new Error("search format " + manifest.format + ", expected " + FORMAT);
        data.manifest = manifest;
        (manifest.topics || []).forEach(function (t) {
          data.topicNames[t[0]] = t[1];
        });
        data.parts = (manifest.parts || []).map(function (meta) {
          var part = { meta: meta, index: null, docs: null, loaded: false, failed: false, base: 10 };
          data.partByKey[meta.key] = part;
          return part;
        });
        data.titleParts = (manifest.title_parts || []).map(function (meta) {
          return { meta: meta, index: null, docs: null, loaded: false, failed: false, base: 36, titles: true };
        });
        data.pending = data.parts.length + data.titleParts.length;
        setState(currentState());
        fillTopics();
        loadParts();
        if (ui && (ui.input.value || hasFilters() || isOpen())) runSearch();
        return manifest;
      })
      .catch(function (error) {
        data.error = error;
        setState("error");
        updateStatus();
        if (window.console) console.error("digest-search:", error);
      });
  }

  function loadLunr() {
    if (window.lunr) return Promise.resolve(window.lunr);
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = LUNR_URL;
      script.async = true;
      script.onload = function () {
        if (window.lunr) resolve(window.lunr);
        else reject(new Error("lunr.js did not define window.lunr"));
      };
      script.onerror = function () {
        reject(new Error("could not load " + LUNR_URL));
      };
      document.head.appendChild(script);
    });
  }

  function fetchJSON(url, cache) {
    return fetch(url, { cache: cache || "default", credentials: "same-origin" }).then(function (response) {
      if (!response.ok) throw new Error(response.status + " " + response.statusText + " for " + url);
      return response.json();
    });
  }

  function loadParts() {
    // The newest month part alone first (small: the first answer), then every title chunk at
    // once (every title, so an old paper is found by its title before its month part), then
    // the other month parts two at a time. Parsing all titles beside the newest month part
    // held up the first answer (and the typing) about three times as long at 50k papers.
    var queue = data.parts.slice(0, 1).concat(data.titleParts, data.parts.slice(1));
    var loading = 0;
    function limit() {
      return queue.length && queue[0].titles ? TITLE_PARALLEL_LOADS : PARALLEL_LOADS;
    }
    function next() {
      var part = queue.shift();
      if (!part) return;
      loading += 1;
      Promise.all([fetchJSON(new URL(part.meta.index, ROOT)), fetchJSON(new URL(part.meta.docs, ROOT))])
        .then(function (values) {
          part.index = window.lunr.Index.load(values[0]);
          part.docs = values[1];
          part.loaded = true;
          if (!part.titles) {
            part.docs.forEach(function (doc) {
              data.fullByUrl[doc[0]] = doc;
            });
          }
        })
        .catch(function (error) {
          part.failed = true;
          if (window.console) console.error("digest-search: part " + part.meta.key + ":", error);
        })
        .then(function () {
          loading -= 1;
          data.pending -= 1;
          onPartLoaded(part);
          while (loading < limit() && queue.length) next();
        });
    }
    next();
  }

  function onPartLoaded(part) {
    if (!ui) return;
    setState(currentState());
    if (ui.query && part.loaded) {
      if (part.titles) ui.titleResults.set(part.meta.key, searchPart(part, ui.query));
      else ui.perPart.set(part.meta.key, searchPart(part, ui.query));
      merge();
    } else if (ui.query === null && hasFilters()) {
      merge();
    }
    if (isOpen()) render();
  }

  /* ---------- queries ---------- */

  function stem(word) {
    var s = stemCache[word];
    if (s === undefined) {
      s = window.lunr.stemmer(new window.lunr.Token(word)).toString();
      stemCache[word] = s;
    }
    return s;
  }

  function words(text) {
    return text.normalize("NFKC").toLowerCase().split(SEPARATOR).filter(Boolean);
  }

  /* The typed text as terms: {word, stem, prefix, stop}; null when there is nothing to search. */
  function parseQuery(text) {
    var all = words(text);
    var typing = all.length > 0 && !SEPARATOR.test(text.normalize("NFKC").slice(-1));
    var terms = [];
    all.forEach(function (word, i) {
      var last = i === all.length - 1;
      var prefix = last && typing;
      if (prefix && word.length < 2) return; // one letter of a new word: wait for more
      var stop = !window.lunr.stopWordFilter(new window.lunr.Token(word));
      terms.push({ word: word, stem: stem(word), prefix: prefix, stop: stop });
    });
    var required = terms.filter(function (t) {
      return !t.stop;
    });
    if (!terms.length || (!required.length && !terms.some(function (t) { return t.prefix; }))) return null;
    return { text: text, words: all, terms: terms, required: required, typing: typing };
  }

  function searchPart(part, query) {
    var lunr = window.lunr;
    var hits;
    try {
      hits = part.index.query(function (q) {
        query.terms.forEach(function (t) {
          if (!t.stop) q.term(t.stem, { usePipeline: false, boost: 10 });
          if (t.prefix) {
            q.term(t.word, { usePipeline: false, wildcard: lunr.Query.wildcard.TRAILING });
            if (t.stem !== t.word) q.term(t.stem, { usePipeline: false, wildcard: lunr.Query.wildcard.TRAILING });
          }
        });
      });
    } catch (error) {
      if (window.console) console.warn("digest-search: query failed:", error);
      return [];
    }
    return hits.map(function (hit, i) {
      var matched = Object.keys(hit.matchData.metadata);
      var doc = part.docs[parseInt(hit.ref, part.base)];
      var result = {
        key: doc[0], // the url: a month part's result replaces a title chunk's one
        doc: doc,
        score: hit.score,
        coverage: countSatisfied(query.required, matched, null),
        titleHits: 0,
        tier: 0,
      };
      if (i < TITLE_RANK_LIMIT) rankTitle(result, query);
      return result;
    });
  }

  function satisfies(t, term) {
    return term === t.stem || (t.prefix && (term.lastIndexOf(t.word, 0) === 0 || term.lastIndexOf(t.stem, 0) === 0));
  }

  /* How many of `terms` some candidate satisfies (candidates: index terms, or a title's words and stems). */
  function countSatisfied(terms, candidates, stems) {
    var n = 0;
    terms.forEach(function (t) {
      for (var i = 0; i < candidates.length; i++) {
        if (satisfies(t, candidates[i]) || (stems && satisfies(t, stems[i]))) {
          n += 1;
          return;
        }
      }
    });
    return n;
  }

  var titleCache = new WeakMap(); // doc -> {words, stems} of its title

  /* Title evidence: the typed words as a phrase in the title beat all of them scattered in it. */
  function rankTitle(result, query) {
    var cached = titleCache.get(result.doc);
    if (!cached) {
      var w = words(result.doc[1]);
      cached = { words: w, stems: w.map(stem) };
      titleCache.set(result.doc, cached);
    }
    var title = cached.words;
    result.titleHits = countSatisfied(query.required, title, cached.stems);
    var n = query.words.length;
    var phrase = false;
    for (var i = 0; i + n <= title.length && !phrase; i++) {
      phrase = true;
      for (var j = 0; j < n; j++) {
        var w = query.words[j];
        var last = j === n - 1 && query.typing;
        if (!(title[i + j] === w || (last && title[i + j].lastIndexOf(w, 0) === 0))) {
          phrase = false;
          break;
        }
      }
    }
    if (phrase && n > 0) result.tier = 2;
    else if (query.required.length && result.titleHits === query.required.length) result.tier = 1;
  }

  function compareResults(a, b) {
    return (
      b.coverage - a.coverage ||
      b.tier - a.tier ||
      b.titleHits - a.titleHits ||
      b.score - a.score ||
      (b.doc[2] || "").localeCompare(a.doc[2] || "") ||
      (a.doc[0] < b.doc[0] ? -1 : a.doc[0] > b.doc[0] ? 1 : 0)
    );
  }

  function hasFilters() {
    return !!(ui && (ui.topic.value || ui.from.value || ui.to.value));
  }

  function passesFilters(doc) {
    var topic = ui.topic.value;
    var from = ui.from.value;
    var to = ui.to.value;
    if (topic && doc[3].indexOf(topic) < 0) return false;
    if ((from || to) && !doc[2]) return false;
    if (from && doc[2] < from) return false;
    if (to && doc[2] > to) return false;
    return true;
  }

  function scheduleSearch() {
    if (ui.scheduled) return;
    ui.scheduled = true;
    requestAnimationFrame(function () {
      ui.scheduled = false;
      runSearch();
    });
  }

  function runSearch() {
    if (!ui) return;
    var text = ui.input.value;
    ui.query = window.lunr && data.manifest ? parseQuery(text) : null;
    ui.searched = data.manifest ? text : null;
    ui.perPart = new Map();
    ui.titleResults = new Map();
    ui.active = -1;
    ui.activeKey = null;
    if (ui.query) {
      data.parts.forEach(function (part) {
        if (part.loaded) ui.perPart.set(part.meta.key, searchPart(part, ui.query));
      });
      if (!allPartsLoaded()) {
        data.titleParts.forEach(function (part) {
          if (part.loaded && !titlesCovered(part)) ui.titleResults.set(part.meta.key, searchPart(part, ui.query));
        });
      }
    }
    merge();
    if (text.trim() || hasFilters() || ui.root.contains(document.activeElement)) openPanel();
    else closePanel(false);
    render();
  }

  function allPartsLoaded() {
    return data.parts.every(function (part) {
      return part.loaded;
    });
  }

  /* Whether every month part of a title chunk is loaded: the chunk then has nothing to add. */
  function titlesCovered(titlePart) {
    return (titlePart.meta.parts || []).every(function (key) {
      var part = data.partByKey[key];
      return part && part.loaded;
    });
  }

  function merge() {
    var all = [];
    if (ui.query) {
      var seen = Object.create(null);
      ui.perPart.forEach(function (results) {
        results.forEach(function (r) {
          seen[r.key] = true;
          if (passesFilters(r.doc)) all.push(r);
        });
      });
      // Title-only hits for papers whose month part has not arrived (or could not be loaded);
      // a paper is in one title chunk only.
      ui.titleResults.forEach(function (results) {
        results.forEach(function (r) {
          if (!seen[r.key] && !data.fullByUrl[r.key] && passesFilters(r.doc)) all.push(r);
        });
      });
      var best = 0;
      all.forEach(function (r) {
        if (r.coverage > best) best = r.coverage;
      });
      all = all.filter(function (r) {
        return r.coverage === best && (best > 0 || !ui.query.required.length);
      });
      all.sort(compareResults);
      ui.partial = best < ui.query.required.length;
    } else if (hasFilters()) {
      // No words, only filters: list the matching papers, newest first (title chunks and their
      // stores are in month part order), each with its month part's doc once that is loaded.
      // A title chunk not (yet) loaded is stood in for by its loaded month parts.
      var listed = Object.create(null);
      var add = function (doc) {
        if (listed[doc[0]]) return;
        listed[doc[0]] = true;
        if (passesFilters(doc)) all.push({ key: doc[0], doc: doc, score: 0 });
      };
      data.titleParts.forEach(function (titlePart) {
        if (titlePart.loaded) {
          titlePart.docs.forEach(function (short) {
            add(data.fullByUrl[short[0]] || short);
          });
        } else {
          (titlePart.meta.parts || []).forEach(function (key) {
            var part = data.partByKey[key];
            if (part && part.loaded) part.docs.forEach(add);
          });
        }
      });
      if (!data.titleParts.length) {
        data.parts.forEach(function (part) {
          if (part.loaded) part.docs.forEach(add);
        });
      }
      ui.partial = false;
    }
    ui.results = all;
    ui.active = -1;
    if (ui.activeKey) {
      for (var i = 0; i < all.length && i < ui.shown; i++) {
        if (all[i].key === ui.activeKey) ui.active = i;
      }
    }
  }

  /* ---------- rendering ---------- */

  function isOpen() {
    return ui && !ui.panel.hidden;
  }

  function openPanel() {
    ui.panel.hidden = false;
    ui.root.classList.add("ds--open");
    ui.input.setAttribute("aria-expanded", "true");
  }

  function closePanel(blur) {
    if (!ui) return;
    ui.panel.hidden = true;
    ui.root.classList.remove("ds--open");
    ui.input.setAttribute("aria-expanded", "false");
    ui.input.removeAttribute("aria-activedescendant");
    if (blur && ui.root.contains(document.activeElement)) document.activeElement.blur();
  }

  function fillTopics() {
    if (!ui || !data.manifest || ui.topic.getAttribute("data-ds-filled") === "1") return;
    ui.topic.setAttribute("data-ds-filled", "1");
    (data.manifest.topics || []).forEach(function (t) {
      var option = document.createElement("option");
      option.value = t[0];
      option.textContent = t[1];
      ui.topic.appendChild(option);
    });
    if (data.manifest.first) ui.from.min = ui.to.min = data.manifest.first;
    if (data.manifest.last) ui.from.max = ui.to.max = data.manifest.last;
  }

  /* A doc's page URL; only paths inside the site are links (the store is data, not code). */
  function docHref(path) {
    var url = new URL(path, ROOT);
    return url.origin === ROOT.origin && url.href.lastIndexOf(ROOT.href, 0) === 0 ? url.href : ROOT.href;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function highlighter(query) {
    var terms = query ? query.terms.filter(function (t) { return !t.stop; }) : [];
    if (!terms.length) return null;
    return function (word) {
      var lower = word.normalize("NFKC").toLowerCase();
      var s = stem(lower);
      return terms.some(function (t) {
        return satisfies(t, s) || (t.prefix && lower.lastIndexOf(t.word, 0) === 0);
      });
    };
  }

  /* Appends `text` to `parent` as text nodes, with the words `match` accepts in <mark>s. */
  function appendMarked(parent, text, match) {
    if (!match) {
      parent.appendChild(document.createTextNode(text));
      return;
    }
    var last = 0;
    text.replace(WORD, function (word, offset) {
      if (match(word)) {
        if (offset > last) parent.appendChild(document.createTextNode(text.slice(last, offset)));
        parent.appendChild(el("mark", null, word));
        last = offset + word.length;
      }
      return word;
    });
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  /* The excerpt, started shortly before its first matched word when that is far in. */
  function snippetText(text, match) {
    if (!match || text.length < 140) return text;
    var first = -1;
    text.replace(WORD, function (word, offset) {
      if (first < 0 && match(word)) first = offset;
      return word;
    });
    if (first < 100) return text;
    var start = text.lastIndexOf(" ", first - 40);
    return "…" + text.slice(start < 0 ? first : start + 1);
  }

  function render() {
    var list = ui.list;
    // The text the shown results answer (for tests and benchmarks); absent while loading.
    if (ui.searched === null || ui.searched === undefined) ui.root.removeAttribute("data-ds-query");
    else ui.root.setAttribute("data-ds-query", ui.searched);
    while (list.firstChild) list.removeChild(list.firstChild);
    var match = highlighter(ui.query);
    var shown = ui.results.slice(0, ui.shown);
    shown.forEach(function (result, i) {
      var doc = result.doc;
      var item = el("li", "ds__result");
      item.id = "ds-option-" + i;
      item.setAttribute("role", "option");
      item.setAttribute("data-ds-index", String(i));
      item.setAttribute("aria-selected", i === ui.active ? "true" : "false");
      var link = el("a", "ds__link");
      link.href = docHref(doc[0]);
      link.tabIndex = -1;
      var title = el("div", "ds__title");
      appendMarked(title, doc[1], match);
      link.appendChild(title);
      var meta = el("div", "ds__meta");
      if (doc[2]) {
        var time = el("time", "ds__when", doc[2]);
        time.dateTime = doc[2];
        meta.appendChild(time);
      }
      doc[3].forEach(function (slug) {
        var name = data.topicNames[slug] || slug;
        var topic = el("span", "ds__topic");
        appendMarked(topic, name, match);
        meta.appendChild(topic);
      });
      link.appendChild(meta);
      if (doc[4]) {
        var snippet = el("p", "ds__snippet");
        appendMarked(snippet, snippetText(doc[4], match), match);
        link.appendChild(snippet);
      }
      item.appendChild(link);
      list.appendChild(item);
    });
    ui.more.hidden = ui.results.length <= ui.shown;
    if (ui.active >= 0) ui.input.setAttribute("aria-activedescendant", "ds-option-" + ui.active);
    else ui.input.removeAttribute("aria-activedescendant");
    updateStatus();
  }

  function updateStatus() {
    if (!ui) return;
    var text;
    if (data.error) {
      text = "Search is unavailable: its index could not be loaded.";
    } else if (!data.manifest) {
      text = "Loading search…";
    } else if (!ui.query && !hasFilters()) {
      text = ui.input.value.trim()
        ? "Type a little more…"
        : "Search " + data.manifest.count + " papers by words of their title, abstract or topics, or pick a topic or dates.";
    } else {
      var n = ui.results.length;
      text = n === 0 ? "No matching papers" : n === 1 ? "1 paper" : n + " papers";
      if (ui.query && n && ui.partial) text += " (none has every word; closest matches)";
      if (data.pending > 0) text += " · searching older papers…";
    }
    ui.status.textContent = text;
  }

  function setActive(index, scroll) {
    var items = ui.list.children;
    if (!items.length) return;
    index = Math.max(-1, Math.min(index, items.length - 1));
    if (ui.active >= 0 && items[ui.active]) items[ui.active].setAttribute("aria-selected", "false");
    ui.active = index;
    ui.activeKey = index >= 0 ? ui.results[index].key : null;
    if (index >= 0) {
      items[index].setAttribute("aria-selected", "true");
      ui.input.setAttribute("aria-activedescendant", items[index].id);
      if (scroll) items[index].scrollIntoView({ block: "nearest" });
    } else {
      ui.input.removeAttribute("aria-activedescendant");
    }
  }

  function onInputKey(event) {
    switch (event.key) {
      case "ArrowDown":
        event.preventDefault();
        if (!isOpen()) openPanel();
        setActive(ui.active + 1, true);
        break;
      case "ArrowUp":
        event.preventDefault();
        setActive(ui.active - 1, true);
        break;
      case "Enter": {
        event.preventDefault();
        var index = ui.active >= 0 ? ui.active : 0;
        var item = ui.list.children[index];
        var link = item && item.querySelector("a");
        if (link) {
          if (event.ctrlKey || event.metaKey) window.open(link.href, "_blank", "noopener");
          else location.href = link.href;
        }
        break;
      }
      case "Escape":
        event.preventDefault();
        closePanel(true);
        break;
      default:
        break;
    }
  }

  document.addEventListener("keydown", onGlobalKey, true);
  document.addEventListener("click", function (event) {
    if (ui && !ui.root.contains(event.target)) closePanel(false);
  });
  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(onPage);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", onPage);
  } else {
    onPage();
  }
})();
