"""A run started by kftune 0.1.0 (before the architecture change) resumes with today's code.

``tests/fixtures/run_v0_1/output`` was written by commit ee3bd0c: 2 of 3 trials of the spec beside it.
Resuming it must keep both trials, run exactly one more, and write every result: the on-disk names
(kftune.layout) and the state format did not change.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "run_v0_1"


@pytest.mark.slow
def test_run_from_v0_1_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kftune

    monkeypatch.chdir(ROOT)  # the fixture's data path is relative to the repo root, as when it was made
    out = tmp_path / "output"
    shutil.copytree(FIXTURE / "output", out)
    before = {r["trial_id"]: r for r in csv.DictReader((out / "trials.csv").open())}
    old_state = json.loads((out / "state" / "kftune_state.json").read_text())
    spec = yaml.safe_load((FIXTURE / "spec.yaml").read_text())

    result = kftune.tune(spec, str(out), progress=False)

    assert kftune.load_spec(spec).spec_hash == old_state["spec_hash"], "the spec hash changed: old runs would be refused"
    assert result.trials_completed == 3
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert [r["trial_id"] for r in rows][:2] == list(before)
    for row in rows[:2]:  # the old trials are kept as they were, not run again
        assert row["objective"] == before[row["trial_id"]]["objective"]
    configs = {(r["units"], r["learning_rate"], r["optimizer"]) for r in rows}
    assert len(configs) == 3
    record = json.loads((out / "run.json").read_text())
    assert record["trials"]["resumed"] == 2
    assert record["trials"]["run_in_this_invocation"] == 1
    starts = [json.loads(line) for line in (out / "state" / "kftune_events.jsonl").read_text().splitlines()]
    restarted = {e["trial_id"] for e in starts if e["event"] == "trial_start"} & set(before)
    assert restarted == set(before)  # started once, under 0.1.0; never again
    assert sum(e["event"] == "trial_start" for e in starts) == 3
    for name in ("best_hyperparameters.json", "best_model.keras", "report.html", "run.json"):
        assert (out / name).is_file()
