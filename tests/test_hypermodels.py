"""kftune.hypermodels: model references, binding, and the built-ins as real (tiny) Keras models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from kftune.errors import DataError, KftuneError, ModelRefError
from kftune.hypermodels import (
    bind_model,
    check_model_ref,
    cnn_classifier,
    mlp_classifier,
    mlp_regressor,
    normalization_stats,
    resolve_model,
)

REPO = Path(__file__).resolve().parents[1]


def fake_dataset(x, y, task, num_classes=None):
    return SimpleNamespace(
        x_train=x, y_train=y, x_val=x[:0], y_val=y[:0], input_shape=tuple(x.shape[1:]),
        num_classes=num_classes, task=task, label="y",
    )


@pytest.fixture(scope="module")
def keras_mod():
    keras = pytest.importorskip("keras")
    return keras


@pytest.fixture(scope="module")
def kt():
    return pytest.importorskip("keras_tuner")


def one_line(excinfo, *needles):
    msg = str(excinfo.value)
    assert "\n" not in msg, msg
    for n in needles:
        assert n in msg, (n, msg)
    assert isinstance(excinfo.value, KftuneError)


# ----------------------------------------------------------------------------- references (no keras)


def test_resolve_builtin_by_module_and_bare_name():
    assert resolve_model("kftune.hypermodels:mlp_classifier") is mlp_classifier
    assert resolve_model("cnn_classifier") is cnn_classifier


def test_resolve_user_file_relative_to_cwd(tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "helper.py").write_text("WIDTH = 7\n")
    (tmp_path / "models" / "mine.py").write_text(
        "from helper import WIDTH\n"  # a sibling import works as when the user runs the file
        "def build_model(hp):\n    return ('built', WIDTH)\n"
        "class Factory:\n    @staticmethod\n    def make(hp):\n        return 'made'\n"
        "NOT_CALLABLE = 3\n"
    )
    monkeypatch.chdir(tmp_path)
    fn = resolve_model("models/mine.py:build_model")
    assert fn(None) == ("built", 7)
    assert resolve_model("models/mine.py:Factory.make")(None) == "made"
    assert resolve_model(f"{tmp_path}/models/mine.py:build_model") is fn  # executed once, same module
    check_model_ref("models/mine.py:build_model")


def test_resolve_module_from_cwd(tmp_path, monkeypatch):
    pkg = tmp_path / "my_pkg_kftune_test"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text("def build_model(hp):\n    return 'ok'\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", os.getcwd(), str(tmp_path))])
    check_model_ref("my_pkg_kftune_test.models:build_model")
    assert resolve_model("my_pkg_kftune_test.models:build_model")(None) == "ok"


@pytest.mark.parametrize(
    "ref, needles",
    [
        ("no_colon_here", ["'no_colon_here'", "pkg.module:function"]),
        ("", ["pkg.module:function"]),
        ("kftune.hypermodels:", ["pkg.module:function"]),
        ("kftune.no_such_module:fn", ["module 'kftune.no_such_module' not found"]),
        ("kftune.hypermodels:no_such_fn", ["no attribute 'no_such_fn'"]),
        ("kftune.hypermodels:DEFAULTS", ["not callable"]),
        ("missing/file.py:build_model", ["file not found", "file.py"]),
    ],
)
def test_bad_references(ref, needles):
    with pytest.raises(ModelRefError) as e:
        resolve_model(ref)
    one_line(e, *needles)
    assert isinstance(e.value, ImportError)
    if ref not in ("kftune.hypermodels:DEFAULTS",):  # a static check cannot know callability
        with pytest.raises(ModelRefError):
            check_model_ref(ref)


def test_file_attr_missing_and_import_failure(tmp_path):
    good = tmp_path / "m.py"
    good.write_text("def build(hp):\n    return 1\n")
    with pytest.raises(ModelRefError) as e:
        resolve_model(f"{good}:build_model")
    one_line(e, "no attribute 'build_model'")
    with pytest.raises(ModelRefError) as e:
        check_model_ref(f"{good}:build_model")
    one_line(e, "no attribute 'build_model'")

    broken = tmp_path / "broken.py"
    broken.write_text("import not_a_real_module_xyz\ndef build_model(hp):\n    return 1\n")
    check_model_ref(f"{broken}:build_model")  # static: defined at top level, nothing executed
    with pytest.raises(ModelRefError) as e:
        resolve_model(f"{broken}:build_model")
    one_line(e, "broken.py", "not_a_real_module_xyz")

    syntax = tmp_path / "syntax.py"
    syntax.write_text("def build_model(hp)\n    return 1\n")
    with pytest.raises(ModelRefError) as e:
        check_model_ref(f"{syntax}:build_model")
    one_line(e, "syntax error", "line 1")


def test_check_model_ref_does_not_execute_or_import_tensorflow():
    code = (
        "import sys\n"
        "from kftune.hypermodels import check_model_ref, resolve_model\n"
        "check_model_ref('examples/user_model.py:build_model')\n"
        "check_model_ref('kftune.hypermodels:mlp_classifier')\n"
        "resolve_model('kftune.hypermodels:cnn_classifier')\n"
        "bad = [m for m in ('tensorflow', 'keras', 'keras_tuner') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# ----------------------------------------------------------------------------- binding (no keras)


def test_bind_plain_build_model_unchanged():
    def build_model(hp):
        return hp

    ds = fake_dataset(np.zeros((4, 3), np.float32), np.zeros(4, np.int64), "classification", 2)
    assert bind_model(build_model, ds) is build_model


def test_bind_supplies_only_declared_keywords():
    seen = {}

    def build(hp, *, input_shape, num_classes=None, other=5):
        seen.update(input_shape=input_shape, num_classes=num_classes, other=other)

    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    ds = fake_dataset(x, np.array([0, 1, 2, 1]), "classification", 3)
    bind_model(build, ds)("hp")
    assert seen == {"input_shape": (3,), "num_classes": 3, "other": 5}


def test_bind_classifier_on_regression_data_is_a_data_error():
    ds = fake_dataset(np.zeros((4, 3), np.float32), np.zeros(4, np.float32), "regression")
    with pytest.raises(DataError) as e:
        bind_model(mlp_classifier, ds)
    one_line(e, "mlp_classifier", "regression")


def test_normalization_stats_per_last_axis():
    x = np.stack([np.full((4, 4), 1.0), np.full((4, 4), 3.0)])[..., None]  # (2, 4, 4, 1)
    mean, var = normalization_stats(x)
    assert mean == [2.0] and var == [1.0]
    mean, var = normalization_stats(np.array([[0.0, 10.0], [2.0, 10.0]]))
    assert mean == [1.0, 10.0] and var == [1.0, 1.0]  # constant column: variance 1, not 0


# ----------------------------------------------------------------------------- real keras models


def _fit_save_reload(keras, model, x, y, tmp_path, name):
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x[:5], verbose=0), model.predict(x[:5], verbose=0), rtol=1e-5, atol=1e-5)
    return loaded


def test_mlp_classifier_builds_trains_saves(keras_mod, kt, tmp_path):
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(32, 5)) * 10 + 50).astype(np.float32)
    y = rng.integers(0, 3, 32)
    ds = fake_dataset(x, y, "classification", 3)
    hp = kt.HyperParameters()
    model = bind_model(mlp_classifier, ds)(hp)
    assert model.output_shape == (None, 3)
    assert model.loss == "sparse_categorical_crossentropy"
    # defaults registered for undeclared names; momentum inactive with the default adam
    assert {"units", "layers", "dropout", "learning_rate", "optimizer", "batch_norm", "activation"} <= set(hp.values)
    assert "momentum" not in hp.values
    # inputs normalized inside the model with the training set's statistics
    norm = model.get_layer("normalize")
    out = norm(x).numpy()
    assert abs(out.mean()) < 1e-3 and abs(out.std() - 1) < 1e-2
    loaded = _fit_save_reload(keras_mod, model, x, y, tmp_path, "mlp")
    probs = loaded.predict(x[:4], verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_spec_declared_values_win_and_momentum_is_conditional(keras_mod, kt):
    ds = fake_dataset(np.ones((8, 4), np.float32), np.array([0, 1] * 4), "classification", 2)
    build = bind_model(mlp_classifier, ds)

    # what the spec's search space becomes (kftune.space): same names, same condition for momentum
    hp = kt.HyperParameters()
    hp.Fixed("units", 48)
    hp.Fixed("layers", 3)
    hp.Choice("optimizer", ["adam", "sgd"], default="sgd")
    with hp.conditional_scope("optimizer", ["sgd"]):
        hp.Float("momentum", 0.0, 0.99, default=0.5)
    hp.Fixed("activation", "tanh")
    hp.Fixed("batch_norm", True)
    hp.Float("learning_rate", 1e-4, 1e-2, sampling="log", default=0.005)
    model = build(hp)
    dense = [l for l in model.layers if isinstance(l, keras_mod.layers.Dense)]
    assert [d.units for d in dense] == [48, 48, 48, 2]
    assert sum(isinstance(l, keras_mod.layers.BatchNormalization) for l in model.layers) == 3
    assert [l.activation for l in model.layers if isinstance(l, keras_mod.layers.Activation)][0].__name__ == "tanh"
    opt = model.optimizer
    assert isinstance(opt, keras_mod.optimizers.SGD)
    assert float(opt.momentum) == pytest.approx(0.5)
    assert float(opt.learning_rate.numpy()) == pytest.approx(0.005)
    assert hp.values["momentum"] == 0.5 and len(hp.space) == 8  # no duplicate momentum registered

    hp2 = kt.HyperParameters()
    hp2.Choice("optimizer", ["adam", "sgd", "rmsprop"], default="rmsprop")
    with hp2.conditional_scope("optimizer", ["sgd"]):
        hp2.Float("momentum", 0.0, 0.99)
    model = build(hp2)
    assert isinstance(model.optimizer, keras_mod.optimizers.RMSprop)
    assert "momentum" not in hp2.values  # inactive: absent from the trial's values


def test_unknown_optimizer_fails_clearly(keras_mod, kt):
    ds = fake_dataset(np.ones((8, 4), np.float32), np.array([0, 1] * 4), "classification", 2)
    hp = kt.HyperParameters()
    hp.Fixed("optimizer", "adadelta2")
    with pytest.raises(ValueError, match="adadelta2"):
        bind_model(mlp_classifier, ds)(hp)


def test_mlp_regressor_predicts_in_label_units(keras_mod, kt, tmp_path):
    keras_mod.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = (100 + 20 * x[:, 0] + rng.normal(size=40)).astype(np.float32)
    model = bind_model(mlp_regressor, fake_dataset(x, y, "regression"))(kt.HyperParameters())
    assert model.output_shape == (None, 1) and model.loss == "mse"
    pred = model.predict(x, verbose=0)[:, 0]
    # untrained, yet centred on the label's scale thanks to the target de-normalization layer
    assert abs(pred.mean() - y.mean()) < 2 * y.std()
    before = float(np.abs(pred - y).mean())
    model.fit(x, y, epochs=8, batch_size=8, verbose=0)
    after = float(np.abs(model.predict(x, verbose=0)[:, 0] - y).mean())
    assert after < 0.8 * before  # learns in label units within a few tiny epochs
    _fit_save_reload(keras_mod, model, x, y, tmp_path, "reg")


def test_cnn_classifier_on_images_and_2d_arrays(keras_mod, kt, tmp_path):
    rng = np.random.default_rng(2)
    y = rng.integers(0, 4, 24)
    for shape in [(8, 8, 1), (8, 8)]:
        x = rng.uniform(size=(24,) + shape).astype(np.float32)
        hp = kt.HyperParameters()
        hp.Fixed("layers", 4)  # more blocks than 8x8 can pool: pooling stops at 1x1
        hp.Fixed("filters", 8)
        hp.Fixed("units", 16)
        model = bind_model(cnn_classifier, fake_dataset(x, y, "classification", 4))(hp)
        assert model.output_shape == (None, 4)
        assert {"filters", "kernel_size", "units", "dropout"} <= set(hp.values)
        if len(shape) == 3:
            _fit_save_reload(keras_mod, model, x, y, tmp_path, "cnn")
        else:  # (h, w) arrays: reshaped inside, normalized with pooled statistics
            assert np.isfinite(model.predict(x[:4], verbose=0)).all()


def test_cnn_rejects_tabular_input(keras_mod, kt):
    ds = fake_dataset(np.ones((4, 5), np.float32), np.array([0, 1, 0, 1]), "classification", 2)
    with pytest.raises(ValueError, match="image input"):
        bind_model(cnn_classifier, ds)(kt.HyperParameters())


def test_user_build_model_file_runs_unchanged(keras_mod, kt, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    fn = resolve_model("examples/user_model.py:build_model")
    from kftune.data import load_dataset

    spec = SimpleNamespace(train="examples/data/digits.csv", validation=None, validation_split=0.2,
                           label="target", features=None)
    ds = load_dataset(spec, seed=0)
    assert bind_model(fn, ds) is fn  # plain build_model(hp): nothing bound
    hp = kt.HyperParameters()
    hp.Int("first_hidden", 64, 256, step=64, default=128)  # the spec's range for a user's name
    model = fn(hp)
    assert model.layers[1].units == 128
    assert {"second_layer", "dropout", "learning_rate"} <= set(hp.values)  # undeclared: defaults
    _fit_save_reload(keras_mod, model, ds.x_train[:48], ds.y_train[:48], tmp_path, "user")


def test_example_user_model_text_is_plain_keras_tuner():
    """The example is what users already have: no kftune import, a build_model(hp) only."""
    text = (REPO / "examples" / "user_model.py").read_text()
    assert "kftune" not in text.split('"""', 2)[2]
    assert "def build_model(hp):" in text and "hp.Int('first_hidden'" in text.replace('"', "'")


@pytest.mark.slow
def test_user_model_inside_keras_tuner_search(keras_mod, kt, tmp_path):
    """A user's file model runs inside a real keras-tuner search, the spec's range applied."""
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 16, size=(40, 64)).astype(np.float32)
    y = rng.integers(0, 10, 40)
    f = tmp_path / "u.py"
    f.write_text((REPO / "examples" / "user_model.py").read_text())
    hp = kt.HyperParameters()
    hp.Int("first_hidden", 32, 64, step=32)
    tuner = kt.RandomSearch(resolve_model(f"{f}:build_model"), objective="val_accuracy", max_trials=2, seed=1,
                            hyperparameters=hp, tune_new_entries=False,
                            directory=str(tmp_path / "kt"), project_name="p", overwrite=True)
    tuner.search(x[:30], y[:30], validation_data=(x[30:], y[30:]), epochs=1, batch_size=16, verbose=0)
    trials = tuner.oracle.get_best_trials(2)
    assert len(trials) == 2 and all(t.score is not None for t in trials)
    assert all(t.hyperparameters.values["first_hidden"] in (32, 64) for t in trials)
