"""An index version written and loaded: columns, records on demand, BM25 saved, ANN by size."""

import bm25s
import faiss
import numpy as np
import pytest

from matchgraph.core.catalog import Artifact, Capability, ToolRef, load_catalog
from matchgraph.retrieval.ann import ANN, AnnSettings, create_ann, refill_ann
from matchgraph.retrieval.index import BM25_DIR, ArtifactRecords, LoadedIndex, write_index
from matchgraph.retrieval.lexical import _STEMMER, BM25Index, tokenize
from matchgraph.search.artifacts import Filters

CATALOG = "fixtures/catalog"


def _written(tmp_path, bm25=None):
    artifacts = load_catalog([CATALOG])
    rows = sum(len(a.capabilities) for a in artifacts)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(rows, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    write_index(tmp_path, artifacts, vectors, {"model": "test"}, bm25)
    return artifacts, vectors


def test_records_columns_and_rows_match_the_catalog(tmp_path):
    artifacts, vectors = _written(tmp_path)
    index = LoadedIndex.load(1, tmp_path)
    assert len(index.artifacts) == len(artifacts) and index.ids == [a.id for a in artifacts]
    for pos, artifact in enumerate(artifacts):
        assert index.artifact(artifact.id) == artifact == index.artifacts[pos]
        rows = index.cap_rows[artifact.id]
        assert [index.rows[r] for r in rows] == [(artifact.id, c.id) for c in artifact.capabilities]
        for r, c in zip(rows, artifact.capabilities):
            assert np.array_equal(index.capability_vector(artifact.id, c.id), vectors[r])
            assert (artifact.id, c.id) in index.capability_keys
    assert list(index.artifacts) == artifacts
    assert (artifacts[0].id, "no-such-capability") not in index.capability_keys


def test_shown_capabilities_and_code_columns_equal_the_validated_records(tmp_path):
    """A search result reads its matched capability's title and tool without validating the
    whole record again (the line was written from a validated Artifact), and kind and pricing
    from the code columns: the artifact's own values, before and after it was parsed whole."""
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    tooled = Artifact(id="acme/weather-mcp", name="Weather", kind="tool", pricing="free", capabilities=[
        Capability(id="forecast", title="Forecast for a city", description="Days ahead.",
                   tool=ToolRef(server="npx -y weather-mcp", name="forecast", input_schema=schema)),
        Capability(id="alerts", title="Weather alerts")])
    artifacts = load_catalog([CATALOG]) + [tooled]
    rows = sum(len(a.capabilities) for a in artifacts)
    write_index(tmp_path, artifacts, np.eye(rows, 16, dtype=np.float32), {"model": "test"})
    index = LoadedIndex.load(1, tmp_path)
    for parsed_whole in (False, True):
        for pos, artifact in enumerate(artifacts):
            if parsed_whole:  # then the parsed artifact answers
                assert index.artifacts[pos] == artifact
            assert (index.kind(pos), index.pricing(pos)) == (artifact.kind, artifact.pricing)
            for c in artifact.capabilities:
                assert index.artifacts.shown(pos, c.id) == (c.title, c.tool, c.description)
            with pytest.raises(KeyError):
                index.artifacts.shown(pos, "no-such-capability")
    assert isinstance(index.artifacts.shown(len(artifacts) - 1, "forecast").tool, ToolRef)
    with pytest.raises(IndexError):
        index.artifacts.shown(len(artifacts), "forecast")
    held = ArtifactRecords(None, np.zeros(0, np.int64), loaded=artifacts)  # a version before catalog.jsonl
    assert held.shown(len(artifacts) - 1, "forecast")[:2] == ("Forecast for a city", tooled.capabilities[0].tool)


def test_filters_read_the_code_columns(tmp_path):
    artifacts, _ = _written(tmp_path)
    index = LoadedIndex.load(1, tmp_path)
    everyone = np.arange(len(artifacts))
    some = artifacts[0]
    for filters, want in ((Filters(kind=some.kind), [a.kind == some.kind for a in artifacts]),
                          (Filters(pricing="paid"), [a.pricing == "paid" for a in artifacts]),
                          (Filters(task=(some.task or "").upper()),
                           [(a.task or "").lower() == (some.task or "").lower() for a in artifacts]),
                          (Filters(kind="no-such-kind"), [False] * len(artifacts))):
        assert list(filters.keep(index, everyone)) == want


def test_bm25_is_saved_with_the_version_and_rebuilt_for_other_settings(tmp_path):
    artifacts, _ = _written(tmp_path)
    fresh = BM25Index([a.lexical_text() for a in artifacts])
    loaded = LoadedIndex.load(1, tmp_path).bm25
    assert (tmp_path / BM25_DIR / "params.index.json").exists()
    for query in ("handwritten letters", "make a picture from a sentence", "zzz-unknown-word"):
        assert np.allclose(loaded.scores(query), fresh.scores(query))
        positions, scores = loaded.top(query, 3)
        assert np.allclose(scores, np.sort(fresh.scores(query))[::-1][:len(scores)])
        assert (scores > 0).all()
    other = LoadedIndex.load(1, tmp_path, {"method": "lucene", "k1": 1.2, "b": 0.9}).bm25
    assert other.settings["k1"] == 1.2
    assert not np.allclose(other.scores("handwritten letters"), fresh.scores("handwritten letters"))


def test_tokenize_makes_the_tokens_bm25s_makes():
    documents = [a.lexical_text() for a in load_catalog([CATALOG])] + [
        "", "a I x", "the and of", "Ünïcode wörds, snake_case_id x2 and 16k_sr Libri2Mix",
        "running runs ran RUNNING", "tabs\tand\nnewlines -- hyphen-ated e-mail a1 1a"]
    ours = tokenize(documents)
    theirs = bm25s.tokenize(documents, stopwords="en", stemmer=_STEMMER, show_progress=False)
    words = {i: w for w, i in ours.vocab.items()}
    their_words = {i: w for w, i in theirs.vocab.items()}
    assert [[words[i] for i in row] for row in ours.ids] == [[their_words[i] for i in row] for row in theirs.ids]
    assert sorted(ours.vocab) == sorted(theirs.vocab)


def test_ann_is_flat_up_to_flat_max_and_hnsw_above():
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(500, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert create_ann(vectors, "auto", AnnSettings(flat_max=500)).kind == "flat"
    hnsw = create_ann(vectors, "auto", AnnSettings(flat_max=499, large="hnsw", hnsw_ef_search=16))
    assert hnsw.kind == "hnsw"
    exact = set(create_ann(vectors, "flat").search(vectors[7], 50)[1][0])
    found = hnsw.search(vectors[7], 50)[1][0]  # more than ef_search: widened for the call
    assert len(found) == 50 and len(exact & set(found)) >= 45


def test_ivf_above_flat_max_reranks_exactly_and_holds_the_vectors_in_row_order(tmp_path):
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(4000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    settings = AnnSettings(flat_max=100, large="ivf", ivf_probe=1000)  # every list: exact
    ivf = create_ann(vectors, "auto", settings)
    assert ivf.kind == "ivf" and ivf.size == 4000
    assert np.array_equal(ivf.stored_vectors(), vectors)  # search reads capability vectors here
    flat = create_ann(vectors, "flat")
    for row in (0, 7, 3999):  # 8-bit codes pick the candidates: the exact top 10 is among the top 40
        (s_ivf, i_ivf), (s_flat, i_flat) = ivf.search(vectors[row], 40), flat.search(vectors[row], 10)
        assert list(i_ivf[0][:10]) == list(i_flat[0]) and np.allclose(s_ivf[0][:10], s_flat[0], atol=1e-6)
    ivf.save(tmp_path / "ivf.faiss")
    loaded = ANN.load(tmp_path / "ivf.faiss", AnnSettings(ivf_probe=4))
    assert loaded.kind == "ivf" and np.array_equal(loaded.stored_vectors(), vectors)
    assert faiss.extract_index_ivf(loaded.index).nprobe == 4  # the probe comes from config at load
    found = loaded.search(vectors[7], 10)[1][0]
    assert 7 in found and len(found) == 10
    assert create_ann(vectors[:0], "ivf").kind == "flat" and create_ann(vectors[:999], "ivf").kind == "flat"


def test_refill_keeps_the_trained_ivf_lists_and_holds_exactly_the_new_rows():
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(4000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    settings = AnnSettings(flat_max=100, large="ivf", ivf_probe=1000)
    before = create_ann(vectors[:3900], "auto", settings)
    rows = vectors[::-1].copy()  # other rows, in another order: a refresh re-sorts the queries
    after = refill_ann(rows, before, settings)
    assert after.kind == "ivf" and after.size == 4000 and np.array_equal(after.stored_vectors(), rows)
    quantizers = [faiss.extract_index_ivf(a.index).quantizer for a in (before, after)]
    centroids = [q.reconstruct_n(0, q.ntotal) for q in quantizers]
    assert np.array_equal(*centroids)  # not trained again
    assert before.size == 3900  # the previous index, still served meanwhile, is untouched
    exact = create_ann(rows, "flat")
    for row in (0, 7, 3999):
        assert list(after.search(rows[row], 10)[1][0]) == list(exact.search(rows[row], 10)[1][0])
    # Far from the size it was trained for, or below flat_max, the index is built afresh.
    assert refill_ann(vectors[:150], before, AnnSettings(flat_max=200)).kind == "flat"
    grown = np.tile(vectors, (5, 1))
    retrained = refill_ann(grown, before, settings)
    assert faiss.extract_index_ivf(retrained.index).nlist == round(np.sqrt(len(grown)))
    assert refill_ann(rows, None, settings).kind == "ivf"
