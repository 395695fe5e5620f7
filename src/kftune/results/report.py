"""The run report: one self-contained HTML page written next to the other outputs.

Why self-contained: the report is opened from a bucket, a KFP artifact viewer or a laptop with no
network, so CSS is inline and every plot is a base64 PNG (kftune.results.plots: matplotlib, Agg
backend, imported lazily). It reads only files of the output folder (``trials.csv``,
``best_hyperparameters.json``, ``run.json`` and keras-tuner's ``state/trial_*/trial.json`` for
per-epoch histories and failure messages), so ``kftune report RUN_DIR`` can rebuild it at any time,
and it copes with missing files, failed trials (empty objective) and runs with no completed trial.

Sections (anchors: Optuna's visualizations, W&B sweeps): optimization history with best so far,
parameter importances, parallel coordinates, a slice plot per parameter, learning curves per trial,
best hyperparameters, top trials, failed trials with their reason, run facts. A trial is named by
its ``number`` (1-based, in start order: trials.csv's first column) everywhere; keras-tuner's own
trial id is shown beside it as ``id``.
"""

from __future__ import annotations

import csv
import html
import json
import math
from pathlib import Path
from typing import Any

from kftune import layout
from kftune.layout import BEST_HYPERPARAMETERS, REPORT, RUN_RECORD, SPEC, TRIALS
from kftune.results import plots

__all__ = ["write_report", "render_report", "read_trials", "read_trial_records", "top_trials"]
_FIXED_COLUMNS = ("number", "trial_id", "status", "objective", "best_so_far", "seconds", "epochs")

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1100px;
color:#1f2328;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
.sub{color:#59636e;margin-top:0}
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}
.card{border:1px solid #d0d7de;border-radius:6px;padding:.6rem .9rem;min-width:9rem}
.card b{display:block;font-size:1.25rem}
.card span{color:#59636e;font-size:.85rem}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}
th,td{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:left}
th{background:#f6f8fa} td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.best td{background:#dafbe1}
.failed{color:#cf222e} .muted{color:#59636e}
img{max-width:100%;border:1px solid #d0d7de;border-radius:6px}
code{background:#f6f8fa;padding:.1rem .3rem;border-radius:4px}
"""


# --------------------------------------------------------------------------- reading


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _num(v: Any) -> float | None:
    if v is None or v == "":
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def read_trials(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows of ``trials.csv`` (objective/best_so_far/seconds as float or None) and the
    hyperparameter column names, in file order. Missing file -> ([], [])."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields = list(reader.fieldnames or [])
            rows = list(reader)
    except FileNotFoundError:
        return [], []
    hp_names = [c for c in fields if c not in _FIXED_COLUMNS]
    out = []
    for i, r in enumerate(rows, start=1):
        row: dict[str, Any] = dict(r)
        row["number"] = int(_num(r.get("number")) or i)
        row["status"] = (r.get("status") or "").upper() or "UNKNOWN"
        for k in ("objective", "best_so_far", "seconds"):
            row[k] = _num(r.get(k))
        out.append(row)
    return out, hp_names


def _direction(best: dict, run: dict) -> str:
    for src in (best.get("objective"), run.get("objective")):
        if isinstance(src, dict) and src.get("direction") in ("min", "max"):
            return src["direction"]
    return "max"


def _metric(best: dict, run: dict) -> str:
    for src in (best.get("objective"), run.get("objective")):
        if isinstance(src, dict) and src.get("metric"):
            return str(src["metric"])
    return "objective"


def top_trials(rows: list[dict[str, Any]], direction: str, k: int = 10) -> list[dict[str, Any]]:
    """Completed trials with an objective, best first (``direction`` "max" or "min"), at most k."""
    done = plots.scored(rows)
    done.sort(key=lambda r: (-r["objective"] if direction == "max" else r["objective"], r["number"]))
    return done[:k]


def read_trial_records(run_dir: Path) -> dict[str, dict[str, Any]]:
    """keras-tuner's ``state/trial_*/trial.json`` by trial id: ``curves`` (metric -> [(epoch, value)])
    and ``message`` (why a trial failed). Missing or unreadable files are skipped."""
    records: dict[str, dict[str, Any]] = {}
    for path in sorted((Path(run_dir) / layout.STATE_DIR).glob("trial_*/trial.json")):
        data = _load_json(path)
        if not data.get("trial_id"):
            continue
        metrics = ((data.get("metrics") or {}).get("metrics") or {}) if isinstance(data.get("metrics"), dict) else {}
        curves: dict[str, list[tuple[int, float]]] = {}
        for name, history in metrics.items():
            points = []
            for obs in (history or {}).get("observations", []) if isinstance(history, dict) else []:
                value = obs.get("value")
                value = value[0] if isinstance(value, list) and value else value
                if _num(value) is not None and isinstance(obs.get("step"), int):
                    points.append((obs["step"], float(value)))
            curves[name] = sorted(points)
        records[str(data["trial_id"])] = {"curves": curves, "message": data.get("message") or ""}
    return records


def _reason(message: str) -> str:
    """The last meaningful line of keras-tuner's failure message (often a whole traceback)."""
    lines = [line.strip() for line in str(message or "").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no reason recorded"


# --------------------------------------------------------------------------- html


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _fmt(v: Any) -> str:
    if v is None or v == "":
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    f = _num(v)
    if f is not None and isinstance(v, str) and any(c in v for c in ".eE"):
        return f"{f:.6g}"
    return str(v)


def _table(headers: list[str], rows: list[list[Any]], *, numeric: set[int] = frozenset(), classes=None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for i, r in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        cells = "".join(
            f'<td class="num">{_e(_fmt(v))}</td>' if j in numeric else f"<td>{_e(_fmt(v))}</td>"
            for j, v in enumerate(r)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _card(value: Any, label: str) -> str:
    return f'<div class="card"><b>{_e(_fmt(value) if value is not None else "—")}</b><span>{_e(label)}</span></div>'


def render_report(run_dir: str | Path, *, top_k: int = 10) -> str:
    """The report page for the outputs in ``run_dir``, as an HTML string."""
    run_dir = Path(run_dir)
    best = _load_json(run_dir / BEST_HYPERPARAMETERS)
    run = _load_json(run_dir / RUN_RECORD)
    spec = _load_json(run_dir / SPEC)
    rows, hp_names = read_trials(run_dir / TRIALS)
    direction, metric = _direction(best, run), _metric(best, run)

    completed = plots.scored(rows)
    failed = [r for r in rows if r["status"] not in plots.SCORED and r["status"] != "STOPPED"]
    trials_info = run.get("trials") if isinstance(run.get("trials"), dict) else {}
    best_value = (best.get("objective") or {}).get("value") if isinstance(best.get("objective"), dict) else None
    if best_value is None and completed:
        best_value = top_trials(rows, direction, 1)[0]["objective"]
    name = spec.get("name") or run.get("name") or run_dir.resolve().name

    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>kftune report — {_e(name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>kftune report — {_e(name)}</h1>",
        f"<p class='sub'>objective <code>{_e(metric)}</code> ({'maximize' if direction == 'max' else 'minimize'})"
        + (f" · stopped because: {_e(run.get('stopped_because'))}" if run.get("stopped_because") else "")
        + "</p>",
        "<div class='cards'>",
        _card(best_value, f"best {metric}"),
        _card(trials_info.get("completed", len(completed)), "trials completed"),
        _card(trials_info.get("failed", len(failed)), "trials failed"),
        _card(trials_info.get("resumed", 0), "trials resumed"),
        _card(_number_of(rows, best.get("trial_id")), "best trial"),
        "</div>",
    ]

    records = read_trial_records(run_dir)
    number_of = {str(r.get("trial_id")): r["number"] for r in rows}
    best_number = number_of.get(str(best.get("trial_id")))
    parts.append("<h2 id='history'>Optimization history</h2>")
    png = plots.history_png(rows, direction, metric)
    if png:
        parts.append(_img(png, "objective per trial and best so far"))
    else:
        parts.append("<p class='muted'>No trials recorded yet.</p>")
    _figures(parts, rows, hp_names, direction, metric, records, number_of, best_number)

    parts.append("<h2>Best hyperparameters</h2>")
    values = best.get("values") if isinstance(best.get("values"), dict) else {}
    if values:
        parts.append(_table(["name", "value"], [[k, v] for k, v in values.items()], numeric={1}))
    else:
        parts.append("<p class='muted'>No completed trial: no best hyperparameters.</p>")

    parts.append(f"<h2>Top trials (of {len(completed)} completed)</h2>")
    top = top_trials(rows, direction, top_k)
    if top:
        headers = ["rank", "trial", "id", metric, "seconds"] + hp_names
        table_rows = [
            [i, r["number"], r.get("trial_id"), r["objective"], r["seconds"]] + [r.get(h) for h in hp_names]
            for i, r in enumerate(top, start=1)
        ]
        best_id = best.get("trial_id")
        classes = ["best" if (best_id and r.get("trial_id") == best_id) or (not best_id and i == 0) else ""
                   for i, r in enumerate(top)]
        parts.append(_table(headers, table_rows, numeric={0, 1, 3, 4}, classes=classes))
    else:
        parts.append("<p class='muted'>No completed trials.</p>")

    if failed:
        parts.append(f"<h2 class='failed'>Failed trials ({len(failed)})</h2>")
        parts.append(_table(["trial", "id", "status", "seconds", "reason"],
                            [[r["number"], r.get("trial_id"), r["status"], r["seconds"],
                              _reason(records.get(str(r.get("trial_id")), {}).get("message", ""))] for r in failed],
                            numeric={0, 3}))
    stopped = [r for r in rows if r["status"] == "STOPPED"]
    if stopped:  # early stopping across trials: kept in the search, with the value and epoch reached
        parts.append(f"<h2>Stopped early ({len(stopped)})</h2>")
        parts.append(_table(["trial", "id", "status", "objective", "epochs", "seconds"],
                            [[r["number"], r.get("trial_id"), r["status"], r["objective"],
                              r.get("epochs", ""), r["seconds"]] for r in stopped],
                            numeric={0, 3, 4, 5}))

    parts.append("<h2>Run</h2>")
    facts = []
    for key, label in (("name", "name"), ("kftune_version", "kftune"), ("kftune", "kftune"), ("python", "Python"), ("tensorflow", "TensorFlow"),
                       ("keras", "Keras"), ("keras_backend", "Keras backend"),
                       ("keras_backend_version", "backend version"), ("keras_tuner", "keras-tuner"),
                       ("algorithm", "algorithm"), ("spec_hash", "spec hash"), ("output", "output"),
                       ("seeds", "seeds"), ("started_at", "started"), ("ended_at", "ended"),
                       ("stopped_because", "stopped because"), ("undeclared_hyperparameters",
                       "undeclared hyperparameters"), ("warm_start", "warm start")):
        if run.get(key) not in (None, "", {}, []):
            v = run[key]
            facts.append([label, json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v])
    if facts:
        parts.append(_table(["", ""], facts))
    data = run.get("data") if isinstance(run.get("data"), list) else []
    if data:
        parts.append("<h2>Data</h2>")
        parts.append(_table(["uri", "sha256", "bytes"],
                            [[d.get("uri"), d.get("sha256"), d.get("bytes")] for d in data if isinstance(d, dict)],
                            numeric={2}))
    parts.append("<p class='muted'>Generated by kftune from trials.csv, best_hyperparameters.json, run.json and "
                 "state/trial_*/trial.json. Trials are numbered in start order, as in trials.csv.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _img(png: str, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{png}">'


def _number_of(rows: list[dict[str, Any]], trial_id: Any) -> Any:
    for r in rows:
        if trial_id is not None and str(r.get("trial_id")) == str(trial_id):
            return r["number"]
    return None


def _figures(parts: list[str], rows: list[dict[str, Any]], names: list[str], direction: str, metric: str,
             records: dict[str, dict[str, Any]], number_of: dict[str, int], best_number: int | None) -> None:
    """Importances, parallel coordinates, slices, learning curves: each section, or why it is empty."""
    imp = plots.importances(rows, names)
    parts.append("<h2 id='importance'>Parameter importances</h2>")
    if imp:
        parts.append("<p class='muted'>Share of the objective's variance each parameter explains on its own "
                     "(numbers in quartile bins); a first look, not a causal claim.</p>")
        parts.append(_img(plots.importance_png(imp), "parameter importances"))
    else:
        parts.append("<p class='muted'>Needs at least 3 completed trials.</p>")
    for anchor, title, png in (
        ("parallel", "Parallel coordinates", plots.parallel_png(rows, names, direction, metric)),
        ("slices", "Slice plots", plots.slices_png(rows, names, metric)),
    ):
        parts.append(f"<h2 id='{anchor}'>{title}</h2>")
        parts.append(_img(png, title.lower()) if png else "<p class='muted'>Needs completed trials with parameters.</p>")
    curves = {number_of[tid]: rec["curves"].get(metric, []) for tid, rec in records.items() if tid in number_of}
    parts.append("<h2 id='curves'>Learning curves</h2>")
    png = plots.curves_png(curves, metric, best_number)
    if png:
        parts.append(_img(png, f"{metric} per epoch, one line per trial"))
    else:
        parts.append(f"<p class='muted'>No per-epoch history of {_e(metric)} in this run's state "
                     "(keras-tuner's trial.json holds one value per trial here).</p>")


def write_report(run_dir: str | Path, *, top_k: int = 10) -> Path:
    """Write ``run_dir/report.html`` (self-contained: no network needed) and return its path."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    out = run_dir / REPORT
    tmp = out.with_suffix(".html.tmp")
    tmp.write_text(render_report(run_dir, top_k=top_k), encoding="utf-8")
    tmp.replace(out)
    return out
