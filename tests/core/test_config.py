"""The configuration checks: every setting declared once, each bad value refused naming its key."""

import math
import re

import pytest
from conftest import ROOT

from matchgraph.core.config import (
    BY_KEY,
    DEFAULTS,
    SETTINGS,
    Setting,
    check_config,
    flatten,
    load_config,
    ranking_profile,
    settings_markdown,
)
from matchgraph.core.errors import ValidationFailed


def problems(config: dict) -> list[str]:
    with pytest.raises(ValidationFailed) as err:
        check_config(config, "test.toml")
    assert str(err.value).startswith("test.toml:")
    return err.value.problems


def test_defaults_are_the_declared_settings_and_pass_their_own_checks():
    assert flatten(DEFAULTS) == {s.key: s.default for s in SETTINGS}
    check_config(DEFAULTS)
    assert all(s.problem(s.default) is None for s in SETTINGS)
    assert all(s.help.strip() for s in SETTINGS)


@pytest.mark.parametrize("config,expected", [
    ({"search": {"k": "ten"}}, "search.k: expected int like 10, got 'ten'"),
    ({"search": {"k": 2.5}}, "search.k: expected int like 10, got 2.5"),  # an int setting takes no float
    ({"search": {"k": True}}, "search.k: expected int like 10, got True"),  # nor a bool
    ({"search": {"w_bm25": math.nan}}, "search.w_bm25: expected float like 0.45, got nan"),
    ({"search": {"w_bm25": math.inf}}, "search.w_bm25: expected float like 0.45, got inf"),
    ({"token": 5}, "token: expected str like \"\", got 5"),
    ({"search": {"input_markers": "###"}}, "search.input_markers: expected list"),
    ({"search": {"input_markers": ["a", 1]}}, "search.input_markers: expected list"),
    ({"search": {"w_bm25": -0.1}}, "search.w_bm25: must be at least 0, got -0.1"),
    ({"search": {"k": 0}}, "search.k: must be above 0, got 0"),
    ({"search": {"adapter_temperature": 0}}, "search.adapter_temperature: must be above 0, got 0"),
    ({"graph": {"pagerank_alpha": 1.5}}, "graph.pagerank_alpha: must be at most 1, got 1.5"),
    ({"server": {"port": 70000}}, "server.port: must be at most 65535, got 70000"),
    ({"search": {"bm25_method": "tfidf"}}, "search.bm25_method: must be one of lucene, robertson"),
    ({"search": {"w_bm52": 1.0}}, "search.w_bm52: unknown key"),
    ({"colour": "blue"}, "colour: unknown key"),
    ({"scores": {"weights": {"speed": 0.1}}}, "scores.weights.speed: unknown key"),
    ({"search": {"k": {"n": 3}}}, "search.k: expected int like 10, got a table"),
    ({"search": 5}, "search: expected a table of settings, got 5"),
])
def test_a_bad_value_is_refused_naming_its_key(config, expected):
    found = problems(config)
    assert len(found) == 1 and found[0].startswith(expected), found
    assert found[0].field == expected.split(":")[0]


def test_every_problem_is_reported_at_once_and_good_values_pass():
    found = problems({"search": {"k": 0, "w_bm25": "x", "nope": 1}, "graph": {"merge_ratio": 101}})
    assert sorted(p.field for p in found) == ["graph.merge_ratio", "search.k", "search.nope", "search.w_bm25"]
    check_config({"search": {"w_bm25": 1, "k": 1, "graph_min_sim": 1}, "server": {"port": 0},
                  "scores": {"weights": {"quality": 0.0}}})  # an int where a float goes; bounds inclusive


def test_a_setting_is_one_declaration():
    setting = Setting("demo.ratio", 0.5, "a ratio", positive=True, at_most=1)
    assert setting.problem(0.75) is None and setting.problem(1) is None
    assert setting.problem(0) == "must be above 0, got 0"
    assert setting.problem(2) == "must be at most 1, got 2"
    assert BY_KEY["search.k"].default == DEFAULTS["search"]["k"]
    main, advanced = settings_markdown().split("\n\n", 1)
    main = main.splitlines()
    advanced = [line for line in advanced.splitlines() if line.startswith("|")]
    assert main[0] == "| key | default | meaning |" and advanced[0] == "| key | default | chosen by | meaning |"
    assert len(main) - 2 + len(advanced) - 2 == len(SETTINGS)
    assert "| `search.k` | `10` |" in "\n".join(main)
    assert "| `search.input_markers` | `[\"###Input:\", \"### Input:\"]` | - |" in settings_markdown()


def test_the_main_table_holds_the_settings_people_use_and_the_profile_names_its_benchmarks(tmp_path):
    """At most ~30 settings in README's main table (issue 28); every ranking constant a benchmark
    chose names it (the advanced table), and stays a setting with the same dotted key."""
    main = [s for s in SETTINGS if s.in_main_table]
    assert len(main) <= 35
    assert {"database_url", "model", "device", "backend", "token", "search.k", "server.port",
            "graph.refresh_seconds", "scores.weights.adoption"} <= {s.key for s in main}
    profile = ranking_profile()
    assert {"search.w_bm25", "search.w_offsets", "search.graph_window", "tools.w_graph"} <= set(profile)
    assert all(why.strip() for _, why in profile.values())
    assert profile["search.w_bm25"][0] == DEFAULTS["search"]["w_bm25"]
    assert load_config(tmp_path, env={"MATCHGRAPH_SEARCH__W_BM25": "0.3"})["search"]["w_bm25"] == 0.3



def test_profile_names_benchmark_sections_that_exist():
    """A `chosen_by` that points at a section of BENCHMARKS.md names one the file has (sections
    get renamed; the diary's are cited with `git show`, not as BENCHMARKS.md)."""
    headings = set(re.findall(r"^#+ (.+)$", (ROOT / "BENCHMARKS.md").read_text(), flags=re.M))
    for key, (_, why) in ranking_profile().items():
        for section in re.findall(r'BENCHMARKS\.md "([^"]+)"', why):
            assert section in headings, f"{key}: BENCHMARKS.md has no section {section!r}"

def test_precedence_file_then_environment_then_flags(tmp_path):
    (tmp_path / "matchgraph.toml").write_text("[search]\nk = 7\nw_bm25 = 0.1\n[graph]\nmerge_ratio = 80\n")
    env = {"MATCHGRAPH_SEARCH__K": "8", "MATCHGRAPH_SERVER__HOST": "0.0.0.0", "MATCHGRAPH_TOKEN": "t",
           "MATCHGRAPH_SEARCH__INPUT_MARKERS": '["##"]', "MATCHGRAPH_NOT_A_SETTING": "x"}
    config = load_config(tmp_path, {"search": {"k": 9}}, env=env)
    assert config["search"]["k"] == 9  # flags over environment over file
    assert config["search"]["w_bm25"] == 0.1 and config["graph"]["merge_ratio"] == 80
    assert config["server"]["host"] == "0.0.0.0" and config["token"] == "t"
    assert config["search"]["input_markers"] == ["##"]
    assert config["search"]["candidates"] == DEFAULTS["search"]["candidates"]
    assert load_config(tmp_path, env={"MATCHGRAPH_SEARCH__K": "8"})["search"]["k"] == 8


def test_bad_values_from_each_source_name_the_source(tmp_path):
    with pytest.raises(ValidationFailed) as err:
        load_config(tmp_path, env={"MATCHGRAPH_SEARCH__K": "lots"})
    assert err.value.problems[0].startswith("MATCHGRAPH_SEARCH__K: cannot read 'lots' as int")
    with pytest.raises(ValidationFailed) as err:
        load_config(tmp_path, env={"MATCHGRAPH_SEARCH__K": "-1"})
    assert str(err.value).startswith("environment:") and "search.k: must be above 0" in str(err.value)
    with pytest.raises(ValidationFailed) as err:
        load_config(tmp_path, {"graph": {"select_weight": -3}}, env={})
    assert str(err.value).startswith("settings:")
    toml = tmp_path / "matchgraph.toml"
    toml.write_text("[search]\nname_min = 101\n")
    with pytest.raises(ValidationFailed) as err:
        load_config(tmp_path, env={})
    assert str(err.value).startswith(f"{toml}:") and "search.name_min: must be at most 100" in str(err.value)
