"""The report's figures, each a base64 PNG (matplotlib's Agg canvas, no pyplot, imported lazily), and
the numbers behind them (best so far, parameter importances), which the tests check directly.

Trials are the report's rows (``report.read_trials``): ``number`` (the one trial numbering everywhere),
``status``, ``objective`` and one column per hyperparameter.
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any

BLUE, GREEN, RED, GREY = "#0969da", "#1a7f37", "#cf222e", "#8c959f"
SCORED = ("COMPLETED", "STOPPED")  # trials with an objective (STOPPED: ended early across trials)


def scored(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["status"] in SCORED and r["objective"] is not None]


def best_so_far(rows: list[dict[str, Any]], direction: str) -> list[float | None]:
    best: float | None = None
    curve = []
    for r in rows:
        v = r["objective"] if r["status"] in SCORED else None
        if v is not None and (best is None or (v > best if direction == "max" else v < best)):
            best = v
        curve.append(best)
    return curve


def _num(v: Any) -> float | None:
    if v is None or v == "" or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def is_numeric(values: list[Any]) -> bool:
    present = [v for v in values if v not in (None, "")]
    return bool(present) and all(_num(v) is not None for v in present) and not all(
        str(v) in ("True", "False", "true", "false") for v in present
    )


def importances(rows: list[dict[str, Any]], names: list[str], bins: int = 4) -> dict[str, float]:
    """Share of the objective's variance each parameter explains on its own (the correlation ratio η²
    over its values, numbers cut into ``bins`` quantile bins), normalised to sum to 1. A cheap, honest
    first look (like Optuna's importance plot, without a surrogate model): 0 for a parameter that never
    varied. Empty with fewer than 3 scored trials."""
    done = scored(rows)
    if len(done) < 3:
        return {}
    ys = [r["objective"] for r in done]
    mean = sum(ys) / len(ys)
    total = sum((y - mean) ** 2 for y in ys)
    raw: dict[str, float] = {}
    for name in names:
        values = [r.get(name) for r in done]
        keys = _groups(values, bins)
        if len(set(keys)) < 2 or total == 0:
            raw[name] = 0.0
            continue
        groups: dict[Any, list[float]] = {}
        for k, y in zip(keys, ys):
            groups.setdefault(k, []).append(y)
        between = sum(len(g) * (sum(g) / len(g) - mean) ** 2 for g in groups.values())
        raw[name] = between / total
    s = sum(raw.values())
    return {k: (v / s if s else 0.0) for k, v in sorted(raw.items(), key=lambda kv: -kv[1])}


def _groups(values: list[Any], bins: int) -> list[Any]:
    if is_numeric(values):
        nums = [_num(v) for v in values]
        present = sorted(v for v in nums if v is not None)
        if len(set(present)) <= bins:
            return ["" if v is None else v for v in nums]
        cuts = [present[int(len(present) * i / bins)] for i in range(1, bins)]
        return ["" if v is None else sum(v >= c for c in cuts) for v in nums]
    return ["" if v is None else str(v) for v in values]


# --------------------------------------------------------------------------- figures


def _figure(width: float, height: float) -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    return Figure(figsize=(width, height), dpi=100)


def _png(fig: Any) -> str:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def history_png(rows: list[dict[str, Any]], direction: str, metric: str) -> str | None:
    """Optimization history: objective per trial (dots), failed trials (x on the axis), best so far (step)."""
    if not rows:
        return None
    rows = sorted(rows, key=lambda r: r["number"])
    curve = best_so_far(rows, direction)
    ok = [(r["number"], r["objective"]) for r in scored(rows)]
    bad = [r["number"] for r in rows if r not in scored(rows)]
    fig = _figure(8, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    if ok:
        ax.scatter([n for n, _ in ok], [v for _, v in ok], s=28, color=BLUE, label="trial objective", zorder=3)
    xs = [r["number"] for r, c in zip(rows, curve) if c is not None]
    ys = [c for c in curve if c is not None]
    if xs:
        ax.step(xs, ys, where="post", color=GREEN, linewidth=2, label=f"best so far ({direction})")
    if bad:
        y0 = min(ys) if ys else 0.0
        ax.scatter(bad, [y0] * len(bad), marker="x", s=40, color=RED, label="failed / no objective", zorder=3)
    vals = [v for _, v in ok]
    if vals and min(vals) > 0 and max(vals) / min(vals) > 1e3:  # a diverged trial would flatten the rest
        ax.set_yscale("log")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.grid(True, alpha=0.3)
    if len(rows) <= 30:
        ax.set_xticks([r["number"] for r in rows])
    ax.legend(loc="best", fontsize=8)
    return _png(fig)


def importance_png(imp: dict[str, float]) -> str | None:
    if not imp:
        return None
    names = list(imp)[::-1]
    fig = _figure(8, 0.45 * len(names) + 1.2)
    ax = fig.add_subplot(1, 1, 1)
    ax.barh(names, [imp[n] for n in names], color=BLUE)
    for i, n in enumerate(names):
        ax.text(imp[n], i, f" {imp[n]:.2f}", va="center", fontsize=8)
    ax.set_xlim(0, max(1.0, max(imp.values()) * 1.15))
    ax.set_xlabel("importance (share of the objective's variance explained)")
    ax.grid(True, axis="x", alpha=0.3)
    return _png(fig)


def _axis_values(values: list[Any]) -> tuple[list[float | None], list[str] | None, bool]:
    """Values on a 0..1 axis; categories' labels (None for numbers); whether the axis is log."""
    if is_numeric(values):
        nums = [_num(v) for v in values]
        present = [v for v in nums if v is not None]
        lo, hi = min(present), max(present)
        log = lo > 0 and hi / lo > 100
        f = (lambda v: math.log10(v)) if log else (lambda v: v)
        span = (f(hi) - f(lo)) or 1.0
        return [None if v is None else (f(v) - f(lo)) / span for v in nums], None, log
    cats = sorted({str(v) for v in values if v not in (None, "")})
    pos = {c: (i / (len(cats) - 1) if len(cats) > 1 else 0.5) for i, c in enumerate(cats)}
    return [None if v in (None, "") else pos[str(v)] for v in values], cats, False


def parallel_png(rows: list[dict[str, Any]], names: list[str], direction: str, metric: str) -> str | None:
    """Parallel coordinates: one line per scored trial across every parameter and the objective,
    coloured by the objective (the best trial drawn thick)."""
    done = scored(rows)
    names = [n for n in names if any(r.get(n) not in (None, "") for r in done)]
    if len(done) < 2 or not names:
        return None
    import matplotlib
    from matplotlib import cm, colors

    axes = names + [metric]
    columns = [_axis_values([r.get(n) for r in done]) for n in names]
    columns.append(_axis_values([r["objective"] for r in done]))
    ys = [r["objective"] for r in done]
    norm = colors.Normalize(min(ys), max(ys))
    cmap = matplotlib.colormaps["viridis" if direction == "max" else "viridis_r"]
    best = max(range(len(done)), key=lambda i: ys[i] if direction == "max" else -ys[i])
    fig = _figure(max(8, 1.3 * len(axes)), 4.2)
    ax = fig.add_subplot(1, 1, 1)
    for i in sorted(range(len(done)), key=lambda i: i == best):
        pts = [(x, col[0][i]) for x, col in enumerate(columns) if col[0][i] is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color=cmap(norm(ys[i])),
                linewidth=3 if i == best else 1.2, alpha=1.0 if i == best else 0.7)
    for x, (name, (_, cats, log)) in enumerate(zip(axes, columns)):
        ax.axvline(x, color=GREY, linewidth=0.8)
        values = [r.get(name) for r in done] if name != metric else ys
        if cats is not None:
            for i, c in enumerate(cats):
                ax.text(x + 0.03, i / (len(cats) - 1) if len(cats) > 1 else 0.5, c, fontsize=7, va="center")
        else:
            nums = [_num(v) for v in values if _num(v) is not None]
            ax.text(x + 0.03, 0, f"{min(nums):.3g}", fontsize=7, va="bottom")
            ax.text(x + 0.03, 1, f"{max(nums):.3g}" + (" (log)" if log else ""), fontsize=7, va="top")
    ax.set_xticks(range(len(axes)))
    ax.set_xticklabels(axes, rotation=20, fontsize=8)
    ax.set_yticks([])
    ax.set_xlim(-0.2, len(axes) - 0.6)
    fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=metric, fraction=0.03)
    return _png(fig)


def slices_png(rows: list[dict[str, Any]], names: list[str], metric: str) -> str | None:
    """A slice plot per parameter: the objective of every scored trial against that parameter's value."""
    done = scored(rows)
    names = [n for n in names if any(r.get(n) not in (None, "") for r in done)]
    if not done or not names:
        return None
    cols = min(3, len(names))
    nrows = math.ceil(len(names) / cols)
    fig = _figure(3.2 * cols, 2.6 * nrows)
    for k, name in enumerate(names):
        ax = fig.add_subplot(nrows, cols, k + 1)
        pairs = [(r.get(name), r["objective"], r["number"]) for r in done if r.get(name) not in (None, "")]
        values = [p[0] for p in pairs]
        if is_numeric(values):
            xs = [_num(v) for v in values]
            ax.scatter(xs, [p[1] for p in pairs], s=18, color=BLUE)
            if min(xs) > 0 and max(xs) / min(xs) > 100:
                ax.set_xscale("log")
        else:
            cats = sorted({str(v) for v in values})
            ax.scatter([cats.index(str(v)) for v in values], [p[1] for p in pairs], s=18, color=BLUE)
            ax.set_xticks(range(len(cats)))
            ax.set_xticklabels(cats, fontsize=7)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel(metric, fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
    return _png(fig)


def curves_png(curves: dict[int, list[tuple[int, float]]], metric: str, best_number: int | None) -> str | None:
    """Learning curves: the objective per epoch, one line per trial (labelled by its number)."""
    curves = {n: c for n, c in curves.items() if len(c) >= 2}
    if not curves:
        return None
    import matplotlib

    fig = _figure(8, 3.8)
    ax = fig.add_subplot(1, 1, 1)
    cmap = matplotlib.colormaps["tab20"]
    for i, (number, points) in enumerate(sorted(curves.items())):
        width, color = (3, GREEN) if number == best_number else (1.2, cmap(i % 20))
        ax.plot([p[0] + 1 for p in points], [p[1] for p in points], marker="o", markersize=2.5,
                linewidth=width, color=color, label=f"trial {number}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.grid(True, alpha=0.3)
    if len(curves) <= 20:
        ax.legend(loc="best", fontsize=7, ncol=2)
    return _png(fig)


__all__ = ["best_so_far", "curves_png", "history_png", "importance_png", "importances", "parallel_png",
           "scored", "slices_png"]
