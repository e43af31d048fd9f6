"""Discovered topics: cluster the papers when no taxonomy is configured, and name the clusters.

The build's TF-IDF vectors (`generator.analysis.textmodel`, as topics weigh them: a title's words
twice, words of fewer than two or more than half of the fit set's papers left out) are reduced
with truncated SVD, normalised and clustered with k-means (`MiniBatchKMeans` for large corpora),
always with a fixed seed, so the same papers give the same topics. Each cluster is named after
its most distinctive phrases, found by comparing the cluster's bigram and unigram TF-IDF profile
(of its most central papers' texts, a naming vectorizer of its own) with the whole corpus and
preferring bigrams, and written the way the papers write them (`Theorem Proving · Lean`,
never `0_model_learning_data`). The same limits as for a taxonomy apply: 1-3 topics per paper
and no topic listed by more than a quarter of the papers (see `generator.analysis.topics`).
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from generator.analysis.taxonomy import OTHER
from generator.analysis.textmodel import TextModel, fit_text_model
from generator.analysis.topic_features import paper_text
from generator.analysis.topic_limits import enforce_share
from generator.analysis.topics import topic_tfidf
from generator.models import Paper, Topic, TopicAssignment, Topics
from generator.runtime.parallel import DEFAULT, Parallelism
from generator.text import RESERVED_SEGMENTS, make_slug

log = logging.getLogger(__name__)

SEED = 20240529
"""Every random choice (SVD, k-means) uses this seed."""
MAX_CLUSTERS = 24
SVD_COMPONENTS = 100
LARGE_CORPUS = 20_000
"""From this many papers, cheaper settings keep 100k papers within seconds (fewer SVD
components and power iterations, mini-batch k-means)."""
NAMING_SAMPLE = 150
"""At most this many papers per cluster (the most central) are read to name it."""
EXTRA_RATIO = 0.9
"""A second cluster is listed when the paper is nearly as close to it as to its own ..."""
EXTRA_MIN_SIMILARITY = 0.3
"""... and close in absolute terms."""
_TOKENS = r"(?u)\b[^\W\d_][\w'-]*[^\W_]\b"
"""Words of two or more characters that start with a letter (no bare numbers in names)."""
# A word list reads best as text; ruff's SIM905 would explode it into one quoted word per line.
_UNINFORMATIVE = frozenset(
    """paper papers propose proposed proposes present presents introduce introduces show shows shown
    results result method methods approach approaches work works study studies based using use used new
    novel existing task tasks performance problem problems model models framework significant
    significantly demonstrate demonstrates various different however also effective state art recent
    recently large small key paradigm way ways learning deep neural network networks language languages
    machine training data llm llms ai improve improves improved improving achieve achieves outperform
    outperforms better best strong stronger""".split()  # noqa: SIM905
)
# Phrases that describe most of machine learning rather than one topic of it.
_BROAD = frozenset(
    {
        f"{prefix}{head}{plural}"
        for prefix, head in (
            ("", "language model"),
            ("large ", "language model"),
            ("", "neural network"),
            ("deep ", "neural network"),
            ("", "deep learning"),
            ("", "machine learning"),
            ("", "learning model"),
            ("machine ", "learning model"),
            ("deep ", "learning model"),
            ("", "large language"),
        )
        for plural in ("", "s")
    }
)
_DANGLING = frozenset({"large", "small", "deep", "neural", "pre", "multi", "new", "based", "using", "high", "low"})
_SMALL_WORDS = frozenset(("a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to"))
PHRASE_BONUS = 2.5
"""How much more a two- or three-word phrase is worth than a single word when naming ..."""
SINGLE_WORD_PENALTY = 0.6
"""... and, among the chosen phrases, how much a single word counts when ordering the name."""


def discover_topics(
    papers: Sequence[Paper],
    n_clusters: int | None = None,
    *,
    parallel: Parallelism = DEFAULT,
    text: TextModel | None = None,
) -> Topics:
    """Cluster the papers into topics named by their distinctive phrases; 1-3 topics per paper.

    `text` is the build's text model of these papers (fitted here without it). `parallel` is
    accepted for the stage's signature; nothing here runs in another process.
    """
    ordered = sorted(papers, key=lambda p: p.id)
    if not ordered:
        return Topics(topics=(), assignments={})
    texts = [paper_text(p) for p in ordered]
    vectors = _embed(text if text is not None else fit_text_model(ordered))
    if vectors is None:
        return Topics((OTHER,), {p.id: (TopicAssignment(OTHER.slug, 0.0, "no words to compare"),) for p in ordered})
    k = n_clusters or _choose_k(len(ordered))
    # k-means needs at least k distinct points; only small corpora can run short of them.
    distinct = len(np.unique(vectors, axis=0)) if len(ordered) <= 1000 else len(ordered)
    k = max(1, min(k, len(ordered), distinct))
    labels, centroids = _cluster(vectors, k)
    similarity = vectors @ centroids.T
    # Each paper ranks the clusters by closeness, its own cluster first.
    order = np.argsort(-similarity, axis=1, kind="stable").tolist()
    orders = [[label, *(c for c in row if c != label)] for label, row in zip(labels.tolist(), order, strict=True)]
    sim: list[list[float]] = similarity.tolist()
    chosen: list[list[int]] = []
    for r, row in enumerate(orders):
        picks = [row[0]]
        own = sim[r][row[0]]
        for c in row[1:3]:
            if sim[r][c] >= max(EXTRA_MIN_SIMILARITY, EXTRA_RATIO * own):
                picks.append(c)
        chosen.append(picks)
    enforce_share(chosen, orders, sim, k)
    members = [[r for r in range(len(ordered)) if chosen[r][0] == c] for c in range(k)]
    names = _name_clusters(texts, [p.title for p in ordered], members, sim)
    topics_by_cluster = _make_topics(names)
    display = sorted((c for c in range(k) if members[c]), key=lambda c: (-len(members[c]), topics_by_cluster[c].name))
    assignments = {
        paper.id: tuple(
            TopicAssignment(
                slug=topics_by_cluster[c].slug,
                score=round(sim[r][c], 3),
                reason=f"similar to papers in {topics_by_cluster[c].name}",
            )
            for c in chosen[r]
        )
        for r, paper in enumerate(ordered)
    }
    used = {a.slug for picks in assignments.values() for a in picks}
    topics = tuple(topics_by_cluster[c] for c in display if topics_by_cluster[c].slug in used)
    log.info("topics: discovered %d topics for %d papers", len(topics), len(ordered))
    return Topics(topics=topics, assignments=assignments)


def _choose_k(n_papers: int) -> int:
    """About sqrt(n/3) clusters: 13 for 500 papers, capped at `MAX_CLUSTERS`."""
    return max(2, min(MAX_CLUSTERS, round(math.sqrt(n_papers / 3))))


def _embed(text: TextModel) -> np.ndarray | None:
    """Dense, L2-normalised document vectors (the build's TF-IDF, then SVD when there are enough papers)."""
    n = len(text.ids)
    large = n >= LARGE_CORPUS
    matrix = topic_tfidf(text)
    if matrix is None or matrix.nnz == 0:
        return None
    matrix = matrix.astype(np.float32)
    components = min(64 if large else SVD_COMPONENTS, matrix.shape[1] - 1, n - 1)
    if components >= 2 and matrix.shape[1] > SVD_COMPONENTS:
        svd = TruncatedSVD(n_components=components, random_state=SEED, n_iter=3 if large else 5)
        # A large corpus fits the projection on an evenly spaced sample (the papers are in id
        # order, so the sample is deterministic) and projects everything with it.
        step = max(1, n // LARGE_CORPUS)
        reduced = svd.fit(matrix[::step]).transform(matrix) if step > 1 else svd.fit_transform(matrix)
    else:
        reduced = matrix.toarray()
    return np.asarray(normalize(reduced), dtype=np.float64)


def _cluster(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Cluster labels and L2-normalised centroids."""
    if k == 1:
        return np.zeros(len(vectors), dtype=np.int64), normalize(vectors.mean(axis=0, keepdims=True))
    if len(vectors) >= LARGE_CORPUS:
        model: KMeans | MiniBatchKMeans = MiniBatchKMeans(n_clusters=k, random_state=SEED, n_init=1, batch_size=4096)
    else:
        model = KMeans(n_clusters=k, random_state=SEED, n_init=4)
    labels = model.fit_predict(vectors)
    return np.asarray(labels, dtype=np.int64), normalize(model.cluster_centers_)


def _name_clusters(
    texts: Sequence[str], titles: Sequence[str], members: Sequence[list[int]], sim: Sequence[Sequence[float]]
) -> list[list[str]]:
    """For each cluster, its most distinctive phrases (bigrams preferred), as the papers write them.

    Phrases that also occur in the cluster's titles lead: titles name subjects ("theorem proving"),
    abstracts also say how well things went ("significantly reduces").
    """
    sample: list[int] = []
    owner: list[int] = []
    for c, rows in enumerate(members):
        central = sorted(rows, key=lambda r: (-sim[r][c], r))[:NAMING_SAMPLE]
        sample.extend(central)
        owner.extend([c] * len(central))
    if not sample:
        return [[] for _ in members]
    vectorizer = TfidfVectorizer(
        stop_words="english",
        ngram_range=(1, 3),
        sublinear_tf=True,
        token_pattern=_TOKENS,
        min_df=2 if len(sample) >= 20 else 1,
        dtype=np.float32,
    )
    try:
        matrix = vectorizer.fit_transform([texts[r] for r in sample])
    except ValueError:
        return [[] for _ in members]
    terms = vectorizer.get_feature_names_out()
    overall = np.asarray(matrix.mean(axis=0)).ravel()
    owner_array = np.array(owner)
    bigram_bonus = np.array([(PHRASE_BONUS if " " in t else 1.0) * (1.2 if t.count(" ") > 1 else 1.0) for t in terms])
    useful = np.array([_useful(t) for t in terms])
    names: list[list[str]] = []
    for c in range(len(members)):
        positions = np.flatnonzero(owner_array == c)
        if positions.size == 0:
            names.append([])
            continue
        inside = np.asarray(matrix[positions].mean(axis=0)).ravel()
        score = (inside - overall) * bigram_bonus * useful
        ranked = [int(i) for i in np.lexsort((terms, -score)) if score[i] > 0][:60]
        # The most central papers come first in the sample; they show how the phrases are written.
        cluster_texts = [texts[sample[int(i)]] for i in positions[:60]]
        cluster_titles = [titles[sample[int(i)]] for i in positions]
        picked: list[tuple[bool, float, str]] = []
        stems: set[str] = set()
        for i in ranked:
            term = str(terms[i])
            words = {_stem(w) for w in term.split()}
            # Skip a phrase that repeats words of one already chosen ("theorem" after "theorem proving").
            if words & stems:
                continue
            # Stop-word removal glues words that never stand together ("orders magnitude"): skip those.
            form = _surface_form(term, cluster_texts)
            if form is None:
                continue
            # A single word leads the name only when it is much more distinctive than the phrases.
            in_titles = _surface_form(term, cluster_titles) is not None
            picked.append((in_titles, float(score[i]) * (1.0 if " " in term else SINGLE_WORD_PENALTY), form))
            stems |= words
            if len(picked) == 5:
                break
        names.append([form for _, _, form in sorted(picked, key=lambda p: (not p[0], -p[1]))])
    return names


def _useful(term: str) -> float:
    """0 for phrases that say nothing about a topic ("proposed method", "language models"), else 1."""
    words = term.split()
    if all(w in _UNINFORMATIVE for w in words):
        return 0.0
    # Broad phrases, and fragments that contain one ("fine tuning large language").
    pairs = {" ".join(words[i : i + 2]) for i in range(len(words) - 1)}
    if term in _BROAD or pairs & _BROAD:
        return 0.0
    # A phrase cut off before its noun ("fine tuning large") is no name.
    if len(words) > 1 and words[-1] in _DANGLING:
        return 0.0
    if len(words) == 1 and len(term) < 3:
        return 0.0
    return 1.0


def _stem(word: str) -> str:
    """A crude stem, enough to see that "bound" and "bounds" (or "pre-trained", "pretrained") repeat."""
    word = word.replace("-", "")
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _surface_form(term: str, texts: Sequence[str]) -> str | None:
    """The phrase as the papers most often write it, title-cased when they write it in lowercase.

    None when the words never appear together as written (only stop-word removal joined them).
    """
    pattern = re.compile(r"(?<!\w)" + r"[\s\-]+".join(re.escape(w) for w in term.split()) + r"(?!\w)", re.I)
    forms = Counter(m.group(0) for text in texts for m in pattern.finditer(text))
    if not forms:
        return None
    # Most frequent, then alphabetical for a deterministic tie-break.
    form = " ".join(min(forms.items(), key=lambda kv: (-kv[1], kv[0]))[0].split())
    return form if any(ch.isupper() for ch in form[1:]) else _title_case(form)


def _title_case(phrase: str) -> str:
    """Capitalise each word except short function words inside the phrase."""
    words = phrase.split()
    return " ".join(w if (i and w.lower() in _SMALL_WORDS) else w[:1].upper() + w[1:] for i, w in enumerate(words))


def _make_topics(names: Sequence[list[str]]) -> list[Topic]:
    """Topics with unique, readable names and slugs from each cluster's phrases."""
    topics: list[Topic] = []
    used_names: set[str] = set()
    used_slugs: set[str] = {OTHER.slug, *RESERVED_SEGMENTS}  # a topic of papers titled "Index" is not the overview
    for c, phrases in enumerate(names):
        name = " · ".join(phrases[:2]) if phrases else f"Topic {c + 1}"
        if name.casefold() in used_names and len(phrases) > 2:
            name = " · ".join(phrases[:3])
        base, n = name, 2
        while name.casefold() in used_names:
            name, n = f"{base} ({n})", n + 1
        used_names.add(name.casefold())
        slug = make_slug(name) or f"topic-{c + 1}"
        base_slug, n = slug, 2
        while slug in used_slugs:
            slug, n = f"{base_slug}-{n}", n + 1
        used_slugs.add(slug)
        listed = ", ".join(phrases) if phrases else "no distinctive phrases"
        topics.append(Topic(slug=slug, name=name, description=f"Discovered topic; its papers mention {listed}."))
    return topics
