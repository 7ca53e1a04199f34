"""The engine on the demo catalog with the real model: indexing, caching, publishing, search."""

import json
import shutil

import pytest
from conftest import CATALOG, SD, TROCR

from matchgraph import Engine
from matchgraph.core.errors import NoIndex, ValidationFailed


def top(engine, query, **kw):
    return [r.artifact_id for r in engine.search(query, record=False, **kw).results]


def test_seed_queries_rank_the_right_model_first(fresh_home):
    engine = Engine(fresh_home)
    assert top(engine, "read the handwriting in old scanned letters")[0] == TROCR
    first = engine.state.index.artifact(top(engine, "turn a text prompt into a picture")[0])
    assert first.task == "text-to-image"
    assert top(engine, "stable difusion")[0] == SD


def test_a_loaded_state_has_its_name_index_before_the_first_search(fresh_home):
    state = Engine(fresh_home).state  # what a server's refresh thread loads before it is ready
    assert "name_index" in vars(state.index)  # built: the first search does not wait for it


def test_results_explain_themselves_and_filters_apply(fresh_home):
    engine = Engine(fresh_home)
    response = engine.search("transcribe a podcast to text", k=5, record=False)
    best = response.results[0]
    assert best.matched_capability and best.explanation.startswith("Matched because")
    assert best.signals.dense > 0 and 0 <= best.rank <= 100
    paid = engine.search("generate an image", pricing="paid", record=False).results
    assert paid and all(r.pricing == "paid" for r in paid)
    tools = engine.search("ocr", kind="tool", record=False).results
    assert tools and all(r.kind == "tool" for r in tools)


def test_recorded_search_stores_top_matches_and_no_record_stores_none(fresh_home):
    engine = Engine(fresh_home)
    engine.search("speech to text", record=False)
    assert engine.store.event_count() == 0
    response = engine.search("speech to text", k=10)
    assert engine.store.event_count() == engine.config["search"]["record_top"] == 5
    assert response.recorded


def test_reindex_unchanged_embeds_nothing_and_one_change_embeds_its_capabilities(fresh_home, tmp_path):
    engine = Engine(fresh_home)
    assert engine.index([CATALOG])["embedded"] == 0
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    path = catalog / "vision.jsonl"
    lines = path.read_text().splitlines()
    record = json.loads(lines[0])
    record["capabilities"][0]["description"] += " Now with a changed sentence."
    lines[0] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    summary = engine.index([catalog])
    assert summary["embedded"] == 1
    assert summary["version"] == engine.state.index.version


def test_bad_catalog_keeps_the_previous_index(fresh_home, tmp_path):
    engine = Engine(fresh_home)
    before = engine.state.index.version
    bad = tmp_path / "bad.jsonl"
    good = (CATALOG / "vision.jsonl").read_text().splitlines()
    bad.write_text("\n".join(good[:3] + ['{"id": "x", "name": "x", "kind": "spaceship", "capabilities": []}']))
    with pytest.raises(ValidationFailed) as err:
        engine.index([bad])
    assert f"{bad}:4: kind:" in str(err.value)
    fresh = Engine(fresh_home)
    assert fresh.state.index.version == before
    assert top(fresh, "stable difusion")[0] == SD


def test_failed_build_leaves_current_and_keeps_last_three_versions(fresh_home, monkeypatch):
    engine = Engine(fresh_home)
    for _ in range(3):
        engine.index()
    kept = sorted(p.name for p in (fresh_home / "index").iterdir() if p.name.startswith("v"))
    assert len(kept) == 3
    current = engine.versions.current()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("matchgraph.retrieval.index_build.IndexWriter.finish", boom)  # the write fails
    with pytest.raises(RuntimeError):
        engine.index()
    assert engine.versions.current() == current
    assert not list((fresh_home / "index").glob(".v*"))  # no staging folder left behind


def test_engine_without_index_says_how_to_make_one(tmp_path, model):
    with pytest.raises(NoIndex, match="matchgraph index"):
        Engine(tmp_path / "empty").search("anything")


def test_bad_parameters_are_named(fresh_home):
    engine = Engine(fresh_home)
    with pytest.raises(ValidationFailed, match="k: must be between"):
        engine.search("ocr", k=0)
    with pytest.raises(ValidationFailed, match="query: query must not be empty"):
        engine.search("   ")  # the engine names its own argument; the HTTP API calls it `q`
    for query, why in (("?!", "at least one letter"), ("ocr\x00", "NUL"), ("x" * 2001, "at most 2000")):
        with pytest.raises(ValidationFailed, match=f"query: .*{why}"):
            engine.search(query)  # a recorded search must be storable as events
    assert engine.store.event_count() == 0


def test_concurrent_builds_publish_distinct_versions(fresh_home):
    from concurrent.futures import ThreadPoolExecutor

    engines = [Engine(fresh_home) for _ in range(3)]
    with ThreadPoolExecutor(3) as pool:
        versions = sorted(f.result()["version"] for f in [pool.submit(e.index) for e in engines])
    assert versions == [versions[0], versions[0] + 1, versions[0] + 2]
    assert Engine(fresh_home).state.index.version == versions[-1]


def test_vectorized_capability_scores_match_a_plain_loop(demo_engine):
    import numpy as np

    from matchgraph.retrieval.fusion import rescore

    index = demo_engine.state.index
    query = demo_engine.embedder().encode_query("turn speech into written text")
    n = len(index.artifacts)
    best, mean3, best_row = np.zeros(n, np.float32), np.zeros(n, np.float32), np.full(n, -1)
    rescore(index, query, range(n), best, mean3, best_row)
    for pos, artifact in enumerate(index.artifacts):
        rows = index.cap_rows[artifact.id]
        sims = np.sort(index.vectors[rows] @ query)[::-1]
        assert np.isclose(best[pos], sims[0]) and np.isclose(mean3[pos], sims[:3].mean())
        assert index.rows[best_row[pos]][0] == artifact.id
        assert np.isclose(index.vectors[best_row[pos]] @ query, sims[0])
