"""Reliability, second attack (issue 27) on publishing: `index` once flipped CURRENT before the
store knew the version. Now the store learns it first, then CURRENT flips; a process killed at
each step (fault points, matchgraph/core/faults.py) leaves store and folder agreeing, or a flip the
next run finishes; what the store cannot hold (NUL in text) is refused at its line first."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CATALOG, TROCR, clean_env

from matchgraph import Engine
from matchgraph.core.errors import ValidationFailed
from matchgraph.core.faults import ENV as FAULT

NO_FIT = {"search": {"adapter_steps": 0}}
MATCHGRAPH = str(Path(sys.executable).parent / "matchgraph")


def agreeing(home: Path, overrides: dict | None = None) -> int:
    """Open an engine (which finishes a cut-short flip) and check store and folder agree; the
    served version."""
    engine = Engine(home, overrides={**NO_FIT, **(overrides or {})})
    version, folder = engine.versions.current()
    assert engine.store.latest_version() == version
    assert json.loads((folder / "manifest.json").read_text())["version"] == version
    assert engine.search("read handwritten letters", k=1, record=False).results[0].artifact_id == TROCR
    engine.close()
    return version


@pytest.mark.slow
def test_nul_in_catalog_text_is_refused_at_its_line_on_both_stores(tmp_path, store_url, model):
    home = tmp_path / "home"
    engine = Engine(home, overrides={"database_url": store_url, **NO_FIT})
    engine.index([CATALOG])
    bad = tmp_path / "bad"
    shutil.copytree(CATALOG, bad)
    vision = bad / "vision.jsonl"
    lines = vision.read_text().splitlines()
    record = json.loads(lines[0])
    record["description"] = "reads\x00text"
    record["signals"] = {"na\x00me": 1}
    lines[0] = json.dumps(record)
    vision.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValidationFailed) as err:
        engine.index([bad])
    assert f"{vision}:1: description: must not contain '\\x00' (NUL: no store can hold it in text)" \
        in err.value.problems
    assert f"{vision}:1: signals.'na\\x00me': must not contain '\\x00' (NUL: no store can hold it in text)" \
        in err.value.problems
    assert engine.versions.current()[0] == engine.store.latest_version() == 1
    engine.close()
    assert agreeing(home, {"database_url": store_url}) == 1


def run_index(home: Path, fault: str | None = None) -> subprocess.CompletedProcess:
    env = clean_env(OMP_NUM_THREADS="1", MATCHGRAPH_SEARCH__ADAPTER_STEPS="0", **({FAULT: fault} if fault else {}))
    return subprocess.run([MATCHGRAPH, "index", "--catalog", str(CATALOG), "--home", str(home)], env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_a_kill_at_each_publish_step_leaves_store_and_folder_agreeing(fresh_home, model):
    start = agreeing(fresh_home)
    index = fresh_home / "index"
    # killed with the folder placed, before the store learns it: the old version serves; the
    # folder is one no reader was pointed at, and the next index removes it (and reuses its number)
    assert run_index(fresh_home, "publish:placed").returncode == 137
    orphan = index / f"v{start + 1:05d}" / "manifest.json"
    orphan_made = json.loads(orphan.read_text())["created_at"]
    assert agreeing(fresh_home) == start
    # killed after the store's commit, before CURRENT flips: opening an engine finishes the flip
    assert run_index(fresh_home, "publish:stored").returncode == 137
    assert int((index / "CURRENT").read_text()) == start
    assert json.loads(orphan.read_text())["created_at"] != orphan_made  # built anew by that run
    assert agreeing(fresh_home) == start + 1 and int((index / "CURRENT").read_text()) == start + 1
    # killed right after the flip (the attack's moment): both already name the new version
    assert run_index(fresh_home, "publish:pointed").returncode == 137
    assert agreeing(fresh_home) == start + 2
    finished = run_index(fresh_home)
    assert finished.returncode == 0, finished.stderr
    assert agreeing(fresh_home) == start + 3


def test_a_current_that_ran_ahead_of_the_store_is_taken_back(fresh_home, model):
    """What the old order left after a kill right after the flip: CURRENT names a version the
    store never recorded. The next engine points CURRENT back at the store's, and the next index
    removes the folder and publishes after the store's version."""
    start = agreeing(fresh_home)
    index = fresh_home / "index"
    shutil.copytree(index / f"v{start:05d}", index / f"v{start + 1:05d}")
    (index / "CURRENT").write_text(f"{start + 1}\n")
    assert agreeing(fresh_home) == start
    assert int((index / "CURRENT").read_text()) == start
    finished = run_index(fresh_home)
    assert finished.returncode == 0, finished.stderr
    assert agreeing(fresh_home) == start + 1
