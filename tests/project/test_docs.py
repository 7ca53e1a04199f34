"""The README documents every setting, its two set-up commands exist (.ci/run calls the test one)
and its Python example runs."""

import re

from conftest import ROOT

from matchgraph.core.config import DEFAULTS, flatten

README = (ROOT / "README.md").read_text()


def test_every_config_key_is_documented_with_its_default():
    import json

    missing = [key for key, value in flatten(DEFAULTS).items()
               if f"| `{key}` | `{json.dumps(value)}` |" not in README]
    assert not missing, f"README.md's configuration table misses or has a stale default for: {missing}"


def test_configuration_table_is_the_generated_one():
    """Regenerate it with `matchgraph config --markdown` after declaring a setting."""
    from matchgraph.core.config import settings_markdown

    assert settings_markdown() in README, "README.md's Configuration table differs from `matchgraph config --markdown`"


def test_setup_commands_exist_and_ci_runs_the_readme_test_command():
    block = README.split("## Set-up: two commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert len(commands) == 2
    for command in commands:
        script = re.match(r"bash (\S+)", command).group(1)
        assert (ROOT / script).exists()
    assert commands[1] in (ROOT / ".ci" / "run").read_text()


def test_readme_engine_example_runs(tmp_path, monkeypatch, model):
    """README's "From Python" block, run as it is in an empty folder (the shared model is loaded)."""
    code = README.split("## From Python", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md (From Python)", "exec"), scope)
    assert scope["results"][0].artifact_id == "acme/speech-to-text"
    assert {scope["comparison"].a.id, scope["comparison"].b.id} == {"acme/speech-to-text", "acme/text-to-speech"}
    assert (tmp_path / "my-home").is_dir()
