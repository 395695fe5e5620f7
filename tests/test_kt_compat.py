"""keras-tuner's private API, used only by kftune/kt_compat.py, is still there and still behaves so."""

from __future__ import annotations

import keras_tuner
import pytest

from kftune import kt_compat


def test_installed_keras_tuner_is_one_kt_compat_was_checked_against() -> None:
    assert kt_compat.version_problem() is None, (
        f"keras-tuner {keras_tuner.__version__}: src/kftune/kt_compat.py was checked against "
        f"{kt_compat.CHECKED_VERSIONS}; re-read every PRIVATE_TARGETS entry against the new release, "
        "then add it to CHECKED_VERSIONS"
    )


def test_every_private_target_exists() -> None:
    assert kt_compat.missing_targets() == [], "src/kftune/kt_compat.py: these keras-tuner internals are gone"


def test_atomic_json_is_applied_explicitly_and_only_once(tmp_path) -> None:
    from keras_tuner.src import utils

    kt_compat.use_atomic_json()
    patched = utils.save_json
    kt_compat.use_atomic_json()
    assert utils.save_json is patched and patched.kftune_atomic
    path = tmp_path / "oracle.json"
    utils.save_json(str(path), {"a": 1})
    assert path.read_text() == '{"a": 1}' and not list(tmp_path.glob(".*.tmp"))


def test_consecutive_failures_read_from_the_oracle_state(tmp_path) -> None:
    """The same count keras-tuner's own check raises on, without reading its message."""
    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective="val_loss", max_trials=10, max_consecutive_failed_trials=2, seed=0
    )
    oracle.hyperparameters.Float("x", 0, 1)
    oracle._set_project_dir(str(tmp_path), "p")
    statuses = []
    for i, status in enumerate(["FAILED", "COMPLETED", "FAILED", "FAILED"]):
        trial = oracle.create_trial(f"t{i}")
        trial.status = status
        if status == "COMPLETED":
            oracle.update_trial(trial.trial_id, {"val_loss": 1.0})
        statuses.append(kt_compat.consecutive_failures_reached(oracle))
        if i < 3:
            oracle.end_trial(trial)
        else:
            with pytest.raises(RuntimeError):  # keras-tuner's own check agrees
                oracle.end_trial(trial)
            statuses[-1] = kt_compat.consecutive_failures_reached(oracle)
    assert statuses == [False, False, False, True]


def test_tuner_base_routes_the_private_build_steps() -> None:
    base = kt_compat.tuner_base()
    assert base._try_build is not keras_tuner.Tuner._try_build
    assert {"try_build", "build_hypermodel"} <= set(vars(base))


def test_condition_protos_are_the_same_without_the_stray_print(capsys) -> None:
    from keras_tuner.src.engine import conditions

    parents = [conditions.Parent("optimizer", ["sgd", "adam"]), conditions.Parent("layers", [2, 3]),
               conditions.Parent("bn", [True]), conditions.Parent("rate", [0.5])]
    original = conditions.Parent.to_proto
    if getattr(original, "kftune_quiet", False):
        pytest.skip("already patched in this process")
    before = [original(p) for p in parents]
    assert capsys.readouterr().out  # keras-tuner 1.4.8 prints; the reason for the patch
    kt_compat.quiet_condition_protos()
    try:
        after = [p.to_proto() for p in parents]
        assert after == before and capsys.readouterr().out == ""
    finally:
        conditions.Parent.to_proto = original


def test_a_worker_that_called_before_the_chief_served_gets_its_answer(tmp_path, monkeypatch) -> None:
    """The launcher starts workers with the chief and pods come up in any order: a worker's first call
    waits on kftune's channel (kt_compat.CHANNEL_OPTIONS) and is answered once the chief serves."""
    import socket
    import threading
    import time

    from keras_tuner.src.distribute import oracle_client

    monkeypatch.setattr(oracle_client, "TIMEOUT", oracle_client.TIMEOUT)
    monkeypatch.setattr(oracle_client.OracleClient, "__init__", oracle_client.OracleClient.__init__)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(port))
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "worker-0")
    chief = keras_tuner.oracles.RandomSearchOracle(objective="val_loss", max_trials=3, seed=0)
    chief.hyperparameters.Int("units", 8, 64)
    chief._set_project_dir(str(tmp_path), "p")

    kt_compat.use_retrying_client(60.0)
    client = oracle_client.OracleClient(keras_tuner.oracles.RandomSearchOracle(objective="val_loss", max_trials=3))
    assert isinstance(client.stub, kt_compat._RetryingStub)
    served = []
    timer = threading.Timer(2.0, lambda: served.append(kt_compat.serve_oracle(chief, f"127.0.0.1:{port}")))
    timer.start()
    try:
        t0 = time.monotonic()
        space = client.get_space()
        assert served and served[0] is not None and time.monotonic() - t0 >= 2.0  # it did wait for the chief
        assert [hp.name for hp in space.space] == ["units"]
    finally:
        timer.join()
        if served and served[0] is not None:
            served[0][0].stop(0)

