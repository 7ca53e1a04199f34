"""Compare, name resolution, similar."""

import pytest
from conftest import SD, TROCR

from matchgraph.core.errors import Ambiguous, NotFound
from matchgraph.search.compare import verdict

SEED_ROWS = ["Type", "Rank", "Adoption", "Quality", "Ecosystem", "Match Graph", "Pricing",
             "Capabilities", "Times Matched"]


def test_compare_seed_models_has_every_row_and_a_verdict(demo_engine):
    result = demo_engine.compare(TROCR, "stable-diffusion")
    assert [row.feature for row in result.table] == SEED_ROWS
    rows = {row.feature: row for row in result.table}
    assert rows["Capabilities"].a == "9 decomposed" and rows["Capabilities"].b == "4 decomposed"
    assert rows["Pricing"].a == "Free" and rows["Pricing"].b == "Paid"
    assert rows["Times Matched"].a == str(result.a.scores.times_matched)
    # an OCR model and an image generator share no capability: the verdict says so first, then
    # the scores, then what is true of the prices
    assert not result.shared
    assert result.verdict.startswith("trocr-base-handwritten and Stable Diffusion do different things")
    assert "trocr-base-handwritten is for image to text (handwritten text recognition)" in result.verdict
    assert "Stable Diffusion for text to image" in result.verdict
    assert "On the scores, trocr-base-handwritten scores higher at" in result.verdict
    assert result.verdict.endswith("trocr-base-handwritten is free, while Stable Diffusion is paid.")
    assert "free tier" not in result.verdict
    assert len(result.a.capabilities) == 9 and len(result.b.capabilities) == 4
    assert len(result.unique_a) + len(result.shared) == 9
    assert result.evidence.both  # the demo log has queries that led to both


def test_verdict_calls_ties_ties():
    from matchgraph.core.catalog import Artifact

    cap = [{"id": "c", "title": "t"}]
    a = Artifact(id="a", name="A", pricing="free", capabilities=cap)
    b = Artifact(id="b", name="B", pricing="free", capabilities=cap)
    same = {"rank": 42, "adoption": 10, "quality": 20, "ecosystem": 30, "match_graph": 50, "freshness": 50}
    assert verdict(a, b, same, dict(same)) == "A and B tie at 42/100. Every sub-score is tied. Both are free."
    better = dict(same, quality=25, rank=43)
    text = verdict(a, b, better, same)
    assert text == ("A scores higher at 43/100 vs B at 42/100. A leads on quality; the other sub-scores "
                    "are tied. Both are free.")


@pytest.mark.parametrize("pa, pb, sentence", [
    ("free", "freemium", "A is free, while B has a free tier with paid plans."),
    ("paid", "unknown", "A is paid, while B does not state its pricing."),
    ("freemium", "freemium", "Both have a free tier with paid plans."),
    ("unknown", "unknown", "Neither states its pricing.")])
def test_verdict_states_what_is_true_of_the_prices(pa, pb, sentence):
    from matchgraph.core.catalog import Artifact

    cap = [{"id": "c", "title": "Read text"}]
    a = Artifact(id="a", name="A", pricing=pa, capabilities=cap)
    b = Artifact(id="b", name="B", pricing=pb, capabilities=cap)
    score = {"rank": 42, "adoption": 10, "quality": 20, "ecosystem": 30, "match_graph": 50, "freshness": 50}
    assert verdict(a, b, score, dict(score)).endswith(sentence)
    apart = verdict(a, b, score, dict(score), shared=False)
    assert apart.startswith("A and B do different things (no shared capability): A is for read text")


def test_names_resolve_by_id_name_suffix_and_unambiguous_fuzzy(demo_engine):
    assert demo_engine.resolve(TROCR).id == TROCR
    assert demo_engine.resolve("TROCR-BASE-HANDWRITTEN").id == TROCR
    assert demo_engine.resolve("Stable Diffusion").id == SD
    assert demo_engine.resolve("trocr-base-handwriten").id == TROCR  # typo
    with pytest.raises(Ambiguous) as err:
        demo_engine.resolve("trocr")
    assert TROCR in err.value.candidates
    with pytest.raises(NotFound):
        demo_engine.resolve("a model that does not exist at all")


def test_similar_by_text_and_by_artifact(demo_engine):
    by_text = demo_engine.similar("recognise handwritten words in a photo")
    assert TROCR in [c.artifact_id for c in by_text.capabilities[:3]]
    assert by_text.capabilities[0].similarity >= by_text.capabilities[-1].similarity
    by_artifact = demo_engine.similar(artifact=TROCR, k=5)
    assert all(c.artifact_id != TROCR for c in by_artifact.capabilities)
    assert by_artifact.artifacts[0].artifact_id == "microsoft/trocr-large-handwritten"
    by_cap = demo_engine.similar(artifact=TROCR, capability="quantization", k=3)
    assert by_cap.query == f"{TROCR}#quantization" and len(by_cap.capabilities) == 3
    with pytest.raises(NotFound):
        demo_engine.similar(artifact=TROCR, capability="nope")
