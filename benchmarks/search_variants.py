"""Variants of kftune's search, each measured against the default on the same problems and instances.

A variant replaces one piece of :mod:`kftune.search.gp` in the worker processes only (the library is
not touched): the output transform the GP is fitted on, or its kernel. Each is read two ways:

* head to head with the default, paired per run (same problem, instance and budget): runs better /
  worse and the mean log10 regret ratio with a 95% bootstrap interval (below 0: the variant is better);
* against the peers' cached runs (benchmarks/results/search_runs.jsonl) by the search report's rules:
  won / tied / lost against the best peer, cells worse than 2x, cells *worse* paired by instance.

    python benchmarks/search_variants.py                      # every variant, BBOB d=2, 10 instances, 25 trials
    python benchmarks/search_variants.py --variants default,vizier --problems bbob_f06_d02,bbob_f10_d02

The transforms act where the default's short-scale path does (one or two numbers, at most 12 trials
per parameter: ``oracle._narrow_numeric``), in place of its Yeo-Johnson warp. Runs are cached in
benchmarks/results/search_variants.jsonl under kftune's version hash, so a change to the library
invalidates them.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
from pathlib import Path

import numpy as np
from scipy import stats

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import search_quality  # noqa: E402  (puts src/ on the path)
from _search_report import FLOOR, cells, compare, paired_verdict, summarize  # noqa: E402

CACHE = HERE / "results" / "search_variants.jsonl"
PEERS_CACHE = HERE / "results" / "search_runs.jsonl"
D2 = [f"bbob_f{f:02d}_d02" for f in range(1, 25)]


# --------------------------------------------------------------------------------------------------
# output transforms (scores to minimise -> standardized values the GP is fitted on)
# --------------------------------------------------------------------------------------------------
def _standardize(z: np.ndarray) -> np.ndarray:
    sd = z.std()
    return (z - z.mean()) / (sd if sd > 0 else 1.0)


def copula(y: np.ndarray) -> np.ndarray:
    """Ranks through the normal quantile function (the Gaussian copula of Salinas et al., 2020):
    no outlier can compress the others, but how much better the best is gets lost."""
    return _standardize(stats.norm.ppf((stats.rankdata(y) - 0.5) / len(y)))


def half_rank(y: np.ndarray, log_warp: bool = False) -> np.ndarray:
    """Google Vizier's default output warping, for minimisation (its ``HalfRankComponent`` and, with
    ``log_warp``, its ``LogWarperComponent`` with offset 1.5; vizier/_src/algorithms/designers/gp/
    output_warpers.py): the worse half is replaced by normal quantiles of its ranks at the spread of
    the better half, which keeps its values; the log warp then stretches the differences near the best."""
    lab = -np.asarray(y, dtype=float)  # Vizier maximises
    med = float(np.median(lab))
    uniq = np.unique(lab)
    ranks = stats.rankdata(lab, method="dense")
    idx = int(uniq.searchsorted(med, "left"))
    denominator = idx + 0.5 * (uniq[idx] == med)
    good = uniq[uniq >= med]
    sd = float(np.sqrt(((good - med) ** 2).mean()))
    if not sd > 0:
        sd = float(np.sqrt(((uniq - med) ** 2).mean()))
    low = lab < med
    lab[low] = med + sd * stats.norm.ppf(0.5 * (ranks[low] - 0.5) / denominator)
    if log_warp and np.ptp(lab) > 0:
        lab = 0.5 - np.log1p((lab.max() - lab) / np.ptp(lab) * 0.5) / np.log(1.5)
    return _standardize(-lab)


def loo_rank(gp) -> float:
    """Spearman correlation between a fitted GP's leave-one-out means and its observations (closed
    form: mu_-i = y_i - [K^-1 y]_i / [K^-1]_ii). Rank-based, so comparable across output transforms."""
    from scipy.linalg import cho_solve

    kinv = cho_solve((gp.chol, True), np.eye(len(gp.y)), check_finite=False)
    loo = gp.y - (kinv @ gp.y) / np.diag(kinv)
    return float(stats.spearmanr(loo, gp.y)[0])


# --------------------------------------------------------------------------------------------------
# variants: name -> (what it changes, patch applied in a worker before its runs)
# --------------------------------------------------------------------------------------------------
def _narrow_transform(transform, skewed_only: bool = False):
    """Patch the oracle's output normalisation: ``transform`` where the default would use its narrow
    (short-scale) Yeo-Johnson warp."""
    def patch():
        import kftune.search.gp.model as model
        import kftune.search.gp.oracle as oracle

        default = model.normalize_outputs

        def normalize(y, warp=False, blown_up_as_distances=True):
            y = np.asarray(y, dtype=float)
            if warp and not blown_up_as_distances and len(y) >= 3 and np.ptp(y) > 0:
                if not skewed_only or abs(float(stats.skew(y))) > 1.0:
                    return transform(y)
            return default(y, warp=warp, blown_up_as_distances=blown_up_as_distances)

        oracle.normalize_outputs = normalize
    return patch


def _narrow_default(**overrides):
    """The default warp with its flags changed on the narrow path (``overrides``: name -> f(n_obs))."""
    def patch():
        import kftune.search.gp.model as model
        import kftune.search.gp.oracle as oracle

        default = model.normalize_outputs

        def normalize(y, warp=False, blown_up_as_distances=True):
            flags = {"warp": warp, "blown_up_as_distances": blown_up_as_distances}
            if warp and not blown_up_as_distances:
                flags.update({k: f(len(y)) for k, f in overrides.items()})
            return default(y, **flags)

        oracle.normalize_outputs = normalize
    return patch


def _loo_choice(alternative):
    """On the narrow path, fit the GP to the default's warp and to ``alternative`` and keep the fit
    whose leave-one-out means rank the trials better (:func:`loo_rank`); from 6 trials on."""
    def patch():
        import kftune.search.gp.model as model
        import kftune.search.gp.oracle as oracle

        def surrogate(self, space, obs_values, y, pending_values):
            x_obs = space.encode_values(obs_values)
            keep = np.isfinite(y)
            x_obs, y = x_obs[keep], y[keep]
            narrow = oracle._narrow_numeric(space) and len(y) <= 12 * len(space.params)
            ys = model.normalize_outputs(y, warp=oracle._numeric(space), blown_up_as_distances=not narrow)
            if oracle._wide_numeric(space):
                ys = model.pessimistic_prior(ys)
            gp = model.GP(x_obs, ys, short_scales=narrow)
            theta = gp.fit_warm(self._gp_theta)
            if narrow and len(y) >= 6 and np.ptp(y) > 0:
                ys2 = alternative(y)
                gp2 = model.GP(x_obs, ys2, short_scales=narrow)
                theta2 = gp2.fit_warm(self._gp_theta)
                if loo_rank(gp2) > loo_rank(gp) + 1e-9:
                    gp, ys, theta = gp2, ys2, theta2
            self._gp_theta = [float(t) for t in theta]
            if pending_values:
                gp.condition_on(space.encode_values(pending_values))
            acq = oracle.Acquisition(gp, float(ys.min()), self.acquisition, self.beta)
            return acq, space.raw_from_values(obs_values)[keep], ys

        oracle.GPOracle._surrogate = surrogate
    return patch


def _rbf_kernel():
    """A squared-exponential kernel (BoTorch's default since 0.12) instead of Matern-5/2."""
    def patch():
        import kftune.search.gp.model as model

        def parts(self, a, b, ls):
            sa, sb = a / ls, b / ls
            r2 = np.maximum((sa**2).sum(1)[:, None] + (sb**2).sum(1)[None, :] - 2.0 * sa @ sb.T, 0.0)
            k = np.exp(-0.5 * r2)
            return k, k  # (kernel, -2 dk/d(r^2)): what the gradients use

        model.GP._kernel_parts = parts
    return patch


VARIANTS = {
    "default": ("the library as it is", lambda: None),
    "no_warp": ("standardize only", _narrow_default(warp=lambda n: False)),
    "log_distance": ("the log-distance warp for blown-up scores kept on", _narrow_default(blown_up_as_distances=lambda n: True)),
    "alternate": ("the log-distance warp on every other trial (a hedge)",
                  _narrow_default(blown_up_as_distances=lambda n: n % 2 == 0)),
    "copula": ("Gaussian copula of the ranks", _narrow_transform(copula)),
    "vizier": ("Vizier's half-rank + log warp", _narrow_transform(lambda y: half_rank(y, log_warp=True))),
    "half_rank": ("Vizier's half-rank warp alone", _narrow_transform(half_rank)),
    "half_rank_skewed": ("half-rank where the skewness exceeds 1 (as the default warps)", _narrow_transform(half_rank, True)),
    "loo_vizier": ("default or Vizier's warp, by leave-one-out rank", _loo_choice(lambda y: half_rank(y, log_warp=True))),
    "loo_standardize": ("default or standardize only, by leave-one-out rank", _loo_choice(_standardize)),
    "rbf": ("squared-exponential kernel", _rbf_kernel()),
}


# --------------------------------------------------------------------------------------------------
# runs
# --------------------------------------------------------------------------------------------------
_VARIANT = None


def _init(name: str) -> None:
    global _VARIANT
    search_quality._worker_init()
    VARIANTS[name][1]()
    _VARIANT = name


def _run(job: tuple) -> dict:
    problem, seed, trials, version = job
    run = search_quality.run_search(("kftune_gp", problem, seed, trials, version))
    return {"variant": _VARIANT, "problem": problem, "seed": seed, "max_trials": trials,
            "regret": run["regret"], "duplicates": run["duplicates"], "version": version}


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open()] if path.exists() else []


def run_variants(names, problems, seeds, trials, jobs, cache: Path) -> list[dict]:
    version = search_quality.method_version("kftune_gp")
    runs = [r for r in load(cache) if r["version"] == version]
    done = {(r["variant"], r["problem"], r["seed"], r["max_trials"]) for r in runs}
    for name in names:
        todo = [(p, s, trials, version) for p in problems for s in seeds if (name, p, s, trials) not in done]
        if not todo:
            continue
        print(f"{name}: {len(todo)} runs", file=sys.stderr)
        with mp.get_context("fork").Pool(jobs, initializer=_init, initargs=(name,)) as pool, cache.open("a") as f:
            for run in pool.imap_unordered(_run, todo):
                f.write(json.dumps(run) + "\n")
                f.flush()
                runs.append(run)
    return runs


# --------------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------------
def head_to_head(ours: dict, base: dict, draws: int = 2000, seed: int = 0) -> tuple[int, int, float, float, float]:
    """(runs better, runs worse, mean log10 ratio, its 95% bootstrap interval) over the common keys."""
    keys = sorted(set(ours) & set(base))
    d = np.log10(np.maximum([ours[k] for k in keys], FLOOR)) - np.log10(np.maximum([base[k] for k in keys], FLOOR))
    means = np.random.default_rng(seed).choice(d, size=(draws, len(d))).mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return int((d < 0).sum()), int((d > 0).sum()), float(d.mean()), float(lo), float(hi)


def read(runs: list[dict], names, problems, seeds, trials) -> list[dict]:
    peers = [r for r in load(PEERS_CACHE) if r["problem"] in problems and r["seed"] in seeds
             and r["method"] in ("optuna_gp", "optuna_tpe", "botorch")]
    final = {}
    for r in runs:
        if r["max_trials"] == trials and r["problem"] in problems and r["seed"] in seeds:
            final.setdefault(r["variant"], {})[(r["problem"], r["seed"])] = r
    rows = []
    for name in names:
        mine = final.get(name, {})
        if not mine:
            continue
        summary = summarize([dict(r, method="kftune_gp") for r in mine.values()] + peers)
        entries = [e for e in cells(summary, problems) if e["k"] == trials]
        regret = {k: r["regret"][-1] for k, r in mine.items()}
        base = {k: r["regret"][-1] for k, r in final.get("default", {}).items()}
        better, worse, mean, lo, hi = head_to_head(regret, base) if base else (0, 0, 0.0, 0.0, 0.0)
        medians = {p: float(np.median([v for (q, _), v in regret.items() if q == p])) for p in problems}
        base_medians = {p: float(np.median([v for (q, _), v in base.items() if q == p])) for p in problems}
        rows.append({
            "variant": name, "what": VARIANTS[name][0], "runs": len(mine),
            "won": sum(e["result"] == "won" for e in entries), "tied": sum(e["result"] == "tied" for e in entries),
            "lost": sum(e["result"] == "lost" for e in entries),
            "over2x": [e["problem"] for e in entries if not e["within2x"]],
            "paired_worse": [e["problem"] for e in entries if paired_verdict(summary, e) == "worse"],
            "better": better, "worse": worse, "mean": mean, "lo": lo, "hi": hi,
            "cells_won": sum(compare(medians[p], base_medians[p]) == "won" for p in problems if base),
            "cells_lost": sum(compare(medians[p], base_medians[p]) == "lost" for p in problems if base),
            "medians": medians,
        })
    return rows


def _short(names: list[str]) -> str:
    return ", ".join(n.replace("bbob_", "").replace("_d0", " d=") for n in names) or "none"


def markdown(rows: list[dict], show: list[str]) -> str:
    head = ("| variant | vs best peer | worse than 2x | paired worse | runs better / worse than default | "
            "mean log10 ratio [95%] | " + " | ".join(_short([p]) for p in show) + " |")
    out = [head, "|" + "---|" * (6 + len(show))]
    for r in rows:
        out.append(
            f"| {r['variant']}: {r['what']} | {r['won']} / {r['tied']} / {r['lost']} | {_short(r['over2x'])} | "
            f"{_short(r['paired_worse'])} | {r['better']} / {r['worse']} | {r['mean']:+.3f} [{r['lo']:+.3f}, "
            f"{r['hi']:+.3f}] | " + " | ".join(f"{r['medians'][p]:.3g}" for p in show) + " |")
    return "\n".join(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--problems", default="bbob-d2", help="comma-separated problem names, or bbob-d2")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", type=int, default=25)
    ap.add_argument("--jobs", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--show", default="bbob_f06_d02,bbob_f07_d02,bbob_f10_d02,bbob_f11_d02,bbob_f17_d02",
                    help="problems whose median regret gets a column")
    args = ap.parse_args(argv)
    names = [n for n in args.variants.split(",") if n]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"--variants: unknown {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    if "default" not in names:
        names.insert(0, "default")
    problems = D2 if args.problems == "bbob-d2" else args.problems.split(",")
    seeds = list(range(1, args.seeds + 1))
    runs = run_variants(names, problems, seeds, args.trials, args.jobs, args.cache)
    show = [p for p in args.show.split(",") if p in problems]
    print(markdown(read(runs, names, problems, seeds, args.trials), show))


if __name__ == "__main__":
    main()
