"""Any Keras 3 backend: the one-line message when none is installed (kftune.backend), and a real
search and a kfp.local pipeline run on PyTorch (``KERAS_BACKEND=torch``, the CPU wheel of the
``torch`` extra)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kftune import backend
from kftune.errors import MissingExtraError

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "data" / "digits.csv"

# A sitecustomize that makes the three backends unimportable (and unfindable), as on a fresh
# `pip install kftune` without an extra.
BLOCK = textwrap.dedent(
    """
    import sys
    class _Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "jax", "torch"):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None
    sys.meta_path.insert(0, _Block())
    """
)


def test_configured_backend_follows_keras_rules(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert backend.configured_backend() == "tensorflow"
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "jax"}))
    assert backend.configured_backend() == "jax"
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert backend.configured_backend() == "torch"


def test_missing_backend_names_the_extra(monkeypatch) -> None:
    monkeypatch.setattr(backend, "_find", lambda module: False)
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    with pytest.raises(MissingExtraError, match=r"no Keras backend is installed: pip install 'kftune\[cpu\]'"):
        backend.require_backend()
    monkeypatch.setattr(backend, "_find", lambda module: module == "torch")
    with pytest.raises(MissingExtraError, match=r"'torch' is: set KERAS_BACKEND=torch"):
        backend.require_backend()
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert backend.require_backend() == "torch"
    monkeypatch.setenv("KERAS_BACKEND", "mxnet")
    with pytest.raises(MissingExtraError, match="KERAS_BACKEND='mxnet'"):
        backend.require_backend()


def _blocked_env(tmp_path: Path) -> dict:
    (tmp_path / "block").mkdir()
    (tmp_path / "block" / "sitecustomize.py").write_text(BLOCK)
    return dict(os.environ, PYTHONPATH=str(tmp_path / "block"), KERAS_BACKEND="tensorflow")


def test_with_no_backend_installed_the_check_is_one_line(tmp_path) -> None:
    code = "from kftune.backend import require_backend\nrequire_backend()"
    proc = subprocess.run([sys.executable, "-c", code], env=_blocked_env(tmp_path), capture_output=True, text=True)
    assert proc.returncode != 0 and "no Keras backend is installed" in proc.stderr


WIRED = "require_backend" in (ROOT / "src" / "kftune" / "run" / "entry.py").read_text()


@pytest.mark.skipif(not WIRED, reason="kftune.run.entry does not call kftune.backend.require_backend yet")
def test_kftune_tune_without_a_backend_says_which_extra_in_one_line(tmp_path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(tiny_spec()))
    proc = subprocess.run([sys.executable, "-m", "kftune.cli", "tune", str(spec), "-o", str(tmp_path / "out"), "-q"],
                          env=_blocked_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert proc.returncode == MissingExtraError.exit_code, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines() == [
        "error: no Keras backend is installed: pip install 'kftune[cpu]' (TensorFlow), 'kftune[torch]' or 'kftune[jax]'"
    ]


def tiny_spec(**changes) -> dict:
    spec = {
        "name": "digits-torch",
        "model": "kftune.hypermodels:mlp_classifier",
        "data": {"train": str(DIGITS), "label": "target"},
        "objective": {"metric": "val_accuracy", "direction": "max"},
        "search_space": {"units": {"type": "int", "min": 16, "max": 64, "step": 16},
                         "layers": {"type": "fixed", "value": 1}},
        "tuner": {"algorithm": "random", "max_trials": 2, "seed": 3},
        "training": {"epochs": 2, "batch_size": 64},
    }
    spec.update(changes)
    return spec


torch_only = pytest.mark.skipif(
    not backend._find("torch"), reason="needs the torch extra: pip install -e '.[torch]' (torch==2.13.0, CPU)"
)


@pytest.mark.slow
@torch_only
def test_a_search_runs_on_the_torch_backend(tmp_path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(tiny_spec()))
    env = dict(os.environ, KERAS_BACKEND="torch", KFTUNE_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-m", "kftune.cli", "tune", str(spec), "-o", str(tmp_path / "out"), "-q"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["keras_backend"] == "torch" and run["keras_backend_version"].startswith("2.13.0")
    assert (tmp_path / "out" / "best_model.keras").stat().st_size > 1000
    rows = (tmp_path / "out" / "trials.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",COMPLETED," in r for r in rows[1:])


TORCH_PIPELINE = """
import json, sys
sys.path.insert(0, {tests!r})
from kfp import local
from kftune_kfp.pipelines.tune_and_train import build_pipeline
local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root={root!r})
build_pipeline()(spec={spec!r}, train_uri={train!r}, objective_threshold=0.0)
"""


@pytest.mark.slow
@torch_only
def test_the_pipeline_runs_under_kfp_local_on_the_torch_backend(tmp_path) -> None:
    pytest.importorskip("kfp")
    root = tmp_path / "root"
    code = TORCH_PIPELINE.format(tests=str(ROOT / "tests"), root=str(root), spec=json.dumps(tiny_spec()), train=str(DIGITS))
    env = dict(os.environ, KERAS_BACKEND="torch", KFTUNE_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    (run,) = root.glob("kftune-tune-and-train-*")
    tune = next(p for p in run.iterdir() if p.name.startswith("kftune-tune"))
    model = next(p for p in run.iterdir() if p.name.startswith("kftune-train")) / "model"
    out = json.loads((tune / "executor_output.json").read_text())
    (artifact,) = out["artifacts"]["best_model"]["artifacts"]
    assert artifact["metadata"]["keras_backend"] == "torch"
    assert (model / "model.keras").stat().st_size > 1000


def test_kftune_version() -> None:
    from importlib.metadata import version

    from typer.testing import CliRunner

    from kftune.cli import app

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith(f"kftune {version('kftune')} (keras {version('keras')}")
