"""kftune.data: formats, the seeded split, task detection and every DataError case (no TensorFlow)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from kftune import data as kdata
from kftune.data import check_data_files, load_dataset
from kftune.errors import DataError, KftuneError

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "data"


def spec(train, label=None, *, validation=None, validation_split=0.2, features=None, **extra):
    return SimpleNamespace(
        train=str(train), validation=None if validation is None else str(validation),
        validation_split=validation_split, label=label, features=features, **extra,
    )


@pytest.fixture(autouse=True)
def _fresh_cache():
    kdata.clear_cache()
    yield
    kdata.clear_cache()


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "a": rng.normal(size=40), "b": rng.integers(0, 5, 40), "flag": rng.integers(0, 2, 40).astype(bool),
        "label": np.tile(np.arange(4), 10),
    })
    return df


def write_csv(tmp_path, df, name="t.csv"):
    p = tmp_path / name
    df.to_csv(p, index=False)
    return p


# ----------------------------------------------------------------------------- shipped data


def test_digits_csv_shipped_shape_and_classification():
    ds = load_dataset(spec(EXAMPLES / "digits.csv", "target"), seed=42)
    assert ds.task == "classification" and ds.num_classes == 10
    assert ds.input_shape == (64,)
    assert ds.feature_names == [f"p{i}" for i in range(64)]
    assert len(ds.x_train) + len(ds.x_val) == 1797
    assert len(ds.x_val) == round(1797 * 0.2)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.classes == list(range(10))
    (src,) = ds.sources
    assert src["bytes"] == (EXAMPLES / "digits.csv").stat().st_size and len(src["sha256"]) == 64


def test_digits_npz_defaults_x_and_y():
    ds = load_dataset(spec(EXAMPLES / "digits.npz"), seed=1)
    assert ds.input_shape == (8, 8, 1) and ds.label == "y" and ds.feature_names == ["x"]
    assert ds.task == "classification" and ds.num_classes == 10
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0


def test_housing_is_regression():
    ds = load_dataset(spec(EXAMPLES / "housing.csv", "price"), seed=0)
    assert ds.task == "regression" and ds.num_classes is None and ds.classes is None
    assert ds.y_train.dtype == np.float32 and ds.input_shape == (6,)


def test_shipped_files_are_small():
    for p in EXAMPLES.iterdir():
        assert p.stat().st_size < 400_000, p


# ----------------------------------------------------------------------------- split


def test_split_is_deterministic_and_seeded(tmp_path, table):
    p = write_csv(tmp_path, table)
    a = load_dataset(spec(p, "label", validation_split=0.25), seed=7)
    kdata.clear_cache()
    b = load_dataset(spec(p, "label", validation_split=0.25), seed=7)
    c = load_dataset(spec(p, "label", validation_split=0.25), seed=8)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    assert not np.array_equal(a.x_val, c.x_val)
    assert len(a.x_val) == 10 and len(a.x_train) == 30
    # a partition of the rows: nothing lost, nothing duplicated
    all_rows = np.concatenate([a.x_train, a.x_val])
    assert sorted(map(tuple, all_rows.tolist())) == sorted(map(tuple, table[["a", "b", "flag"]].to_numpy(np.float32).tolist()))
    # shuffled, not the file's tail
    assert not np.array_equal(a.x_val, table[["a", "b", "flag"]].to_numpy(np.float32)[-10:])


def test_no_split_gives_empty_validation(tmp_path, table):
    ds = load_dataset(spec(write_csv(tmp_path, table), "label", validation_split=0.0), seed=0)
    assert len(ds.x_train) == 40 and ds.x_val.shape == (0, 3) and not ds.has_validation


def test_separate_validation_file(tmp_path, table):
    tr = write_csv(tmp_path, table.iloc[:30], "train.csv")
    va = write_csv(tmp_path, table.iloc[30:], "val.csv")
    ds = load_dataset(spec(tr, "label", validation=va), seed=0)
    assert len(ds.x_train) == 30 and len(ds.x_val) == 10
    assert [s["uri"] for s in ds.sources] == [str(tr), str(va)]


def test_features_subset_and_parquet(tmp_path, table):
    p = tmp_path / "t.parquet"
    table.to_parquet(p)
    ds = load_dataset(spec(p, "label", features=["b", "a"]), seed=0)
    assert ds.feature_names == ["b", "a"] and ds.input_shape == (2,)


# ----------------------------------------------------------------------------- labels


def test_string_labels_encoded_with_sorted_mapping(tmp_path):
    df = pd.DataFrame({"x": np.arange(12.0), "animal": ["dog", "cat", "emu"] * 4})
    ds = load_dataset(spec(write_csv(tmp_path, df), "animal", validation_split=0.0), seed=0)
    assert ds.task == "classification" and ds.num_classes == 3 and ds.classes == ["cat", "dog", "emu"]
    np.testing.assert_array_equal(ds.y_train, [1, 0, 2] * 4)


def test_noncontiguous_integer_labels_remapped(tmp_path):
    df = pd.DataFrame({"x": np.arange(8.0), "y": [-1, 1] * 4})
    ds = load_dataset(spec(write_csv(tmp_path, df), "y", validation_split=0.0), seed=0)
    assert ds.num_classes == 2 and ds.classes == [-1, 1]
    np.testing.assert_array_equal(ds.y_train, [0, 1] * 4)


def test_many_distinct_integers_are_regression_unless_forced(tmp_path):
    df = pd.DataFrame({"x": np.arange(200.0), "y": np.arange(200) * 3})
    p = write_csv(tmp_path, df)
    assert load_dataset(spec(p, "y"), seed=0).task == "regression"
    forced = load_dataset(spec(p, "y", task="classification"), seed=0)
    assert forced.task == "classification" and forced.num_classes == 200


# ----------------------------------------------------------------------------- errors


def one_line_error(excinfo, *needles):
    msg = str(excinfo.value)
    assert "\n" not in msg
    for n in needles:
        assert n in msg, (n, msg)
    assert isinstance(excinfo.value, KftuneError) and isinstance(excinfo.value, ValueError)


def test_missing_file(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset(spec(tmp_path / "nope.csv", "y"), seed=0)
    one_line_error(e, "nope.csv", "not found")


def test_unknown_extension(tmp_path):
    p = tmp_path / "t.xlsx"
    p.write_text("a")
    with pytest.raises(DataError) as e:
        load_dataset(spec(p, "y"), seed=0)
    one_line_error(e, "t.xlsx", "extension")


def test_missing_label_column(tmp_path, table):
    with pytest.raises(DataError) as e:
        load_dataset(spec(write_csv(tmp_path, table), "price"), seed=0)
    one_line_error(e, "t.csv", "'price'", "not found")


def test_label_required_for_csv(tmp_path, table):
    with pytest.raises(DataError) as e:
        load_dataset(spec(write_csv(tmp_path, table), None), seed=0)
    one_line_error(e, "data.label")


def test_missing_feature_column(tmp_path, table):
    with pytest.raises(DataError) as e:
        load_dataset(spec(write_csv(tmp_path, table), "label", features=["a", "zz"]), seed=0)
    one_line_error(e, "'zz'")


def test_empty_table_and_empty_file(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("a,b,label\n")
    with pytest.raises(DataError) as e:
        load_dataset(spec(p, "label"), seed=0)
    one_line_error(e, "empty.csv", "no rows")
    q = tmp_path / "zero.csv"
    q.write_text("")
    with pytest.raises(DataError) as e:
        load_dataset(spec(q, "label"), seed=0)
    one_line_error(e, "zero.csv", "empty")


def test_non_numeric_feature_named(tmp_path, table):
    table["city"] = ["paris", "oslo"] * 20
    with pytest.raises(DataError) as e:
        load_dataset(spec(write_csv(tmp_path, table), "label"), seed=0)
    one_line_error(e, "'city'", "not numeric")


def test_nan_feature_named(tmp_path, table):
    table.loc[3, "a"] = np.nan
    with pytest.raises(DataError) as e:
        load_dataset(spec(write_csv(tmp_path, table), "label"), seed=0)
    one_line_error(e, "'a'", "NaN")


def test_missing_label_values(tmp_path, table):
    table["label"] = table["label"].astype(float)
    table.loc[5, "label"] = np.nan
    with pytest.raises(DataError) as e:
        load_dataset(spec(write_csv(tmp_path, table), "label"), seed=0)
    one_line_error(e, "'label'", "missing")


def test_npz_mismatched_lengths(tmp_path):
    p = tmp_path / "m.npz"
    np.savez(p, x=np.zeros((10, 3), np.float32), y=np.zeros(9, np.int64))
    with pytest.raises(DataError) as e:
        load_dataset(spec(p), seed=0)
    one_line_error(e, "m.npz", "10 rows", "9")


def test_npz_missing_arrays(tmp_path):
    p = tmp_path / "m.npz"
    np.savez(p, features=np.zeros((10, 3), np.float32), y=np.zeros(10, np.int64))
    with pytest.raises(DataError) as e:
        load_dataset(spec(p), seed=0)
    one_line_error(e, "'x'", "features")
    ds = load_dataset(spec(p, features="features"), seed=0)
    assert ds.input_shape == (3,)
    with pytest.raises(DataError) as e:
        load_dataset(spec(p, "labels", features="features"), seed=0)
    one_line_error(e, "'labels'", "not found")


def test_npz_object_array_refused(tmp_path):
    p = tmp_path / "o.npz"
    np.savez(p, x=np.array([{"a": 1}] * 4, dtype=object), y=np.zeros(4))
    with pytest.raises(DataError) as e:
        load_dataset(spec(p), seed=0)
    one_line_error(e, "o.npz")


def test_npz_nan_features(tmp_path):
    p = tmp_path / "n.npz"
    x = np.zeros((10, 2), np.float32)
    x[2, 1] = np.nan
    np.savez(p, x=x, y=np.zeros(10))
    with pytest.raises(DataError) as e:
        load_dataset(spec(p), seed=0)
    one_line_error(e, "n.npz", "NaN")


def test_split_too_small(tmp_path):
    df = pd.DataFrame({"a": [1.0], "label": [0]})
    with pytest.raises(DataError) as e:
        load_dataset(spec(write_csv(tmp_path, df), "label", validation_split=0.5), seed=0)
    one_line_error(e, "too few")


def test_classifier_label_floats_stay_regression(tmp_path):
    df = pd.DataFrame({"a": np.arange(10.0), "label": np.linspace(0, 1, 10)})
    with pytest.raises(DataError) as e:
        load_dataset(spec(write_csv(tmp_path, df), "label", task="classification"), seed=0)
    one_line_error(e, "non-integer")


# ----------------------------------------------------------------------------- caching, checks


def test_file_read_once_per_process(tmp_path, table, monkeypatch):
    p = write_csv(tmp_path, table)
    calls = []
    real = pd.read_csv
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: calls.append(1) or real(*a, **k))
    load_dataset(spec(p, "label"), seed=0)
    load_dataset(spec(p, "label"), seed=1)
    assert len(calls) == 1
    # a changed file is read again
    table.iloc[:20].to_csv(p, index=False)
    ds = load_dataset(spec(p, "label", validation_split=0.0), seed=0)
    assert len(calls) == 2 and len(ds.x_train) == 20


def test_check_data_files(tmp_path, table):
    p = write_csv(tmp_path, table)
    check_data_files(spec(p, "label"))
    check_data_files(spec("gs://bucket/obj.csv", "label"))  # remote: not contacted
    with pytest.raises(DataError) as e:
        check_data_files(spec(p, "label", validation=tmp_path / "missing.csv"))
    one_line_error(e, "data.validation", "missing.csv")
    with pytest.raises(DataError) as e:
        check_data_files(spec(tmp_path / "x.txt", "label"))
    one_line_error(e, "data.train", "extension")


def test_no_tensorflow_import():
    code = (
        "import sys\n"
        "from types import SimpleNamespace as NS\n"
        "from kftune.data import load_dataset, check_data_files\n"
        f"s = NS(train={str(EXAMPLES / 'digits.csv')!r}, validation=None, validation_split=0.2, label='target', features=None)\n"
        "check_data_files(s); load_dataset(s, 0)\n"
        "bad = [m for m in ('tensorflow', 'keras', 'keras_tuner') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_gs_uri_read_through_storage_emulator(tmp_path, table, gcs_client):
    """A gs:// training file is fetched once (real client, emulator) and recorded under its gs:// URI."""
    from conftest import EMULATOR_BUCKET

    local = write_csv(tmp_path, table, "obj.csv")
    uri = f"gs://{EMULATOR_BUCKET}/test-data/{tmp_path.name}/obj.csv"
    gcs_client.bucket(EMULATOR_BUCKET).blob(uri.split("/", 3)[3]).upload_from_filename(str(local))
    ds = load_dataset(spec(uri, "label"), seed=0)
    assert ds.sources[0]["uri"] == uri and ds.sources[0]["bytes"] == local.stat().st_size
    assert len(ds.x_train) + len(ds.x_val) == 40
    with pytest.raises(DataError) as e:
        load_dataset(spec(uri.replace("obj.csv", "missing.csv"), "label"), seed=0)
    one_line_error(e, "missing.csv")
