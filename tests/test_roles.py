"""Role detection from the environment and the repair of a reloaded oracle (no processes, no TensorFlow)."""

from __future__ import annotations

import json

import keras_tuner
import pytest

from kftune import kt_compat
from kftune.errors import SpecError
from kftune.run.distributed.roles import SINGLE, Role, detect_role

ENV = ("KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID", "CLUSTER_SPEC", "KFTUNE_ROLE",
       "KFTUNE_WORKER_INDEX", "KFTUNE_LOCAL_RANK", "KFTUNE_POD_IP", "KFTUNE_CHIEF_PORT")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def vertex(kind: str, index: int, workers: int = 2) -> str:
    """Vertex AI's CLUSTER_SPEC (cloud.google.com/vertex-ai/docs/training/distributed-training)."""
    cluster = {"workerpool0": ["cmle-training-workerpool0-ab-0:2222"]}
    if workers:
        cluster["workerpool1"] = [f"cmle-training-workerpool1-ab-{i}:2222" for i in range(workers)]
    return json.dumps({"cluster": cluster, "environment": "cloud", "task": {"type": kind, "index": index}})


def test_no_environment_is_a_single_process() -> None:
    assert detect_role() == SINGLE


def test_keras_tuner_variables(monkeypatch) -> None:
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "10.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "8000")
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "worker-3")
    monkeypatch.setenv("KFTUNE_LOCAL_RANK", "1")
    assert detect_role() == Role("worker", "worker-3-1", "10.0.0.1:8000")
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    assert detect_role() == Role("chief", "chief", "10.0.0.1:8000")


def test_vertex_pools(monkeypatch) -> None:
    monkeypatch.setenv("CLUSTER_SPEC", vertex("workerpool0", 0))
    assert detect_role() == Role("chief", "chief", "0.0.0.0:2222")
    monkeypatch.setenv("CLUSTER_SPEC", vertex("workerpool1", 1))
    assert detect_role() == Role("worker", "worker-1", "cmle-training-workerpool0-ab-0:2222")
    monkeypatch.setenv("CLUSTER_SPEC", vertex("workerpool0", 0, workers=0))
    assert detect_role() == SINGLE  # one replica: nothing to distribute


@pytest.mark.parametrize("raw", ["not json", '{"cluster": {}}', vertex("workerpool2", 0)])
def test_a_cluster_spec_kftune_cannot_use_is_one_line(monkeypatch, raw) -> None:
    monkeypatch.setenv("CLUSTER_SPEC", raw)
    with pytest.raises(SpecError, match="CLUSTER_SPEC"):
        detect_role()


def test_store_rendezvous_roles(monkeypatch) -> None:
    monkeypatch.setenv("KFTUNE_ROLE", "chief")
    monkeypatch.setenv("KFTUNE_POD_IP", "10.4.0.7")
    assert detect_role() == Role("chief", "chief", "0.0.0.0:8470", advertise="10.4.0.7:8470")
    monkeypatch.setenv("KFTUNE_ROLE", "worker")
    monkeypatch.setenv("KFTUNE_WORKER_INDEX", "2")
    assert detect_role() == Role("worker", "worker-2")  # the chief's address comes from the store
    monkeypatch.setenv("KFTUNE_ROLE", "boss")
    with pytest.raises(SpecError, match="KFTUNE_ROLE"):
        detect_role()


def reloaded_oracle(tmp_path, mutate) -> keras_tuner.Oracle:
    """An oracle saved after two trials, its files changed by ``mutate`` (a kill between keras-tuner's writes), reloaded."""
    def make():
        oracle = keras_tuner.oracles.RandomSearchOracle(objective="val_loss", max_trials=9, seed=1)
        oracle.hyperparameters.Float("x", 0, 1)
        oracle._set_project_dir(str(tmp_path), "p")
        return oracle

    oracle = make()
    for tuner_id in ("w0", "w1"):
        oracle.create_trial(tuner_id)
    done = oracle.ongoing_trials["w0"]
    oracle.update_trial(done.trial_id, {"val_loss": 0.5})
    done.status = "COMPLETED"
    oracle.end_trial(done)
    mutate(oracle)
    fresh = make()
    fresh.reload()
    return fresh


def test_repair_a_finished_trial_still_listed_as_ongoing(tmp_path) -> None:
    """keras-tuner saves oracle.json inside end_trial before it drops the trial from ongoing_trials."""
    def stale_save(oracle):
        state = json.loads((tmp_path / "p" / "oracle.json").read_text())
        state["ongoing_trials"]["w0"] = "0"
        state["end_order"] = []
        (tmp_path / "p" / "oracle.json").write_text(json.dumps(state))

    oracle = reloaded_oracle(tmp_path, stale_save)
    assert "0" in oracle._retry_queue  # keras-tuner alone would run the completed trial again
    notes = kt_compat.repair_reloaded(oracle)
    assert "0" not in oracle._retry_queue and oracle.end_order == ["0"] and notes
    assert oracle._retry_queue == ["1"]  # the trial that was running is retried ...
    assert [oracle.create_trial(t).trial_id for t in ("w8", "w9")] == ["1", "2"]  # ... the finished one never


def test_repair_a_trial_created_but_never_recorded(tmp_path) -> None:
    """Killed between keras-tuner's trial.json and oracle.json in create_trial: nobody was told to run it."""
    def orphan(oracle):
        state = json.loads((tmp_path / "p" / "oracle.json").read_text())
        state["start_order"].remove("1")
        del state["ongoing_trials"]["w1"]
        (tmp_path / "p" / "oracle.json").write_text(json.dumps(state))

    oracle = reloaded_oracle(tmp_path, orphan)
    kt_compat.repair_reloaded(oracle)
    assert oracle.start_order == ["0", "1"] and oracle._retry_queue == ["1"]
    assert oracle.create_trial("w5").trial_id == "1"
