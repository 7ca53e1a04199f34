"""Lexical matching: BM25 (bm25s) over artifact text and rapidfuzz over artifact names and ids."""

from __future__ import annotations

import bm25s
import numpy as np
import Stemmer
from rapidfuzz import fuzz, process

from .events import normalize_query

_STEMMER = Stemmer.Stemmer("english")


class BM25Index:
    """BM25 over one document per artifact; `scores(query)` returns an array of shape (n_docs,)."""

    def __init__(self, documents: list[str], method: str = "lucene", k1: float = 1.5, b: float = 0.75):
        self.size = len(documents)
        self.retriever = bm25s.BM25(method=method, k1=k1, b=b)
        tokens = bm25s.tokenize(documents, stopwords="en", stemmer=_STEMMER, show_progress=False)
        self.retriever.index(tokens, show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=_STEMMER, show_progress=False,
                                return_ids=False)[0]
        if not tokens or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.retriever.get_scores(tokens), dtype=np.float32)


class NameMatcher:
    """Fuzzy match of a query against artifact names and ids (typos, exact model names, versions).

    `scores(query)` returns an array (n_artifacts,) in 0..100: the best of the whole query against
    the name (typos) and the name found inside a longer query (a request that names a model).
    """

    def __init__(self, names: list[str], ids: list[str], min_partial_len: int = 5):
        self.names = [normalize_query(n) for n in names]
        # The id's last part ("trocr-base-handwritten") is how people write a model name.
        self.ids = [normalize_query(i.rsplit("/", 1)[-1]) for i in ids]
        self.min_partial_len = min_partial_len
        self._name_lengths = np.array([len(n) for n in self.names])
        self._id_lengths = np.array([len(i) for i in self.ids])

    def scores(self, query: str, cutoff: float = 0) -> np.ndarray:
        """Scores below `cutoff` come back as 0; rapidfuzz stops early on those, which halves
        the cost on long requests."""
        q = normalize_query(query)
        if not q or not self.names:
            return np.zeros(len(self.names), dtype=np.float32)
        whole = np.maximum(process.cdist([q], self.names, scorer=fuzz.ratio, score_cutoff=cutoff)[0],
                           process.cdist([q], self.ids, scorer=fuzz.ratio, score_cutoff=cutoff)[0])
        inside = np.maximum(self._inside(q, self.names, self._name_lengths, cutoff),
                            self._inside(q, self.ids, self._id_lengths, cutoff))
        return np.maximum(whole, inside).astype(np.float32)

    def _inside(self, q: str, choices: list[str], lengths: np.ndarray, cutoff: float) -> np.ndarray:
        # partial_ratio finds a name inside a longer request; short names would match anything.
        scores = process.cdist([q], choices, scorer=fuzz.partial_ratio, score_cutoff=cutoff)[0]
        scores[(lengths < self.min_partial_len) | (lengths > len(q))] = 0
        return scores
