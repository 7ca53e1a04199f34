"""Microbenchmark: NameIndex.candidates (the fuzzy-name candidates of a search) at scale.

    python bench/names.py                          # 1,000,000 artifacts (2M choices): ~3 min on 2 cores
    python bench/names.py --artifacts 100000 --prefix   # also time prefix filtering (slow: see below)

The names and ids are bench/scale.py's synthetic catalog (iter_catalog: family-version-size-
domain-language from a small vocabulary, so every trigram is common) and the queries its search
requests (make_queries: word requests, names, typos). Prints the index build in seconds, the
memory of its arrays, and milliseconds per query (p50/p99) of:
  old     the count before the uint8 scatter-add: all postings concatenated, np.bincount (int64)
  new     NameIndex.candidates (the answers are checked equal to old's)
  prefix  (--prefix) prefix filtering: each string's g - need + 1 rarest trigrams indexed, the
          strings reached through them verified against a forward CSR of their trigram codes
          (exact; checked equal too). Kept to show why it is not what NameIndex does.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scale import _Columns, iter_catalog, make_queries

from matchgraph.core.events import normalize_query
from matchgraph.retrieval.lexical import NameIndex, _trigrams


def old_candidates(index: NameIndex, q: str) -> np.ndarray:
    """NameIndex.candidates as it was: the query trigrams' postings concatenated and counted by
    np.unique (few) or an int64 np.bincount over every string."""
    codes = [index.gram_code[g] for g in _trigrams(q) if g in index.gram_code]
    if not codes:
        return np.zeros(0, np.int64)
    start = index.posting_start
    found = np.concatenate([index.postings[start[c]:start[c + 1]] for c in codes])
    if len(found) * 8 < len(index.need):
        hit, shared = np.unique(found, return_counts=True)
        keep = shared >= index.need[hit]
        good, shared = hit[keep].astype(np.int64), shared[keep]
    else:
        shared = np.bincount(found, minlength=len(index.need))
        good = np.flatnonzero(shared >= index.need)
        shared = shared[good]
    return index.best_choices(good, shared)


class PrefixFilter:
    """Prefix filtering over a built NameIndex: trigrams ranked by document frequency (rarest
    first, ties by code); string s indexed under its g_s - need_s + 1 rarest trigrams (any string
    sharing need_s of its trigrams with the query shares one of those); candidates verified by
    counting their trigram ranks (forward CSR, rows ascending) in the query's."""

    def __init__(self, index: NameIndex):
        self.index = index
        g = index.gram_counts
        n_grams, n_strings = len(index.posting_start) - 1, len(g)
        df = np.diff(index.posting_start)
        self.rank = np.empty(n_grams, np.int64)
        self.rank[np.lexsort((np.arange(n_grams), df))] = np.arange(n_grams)
        key = index.postings.astype(np.int64) * n_grams + np.repeat(self.rank, df)
        key.sort()  # by string, then rank
        self.forward = (key % n_grams).astype(np.int32)
        self.row_start = np.concatenate([[0], np.cumsum(g)])
        strings = key // n_grams
        del key
        prefix = np.where(index.need <= g, g - index.need + 1, 0)
        inside = np.arange(len(strings)) - self.row_start[strings] < prefix[strings]
        key = self.forward[inside].astype(np.int64) * n_strings + strings[inside]
        key.sort()  # by rank, then string
        self.postings = (key % n_strings).astype(np.int32)
        self.start = np.concatenate([[0], np.cumsum(np.bincount(key // n_strings, minlength=n_grams))])

    def candidates(self, q: str) -> tuple[np.ndarray, int]:
        """(NameIndex.candidates(q), how many strings were verified)."""
        index = self.index
        codes = [index.gram_code[x] for x in _trigrams(q) if x in index.gram_code]
        if not codes:
            return np.zeros(0, np.int64), 0
        ranks = self.rank[codes]
        reached = np.unique(np.concatenate([self.postings[self.start[r]:self.start[r + 1]] for r in ranks]))
        lengths = index.gram_counts[reached]
        ends = np.cumsum(lengths)
        items = np.arange(ends[-1] if len(ends) else 0) - np.repeat(ends - lengths - self.row_start[reached], lengths)
        asked = np.zeros(len(self.rank), bool)
        asked[ranks] = True
        running = np.concatenate([[0], np.cumsum(asked[self.forward[items]])])
        shared = running[ends] - running[ends - lengths]
        keep = shared >= index.need[reached]
        return index.best_choices(reached[keep].astype(np.int64), shared[keep]), len(reached)


def _ms(fn, queries: list[str]) -> tuple[list[np.ndarray], np.ndarray]:
    answers, times = [], []
    for q in queries:
        t = time.perf_counter()
        answers.append(fn(q))
        times.append((time.perf_counter() - t) * 1e3)
    return answers, np.array(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifacts", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--prefix", action="store_true", help="also time prefix filtering (~0.2-0.7 s a query at 1M)")
    args = parser.parse_args()
    t = time.perf_counter()
    columns = _Columns()
    for record in iter_catalog(args.artifacts):
        columns.add(record)
    queries = [normalize_query(text) for text, _ in make_queries(columns, args.queries, seed=7)]
    print(f"catalog: {args.artifacts:,} artifacts in {time.perf_counter() - t:.0f} s (not part of the build)")
    t = time.perf_counter()
    index = NameIndex(columns.names, columns.ids)
    build = time.perf_counter() - t
    arrays = {name: getattr(index, name).nbytes for name in NameIndex._ARRAYS}
    extra = index.need8.nbytes + index._ones.nbytes
    print(f"build: {build:.1f} s; {len(index.need):,} strings, {len(index.gram_code):,} trigrams, "
          f"{len(index.postings):,} postings; arrays {sum(arrays.values()) / 1e6:.0f} MB saved "
          f"(postings {arrays['postings'] / 1e6:.0f} MB) + {extra / 1e6:.1f} MB derived at load")
    for q in queries[:20]:  # warm both
        index.candidates(q), old_candidates(index, q)
    want, old = _ms(lambda q: old_candidates(index, q), queries)
    got, new = _ms(index.candidates, queries)
    assert all(np.array_equal(a, b) for a, b in zip(want, got)), "new != old"
    rows = [("old", old), ("new", new)]
    if args.prefix:
        t = time.perf_counter()
        prefix = PrefixFilter(index)
        print(f"prefix filter build: {time.perf_counter() - t:.1f} s, {len(prefix.postings):,} prefix postings")
        few = queries[:30]
        answers, times = _ms(prefix.candidates, few)
        assert all(np.array_equal(a, w) for (a, _), w in zip(answers, want)), "prefix != old"
        verified = np.array([n for _, n in answers])
        print(f"prefix filter: strings verified per query p50 {np.percentile(verified, 50):,.0f}"
              f" of {len(index.need):,}")
        rows.append(("prefix", times))
    for label, times in rows:
        p50, p99 = np.percentile(times, [50, 99])
        print(f"{label:>6}: p50 {p50:.2f} ms  p99 {p99:.2f} ms  ({len(times)} queries)")


if __name__ == "__main__":
    main()
