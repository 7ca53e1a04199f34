"""Multi-need requests (matchgraph/retrieval/needs.py): splitting into actions, the gate, and the merge."""

from __future__ import annotations

import numpy as np

from matchgraph import Engine
from matchgraph.retrieval.needs import ACTION, REQUEST, SEVERAL, merge_rankings, search_needs, split_needs

TROCR = "microsoft/trocr-base-handwritten"
SD = "stabilityai/stable-diffusion"


def test_sequence_words_and_sentences_split_actions_with_their_details():
    request = ("Please create a new user account on the education platform. The username should be "
               "'smartypants'. Once the account is created, retrieve the preservation strategies of "
               "libraries. Finally, export the \"Sales Report\" chart to a PNG file.")
    parts = split_needs(request)
    assert len(parts) == 3
    assert parts[0].startswith("Please create") and "smartypants" in parts[0]  # the detail stays
    assert parts[1].startswith("Once the account") and "preservation" in parts[1]
    assert parts[2].startswith("Finally, export")


def test_and_then_and_and_verb_split_inside_a_sentence():
    assert split_needs("Translate the word from Hindi to English and then translate the whole "
                       "message to Afrikaans.") == ["Translate the word from Hindi to English",
                                                    "translate the whole message to Afrikaans."]
    parts = split_needs("I want to create a logo for millennials and submit a media inquiry to Global Solutions.")
    assert parts == ["I want to create a logo for millennials", "submit a media inquiry to Global Solutions."]
    # "and provide ..." hands over the result of the action before it: a detail, not a need
    parts = split_needs("Measure the air quality in Lisbon and provide the ozone level. Then book a taxi to the airport.")
    assert parts == ["Measure the air quality in Lisbon and provide the ozone level.", "Then book a taxi to the airport."]


def test_a_closing_thanks_is_neither_a_need_nor_a_detail():
    parts = split_needs("Retrieve the exoplanet info for Kepler-22b. Finally, retrieve the status of forests. "
                        "Thank you for your help!")
    assert parts == ["Retrieve the exoplanet info for Kepler-22b.", "Finally, retrieve the status of forests."]
    # a sentence that opens with "Thank" but says more stays a detail of the action before it
    parts = split_needs("Book a room in Paris. Then send an email to Ana. Thank the hotel staff in the message.")
    assert parts[-1] == "Then send an email to Ana. Thank the hotel staff in the message."


def test_needs_stated_without_an_imperative_are_actions():
    """"I need information about", "I am interested in", "I would like to know", "I need your help
    in <verb>ing": a need does not have to open with an imperative verb."""
    parts = split_needs("I need information about legislative affairs in the United States. After that, I "
                        "need help to identify human remains. Additionally, I am interested in the sounds of "
                        "the Flamingo. Lastly, I would like to know the population density of New York. "
                        "I need your assistance in gathering data on rainfall.")
    assert [p.split()[:3] for p in parts] == [["I", "need", "information"], ["After", "that,", "I"],
                                             ["Additionally,", "I", "am"], ["Lastly,", "I", "would"],
                                             ["I", "need", "your"]]
    # a need phrase alone is not a request for anything yet: it stays a detail
    assert split_needs("I need your assistance with a few tasks. Please translate this text to Czech.") == []


def test_a_need_after_a_sequence_word_and_generic_verbs_outside_the_first_list():
    """Forms the train split showed unsplit: "Finally, I need information about ..." (the lead-ins
    used to strip "I need" before the need was seen), "Afterward, ...", "help me to <verb>", and
    verbs such as mark, resolve, initiate."""
    parts = split_needs("Fetch the weather forecast for Oslo. Then, get the match schedule of the national "
                        "team. Finally, mark the maintenance task 17 as done.")
    assert [p.split()[0] for p in parts] == ["Fetch", "Then,", "Finally,"]
    parts = split_needs("Analyze the calories of a banana. Additionally, I need information about the planet "
                        "Mars including its moons. Afterward, validate the XML file A1. "
                        "Please help me to track a parcel with the ID 42.")
    assert [p.split()[0] for p in parts] == ["Analyze", "Additionally,", "Afterward,", "Please"]


def test_single_need_requests_are_not_split():
    for request in ["We are building an app for a museum. Classify the photos visitors upload by art style.",
                    "Our company is developing a chatbot. We need to generate responses to questions.",
                    "Retrieve the rock properties for granite, the colloid properties and the variants.",
                    "Can you help us to analyze and classify these videos?",
                    ""]:
        assert split_needs(request) == [], request
    assert split_needs("Create an account for Amy. Then delete the old warehouse.", min_parts=3) == []


def test_merge_is_round_robin_whole_request_first_without_repeats():
    whole, first, second = ["a", "b", "c", "d"], ["x", "a", "y"], ["b", "z"]
    assert merge_rankings([whole, first, second], key=str, k=10) == ["a", "x", "b", "z", "c", "y", "d"]
    assert merge_rankings([whole, first, second], key=str, k=3) == ["a", "x", "b"]
    assert merge_rankings([], key=str, k=3) == []


def test_each_action_is_ranked_with_history_and_the_whole_request_without():
    """The whole request of several actions is ranked without history (SEVERAL), each action
    with it (ACTION), merged round robin; single-need requests are ranked once, with history."""
    from pydantic import BaseModel

    class Hit(BaseModel):
        artifact_id: str
        position: int = 1

    calls = []

    def run(text, vector, k, role):
        calls.append((text, role))
        return [Hit(artifact_id=("logged-" if role == ACTION else "catalog-") + text[:6])]

    def ids(results):
        return [r.artifact_id for r in results]

    def encode(parts):
        return [None] * len(parts)

    request = "Create an account for Amy. Then delete the old warehouse."
    plain = search_needs(request, None, 10, run, encode, min_parts=2)
    assert ids(plain) == ["catalog-Create", "logged-Create", "logged-Then d"]
    assert [r.position for r in plain] == [1, 2, 3]
    assert [role for _, role in calls] == [SEVERAL, ACTION, ACTION]
    calls.clear()
    assert ids(search_needs("Create an account for Amy.", None, 10, run, encode, 2)) == ["catalog-Create"]
    assert calls == [("Create an account for Amy.", REQUEST)]


def test_a_two_action_request_gets_both_artifacts_to_the_top(fresh_home, model):
    request = ("Transcribe the handwritten letter my grandmother wrote. "
               "Then draw a picture of her village from a text prompt.")
    whole = Engine(fresh_home, overrides={"search": {"needs_min_parts": 0}})
    plain = [r.artifact_id for r in whole.search(request, k=5, record=False).results]
    whole.close()
    split = Engine(fresh_home)
    results = split.search(request, k=5, record=False).results
    split.close()
    ids = [r.artifact_id for r in results]
    assert ids[0] == plain[0] == TROCR  # the whole request's best stays first
    assert SD not in plain[:3] and SD in ids[:3]  # each action's best is in the top 3
    assert [r.position for r in results] == [1, 2, 3, 4, 5]


def test_the_log_is_fitted_per_action(indexed_home, model):
    """adapter.split_log: a past request naming two actions becomes two rows, each holding the
    artifact whose capabilities its part is closest to; one-action requests stay whole."""
    from scipy import sparse

    from matchgraph.learn.adapter import split_log
    from matchgraph.retrieval.embeddings import encode_with

    engine = Engine(indexed_home)
    index = engine.state.index
    engine.close()
    texts = ["Transcribe the handwritten letter my grandmother wrote. Then draw a picture of her "
             "village from a text prompt.", "read old handwriting"]
    vectors = encode_with(model, texts)
    cols = [index.position[TROCR], index.position[SD], index.position[TROCR]]
    weights = sparse.csr_matrix(([3.0, 3.0, 1.0], ([0, 0, 1], cols)), shape=(2, len(index.artifacts)))
    out_texts, out_vectors, out_weights, origin = split_log(index, texts, vectors, weights,
                                                            lambda parts: encode_with(model, parts))
    assert list(origin) == [0, 0, 1]
    assert out_texts == ["Transcribe the handwritten letter my grandmother wrote.",
                         "Then draw a picture of her village from a text prompt.", "read old handwriting"]
    assert out_vectors.shape == (3, vectors.shape[1])
    assert np.allclose(out_vectors[2], vectors[1])
    rows = out_weights.toarray()
    assert rows[0, index.position[TROCR]] == 3.0 and rows[0, index.position[SD]] == 0
    assert rows[1, index.position[SD]] == 3.0 and rows[1, index.position[TROCR]] == 0
    assert rows[2, index.position[TROCR]] == 1.0
    assert out_weights.sum() == weights.sum()  # no weight lost or made up
