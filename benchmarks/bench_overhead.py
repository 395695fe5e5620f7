"""Per-trial time outside ``model.fit`` and resident memory over many trials: kftune vs stock keras-tuner.

Both run the same model on the same data in one process, side by side, so the ratio is meaningful
on a shared machine. Time outside fit = wall time per trial (proposal, build, session clear,
bookkeeping, checkpointing, results, storage sync) minus the time spent inside ``model.fit``.

    python benchmarks/bench_overhead.py               # 30 trials each + 100-trial memory run
    python benchmarks/bench_overhead.py --quick       # 10 trials each, 30-trial memory run
    python benchmarks/bench_overhead.py --gcs         # kftune also syncs every trial to a GCS emulator

Writes docs/benchmarks-overhead.md.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import keras  # noqa: E402
import keras_tuner as kt  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402

FIT_SECONDS: list[float] = []
_original_fit = keras.Model.fit


def _timed_fit(self, *args, **kwargs):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    try:
        return _original_fit(self, *args, **kwargs)
    finally:
        FIT_SECONDS.append(time.perf_counter() - t0)


keras.Model.fit = _timed_fit  # measure only; behaviour unchanged


def tiny_data(rows: int) -> Path:
    lines = (ROOT / "examples" / "data" / "digits.csv").read_text().splitlines()[: rows + 1]
    path = Path(tempfile.mkdtemp()) / "digits.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def spec_for(data: Path, trials: int, algorithm: str) -> dict:
    return {
        "name": "overhead",
        "model": "kftune.hypermodels:mlp_classifier",
        "data": {"train": str(data), "label": "target"},
        "objective": {"metric": "val_accuracy", "direction": "max"},
        "search_space": {
            "units": {"type": "int", "min": 8, "max": 64, "step": 8},
            "learning_rate": {"type": "float", "min": 1e-3, "max": 3e-2, "sampling": "log"},
            "layers": {"type": "fixed", "value": 1},
        },
        "tuner": {"algorithm": algorithm, "max_trials": trials, "seed": 1},
        "training": {"epochs": 2, "batch_size": 64},
    }


class Recorder:
    """Trial-end timestamps, fit time per trial and RSS after each trial."""

    def __init__(self) -> None:
        self.ends: list[float] = []
        self.fit_per_trial: list[float] = []
        self.rss_mb: list[float] = []
        self._fit_mark = 0
        self.start = time.perf_counter()

    def trial_end(self) -> None:
        self.ends.append(time.perf_counter())
        self.fit_per_trial.append(sum(FIT_SECONDS[self._fit_mark :]))
        self._fit_mark = len(FIT_SECONDS)
        self.rss_mb.append(psutil.Process().memory_info().rss / 2**20)

    def outside_fit(self) -> list[float]:
        walls = np.diff([self.start, *self.ends])
        # Skip the first trial: it pays for TensorFlow's one-time graph/kernel warm-up in either tool.
        return [w - f for w, f in zip(walls[1:], self.fit_per_trial[1:])]


def run_kftune(data: Path, trials: int, algorithm: str, output: str, workdir: Path | None) -> Recorder:
    from kftune import tune

    FIT_SECONDS.clear()
    rec = Recorder()
    tune(spec_for(data, trials, algorithm), output, fresh=True, workdir=workdir, progress=lambda *a: rec.trial_end())
    return rec


def run_keras_tuner(data: Path, trials: int, oracle: str) -> Recorder:
    """Stock keras-tuner with the same built-in model (bound to the same data) and the same fit settings."""
    from kftune.data import load_dataset
    from kftune.hypermodels import bind_model, resolve_model
    from kftune.spec import load_spec

    spec = load_spec(spec_for(data, trials, "random"))
    ds = load_dataset(spec.data, seed=1)
    build = bind_model(resolve_model(spec.model), ds)
    hp = kt.HyperParameters()
    hp.Int("units", 8, 64, step=8)
    hp.Float("learning_rate", 1e-3, 3e-2, sampling="log")
    hp.Fixed("layers", 1)
    cls = kt.BayesianOptimization if oracle == "bayesian" else kt.RandomSearch
    rec = Recorder()

    class Timed(cls):  # type: ignore[misc, valid-type]
        def on_trial_end(self, trial):  # type: ignore[no-untyped-def]
            super().on_trial_end(trial)
            rec.trial_end()

    FIT_SECONDS.clear()
    tuner = Timed(
        hypermodel=build,
        objective="val_accuracy",
        max_trials=trials,
        hyperparameters=hp,
        seed=1,
        directory=tempfile.mkdtemp(),
        project_name="kt",
        overwrite=True,
    )
    rec.start = time.perf_counter()
    rec._fit_mark = len(FIT_SECONDS)
    tuner.search(ds.x_train, ds.y_train, validation_data=(ds.x_val, ds.y_val), epochs=2, batch_size=64, verbose=0)
    return rec


def summary(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms (p90 {np.percentile(values, 90) * 1000:.0f} ms)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--gcs", action="store_true", help="kftune output on a GCS emulator (sync included)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks-overhead.md"))
    args = parser.parse_args()
    trials = 10 if args.quick else 30
    memory_trials = 30 if args.quick else 100
    data = tiny_data(300)

    emulator = None
    output_kind = "local folder"
    if args.gcs:
        from gcs_emulator import start_emulator

        emulator = start_emulator("kftune-bench")
        os.environ["STORAGE_EMULATOR_HOST"] = emulator.url
        output_kind = "gs:// (GCS emulator on 127.0.0.1, sync after every trial)"

    def output(tag: str) -> tuple[str, Path | None]:
        if emulator is not None:
            return f"gs://kftune-bench/{tag}-{time.time_ns()}", Path(tempfile.mkdtemp())
        return tempfile.mkdtemp(), None

    rows = []
    try:
        kt_random = run_keras_tuner(data, trials, "random")
        kf_random = run_kftune(data, trials, "random", *output("random"))
        kt_bayes = run_keras_tuner(data, trials, "bayesian")
        kf_bayes = run_kftune(data, trials, "bayesian", *output("bayes"))
        for name, rec in [
            ("keras-tuner RandomSearch", kt_random),
            ("kftune random", kf_random),
            ("keras-tuner BayesianOptimization", kt_bayes),
            ("kftune bayesian (default)", kf_bayes),
        ]:
            outside = rec.outside_fit()
            rows.append(
                (name, summary(outside), f"{statistics.median(rec.fit_per_trial[1:]):.2f} s",
                 f"{statistics.median(outside) / 10 * 100:.2f} %")
            )
        gc.collect()
        mem_kf = run_kftune(data, memory_trials, "random", *output("memory"))
        mem_kt = run_keras_tuner(data, memory_trials, "random")
    finally:
        if emulator is not None:
            emulator.stop()

    def growth(rec: Recorder) -> str:
        first = rec.rss_mb[min(4, len(rec.rss_mb) - 1)]
        return f"{rec.rss_mb[0]:.0f} → {rec.rss_mb[-1]:.0f} MB (+{rec.rss_mb[-1] - first:.0f} MB after trial 5)"

    ratio = statistics.median(kt_random.outside_fit()) / max(statistics.median(kf_random.outside_fit()), 1e-9)
    lines = [
        "## Per-trial overhead outside `model.fit`",
        "",
        f"Command: `python benchmarks/bench_overhead.py{' --quick' if args.quick else ''}{' --gcs' if args.gcs else ''}`"
        f" — {trials} trials each, tiny MLP on 300 digits rows, 2 epochs; kftune output: {output_kind}.",
        "Median (and p90) of wall time per trial minus time inside `model.fit`, first trial excluded",
        "(TensorFlow warm-up); last column: that overhead as a share of a 10-s trial (target ≤ 2 %).",
        "",
        "| run | outside fit per trial | fit per trial | share of a 10-s trial |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
        f"keras-tuner / kftune overhead ratio (random search, same model): **{ratio:.1f}×**.",
        "",
        f"## Resident memory over {memory_trials} trials",
        "",
        "| run | RSS first trial → last trial |",
        "|---|---|",
        f"| kftune random | {growth(mem_kf)} |",
        f"| keras-tuner RandomSearch | {growth(mem_kt)} |",
        "",
    ]
    text = "\n".join(lines)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
