"""What the similarity stage keeps between builds, and how it reuses it.

Per paper, keyed by a hash of title and abstract: tokens, MinHash signature, embedding,
nearest cells, shortlist and threshold; the verdicts of checked near-duplicate pairs; the fitted
model. The folder comes from `cache.stage_dir`, so it only holds what this code made; a corrupt
or unreadable file is a miss; files are written atomically (temporary name, then rename).
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from generator.analysis.neardup import (
    TextTable,
    minhash_signatures,
)
from generator.analysis.neardup_verify import PairChecker, Verdict
from generator.analysis.textmodel import Model, _gather

log = logging.getLogger(__name__)


_STATE_FILE = "state.pickle"


_STATE_HEADER = ("paper-digest-similarity",)


_MODEL_HEADER = ("paper-digest-similarity-model",)
"""First pickles of the state and model files: a file that starts otherwise is not ours."""


@dataclass
class Shortlists:
    """Every row's shortlist, flat: row i's entries are `bounds[i]:bounds[i + 1]`,
    by selection score (descending) then row."""

    bounds: np.ndarray
    other: np.ndarray
    """The listed row."""
    select: np.ndarray
    """Selection score: integer (embedding units^2, or exact units^2 in exact mode)."""
    exact: np.ndarray
    """Exact TF-IDF dot product, integer / WEIGHT_SCALE^2."""
    threshold: np.ndarray
    """Per row: the selection score a candidate needs (-inf: every positive one)."""

    def rows(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.bounds) - 1), np.diff(self.bounds))


@dataclass
class _State:
    """What one run leaves for the next (per paper, in id order)."""

    ids: list[str]
    digests: list[bytes]
    words: list[str]
    hashes: np.ndarray
    tokens: np.ndarray
    """Token ids of every paper's title then abstract, concatenated."""
    title_len: np.ndarray
    abstract_len: np.ndarray
    signatures: np.ndarray
    verdicts: dict[bytes, tuple[float, str] | None]
    model_key: bytes = b""
    embedding: np.ndarray | None = None
    """int16 embedding per paper (inverted-file mode)."""
    probes: np.ndarray | None = None
    """Nearest cells per paper, nearest first (inverted-file mode)."""
    shortlists: Shortlists | None = None
    """Shortlists, `other` as rows into `ids`."""
    models: dict[bytes, Model] = field(default_factory=dict)


def _load_state(cache_dir: Path) -> _State | None:
    """The previous run's state, or None when missing, of another format or unreadable."""
    try:
        with open(cache_dir / _STATE_FILE, "rb") as f:
            header = pickle.load(f)
            if header != _STATE_HEADER:
                return None
            state = pickle.load(f)
        if not isinstance(state, _State) or not isinstance(state.model_key, bytes):
            return None
        n = len(state.ids)
        if len(state.digests) != n or len(state.title_len) != n or len(state.signatures) != n:
            return None
        if int(state.title_len.sum() + state.abstract_len.sum()) != len(state.tokens):
            return None
        if len(state.tokens) and int(state.tokens.max()) >= len(state.words):
            return None
        short = state.shortlists
        if short is not None and (len(short.bounds) != n + 1 or int(short.bounds[-1]) != len(short.other)):
            return None
    except Exception as error:  # any broken cache only makes a slower build
        log.info("similarity cache ignored: %s", error)
        return None
    state.models = _load_model(cache_dir / f"model-{state.model_key.hex()}.pickle", state.model_key)
    return state


def _load_model(path: Path, key: bytes) -> dict[bytes, Model]:
    """The model saved in `path`, by its key; a damaged file is removed, so that it is written again."""
    if not path.exists():
        return {}
    try:
        with open(path, "rb") as f:
            if pickle.load(f) == _MODEL_HEADER:
                model = pickle.load(f)
                if isinstance(model, Model) and model.key == key:
                    return {key: model}
    except Exception as error:  # a broken model is fitted again
        log.info("similarity model ignored: %s", error)
    path.unlink(missing_ok=True)
    return {}


def _write_atomically(path: Path, *objects: object) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            for obj in objects:
                pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _save_state(cache_dir: Path, state: _State) -> None:
    """Write the state for the next run (the model in its own file, written once per model)."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        model = state.models[state.model_key]
        model_file = cache_dir / f"model-{model.key.hex()}.pickle"
        if not model_file.exists():
            _write_atomically(model_file, _MODEL_HEADER, model)
        state.models = {}
        # Keep only the words still in use, so the vocabulary does not grow with history.
        used = np.bincount(state.tokens, minlength=len(state.words)) > 0
        if used.sum() < 0.8 * len(state.words):
            remap = (np.cumsum(used) - 1).astype(np.int32)
            state.tokens = remap[state.tokens]
            state.words = [w for w, u in zip(state.words, used.tolist(), strict=True) if u]
            state.hashes = state.hashes[used]
        # Verdicts of pairs whose papers are both still here.
        present = set(state.digests)
        state.verdicts = {k: v for k, v in state.verdicts.items() if k[:16] in present and k[16:] in present}
        _write_atomically(cache_dir / _STATE_FILE, _STATE_HEADER, state)
        for other in cache_dir.glob("model-*.pickle"):
            if other != model_file:
                other.unlink(missing_ok=True)
    except OSError as error:
        log.warning("similarity cache not written: %s", error)


@dataclass
class _Reuse:
    """How the previous run's papers map onto this run's rows."""

    old_row: np.ndarray
    """Per current row: its row in the previous run with the same id and text, or -1."""
    old: _State | None
    same_model: bool
    """The previous run used this run's model (so its shortlists and embeddings hold)."""

    @classmethod
    def make(cls, ids: list[str], digests: list[bytes], old: _State | None, model_key: bytes) -> _Reuse:
        old_row = np.full(len(ids), -1, np.int64)
        if old is not None:
            where = {paper_id: k for k, paper_id in enumerate(old.ids)}
            for i, paper_id in enumerate(ids):
                k = where.get(paper_id, -1)
                if k >= 0 and old.digests[k] == digests[i]:
                    old_row[i] = k
        same = old is not None and old.model_key == model_key and old.shortlists is not None
        return cls(old_row, old, same)


class _CachedChecker(PairChecker):
    """`PairChecker` that remembers verdicts by the two papers' text digests."""

    def __init__(self, table: TextTable, digests: list[bytes], known: Mapping[bytes, tuple[float, str] | None]):
        super().__init__(table)
        self.digests = digests
        self.known = known
        self.verdicts: dict[bytes, tuple[float, str] | None] = {}

    def check(self, i: int, j: int) -> Verdict | None:
        key = self.digests[i] + self.digests[j]
        if key in self.verdicts:
            found = self.verdicts[key]
        elif key in self.known:
            found = self.verdicts[key] = self.known[key]
        else:
            verdict = super().check(i, j)
            found = self.verdicts[key] = None if verdict is None else (verdict.score, verdict.kind)
        return None if found is None else Verdict(found[0], found[1])


def _signatures(table: TextTable, digests: list[bytes], old: _State | None) -> np.ndarray:
    """MinHash signatures of every paper, computed only for texts the cache does not have."""
    offsets = table.shingle_offsets
    if old is None:
        return minhash_signatures(table.shingles, offsets)
    where = {d: k for k, d in enumerate(old.digests)}
    found = np.array([where.get(d, -1) for d in digests], np.int64)
    missing = np.flatnonzero(found < 0)
    signatures = np.empty((len(digests), old.signatures.shape[1]), np.uint32)
    hit = found >= 0
    signatures[hit] = old.signatures[found[hit]]
    if len(missing):
        lengths = offsets[missing + 1] - offsets[missing]
        sub_offsets = np.zeros(len(missing) + 1, np.int64)
        np.cumsum(lengths, out=sub_offsets[1:])
        signatures[missing] = minhash_signatures(_gather(table.shingles, offsets[missing], lengths), sub_offsets)
    return signatures
