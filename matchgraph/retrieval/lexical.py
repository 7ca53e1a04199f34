"""Lexical matching: BM25 (bm25s) over artifact text, and names and ids through an index.

Both answer with candidates, never with an array over the whole catalog: BM25 returns its top
documents (bm25s retrieve over the inverted index), the name index returns the artifacts whose
name or id the query names (exact and alias lookup, then rapidfuzz over the artifacts that share
enough character trigrams with the query).
"""

from __future__ import annotations

import json
import re
from array import array
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN
from rapidfuzz import fuzz, process

try:  # the C++ loop behind scipy.sparse's CSC matrix-vector product: a scatter-add in any dtype
    from scipy.sparse._sparsetools import csc_matvec as _scatter_add
except ImportError:  # a scipy without it: NameIndex counts with np.bincount (the same answer, ~3x slower)
    _scatter_add = None

from ..core.arrays import sorted_unique
from ..core.events import normalize_query

_STEMMER = Stemmer.Stemmer("english")
SETTINGS = "matchgraph-bm25.json"  # the settings an index was built with (method, k1, b)


# bm25s.tokenize's default pattern is \b\w\w+\b; findall's left-to-right scan with a greedy
# \w\w+ only ever matches whole runs of word characters, so the boundaries add nothing but time
# (a quarter of findall's time at 100,000 artifacts).
_WORDS = re.compile(r"\w\w+").findall
_STOPWORDS = frozenset(STOPWORDS_EN)  # what bm25s.tokenize(stopwords="en") drops


def _query_tokens(query: str) -> list[str]:
    """The query's tokens as bm25s.tokenize makes them for documents (lower-cased words of two
    or more characters, English stopwords dropped, stemmed), without its per-call progress-bar
    and vocabulary set-up (a third of a millisecond a query)."""
    return _STEMMER.stemWords([w for w in _WORDS(query.lower()) if w not in _STOPWORDS])


def tokenize(documents: list[str]) -> bm25s.tokenization.Tokenized:
    """The documents' stemmed token ids and vocabulary, the same tokens as
    `bm25s.tokenize(documents, stopwords="en", stemmer=...)` in one pass: each distinct word is
    looked up, filtered and stemmed once, where bm25s checks every token against a stopword set
    it rebuilds per document and maps every token twice (5.3 -> 3.9 s at 100,000 artifacts)."""
    stem_id: dict[str, int] = {w: -1 for w in _STOPWORDS}  # each word seen -> its stem's id
    vocab: dict[str, int] = {}
    ids: list[list[int]] = []
    for document in documents:
        words = _WORDS(document.lower())
        try:
            row = [stem_id[w] for w in words]
        except KeyError:  # new words: stem each once
            for word in words:
                if word not in stem_id:
                    stem_id[word] = vocab.setdefault(_STEMMER.stemWord(word), len(vocab))
            row = [stem_id[w] for w in words]
        ids.append([i for i in row if i >= 0] if -1 in row else row)
    return bm25s.tokenization.Tokenized(ids=ids, vocab=vocab)


class BM25Index:
    """BM25 over one document per artifact (documents in catalog order).

    `top(query, k)` returns (positions, scores) of the best k documents with a positive score,
    best first. Built once with the index version and saved with it (`save`); `load` memory-maps
    the saved matrix instead of tokenizing the catalog again.
    """

    def __init__(self, documents: list[str] | None = None, method: str = "lucene", k1: float = 1.5,
                 b: float = 0.75, *, retriever: bm25s.BM25 | None = None, size: int | None = None):
        self.settings = {"method": method, "k1": k1, "b": b}
        if retriever is not None:
            self.retriever, self.size = retriever, int(size or 0)
            return
        documents = documents or []
        self.size = len(documents)
        self.retriever = bm25s.BM25(method=method, k1=k1, b=b)
        if documents:
            self.retriever.index(tokenize(documents), show_progress=False)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if self.size:
            self.retriever.save(str(folder), show_progress=False)
        (folder / SETTINGS).write_text(json.dumps({**self.settings, "size": self.size}))

    @classmethod
    def load(cls, folder: Path, method: str = "lucene", k1: float = 1.5, b: float = 0.75
             ) -> "BM25Index | None":
        """The saved index, memory-mapped; None when it is missing or was built with other settings
        (the caller then builds it from the documents)."""
        try:
            saved = json.loads((folder / SETTINGS).read_text())
        except (OSError, ValueError):
            return None
        if {k: saved.get(k) for k in ("method", "k1", "b")} != {"method": method, "k1": k1, "b": b}:
            return None
        if not saved.get("size"):
            return cls([], method, k1, b)
        retriever = bm25s.BM25.load(str(folder), mmap=True, show_progress=False)
        return cls(method=method, k1=k1, b=b, retriever=retriever, size=saved["size"])

    def top(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(positions, scores) of up to k documents with a score above 0, best first (ties: catalog
        order). The scores come from bm25s's sparse matrix (the query terms' postings); the top k
        are picked here rather than by `BM25.retrieve`, which starts a thread pool per call (~20 ms)."""
        scores = self.scores(query)
        top = np.flatnonzero(scores > 0)  # the documents holding a query term: the top is among them
        if k <= 0:
            top = top[:0]
        elif len(top) > k:
            hit = scores[top]
            kth = np.partition(hit, len(hit) - k)[len(hit) - k]  # the k-th best score
            above = top[hit > kth]  # all of them, then the ties at the k-th score in catalog order
            top = np.concatenate([above, top[hit == kth][:k - len(above)]])
        top = top[np.lexsort((top, -scores[top]))]
        return top.astype(np.int64), scores[top]

    def scores(self, query: str) -> np.ndarray:
        """BM25 of every document, (n_docs,): for offline evaluation over the whole catalog."""
        tokens = _query_tokens(query)
        if not tokens or self.size == 0 or not self.retriever.get_tokens_ids(tokens):
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.retriever.get_scores(tokens), dtype=np.float32)


def _trigrams(text: str) -> set[str]:
    padded = f" {text} "
    return {padded[i:i + 3] for i in range(len(padded) - 2)}


class NameIndex:
    """Which artifacts a query names, and how well (rapidfuzz 0-100), from an index.

    The score of an artifact is the best of the whole query against its name or its id's last
    part (typos) and that name found inside a longer query (a request that names a model;
    names shorter than `min_partial_len` would match anything). Exact names and ids come from a
    lookup table; fuzzy candidates are the artifacts sharing at least `min_shared` of their
    name's or id's character trigrams with the query (at most `max_fuzzy` of them, most shared
    first), and only they are scored.

    The trigram postings are over the distinct strings (an id's last part is most often the name
    itself: half the postings), as one flat int32 array sliced per trigram. Choice numbers are
    what the answers are about: j < n is artifact j's name, j >= n its id's last part.

    Counting shared trigrams: every query trigram's postings are added into one uint8 counter per
    string (scipy's C++ CSC scatter-add, one call per trigram), not an int64 np.bincount over their
    concatenation (which copies them to int64 and scatters into 8 bytes a string): the same
    counts, 6.2 -> 2.2 ms a query (p50) at 1,000,000 artifacts of scale.py's catalog
    (bench/names.py). Prefix filtering from set-similarity search (index each string under its
    g - need + 1 rarest trigrams, verify the strings reached) is exact too but far slower there:
    with a small vocabulary every trigram is common, at min_shared 0.5 half of a string's trigrams
    are its prefix, and a request of a few words reaches ~260,000 of 895,000 strings through them
    (~220 ms a query to verify, where all the postings are ~1.8M entries).
    """

    def __init__(self, names: list[str], ids: list[str], min_partial_len: int = 5,
                 min_shared: float = 0.5, max_fuzzy: int = 100):
        self.n = len(names)
        choices = [normalize_query(x) for x in names] + [normalize_query(i.rsplit("/", 1)[-1]) for i in ids]
        self.lengths = np.array([len(c) for c in choices], dtype=np.int64)
        self.min_partial_len, self.min_shared, self.max_fuzzy = min_partial_len, min_shared, max_fuzzy
        # Distinct strings (numbered in order of first appearance) and their choices, ascending;
        # a name and an id's last part that read the same are one string object.
        self.string_of: dict[str, int] = {}
        owner = np.array([self.string_of.setdefault(c, len(self.string_of)) for c in choices], dtype=np.int64)
        strings = list(self.string_of)
        self.choices = [strings[u] for u in owner.tolist()]
        self.members = np.argsort(owner, kind="stable")
        self.member_start = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=len(strings)))])
        # Postings: for each trigram the strings holding it, ascending (a stable sort by trigram).
        # One string's trigram set at a time: holding them all (~3 KB a string) left the process
        # hundreds of MB larger at 100,000 artifacts even after they were freed (fragmentation).
        self.gram_code: dict[str, int] = {}
        codes = array("q")
        self.gram_counts = np.zeros(len(strings), dtype=np.int64)  # trigrams per string
        for u, text in enumerate(strings):
            tri = _trigrams(text) if text else ()
            self.gram_counts[u] = len(tri)
            codes.extend([self.gram_code.setdefault(g, len(self.gram_code)) for g in tri])
        codes = np.frombuffer(codes, dtype=np.int64) if len(codes) else np.zeros(0, np.int64)
        holders = np.repeat(np.arange(len(strings), dtype=np.int32), self.gram_counts)
        self.postings = holders[np.argsort(codes, kind="stable")]
        self.posting_start = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=len(self.gram_code)))])
        self.need = _shared_needed(self.gram_counts, min_shared)
        self.owner = owner
        self._derive()

    def _derive(self) -> None:
        """What candidates() uses beside the saved arrays: need as uint8 (255: at least 255, which
        a uint8 count is only compared with when the query has under 255 trigrams: never enough)
        and a run of ones as long as the longest postings (the scatter-add's weights)."""
        self.need8 = np.minimum(self.need, 255).astype(np.uint8)
        longest = int(np.diff(self.posting_start).max()) if len(self.posting_start) > 1 else 0
        self._ones = np.ones(longest, dtype=np.uint8)

    _ARRAYS = ("lengths", "owner", "members", "member_start", "gram_counts", "postings", "posting_start", "need")

    def save(self, folder: Path) -> None:
        """Write the index to `folder` (an index version's names/): a load reads it back in a
        fraction of a build (the trigrams of 2 strings per artifact: ~15 s at 1,000,000)."""
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "arrays.npz", **{name: getattr(self, name) for name in self._ARRAYS})
        (folder / "strings.json").write_text(json.dumps({
            "n": self.n, "settings": [self.min_partial_len, self.min_shared, self.max_fuzzy],
            "strings": list(self.string_of), "grams": list(self.gram_code)}))

    @classmethod
    def load(cls, folder: Path, min_partial_len: int = 5, min_shared: float = 0.5,
             max_fuzzy: int = 100) -> "NameIndex | None":
        """The index saved in `folder`; None when there is none or it has other settings (the
        caller builds it)."""
        try:
            meta = json.loads((folder / "strings.json").read_text())
            arrays = np.load(folder / "arrays.npz")
        except (OSError, ValueError):
            return None
        if meta["settings"] != [min_partial_len, min_shared, max_fuzzy]:
            return None
        index = cls.__new__(cls)
        index.n, (index.min_partial_len, index.min_shared, index.max_fuzzy) = meta["n"], meta["settings"]
        with arrays:
            for name in cls._ARRAYS:
                setattr(index, name, arrays[name])
        if not index._postings_fit():
            return None
        index._derive()
        strings = meta["strings"]
        index.string_of = {text: u for u, text in enumerate(strings)}
        index.choices = [strings[u] for u in index.owner.tolist()]
        index.gram_code = {gram: code for code, gram in enumerate(meta["grams"])}
        return index

    def _postings_fit(self) -> bool:
        """Whether the postings are int32 string numbers below the string count and posting_start
        slices exactly them: the scatter-add checks neither, so a saved index that fails is
        rebuilt, not trusted (two passes over the postings, ~20 ms at 1,000,000 artifacts)."""
        start, postings = self.posting_start, self.postings
        if postings.dtype != np.int32 or not len(start) or start[0] != 0 or start[-1] != len(postings) \
                or np.any(np.diff(start) < 0):
            return False
        return not len(postings) or (int(postings.min()) >= 0 and int(postings.max()) < len(self.need))

    def candidates(self, q: str) -> np.ndarray:
        """Choice numbers sharing enough trigrams with the normalized query `q` (ascending): those
        with shared / trigrams >= min_shared, the max_fuzzy highest ratios when more (ties: the
        lower choice number)."""
        codes = [self.gram_code[g] for g in _trigrams(q) if g in self.gram_code]
        if not codes:
            return np.zeros(0, np.int64)
        return self.best_choices(*self._enough(codes))

    def best_choices(self, good: np.ndarray, shared: np.ndarray) -> np.ndarray:
        """The choices of the strings `good` (ascending) that share `shared` trigrams with the
        query: all of them, or the max_fuzzy highest ratios when more (ties: the lower choice)."""
        picked, owner = self._expand(good)
        order = np.argsort(picked, kind="stable")
        picked, owner = picked[order], owner[order]
        # The same float ratio as a count per choice over all trigrams would give.
        ratio = shared[owner] / np.maximum(self.gram_counts[good[owner]], 1)
        if len(picked) > self.max_fuzzy:
            picked = np.sort(picked[np.argsort(-ratio, kind="stable")[:self.max_fuzzy]])
        return picked.astype(np.int64)

    def _enough(self, codes: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(string numbers ascending, their shared trigram counts), both int64 (k,): the strings
        sharing at least their need of these distinct trigram codes."""
        start = self.posting_start
        if int(sum(start[c + 1] - start[c] for c in codes)) * 8 < len(self.need):  # few postings
            found = np.concatenate([self.postings[start[c]:start[c + 1]] for c in codes])
            hit, shared = np.unique(found, return_counts=True)
            keep = shared >= self.need[hit]
            return hit[keep].astype(np.int64), shared[keep].astype(np.int64)
        if _scatter_add is None or len(codes) >= 255:  # a count could reach 255: int64 counts
            found = np.concatenate([self.postings[start[c]:start[c + 1]] for c in codes])
            shared = np.bincount(found, minlength=len(self.need))
            good = np.flatnonzero(shared >= self.need)
            return good, shared[good]
        # One uint8 count per string (<= len(codes) < 255: no overflow), added postings list by
        # postings list: a list holds a string once, so each list adds 0 or 1 to each count.
        shared = np.zeros(len(self.need), dtype=np.uint8)
        one, column = np.ones(1, dtype=np.uint8), np.zeros(2, dtype=np.int32)  # a one-column CSC matrix
        codes = np.asarray(codes)
        for a, b in zip(start[codes].tolist(), start[codes + 1].tolist()):
            column[1] = b - a
            _scatter_add(len(shared), 1, column, self.postings[a:b], self._ones[:b - a], one, shared)
        good = np.flatnonzero(shared >= self.need8)  # need8 < need only where need >= 255 > count
        return good, shared[good].astype(np.int64)

    def _expand(self, strings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(choice numbers of these string numbers, which of `strings` each came from)."""
        counts = self.member_start[strings + 1] - self.member_start[strings]
        owner = np.repeat(np.arange(len(strings)), counts)
        offset = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
        return self.members[self.member_start[strings][owner] + offset], owner

    def exact(self, q: str) -> np.ndarray:
        """Choice numbers whose string is exactly the normalized query `q` (ascending)."""
        u = self.string_of.get(q)
        return self.members[self.member_start[u]:self.member_start[u + 1]] if u is not None \
            else np.zeros(0, np.int64)

    def hits(self, query: str, cutoff: float = 0) -> dict[int, float]:
        """artifact position -> score (>= cutoff, > 0) of the artifacts the query names."""
        q = normalize_query(query)
        if not q or not self.n:
            return {}
        picked = sorted_unique(np.concatenate([self.candidates(q), self.exact(q)]))  # np.union1d's answer
        if not len(picked):
            return {}
        chosen = [self.choices[j] for j in picked]
        whole = process.cdist([q], chosen, scorer=fuzz.ratio, score_cutoff=cutoff)[0]
        inside = process.cdist([q], chosen, scorer=fuzz.partial_ratio, score_cutoff=cutoff)[0]
        lengths = self.lengths[picked]
        inside[(lengths < self.min_partial_len) | (lengths > len(q))] = 0
        best = np.maximum(whole, inside)
        out: dict[int, float] = {}
        for j, score in zip(picked.tolist(), best.tolist()):
            if score > 0:
                pos = j % self.n
                out[pos] = max(out.get(pos, 0.0), float(score))
        return out

    def scores(self, query: str, cutoff: float = 0) -> np.ndarray:
        """The hits as an array over all artifacts, (n,) in 0..100: for offline evaluation."""
        out = np.zeros(self.n, dtype=np.float32)
        for pos, score in self.hits(query, cutoff).items():
            out[pos] = score
        return out


def _shared_needed(gram_counts: np.ndarray, min_shared: float) -> np.ndarray:
    """(n_strings,) int64: the fewest shared trigrams s >= 1 with s / max(trigrams, 1) >=
    min_shared, in the same float division as the ratio (greater than the trigram count when
    none is enough)."""
    c = np.maximum(gram_counts, 1)
    need = np.clip(np.ceil(min_shared * c), 0, c + 1).astype(np.int64)  # c + 1: never enough
    need = np.where((need - 1) / c >= min_shared, need - 1, need)  # ceil of a rounded product
    need = np.where(need / c < min_shared, need + 1, need)
    return np.maximum(need, 1)
