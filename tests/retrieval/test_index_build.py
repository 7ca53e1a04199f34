"""The streamed index build (index_build.py): chunks give the same files and answers as one
whole catalog, an IVF keeps codes only and re-ranks with the mapped vectors exactly as the
refine copy did, and a bad catalog is refused whole whichever chunk holds the problem."""

import numpy as np
import pytest

from matchgraph.core.catalog import capability_texts, load_catalog
from matchgraph.core.errors import ValidationFailed
from matchgraph.engine.engine import Engine
from matchgraph.retrieval.ann import AnnSettings, create_ann, create_ann_streamed
from matchgraph.retrieval.index import LoadedIndex, write_index
from matchgraph.retrieval.index_build import (
    CATALOG,
    COLUMNS,
    OFFSETS,
    VECTORS,
    IndexWriter,
    build_from_catalog,
    index_rows,
    vector_blocks,
)

FIXTURE = "fixtures/catalog"
FILES = (CATALOG, OFFSETS, COLUMNS, VECTORS)


def _unit(rows: int, dim: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _vectors_of(texts: list[str], dim: int = 16) -> np.ndarray:
    """A fixed vector per text (seeded by the text), as a cache would give back."""
    return np.stack([_unit(1, dim, abs(hash(t)) % 2**32)[0] for t in texts]) if texts else np.zeros((0, dim), np.float32)


@pytest.mark.parametrize("chunk", [1, 2, 5])
def test_a_catalog_streamed_in_chunks_writes_the_files_of_the_whole_catalog(tmp_path, chunk):
    artifacts = load_catalog([FIXTURE])
    texts = capability_texts(artifacts)
    vectors = _vectors_of(texts)
    whole, streamed = tmp_path / "whole", tmp_path / "streamed"
    whole.mkdir()
    streamed.mkdir()
    write_index(whole, artifacts, vectors, {"model": "test"})
    problems: list[str] = []
    writer = build_from_catalog(streamed, [FIXTURE], {}, _vectors_of, problems, chunk=chunk)
    assert not problems and (writer.artifacts, writer.capabilities) == (len(artifacts), len(texts))
    writer.finish({"model": "test"})
    for name in FILES:
        assert (whole / name).read_bytes() == (streamed / name).read_bytes(), name
    a, b = LoadedIndex.load(1, whole), LoadedIndex.load(1, streamed)
    assert np.array_equal(np.load(streamed / VECTORS), vectors)
    for row in range(0, len(texts), 3):
        assert np.array_equal(a.ann.search(vectors[row], 5)[1], b.ann.search(vectors[row], 5)[1])
    assert [r[0] for r in index_rows(streamed)] == [x.id for x in artifacts]
    assert [r[5] for r in index_rows(streamed)] == [x.model_dump_json() for x in artifacts]


def test_vector_blocks_read_back_the_rows_in_order(tmp_path):
    vectors = _unit(1234, 8)
    writer = IndexWriter(tmp_path)
    writer._vectors.append(vectors[:1000])
    writer._vectors.append(vectors[1000:])
    writer._vectors.close(8)
    writer.abandon()
    assert np.array_equal(np.load(tmp_path / VECTORS), vectors)
    assert np.array_equal(np.concatenate([b.copy() for b in vector_blocks(tmp_path / VECTORS, 300)]), vectors)


@pytest.mark.parametrize("k", [1, 10, 100, 250])
def test_a_codes_only_ivf_answers_as_the_ivf_with_its_own_refine_copy(tmp_path, k):
    """The served IVF holds codes and re-ranks with capabilities.npy mapped: the same ids and
    scores as IndexRefineFlat over the same trained lists (what write_index built before)."""
    vectors = _unit(6000, 32, 1)
    settings = AnnSettings(flat_max=1000, large="ivf")
    before = create_ann(vectors, "ivf", settings)
    np.save(tmp_path / "v.npy", vectors)
    mapped = np.asarray(np.load(tmp_path / "v.npy", mmap_mode="r"))
    after = create_ann_streamed(lambda: (vectors[i:i + 1000] for i in range(0, 6000, 1000)),
                                lambda rows: vectors[rows], 6000, 32, "ivf", settings)
    after.save(tmp_path / "ivf.faiss")
    loaded = type(after).load(tmp_path / "ivf.faiss", settings)
    assert loaded.codes_only and loaded.stored_vectors() is None
    loaded.attach(mapped)
    queries = _unit(40, 32, 2)
    want, got = before.search(queries, k), loaded.search(queries, k)
    assert np.array_equal(want[1], got[1])
    assert np.allclose(want[0], got[0], atol=1e-6)


def _many(copies: int) -> list:
    """The fixture catalog `copies` times over under new ids: enough capability rows to train an IVF."""
    base = load_catalog([FIXTURE])
    return [a.model_copy(update={"id": f"{a.id}-{i}"}) for i in range(copies) for a in base]


@pytest.mark.parametrize("kept", ["float16", "float32"])
def test_a_served_ivf_index_maps_its_vectors_in_the_type_ann_ivf_vectors_names(tmp_path, kept):
    artifacts = _many(40)
    rows = sum(len(a.capabilities) for a in artifacts)
    assert rows >= 1000  # enough to train lists: an IVF of codes, not a flat index
    vectors = _unit(rows, 16)
    settings = AnnSettings(flat_max=1, large="ivf", ivf_vectors=kept)
    write_index(tmp_path, artifacts, vectors, {"model": "test"}, ann=settings)
    assert np.load(tmp_path / VECTORS, mmap_mode="r").dtype == np.dtype(kept)
    index = LoadedIndex.load(1, tmp_path, ann=settings)
    assert index.ann.codes_only and not index.vectors.flags.owndata and index.vectors.dtype == np.dtype(kept)
    read = np.concatenate([b.copy() for b in vector_blocks(tmp_path / VECTORS, 500)])
    assert read.dtype == np.float32 and np.array_equal(read, vectors.astype(kept).astype(np.float32))


def test_float16_vectors_answer_as_float32_to_their_precision(tmp_path):
    """The same catalog kept as float16 and as float32: the same neighbours, cosines within
    float16's rounding, and the pages that read capability vectors (similar, compare) agree."""
    from matchgraph.retrieval.ann import float_rows, row_dots
    from matchgraph.search.compare import align

    artifacts = _many(40)
    vectors = _unit(sum(len(a.capabilities) for a in artifacts), 16)
    loaded = {}
    for kept in ("float16", "float32"):
        (tmp_path / kept).mkdir()
        settings = AnnSettings(flat_max=1, large="ivf", ivf_vectors=kept)
        write_index(tmp_path / kept, artifacts, vectors, {"model": "test"}, ann=settings)
        loaded[kept] = LoadedIndex.load(1, tmp_path / kept, ann=settings)
    half, full = loaded["float16"], loaded["float32"]
    queries = _unit(50, 16, 3)
    (s16, i16), (s32, i32) = half.ann.search(queries, 10), full.ann.search(queries, 10)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(i16, i32)]) >= 0.98
    assert np.allclose(s16, s32, atol=2e-3)
    rows = np.arange(0, len(vectors), 7)
    assert float_rows(half.vectors, rows).dtype == np.float32
    assert np.allclose(row_dots(half.vectors, rows, queries[0]), row_dots(full.vectors, rows, queries[0]), atol=2e-3)
    a, b = artifacts[0], artifacts[len(artifacts) // 2]
    pairs16, pairs32 = align(half, a, b, -1.0)[0], align(full, a, b, -1.0)[0]
    assert [(p.a, p.b) for p in pairs16] == [(p.a, p.b) for p in pairs32]
    assert np.allclose([p.similarity for p in pairs16], [p.similarity for p in pairs32], atol=2e-3)
    capability = a.capabilities[0].id
    assert half.capability_vector(a.id, capability).dtype == np.float32


def test_a_problem_in_a_late_chunk_refuses_the_whole_catalog_and_lists_every_problem(tmp_path):
    home = tmp_path / "home"
    catalog = tmp_path / "given.jsonl"
    artifacts = load_catalog([FIXTURE])
    lines = [a.model_dump_json() for a in artifacts]
    lines.append(lines[0])  # a duplicate id at the end
    lines.append("{not json")
    catalog.write_text("\n".join(lines) + "\n")
    problems: list[str] = []
    (tmp_path / "out").mkdir()
    writer = build_from_catalog(tmp_path / "out", [str(catalog)], {}, _vectors_of, problems, chunk=2)
    writer.abandon()
    assert any("duplicate artifact id" in p for p in problems)
    assert any(f"{catalog}:{len(lines)}: not valid JSONL" in p for p in problems)
    engine = Engine(home)
    with pytest.raises(ValidationFailed) as caught:
        engine.index([str(catalog)])
    assert any("duplicate artifact id" in p for p in caught.value.problems)
    assert engine.versions.current() is None and not list((home / "index").glob(".v*"))  # no staging left
    engine.close()


def test_the_signals_stored_with_the_version_score_as_the_records_do(tmp_path):
    """A load scores the catalog from signals.npz instead of parsing every record: the same raw
    values and the same percentiles as catalog_signals over the artifacts."""
    from datetime import datetime, timezone

    from matchgraph.core.signals import catalog_signals, stored_catalog_signals

    artifacts = load_catalog([FIXTURE])
    write_index(tmp_path, artifacts, _vectors_of(capability_texts(artifacts)), {"model": "test"})
    index = LoadedIndex.load(1, tmp_path)
    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    want = catalog_signals(artifacts, 50.0, now)
    got = stored_catalog_signals(index.ids, index.signal_columns, 50.0, now)
    assert got.ids == want.ids and set(got.raw) == set(want.raw)
    for name in want.raw:
        assert np.allclose(got.raw[name], want.raw[name], equal_nan=True, rtol=0, atol=1e-12), name
        assert np.array_equal(got.percentile[name], want.percentile[name]), name
    assert not np.isnan(want.raw["freshness"]).all()  # the fixture has dates: freshness is compared


def test_the_name_index_stored_with_the_version_answers_as_a_built_one(tmp_path):
    from matchgraph.retrieval.lexical import NameIndex

    artifacts = load_catalog([FIXTURE])
    write_index(tmp_path, artifacts, _vectors_of(capability_texts(artifacts)), {"model": "test"})
    index = LoadedIndex.load(1, tmp_path)
    built = NameIndex(index.names, index.ids)
    loaded = NameIndex.load(tmp_path / "names")
    assert loaded is not None and index.name_index.n == built.n
    for name in NameIndex._ARRAYS:
        assert np.array_equal(getattr(loaded, name), getattr(built, name)), name
    assert loaded.string_of == built.string_of and loaded.gram_code == built.gram_code
    assert loaded.choices == built.choices
    for query in ["whisper large", "stable difusion", "trocr", "llama 3 8b", "bert"]:
        for q in (query, query.replace(" ", "-")):
            assert np.array_equal(loaded.candidates(q), built.candidates(q))
            assert np.array_equal(loaded.exact(q), built.exact(q))
    assert NameIndex.load(tmp_path / "names", min_shared=0.6) is None  # other settings: built again


def test_auto_keeps_float16_vectors_only_from_a_million():
    from matchgraph.retrieval.ann import HALF_FROM

    auto = AnnSettings()
    assert auto.ivf_vectors == "auto"
    assert not auto.keeps_half(HALF_FROM - 1) and auto.keeps_half(HALF_FROM)
    assert AnnSettings(ivf_vectors="float16").keeps_half(10)
    assert not AnnSettings(ivf_vectors="float32").keeps_half(10 * HALF_FROM)
