"""The README documents every setting and its two set-up commands exist; .ci/run calls the test one."""

import re

from matchgraph.config import DEFAULTS, flatten
from conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_every_config_key_is_documented_with_its_default():
    import json

    missing = [key for key, value in flatten(DEFAULTS).items()
               if f"| `{key}` | `{json.dumps(value)}` |" not in README]
    assert not missing, f"README.md's configuration table misses or has a stale default for: {missing}"


def test_configuration_table_is_the_generated_one():
    """Regenerate it with `matchgraph config --markdown` after declaring a setting."""
    from matchgraph.config import settings_markdown

    assert settings_markdown() in README, "README.md's Configuration table differs from `matchgraph config --markdown`"


def test_setup_commands_exist_and_ci_runs_the_readme_test_command():
    block = README.split("## Set-up: two commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert len(commands) == 2
    for command in commands:
        script = re.match(r"bash (\S+)", command).group(1)
        assert (ROOT / script).exists()
    assert commands[1] in (ROOT / ".ci" / "run").read_text()
