"""kftune.report: the self-contained HTML report from a hand-written run folder."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kftune.results.report import read_trials, render_report, top_trials, write_report

HEADER = "number,trial_id,status,objective,best_so_far,seconds,units,learning_rate,optimizer,momentum\n"


def make_run(tmp_path: Path, trials: str, *, direction="max", best=True, run=True) -> Path:
    d = tmp_path / "run"
    d.mkdir()
    (d / "trials.csv").write_text(HEADER + trials)
    if best:
        (d / "best_hyperparameters.json").write_text(json.dumps({
            "values": {"units": 128, "learning_rate": 0.003, "optimizer": "adam"},
            "objective": {"metric": "val_accuracy", "direction": direction, "value": 0.97},
            "trial_id": "02", "spec_hash": "abc123",
        }))
    if run:
        (d / "run.json").write_text(json.dumps({
            "kftune_version": "0.1.0", "python": "3.11.9", "tensorflow": "2.21.0", "keras": "3.15.1",
            "keras_tuner": "1.4.8", "spec_hash": "abc123", "seeds": {"search": 42, "weights": 42},
            "data": [{"uri": "examples/data/digits.csv", "sha256": "f" * 64, "bytes": 264965}],
            "started_at": "2025-01-01T00:00:00Z", "ended_at": "2025-01-01T00:02:00Z",
            "trials": {"completed": 3, "failed": 1, "resumed": 1},
            "objective": {"metric": "val_accuracy", "direction": direction},
            "stopped_because": "max_trials reached", "undeclared_hyperparameters": {"layers": 2},
        }))
    return d


TRIALS = (
    "1,00,COMPLETED,0.91,0.91,3.2,64,0.001,adam,\n"
    "2,01,FAILED,,0.91,0.4,256,0.05,sgd,0.9\n"
    "3,02,COMPLETED,0.97,0.97,4.1,128,0.003,adam,\n"
    "4,03,COMPLETED,0.95,0.97,3.9,96,0.0005,sgd,0.5\n"
)


def test_report_is_self_contained_with_plot_and_sorted_table(tmp_path):
    d = make_run(tmp_path, TRIALS)
    path = write_report(d)
    assert path == d / "report.html"
    page = path.read_text()
    m = re.search(r'<img[^>]+src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert m and base64.b64decode(m.group(1))[:8] == b"\x89PNG\r\n\x1a\n"
    # nothing fetched from the network
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<style>" in page
    # top trials table: completed only, best first, hyperparameter columns present
    table = page.split("Top trials", 1)[1].split("</table>", 1)[0]
    assert table.index(">02<") < table.index(">03<") < table.index(">00<")
    assert ">01<" not in table
    for col in ("units", "learning_rate", "optimizer", "momentum"):
        assert f"<th>{col}</th>" in table
    assert '<tr class="best">' in table
    # failed trial listed, run facts present
    assert "Failed trials (1)" in page
    for fact in ("2.21.0", "3.15.1", "1.4.8", "abc123", "max_trials reached", "digits.csv", "trials resumed"):
        assert fact in page, fact


def test_minimize_direction_sorts_ascending(tmp_path):
    trials = (
        "1,00,COMPLETED,2.5,2.5,1,64,0.001,adam,\n"
        "2,01,COMPLETED,0.7,0.7,1,64,0.001,adam,\n"
        "3,02,COMPLETED,1.1,0.7,1,64,0.001,adam,\n"
    )
    d = make_run(tmp_path, trials, direction="min", best=False)
    rows, hp_names = read_trials(d / "trials.csv")
    assert hp_names == ["units", "learning_rate", "optimizer", "momentum"]
    assert [r["trial_id"] for r in top_trials(rows, "min")] == ["01", "02", "00"]
    assert [r["trial_id"] for r in top_trials(rows, "max")] == ["00", "02", "01"]
    page = render_report(d)
    table = page.split("Top trials", 1)[1].split("</table>", 1)[0]
    assert table.index(">01<") < table.index(">02<") < table.index(">00<")
    assert "minimize" in page


def test_zero_completed_trials(tmp_path):
    trials = "1,00,FAILED,,,0.2,64,0.001,adam,\n2,01,FAILED,nan,,0.3,32,0.01,sgd,0.1\n"
    d = make_run(tmp_path, trials, best=False)
    page = write_report(d).read_text()
    assert "No completed trials." in page and "No completed trial: no best hyperparameters." in page
    assert "data:image/png;base64," in page  # the failed trials are still plotted
    assert "Failed trials (2)" in page


def test_empty_run_dir(tmp_path):
    page = write_report(tmp_path / "fresh").read_text()
    assert "No trials recorded yet." in page and "<img" not in page


def test_html_is_escaped(tmp_path):
    trials = '1,00,COMPLETED,0.5,0.5,1,64,0.001,"<script>alert(1)</script>",\n'
    d = make_run(tmp_path, trials, best=False, run=False)
    page = render_report(d)
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_report_does_not_import_tensorflow(tmp_path):
    d = make_run(tmp_path, TRIALS)
    code = (
        "import sys\nfrom kftune.results.report import write_report\n"
        f"write_report({str(d)!r})\n"
        "bad = [m for m in ('tensorflow', 'keras', 'matplotlib.pyplot') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("n", [60])
def test_many_trials(tmp_path, n):
    rows = "".join(f"{i},{i - 1:02d},COMPLETED,{i / n:.3f},{i / n:.3f},1,64,0.001,adam,\n" for i in range(1, n + 1))
    d = make_run(tmp_path, rows, best=False)
    page = render_report(d, top_k=5)
    table = page.split("Top trials", 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") + table.count('<tr class') == 6  # header + 5
    assert f"of {n} completed" in page


def _trial_json(d: Path, trial_id: str, curve: list[float] | None, status="COMPLETED", message=None) -> None:
    folder = d / "state" / f"trial_{trial_id}"
    folder.mkdir(parents=True, exist_ok=True)
    metrics = {} if curve is None else {"val_accuracy": {"direction": "max", "observations": [
        {"value": [v], "step": i} for i, v in enumerate(curve)]}}
    (folder / "trial.json").write_text(json.dumps({
        "trial_id": trial_id, "hyperparameters": {}, "metrics": {"metrics": metrics},
        "score": None, "best_step": 0, "status": status, "message": message}))


def test_every_section_with_real_data_and_one_trial_numbering(tmp_path):
    """Learning curves come from keras-tuner's per-epoch observations in state/trial_*/trial.json (when
    the run recorded them); failed trials show keras-tuner's message; the best trial is named by its
    number (3), as in trials.csv and the plot, not by keras-tuner's id (02)."""
    d = make_run(tmp_path, TRIALS)
    _trial_json(d, "00", [0.5, 0.8, 0.91])
    _trial_json(d, "01", None, "FAILED", "Traceback (most recent call last):\n  ...\nValueError: loss became NaN")
    _trial_json(d, "02", [0.6, 0.9, 0.97])
    _trial_json(d, "03", [0.7, 0.95])
    page = render_report(d)
    for section in ("Optimization history", "Parameter importances", "Parallel coordinates", "Slice plots",
                    "Learning curves", "Best hyperparameters", "Top trials", "Failed trials (1)", "Run"):
        assert f">{section}" in page, section
    # one image per figure: history, importances, parallel, slices, curves
    assert page.count('src="data:image/png;base64,') == 5
    assert '<div class="card"><b>3</b><span>best trial</span></div>' in page
    failed = page.split("Failed trials (1)", 1)[1].split("</table>", 1)[0]
    assert "ValueError: loss became NaN" in failed and "Traceback" not in failed
    assert "<th>trial</th><th>id</th>" in failed


def test_learning_curves_are_read_per_trial_and_absent_ones_said(tmp_path):
    from kftune.results.report import read_trial_records

    d = make_run(tmp_path, TRIALS)
    _trial_json(d, "02", [0.6, 0.9, 0.97])
    records = read_trial_records(d)
    assert records["02"]["curves"]["val_accuracy"] == [(0, 0.6), (1, 0.9), (2, 0.97)]
    (d / "state" / "trial_02" / "trial.json").write_text("{not json")
    page = render_report(d)
    assert "No per-epoch history of val_accuracy" in page


def test_importances_rank_the_parameter_that_drives_the_objective():
    from kftune.results.plots import importances

    rows = [{"number": i + 1, "status": "COMPLETED", "objective": 0.1 * i, "units": 16 * (i + 1),
             "optimizer": "adam", "noise": ["a", "b"][i % 2]} for i in range(8)]
    imp = importances(rows, ["units", "optimizer", "noise"])
    assert list(imp)[0] == "units" and imp["optimizer"] == 0.0
    assert sum(imp.values()) == pytest.approx(1.0)
    assert importances(rows[:2], ["units"]) == {}
