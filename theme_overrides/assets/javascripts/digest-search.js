/*
 * digest-search.js: instant search over the whole digest that fetches only what a query needs,
 * from the index prebuilt by generator/search.py (layout: its module docstring and
 * generator/search_index.py). No index is built in the browser.
 *
 * Flow: on first use of the header box (focus, hover, `/` or `s`), load lunr.js (vendor/, for
 * its stemmer and stop-word filter) and search/manifest.json. For a query, fetch for each word
 * its term shard in every segment (newest segment first; the last word, while it is typed,
 * also matches as a prefix, completed from the same shard, and is fetched once the typing
 * pauses for PREFIX_DELAY), then rank once every segment has answered, so that the first
 * result never changes as pieces arrive: most query words matched, then most query words in
 * the title, then the summed BM25 scores stored with the postings (a term matched only as a
 * prefix counts PREFIX_FACTOR of its score), then newest. Then fetch the doc chunks of the
 * results shown (url, title, date, topics, abstract start: the first FIRST_ROWS once the text
 * rests for CHUNK_DELAY, the others after REST_DELAY, so that fast typing does not fetch the
 * results of every prefix) and show them in rank order as their chunks arrive. A filter
 * fetches the doc metadata (dates, topics) of the segments whose dates meet it. Fetches a
 * query no longer needs are dropped from the queue when the text changes; everything fetched
 * is kept for the next queries.
 *
 * Query words are split exactly as generator/search.py split the indexed text (NFKC, lower
 * case, runs of letters and digits) and stemmed with lunr's stemmer; `:` `~` `^` `+` `-` `*`
 * typed by a person are only separators. A result must contain every word (stop words
 * excepted); when no paper does, the closest ones are shown.
 *
 * All text from the data (titles, abstracts, topic names) reaches the DOM as text nodes;
 * highlighting builds <mark> elements. No innerHTML anywhere.
 */
(function () {
  "use strict";

  // Loaded twice (main.html and mkdocs.yml extra_javascript both)? One copy is enough.
  if (window.__digestSearch) return;
  window.__digestSearch = true;

  var FORMAT = 5; // generator/search.py FORMAT_VERSION
  var PAGE_SIZE = 10;
  var MAX_FETCHES = 10;
  var CHUNK_DELAY = 100; // ms the typed text must rest before the doc chunks of the first results are fetched
  var FIRST_ROWS = 3;
  var PREFIX_DELAY = 50; // ms the typing must pause before the shards of a word still being typed are fetched
  var REST_DELAY = 300; // ms it must rest before those of the other results shown are fetched
  var PREFIX_FACTOR = 0.3; // a term that only starts with the typed word weighs less than the word itself
  var WORD = /[\p{L}\p{N}]+/gu;
  var SEPARATOR = /[^\p{L}\p{N}]+/u;
  var ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"; // search_index.ALPHABET
  var CODE = new Int8Array(128).fill(-1);
  for (var a = 0; a < ALPHABET.length; a++) CODE[ALPHABET.charCodeAt(a)] = a;
  var DAY_MS = 86400000;

  var ROOT = siteRoot();
  var LUNR_URL = new URL("assets/javascripts/vendor/lunr.min.js", ROOT).href;
  if (document.currentScript && document.currentScript.src) {
    LUNR_URL = new URL("vendor/lunr.min.js", document.currentScript.src).href;
  }

  /* Search data, kept across Material's instant navigation. */
  var data = {
    started: false,
    manifest: null,
    topicNames: Object.create(null),
    segments: [], // {meta, index}
    weights: null, // weight of each 5-bit code
    error: null,
  };
  var files = Object.create(null); // url -> {url, state: idle|queued|loading|done|failed, value, gen}
  var queue = [];
  var fetching = 0;
  var generation = 0; // bumped by each new query: queued fetches of older ones are dropped
  var decoded = new WeakMap(); // shard array -> Map term -> decoded postings
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
      toggle: root.querySelector("[data-ds-toggle]"),
      plan: null, // what the current text and filters need
      ranking: null, // {key, list, best, partial, incomplete} once every piece of the plan is in
      rows: [], // the results shown: {key, doc}
      shown: PAGE_SIZE,
      active: -1,
      activeKey: null,
      searched: null,
      scheduled: false,
      lastInput: 0,
      chunkTimer: null,
      prefixTimer: null,
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
      ui.lastInput = performance.now();
      start();
      ui.shown = PAGE_SIZE;
      scheduleSearch();
    });
    ui.input.addEventListener("keydown", onInputKey);
    ui.list.addEventListener("keydown", onResultKey);
    if (ui.toggle) {
      ui.toggle.addEventListener("click", function () {
        openPanel();
        ui.input.focus();
      });
    }
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
      update();
    });
    ui.list.addEventListener("mousemove", function (event) {
      var item = event.target.closest && event.target.closest("[data-ds-index]");
      if (item) setActive(Number(item.getAttribute("data-ds-index")), false, false);
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
    openPanel(); // on a narrow screen, the box shows only once open
    ui.input.focus();
    ui.input.select();
  }

  /* ---------- loading ---------- */

  /* `data-ds-state` on the box: idle, loading, ready (every piece the text and filters need is
     in and shown) or error (for tests and benchmarks). */
  function setState(state) {
    if (ui) ui.root.setAttribute("data-ds-state", state);
  }

  function currentState() {
    if (data.error) return "error";
    if (!data.started) return "idle";
    return "loading";
  }

  function start() {
    if (data.started) return;
    data.started = true;
    setState("loading");
    Promise.all([loadLunr(), fetchJSON(new URL("search/manifest.json", ROOT).href, "no-cache")])
      .then(function (values) {
        var manifest = values[1];
        // A cached old copy of this script must not misread a newer format: fail visibly instead.
        if (manifest.format !== FORMAT) throw new Error("search format " + manifest.format + ", expected " + FORMAT);
        data.manifest = manifest;
        (manifest.topics || []).forEach(function (t) {
          data.topicNames[t[0]] = t[1];
        });
        data.segments = manifest.segments.map(function (meta, index) {
          return { meta: meta, index: index, base: new URL(meta.path, ROOT).href };
        });
        data.weights = new Float64Array(32);
        for (var q = 0; q < 32; q++) data.weights[q] = manifest.weights[0] * Math.pow(manifest.weights[1], q);
        fillTopics();
        if (ui) runSearch();
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

  /* The file at `url`, fetched for the current query (queued in the order asked). */
  function need(url) {
    var entry = files[url];
    if (!entry) entry = files[url] = { url: url, state: "idle", value: null, gen: 0 };
    entry.gen = generation;
    if (entry.state === "idle") {
      entry.state = "queued";
      queue.push(entry);
    }
    return entry;
  }

  function pump() {
    while (fetching < MAX_FETCHES && queue.length) {
      var entry = queue.shift();
      if (entry.gen !== generation) {
        entry.state = "idle"; // no longer needed; asked again, it is queued again
        continue;
      }
      entry.state = "loading";
      fetching += 1;
      load(entry);
    }
  }

  function load(entry) {
    fetchJSON(entry.url)
      .then(function (value) {
        entry.value = value;
        entry.state = "done";
      })
      .catch(function (error) {
        entry.state = "failed";
        if (window.console) console.error("digest-search:", error);
      })
      .then(function () {
        fetching -= 1;
        pump();
        update();
      });
  }

  function settled(entry) {
    return !!entry && (entry.state === "done" || entry.state === "failed");
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
    var seen = Object.create(null);
    all.forEach(function (word, i) {
      var last = i === all.length - 1;
      var prefix = last && typing;
      if (prefix && word.length < 2) return; // one letter of a new word: wait for more
      var stop = !window.lunr.stopWordFilter(new window.lunr.Token(word));
      var term = { word: word, stem: stem(word), prefix: prefix, stop: stop };
      var key = term.stem + (prefix ? "*" + word : "") + (stop ? "!" : "");
      if (seen[key]) return; // a repeated word counts once
      seen[key] = true;
      terms.push(term);
    });
    var required = terms.filter(function (t) {
      return !t.stop;
    });
    if (!terms.length || (!required.length && !terms.some(function (t) { return t.prefix; }))) return null;
    return { text: text, words: all, terms: terms, required: required, typing: typing };
  }

  function hasFilters() {
    return !!(ui && (ui.topic.value || ui.from.value || ui.to.value));
  }

  function dayNumber(iso) {
    var p = iso.split("-");
    return Math.round(Date.UTC(Number(p[0]), Number(p[1]) - 1, Number(p[2])) / DAY_MS);
  }

  /* The index of the shard of `segment` that may hold `term` (boundaries are sorted, the first is ""). */
  function shardOf(segment, term) {
    var bounds = segment.meta.shards;
    var lo = 0;
    var hi = bounds.length - 1;
    while (lo < hi) {
      var mid = (lo + hi + 1) >> 1;
      if (bounds[mid] <= term) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  function shardUrl(segment, term) {
    return segment.base + "t" + shardOf(segment, term) + ".json";
  }

  /* The lookups of a query term in a segment: [shard url, term or prefix, exact]. A prefix is
     looked up in its shard and, when the terms starting with it go on into the next shard (a
     big group cut in two, as "lang" before "languag"), in that one too. */
  function lookups(segment, t) {
    var out = [];
    var bounds = segment.meta.shards;
    if (!bounds.length) return out;
    if (!t.stop) out.push([shardUrl(segment, t.stem), t.stem, true]);
    if (t.prefix) {
      var seen = Object.create(null);
      (t.stem !== t.word ? [t.word, t.stem] : [t.word]).forEach(function (prefix) {
        var i = shardOf(segment, prefix);
        var last = i + 1 < bounds.length && bounds[i + 1].lastIndexOf(prefix, 0) === 0 ? i + 1 : i;
        for (var j = i; j <= last; j++) {
          var url = segment.base + "t" + j + ".json";
          if (!seen[url + " " + prefix]) out.push([url, prefix, false]);
          seen[url + " " + prefix] = true;
        }
      });
    }
    return out;
  }

  function segmentsInRange() {
    var from = ui.from.value;
    var to = ui.to.value;
    return data.segments.filter(function (segment) {
      var m = segment.meta;
      if (!from && !to) return true;
      if (!m.first) return false; // undated docs never pass a date filter
      return !(from && m.last < from) && !(to && m.first > to);
    });
  }

  function scheduleSearch() {
    if (ui.scheduled) return;
    ui.scheduled = true;
    requestAnimationFrame(function () {
      ui.scheduled = false;
      runSearch();
    });
  }

  /* A new text or filter: plan the pieces it needs (newest segment first) and ask for them. */
  function runSearch() {
    if (!ui) return;
    var text = ui.input.value;
    ui.active = -1;
    ui.activeKey = null;
    if (!data.manifest || !window.lunr) {
      ui.plan = null;
      ui.searched = null;
      render();
      return;
    }
    generation += 1;
    var query = parseQuery(text);
    var filters = hasFilters();
    var segments = filters ? segmentsInRange() : data.segments;
    var urls = [];
    var later = []; // the word still being typed: fetched once the typing pauses
    var since = performance.now() - ui.lastInput;
    if (ui.prefixTimer) clearTimeout(ui.prefixTimer);
    ui.prefixTimer = null;
    if (query || filters) {
      segments.forEach(function (segment) {
        if (filters) urls.push(need(segment.base + "m.json").url);
        if (query) {
          query.terms.forEach(function (t) {
            lookups(segment, t).forEach(function (l) {
              urls.push(l[0]);
              if (t.prefix && since < PREFIX_DELAY) later.push(l[0]);
              else need(l[0]);
            });
          });
        }
      });
    }
    if (later.length) {
      ui.prefixTimer = setTimeout(function () {
        ui.prefixTimer = null;
        later.forEach(need);
        pump();
      }, PREFIX_DELAY - since);
    }
    pump();
    ui.plan = {
      key: JSON.stringify([text, ui.topic.value, ui.from.value, ui.to.value]),
      text: text,
      query: query,
      filters: filters,
      segments: segments,
      urls: urls,
    };
    if (text.trim() || filters || ui.root.contains(document.activeElement)) openPanel();
    else closePanel(false);
    update();
  }

  /* Whatever arrived: rank once the plan's pieces are all in, ask for the shown results' chunks, render. */
  function update() {
    if (!ui) return;
    var plan = ui.plan;
    if (!plan) {
      render();
      return;
    }
    if (!plan.urls.every(function (url) { return settled(files[url]); })) {
      setState("loading");
      updateStatus();
      return;
    }
    var stale = ui.ranking && ui.shown > ui.ranking.k && ui.ranking.total > ui.ranking.k; // "Show more" past it
    if (!ui.ranking || ui.ranking.key !== plan.key || stale) {
      var began = performance.now();
      ui.ranking = rank(plan);
      // How long ranking took, in ms (for benchmarks).
      ui.root.setAttribute("data-ds-rank-ms", String(Math.round(performance.now() - began)));
    }
    var ranking = ui.ranking;
    var rows = [];
    var waiting = false;
    var chunk = data.manifest.chunk;
    // While the text changes key after key, the results of each prefix are not worth all their doc
    // chunks: the first few once it rests a moment, the others once it rests a little longer.
    var since = performance.now() - ui.lastInput;
    var limit = since >= REST_DELAY ? ui.shown : since >= CHUNK_DELAY ? FIRST_ROWS : 0;
    if (limit < ui.shown && !ui.chunkTimer) {
      ui.chunkTimer = setTimeout(function () {
        ui.chunkTimer = null;
        update();
      }, (limit ? REST_DELAY : CHUNK_DELAY) - since);
    }
    ranking.list.slice(0, ui.shown).forEach(function (r, i) {
      var url = data.segments[r.s].base + "d" + Math.floor(r.d / chunk) + ".json";
      var entry = i < limit ? need(url) : files[url];
      if (!entry || !settled(entry)) waiting = true;
      if (waiting) return; // shown in rank order only: nothing moves once shown
      var doc = entry.state === "done" ? entry.value[r.d % chunk] : null;
      if (doc) rows.push({ key: doc[0], doc: doc });
      else ranking.incomplete = true;
    });
    pump();
    ui.rows = rows;
    if (rows.length || !waiting) ui.searched = plan.text;
    render();
    setState(waiting ? "loading" : "ready");
  }

  /* Decoded postings of `term` in a shard: {docs: Int32Array, codes: Uint8Array (title bit * 32 + weight code)}. */
  function postings(shard, index) {
    var cache = decoded.get(shard);
    if (!cache) decoded.set(shard, (cache = new Map()));
    var hit = cache.get(index);
    if (hit) return hit;
    var text = shard[index + 1];
    var docs = new Int32Array(text.length >> 1); // a posting takes two characters or more
    var codes = new Uint8Array(text.length >> 1);
    var n = 0;
    var doc = -1;
    var value = 0;
    var scale = 1;
    for (var i = 0; i < text.length; i++) {
      var c = CODE[text.charCodeAt(i)];
      if (c >= 32) {
        value += (c - 32) * scale;
        scale *= 32;
        continue;
      }
      doc += value + c * scale + 1;
      value = 0;
      scale = 1;
      docs[n] = doc;
      codes[n] = CODE[text.charCodeAt(++i)];
      n += 1;
    }
    hit = { docs: docs.subarray(0, n), codes: codes.subarray(0, n) };
    cache.set(index, hit);
    return hit;
  }

  /* Position (even) of the first term >= `term` in a shard [term, postings, ...]. */
  function lowerBound(shard, term) {
    var lo = 0;
    var hi = shard.length >> 1;
    while (lo < hi) {
      var mid = (lo + hi) >> 1;
      if (shard[2 * mid] < term) lo = mid + 1;
      else hi = mid;
    }
    return 2 * lo;
  }

  /* The index terms a query term matches in a segment: [{key, post, exact}] (a term once, exact if either). */
  function matches(segment, t) {
    var found = new Map();
    lookups(segment, t).forEach(function (l) {
      var entry = files[l[0]];
      if (!entry || entry.state !== "done") return;
      var shard = entry.value;
      for (var i = lowerBound(shard, l[1]); i < shard.length; i += 2) {
        var term = shard[i];
        if (l[2] ? term !== l[1] : term.lastIndexOf(l[1], 0) !== 0) break;
        var old = found.get(term);
        var exact = l[2] || term === t.stem;
        if (!old) found.set(term, { term: term, shard: shard, index: i, exact: exact });
        else old.exact = old.exact || exact;
        if (l[2]) break;
      }
    });
    return Array.from(found.values());
  }

  /* The best `size` items offered (by key, higher first; ties: newest segment, then the later doc), and how many were offered. */
  function Best(size) {
    this.size = size;
    this.items = [];
    this.total = 0;
  }

  Best.prototype.offer = function (key, s, d) {
    this.total += 1;
    var items = this.items;
    if (items.length === this.size) {
      if (!better(key, s, d, items[items.length - 1])) return;
      items.pop();
    }
    var i = items.length;
    while (i > 0 && better(key, s, d, items[i - 1])) i--;
    items.splice(i, 0, { key: key, s: s, d: d });
  };

  function better(key, s, d, other) {
    return key > other.key || (key === other.key && (s < other.s || (s === other.s && d > other.d)));
  }

  /* The ranking of a plan whose pieces are all in: {key, list (the best `k`), total, partial, incomplete}. */
  function rank(plan) {
    var k = Math.max(ui.shown, 5 * PAGE_SIZE);
    var best = new Best(k);
    var ranking = { key: plan.key, k: k, list: best.items, total: 0, partial: false, incomplete: false };
    plan.urls.forEach(function (url) {
      if (files[url] && files[url].state === "failed") ranking.incomplete = true;
    });
    var masks = plan.filters ? filterMasks(plan.segments) : null;
    if (!plan.query) {
      // No words, only filters: the docs that pass, newest date first.
      if (masks) {
        plan.segments.forEach(function (segment, n) {
          var mask = masks[n];
          for (var d = 0; d < mask.length; d++) if (mask[d]) best.offer(mask.days[d], segment.index, d);
        });
      }
      ranking.total = best.total;
      return ranking;
    }
    var query = plan.query;
    var weights = data.weights;
    // Per segment: each doc's summed score, number of query words matched, and of those in its title.
    var top = 0;
    var tallies = plan.segments.map(function (segment, n) {
      var count = segment.meta.count;
      var tally = { score: new Float64Array(count), coverage: new Uint8Array(count), titled: new Uint8Array(count) };
      var bestOfTerm = new Float64Array(count);
      var inTitle = new Uint8Array(count);
      var touched = [];
      var mask = masks ? masks[n] : null;
      query.terms.forEach(function (t) {
        touched.length = 0;
        matches(segment, t).forEach(function (m) {
          var factor = m.exact ? 1 : PREFIX_FACTOR;
          var post = postings(m.shard, m.index);
          var docs = post.docs;
          var codes = post.codes;
          for (var i = 0; i < docs.length; i++) {
            var d = docs[i];
            if (mask && !mask[d]) continue;
            var v = factor * weights[codes[i] & 31];
            if (bestOfTerm[d] === 0) touched.push(d);
            if (v > bestOfTerm[d]) bestOfTerm[d] = v; // a word's best match among the terms it matches
            if (codes[i] & 32) inTitle[d] = 1;
          }
        });
        for (var i = 0; i < touched.length; i++) {
          var d = touched[i];
          tally.score[d] += bestOfTerm[d];
          if (!t.stop) {
            tally.coverage[d] += 1;
            tally.titled[d] += inTitle[d];
            if (tally.coverage[d] > top) top = tally.coverage[d];
          }
          bestOfTerm[d] = 0;
          inTitle[d] = 0;
        }
      });
      return tally;
    });
    // Only the docs with the most query words; among them most words in the title, then score.
    if (top > 0 || !query.required.length) {
      plan.segments.forEach(function (segment, n) {
        var tally = tallies[n];
        for (var d = 0; d < tally.score.length; d++) {
          if (tally.score[d] > 0 && tally.coverage[d] === top) {
            best.offer(tally.titled[d] * 1e9 + tally.score[d], segment.index, d);
          }
        }
      });
    }
    ranking.total = best.total;
    ranking.partial = top < query.required.length;
    return ranking;
  }

  /* Per segment of the plan, the doc metadata decoded: {days: Int32Array (-1 undated), passes: Uint8Array}. */
  function filterMasks(segments) {
    var topic = ui.topic.value;
    var from = ui.from.value ? dayNumber(ui.from.value) : null;
    var to = ui.to.value ? dayNumber(ui.to.value) : null;
    return segments.map(function (segment) {
      var entry = files[segment.base + "m.json"];
      var count = segment.meta.count;
      var passes = new Uint8Array(count);
      var days = new Int32Array(count).fill(-1);
      if (!entry || entry.state !== "done") return passes;
      var meta = entry.value;
      var wanted = topic ? meta.slugs.indexOf(topic) : -1;
      var dayValues = varints(meta.days);
      var values = varints(meta.topics);
      var previous = meta.base;
      var at = 0;
      for (var d = 0; d < count; d++) {
        var code = dayValues[d];
        var n = values[at++];
        var hasTopic = !topic;
        for (var j = 0; j < n; j++) if (values[at++] === wanted) hasTopic = true;
        var when = null;
        if (code) {
          when = previous + (code % 2 ? (code - 1) / 2 : -code / 2); // zigzag: 2d + 1 for d >= 0, -2d below
          previous = when;
          days[d] = when;
        }
        var ok = hasTopic;
        if ((from !== null || to !== null) && when === null) ok = false;
        if (from !== null && when !== null && when < from) ok = false;
        if (to !== null && when !== null && when > to) ok = false;
        passes[d] = ok ? 1 : 0;
      }
      passes.days = days;
      return passes;
    });
  }

  function varints(text) {
    var out = [];
    var value = 0;
    var scale = 1;
    for (var i = 0; i < text.length; i++) {
      var c = CODE[text.charCodeAt(i)];
      if (c >= 32) {
        value += (c - 32) * scale;
        scale *= 32;
      } else {
        out.push(value + c * scale);
        value = 0;
        scale = 1;
      }
    }
    return out;
  }

  /* ---------- results shown as the pages show papers ---------- */

  var MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December"];
  /* $...$ and $$...$$ as generator/escaping.py reads them (pandoc's rules: no space inside the
     dollars, no digit after the closing one, so "$5 or $10" is money). */
  var MATH = /(?<![\\$])\$(\$?)(?=\S)(?!\$)([^$]+?)(?<=\S)(?<!\\)\$\1(?!\d)(?!\$)/g;

  /* `May 28, 2025` as pages write it (pages.human_date), or "Undated". */
  function dateElement(iso) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || "");
    if (!m) return el("span", "ds__when ds__when--undated", "Undated");
    var time = el("time", "ds__when", MONTHS[Number(m[2]) - 1] + " " + Number(m[3]) + ", " + Number(m[1]));
    time.dateTime = iso;
    return time;
  }

  /* Appends `text` like appendMarked, with each piece of math that escaping.py would typeset as a
     <span class="math"> holding its TeX as text (digest.js typesets it with KaTeX, within the same
     bounds); math refused by those bounds stays literal text, `$` included. */
  function appendText(parent, text, match) {
    var safe = window.digestMath && window.digestMath.isSafe;
    if (!safe || text.indexOf("$") < 0) return appendMarked(parent, text, match);
    var last = 0;
    text.replace(MATH, function (piece, display, tex, offset) {
      if (!safe(tex)) return piece;
      if (offset > last) appendMarked(parent, text.slice(last, offset), match);
      parent.appendChild(el("span", display ? "math math-display" : "math", tex));
      last = offset + piece.length;
      return piece;
    });
    if (last < text.length) appendMarked(parent, text.slice(last), match);
  }

  /* Why a result is there when none of its shown words is highlighted: its topic matched, or words
     further into the abstract than the snippet shows. */
  function matchReason(link, meta, query) {
    if (!query || link.querySelector(".ds__title mark, .ds__snippet mark")) return null;
    var text = meta.querySelector(".ds__topic mark") ? "matched topic" : "matched further in the abstract";
    return el("span", "ds__why", text);
  }

  /* ---------- rendering ---------- */

  function isOpen() {
    return ui && !ui.panel.hidden;
  }

  function openPanel() {
    ui.panel.hidden = false;
    ui.root.classList.add("ds--open");
    if (ui.toggle) ui.toggle.setAttribute("aria-expanded", "true");
  }

  function closePanel(blur) {
    if (!ui) return;
    ui.panel.hidden = true;
    ui.root.classList.remove("ds--open");
    if (ui.toggle) ui.toggle.setAttribute("aria-expanded", "false");
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

  /* A doc's page URL; only paths inside the site are links (the doc chunks are data, not code). */
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

  function satisfies(t, term) {
    return term === t.stem || (t.prefix && (term.lastIndexOf(t.word, 0) === 0 || term.lastIndexOf(t.stem, 0) === 0));
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

  /* The abstract's start, from shortly before its first matched word when that is far in. */
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
    if (!ui) return;
    var list = ui.list;
    // The text the shown results answer (for tests and benchmarks); absent while loading.
    if (ui.searched === null || ui.searched === undefined) ui.root.removeAttribute("data-ds-query");
    else ui.root.setAttribute("data-ds-query", ui.searched);
    while (list.firstChild) list.removeChild(list.firstChild);
    var plan = ui.plan;
    var current = plan && ui.ranking && ui.ranking.key === plan.key;
    var match = current ? highlighter(plan.query) : null;
    var rows = current ? ui.rows : [];
    var hadFocus = list.contains(document.activeElement);
    ui.active = -1;
    rows.forEach(function (row, i) {
      var doc = row.doc;
      if (row.key === ui.activeKey) ui.active = i;
      var item = el("li", "ds__result");
      item.id = "ds-result-" + i;
      item.setAttribute("data-ds-index", String(i));
      if (row.key === ui.activeKey) item.classList.add("ds__result--active");
      var link = el("a", "ds__link");
      link.href = docHref(doc[0]);
      var title = el("div", "ds__title");
      appendText(title, doc[1], match);
      link.appendChild(title);
      var meta = el("div", "ds__meta");
      meta.appendChild(dateElement(doc[2]));
      doc[3].forEach(function (slug) {
        var name = data.topicNames[slug] || slug;
        var topic = el("span", "ds__topic");
        appendMarked(topic, name, match);
        meta.appendChild(topic);
      });
      link.appendChild(meta);
      if (doc[4]) {
        var snippet = el("p", "ds__snippet");
        appendText(snippet, snippetText(doc[4], match), match);
        link.appendChild(snippet);
      }
      var why = matchReason(link, meta, plan.query);
      if (why) meta.appendChild(why);
      item.appendChild(link);
      list.appendChild(item);
    });
    ui.more.hidden = !current || ui.ranking.total <= ui.shown;
    if (hadFocus && ui.active >= 0) focusResult(ui.active);
    if (window.digestMath && list.querySelector("span.math")) window.digestMath.render(list);
    updateStatus();
  }

  function updateStatus() {
    if (!ui) return;
    var text;
    var plan = ui.plan;
    if (data.error) {
      text = "Search is unavailable: its index could not be loaded.";
    } else if (!data.manifest) {
      text = "Loading search…";
    } else if (!plan || (!plan.query && !plan.filters)) {
      text = ui.input.value.trim()
        ? "Type a little more…"
        : "Search " + data.manifest.count + " papers by words of their title, abstract, authors or topics, or pick a topic, an arXiv category or dates.";
    } else if (!ui.ranking || ui.ranking.key !== plan.key) {
      text = "Searching…";
    } else {
      var n = ui.ranking.total;
      text = n === 0 ? "No matching papers" : n === 1 ? "1 paper" : n + " papers";
      if (plan.query && n && ui.ranking.partial) text += " (none has every word; closest matches)";
      if (ui.ranking.incomplete) text += " · part of the index could not be loaded";
    }
    ui.status.textContent = text;
  }

  /* The active result is marked (class ds__result--active); with `focus`, its link takes the
     focus (arrow keys), as in Material's search; -1 gives the focus back to the box. */
  function setActive(index, scroll, focus) {
    var items = ui.list.children;
    if (!items.length) return;
    index = Math.max(-1, Math.min(index, items.length - 1));
    if (ui.active >= 0 && items[ui.active]) items[ui.active].classList.remove("ds__result--active");
    ui.active = index;
    ui.activeKey = index >= 0 ? ui.rows[index].key : null;
    if (index >= 0) {
      items[index].classList.add("ds__result--active");
      if (focus) focusResult(index);
      if (scroll) items[index].scrollIntoView({ block: "nearest" });
    } else if (focus) {
      ui.input.focus();
    }
  }

  function focusResult(index) {
    var link = ui.list.children[index] && ui.list.children[index].querySelector("a");
    if (link) link.focus({ preventScroll: true });
  }

  /* Keys while a result has the focus: arrows move, Escape closes, typing goes back to the box. */
  function onResultKey(event) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      setActive(ui.active + (event.key === "ArrowDown" ? 1 : -1), true, true);
    } else if (event.key === "Escape") {
      event.preventDefault();
      closePanel(true);
    } else if (event.key.length === 1 && !event.ctrlKey && !event.metaKey && !event.altKey) {
      ui.input.focus();
    }
  }

  function onInputKey(event) {
    switch (event.key) {
      case "ArrowDown":
        event.preventDefault();
        if (!isOpen()) openPanel();
        setActive(0, true, true);
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
