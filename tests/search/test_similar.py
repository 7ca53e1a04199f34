"""Similar artifacts (matchgraph/search/similar.py): the same kind of thing, not shared generic capabilities."""

from __future__ import annotations

TROCR = "microsoft/trocr-base-handwritten"
SD = "stabilityai/stable-diffusion"


def test_generic_capabilities_do_not_make_unrelated_artifacts_similar(demo_engine):
    """TrOCR and Stable Diffusion both list fine-tuning / quantization-like capabilities; what TrOCR
    is similar to is other handwriting and OCR artifacts."""
    similar = demo_engine.similar(artifact=TROCR, k=5).artifacts
    ids = [s.artifact_id for s in similar]
    assert ids[0] == "microsoft/trocr-large-handwritten"
    assert SD not in ids
    index = demo_engine.state.index
    task = index.artifact(TROCR).task
    assert sum(index.artifact(i).task == task for i in ids) >= 3, ids
    assert all(a.score >= b.score for a, b in zip(similar, similar[1:]))
    assert TROCR not in ids


def test_similar_lists_k_and_keeps_its_fields(demo_engine):
    similar = demo_engine.similar(artifact=SD, k=8).artifacts
    assert len(similar) == 8
    assert all(0 <= s.capability_similarity <= 1 and s.shared_queries >= 0 for s in similar)
