"""Events: what a log line or an API batch may hold."""

import json

import pytest
from conftest import TROCR

from matchgraph import Engine
from matchgraph.core.errors import ValidationFailed


def test_ingest_rejects_what_no_store_could_keep(fresh_home, tmp_path):
    engine = Engine(fresh_home)
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join([
        json.dumps({"query": "ok", "artifact_id": TROCR, "rank": 10**30}),
        '{"query": "ok", "artifact_id": "%s", "score": NaN}' % TROCR,
        json.dumps({"query": "ok\u0000", "artifact_id": TROCR}),
        json.dumps({"query": "ok", "artifact_id": TROCR, "capability_id": "c" * 301}),
        json.dumps({"query": "?!", "artifact_id": TROCR})]))
    with pytest.raises(ValidationFailed) as err:
        engine.ingest(path)
    text = str(err.value)
    for line, field in ((1, "rank"), (3, "query"), (4, "capability_id"), (5, "query")):
        assert f"{path}:{line}: {field}:" in text
    assert f"{path}:2: not valid JSON: NaN" in text
    assert engine.store.event_count() == 0
