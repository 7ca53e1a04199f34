"""The reason sentences a search result carries: counts read right, and "chose" only for what
someone selected."""

from __future__ import annotations

from matchgraph.core.results import Reason


def graph_reason(past: list[str], selects: int) -> Reason:
    return Reason(signal="graph", capability_title="Read handwriting", similarity=0.5, task="image-to-text",
                  past_queries=past, past_selects=selects)


def test_one_past_query_is_singular_and_shown_is_not_chosen():
    text = graph_reason(["read letters"], 0).sentence()
    assert text == "Matched because it was shown for 1 similar past query (never chosen yet)."
    assert "chose it" not in text and "queries" not in text


def test_selected_past_queries_say_chosen_with_counts():
    assert graph_reason(["read letters", "scan notes"], 1).sentence() == \
        "Matched because people asking 2 similar past queries chose it (once)."
    assert graph_reason(["read letters", "scan notes", "ocr"], 4).sentence() == \
        "Matched because people asking 3 similar past queries chose it (4 times)."


def test_no_past_query_names_the_task_without_claiming_a_choice():
    text = graph_reason([], 0).sentence()
    assert "chose" not in text and "image-to-text" in text
