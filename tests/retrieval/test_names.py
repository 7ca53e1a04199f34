"""NameIndex.candidates against the count it replaces, on a catalog built to stress it: a few
thousand names from a small vocabulary (every trigram common, many ties in shared / trigrams)."""

from __future__ import annotations

import numpy as np
import pytest

from matchgraph.core.events import normalize_query
from matchgraph.retrieval import lexical
from matchgraph.retrieval.lexical import NameIndex

FAMILIES = ["llama", "mistral", "whisper", "bert", "t5", "clip", "qwen", "phi", "yolo", "deberta"]
VERSIONS = ["1", "2", "3", "3.1", "v2", "xl", "1.5"]
SIZES = ["tiny", "small", "base", "large", "7b", "13b", "mini"]
DOMAINS = ["medical", "legal", "news", "finance", "retail", "call-center"]
LANGUAGES = ["english", "german", "french", "multilingual"]
ODD = list("abcdefghijkl ")  # random strings over it: up to 1,700 trigrams, long queries reach 255


def _catalog(rng: np.random.Generator, n: int) -> tuple[list[str], list[str]]:
    """n (names, ids) like bench/scale.py's: family-version-size-domain-language, some parts
    dropped, some fine-tune suffixes, some empty names, some random strings."""
    names, ids = [], []
    for i in range(n):
        parts = [rng.choice(p) for p in (FAMILIES, VERSIONS, SIZES, DOMAINS, LANGUAGES)]
        name = "-".join(parts[:int(rng.integers(1, 6))])
        roll = rng.random()
        if roll < 0.05:
            name = ""
        elif roll < 0.10:
            name = "".join(rng.choice(ODD, int(rng.integers(3, 30))))
        elif roll < 0.20:
            name = f"{name}-ft{i}"
        tail = name if rng.random() < 0.7 else f"{name}-gguf" if rng.random() < 0.5 else name.upper()
        names.append(name)
        ids.append(f"org{rng.integers(5)}/{tail}")
    return names, ids


def _typo(rng: np.random.Generator, text: str) -> str:
    if len(text) < 3:
        return text
    cut = int(rng.integers(1, len(text) - 1))
    return text[:cut] + (rng.choice(list("xyz")) if rng.random() < 0.5 else "") + text[cut + 1:]


def _queries(rng: np.random.Generator, names: list[str]) -> list[str]:
    """Short, long, typos, word requests, empty, unknown trigrams, and long enough to hold 255
    distinct trigrams (the uint8 count's limit)."""
    picked = [names[i] for i in rng.integers(0, len(names), 40)]
    out = [n.replace("-", " ") for n in picked[:15]] + [_typo(rng, n) for n in picked[15:30]]
    out += [f"please run {n} on this" for n in picked[30:35]] + [n[:4] for n in picked[35:]]
    out += [f"a {rng.choice(DOMAINS)} model in {rng.choice(LANGUAGES)}" for _ in range(10)]
    out += ["", "t5", "a", "zzqqxx", "large", "base english", " ".join(FAMILIES + DOMAINS + LANGUAGES)]
    out += ["".join(rng.choice(ODD, 800)), "".join(rng.choice(ODD, 300))]
    return out


def _reference(index: NameIndex, grams: list[set[str]], q: str) -> list[int]:
    """The count candidates() replaces, written plainly: each choice's trigram set against the
    query's, kept when shared / trigrams >= min_shared, then the max_fuzzy best (ties: lower j)."""
    query = lexical._trigrams(q) if q else set()
    scored = []
    for j, mine in enumerate(grams):
        shared = len(query & mine)
        if shared and shared / max(len(mine), 1) >= index.min_shared:
            scored.append((-(shared / max(len(mine), 1)), j))
    return sorted(j for _, j in sorted(scored)[:index.max_fuzzy])


@pytest.fixture(scope="module")
def catalog() -> tuple[list[str], list[str], list[str]]:
    rng = np.random.default_rng(5)
    names, ids = _catalog(rng, 3000)
    return names, ids, [normalize_query(q) for q in _queries(rng, names)]


@pytest.mark.parametrize("min_shared", [0.3, 0.5, 0.8])
@pytest.mark.parametrize("max_fuzzy", [5, 100_000])
def test_candidates_equal_the_plain_count(catalog, min_shared, max_fuzzy, monkeypatch):
    names, ids, queries = catalog
    index = NameIndex(names, ids, min_shared=min_shared, max_fuzzy=max_fuzzy)
    grams = [lexical._trigrams(c) if c else set() for c in index.choices]
    paths = []  # (distinct query trigrams, postings they hold) of each count
    enough, start = index._enough, index.posting_start
    monkeypatch.setattr(index, "_enough", lambda codes: paths.append(
        (len(codes), int(sum(start[c + 1] - start[c] for c in codes)))) or enough(codes))
    for q in queries:
        assert index.candidates(q).tolist() == _reference(index, grams, q), q
    # Every counting path was taken: few postings (np.unique), uint8 counts, 255+ trigrams.
    assert any(v * 8 < len(index.need) for _, v in paths)
    assert any(v * 8 >= len(index.need) and k < 255 for k, v in paths)
    assert any(v * 8 >= len(index.need) and k >= 255 for k, v in paths)


def test_candidates_without_the_scatter_add_are_the_same(catalog, monkeypatch):
    names, ids, queries = catalog
    index = NameIndex(names, ids)
    want = [index.candidates(q).tolist() for q in queries]
    monkeypatch.setattr(lexical, "_scatter_add", None)  # a scipy without it: np.bincount counts
    assert [index.candidates(q).tolist() for q in queries] == want


def test_a_saved_index_loads_with_the_same_candidates(catalog, tmp_path):
    names, ids, queries = catalog
    built = NameIndex(names, ids, min_shared=0.3, max_fuzzy=20)
    built.save(tmp_path / "names")
    loaded = NameIndex.load(tmp_path / "names", min_shared=0.3, max_fuzzy=20)
    assert loaded is not None
    for q in queries:
        assert np.array_equal(loaded.candidates(q), built.candidates(q)), q
        assert loaded.hits(q) == built.hits(q), q


def test_a_saved_index_naming_strings_it_lacks_is_rebuilt(catalog, tmp_path):
    names, ids, _ = catalog
    built = NameIndex(names[:50], ids[:50])
    built.postings = built.postings.copy()
    built.postings[-1] = len(built.need)  # past the last string: the scatter-add would write there
    built.save(tmp_path / "names")
    assert NameIndex.load(tmp_path / "names") is None


def test_a_saved_index_whose_slices_overrun_its_postings_is_rebuilt(catalog, tmp_path):
    names, ids, _ = catalog
    built = NameIndex(names[:50], ids[:50])
    built.posting_start = built.posting_start.copy()
    built.posting_start[-1] += 3  # the last trigram's slice past the postings' end
    built.save(tmp_path / "names")
    assert NameIndex.load(tmp_path / "names") is None
