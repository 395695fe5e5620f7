"""The search space as arrays: what the GP sees and what the acquisition optimiser moves.

Each tunable parameter gets one "raw" column in [0, 1] (what sampling and perturbation act on) and
one or more encoded columns (what the GP's kernel measures): a number in [0, 1] in its own scale
(log / reverse_log), a ``Choice`` one-hot (unordered: no fake distance between "relu" and "gelu"),
a ``Boolean`` 0/1; ``Fixed`` takes no column. Raw values are snapped to legal values (``Int``,
``step``) before encoding, so two raw points that mean the same configuration encode identically
and :func:`row_key` can tell an already evaluated configuration from a new one. Conditions are
evaluated on whole batches with keras-tuner's parent rule; an inactive parameter is encoded at its
default so that it does not change the distance between configurations.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from keras_tuner.engine import hyperparameters as hp_module

ENUMERATE_MAX = 4096  # finite spaces up to this size are enumerated exhaustively


class Param:
    """One tunable hyperparameter: how to map raw u in [0, 1] to a value and to GP columns."""

    def __init__(self, hp: Any, col: int):
        self.hp = hp
        self.col = col
        if isinstance(hp, hp_module.Choice):
            self.kind = "choice"
            self.k = len(hp.values)
            self.width = self.k
            self.default_code = float(hp.values.index(hp.default))
        elif isinstance(hp, hp_module.Boolean):
            self.kind = "bool"
            self.width = 1
            self.default_code = 1.0 if hp.default else 0.0
        else:  # Int / Float
            self.kind = "num"
            self.width = 1
            self.lo, self.hi = float(hp.min_value), float(hp.max_value)
            self.sampling = hp.sampling or "linear"
            self.is_int = isinstance(hp, hp_module.Int)
            self.step = float(hp.step) if hp.step is not None else None
            self.n_values = None
            if self.step is not None:
                if self.sampling == "linear":
                    self.n_values = int((self.hi - self.lo) // self.step + 1)
                else:
                    self.n_values = int(math.log(self.hi / self.lo, self.step) + 1e-8) + 1
            elif self.is_int:
                self.n_values = int(self.hi - self.lo + 1)
            self.default_code = float(self.encode(np.array([float(hp.default)]))[0])

    @property
    def continuous(self) -> bool:
        return self.kind == "num" and self.n_values is None

    def cardinality(self) -> float:
        if self.kind == "choice":
            return self.k
        if self.kind == "bool":
            return 2
        return self.n_values if self.n_values is not None else math.inf

    # numeric scale ---------------------------------------------------------------------------------
    def encode(self, v: np.ndarray) -> np.ndarray:
        lo, hi = self.lo, self.hi
        if hi <= lo:
            return np.full_like(v, 0.5, dtype=float)
        if self.sampling == "log":
            u = np.log(np.maximum(v, lo) / lo) / math.log(hi / lo)
        elif self.sampling == "reverse_log":
            u = 1.0 - np.log(np.maximum(hi + lo - v, lo) / lo) / math.log(hi / lo)
        else:
            u = (v - lo) / (hi - lo)
        return np.clip(u, 0.0, 1.0)

    def decode(self, u: np.ndarray) -> np.ndarray:
        """Raw u -> snapped value (float array)."""
        lo, hi = self.lo, self.hi
        u = np.clip(u, 0.0, 1.0)
        if hi <= lo:
            return np.full_like(u, lo, dtype=float)
        if self.sampling == "log":
            v = lo * (hi / lo) ** u
        elif self.sampling == "reverse_log":
            v = hi + lo - lo * (hi / lo) ** (1.0 - u)
        else:
            v = lo + u * (hi - lo)
        if self.step is not None:
            n = self.n_values
            if self.sampling == "linear":
                idx = np.clip(np.round((v - lo) / self.step), 0, n - 1)
                v = np.round(lo + idx * self.step, 12)  # 0.30000000000000004 -> 0.3
            elif self.sampling == "log":
                idx = np.clip(np.round(np.log(v / lo) / math.log(self.step)), 0, n - 1)
                v = lo * self.step**idx
            else:
                idx = np.clip(np.round(np.log((hi + lo - v) / lo) / math.log(self.step)), 0, n - 1)
                v = hi + lo - lo * self.step**idx
        if self.is_int:
            v = np.round(v)
        return np.clip(v, lo, hi)

    def grid_raw(self) -> np.ndarray:
        """Raw codes of every value of a finite parameter (for exhaustive enumeration)."""
        if self.kind == "choice":
            return (np.arange(self.k) + 0.5) / self.k
        if self.kind == "bool":
            return np.array([0.25, 0.75])
        values = [float(x) for x in self.hp.values] if self.step is not None else None
        if values is None:
            values = np.arange(self.lo, self.hi + 1.0)
        return self.encode(np.asarray(values, dtype=float))

    # per-kind codes -----------------------------------------------------------------------------------
    def raw_to_code(self, u: np.ndarray) -> np.ndarray:
        """Raw u -> code: choice index, 0/1, or snapped numeric value."""
        if self.kind == "choice":
            return np.minimum(np.floor(np.clip(u, 0, 1) * self.k), self.k - 1)
        if self.kind == "bool":
            return (u >= 0.5).astype(float)
        return self.decode(u)

    def code_to_raw(self, c: np.ndarray) -> np.ndarray:
        if self.kind == "choice":
            return (c + 0.5) / self.k
        if self.kind == "bool":
            return np.where(c > 0.5, 0.75, 0.25)
        return self.encode(c)

    def value_to_code(self, value: Any) -> float | None:
        try:
            if self.kind == "choice":
                return float(self.hp.values.index(value))
            if self.kind == "bool":
                return 1.0 if bool(value) else 0.0
            return float(self.decode(self.encode(np.array([float(value)])))[0])
        except (ValueError, TypeError):
            return None

    def code_to_value(self, c: float) -> Any:
        if self.kind == "choice":
            return self.hp.values[int(c)]
        if self.kind == "bool":
            return bool(c > 0.5)
        return int(round(c)) if self.is_int else float(c)

    def fill_columns(self, out: np.ndarray, codes: np.ndarray, active: np.ndarray) -> None:
        c = np.where(active, codes, self.default_code)
        if self.kind == "choice":
            out[:, self.col : self.col + self.k] = 0.0
            out[np.arange(len(c)), self.col + c.astype(int)] = 1.0
        elif self.kind == "bool":
            out[:, self.col] = c
        else:
            out[:, self.col] = self.encode(c)


class Space:
    """Vectorized view of a keras-tuner search space (conditions evaluated on whole batches)."""

    def __init__(self, hyperparameters: hp_module.HyperParameters):
        self.entries: list[tuple[Any, Param | None]] = []  # space order, Fixed -> None
        self.params: list[Param] = []
        col = 0
        for hp in hyperparameters.space:
            if isinstance(hp, hp_module.Fixed):
                self.entries.append((hp, None))
                continue
            p = Param(hp, col)
            col += p.width
            self.params.append(p)
            self.entries.append((hp, p))
        self.dim = col
        self.num_cols = np.array([p.col for p in self.params if p.kind == "num"], dtype=int)

    def cardinality(self) -> float:
        return float(np.prod([p.cardinality() for p in self.params])) if self.params else 1.0

    @property
    def finite(self) -> bool:
        """Small enough to enumerate: exhaustion is then detectable and every point reachable."""
        return self.cardinality() <= ENUMERATE_MAX

    def _activity(self, codes: np.ndarray) -> np.ndarray:
        """Active mask (m, P) from per-parameter codes (m, P), following keras-tuner's Parent rule."""
        m = codes.shape[0]
        active = np.zeros((m, len(self.params)), dtype=bool)
        seen: dict[str, list[tuple[Any, np.ndarray | None, np.ndarray]]] = {}
        pi = 0
        for hp, p in self.entries:
            act = np.ones(m, dtype=bool)
            for cond in hp.conditions:
                ok = np.zeros(m, dtype=bool)
                for parent_hp, pcodes, pact in seen.get(cond.name, []):
                    ok |= pact & _matches(parent_hp, pcodes, cond.values, m)
                act &= ok
            if p is not None:
                active[:, pi] = act
                seen.setdefault(hp.name, []).append((hp, codes[:, pi], act))
                pi += 1
            else:
                seen.setdefault(hp.name, []).append((hp, None, act))
        return active

    def from_raw(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw batch (m, P) -> (codes, active, encoded X (m, dim)), snapped to legal values."""
        codes = np.empty_like(raw)
        for j, p in enumerate(self.params):
            codes[:, j] = p.raw_to_code(raw[:, j])
        active = self._activity(codes)
        return codes, active, self.encode_codes(codes, active)

    def encode_codes(self, codes: np.ndarray, active: np.ndarray) -> np.ndarray:
        x = np.zeros((codes.shape[0], self.dim))
        for j, p in enumerate(self.params):
            p.fill_columns(x, codes[:, j], active[:, j])
        return x

    def codes_from_values(self, values_list: list[dict]) -> np.ndarray:
        codes = np.empty((len(values_list), len(self.params)))
        for j, p in enumerate(self.params):
            name = p.hp.name
            if p.kind == "num":
                col = np.array([_as_float(v.get(name)) for v in values_list], dtype=float)
                bad = ~np.isfinite(col)
                col[bad] = float(p.hp.default)
                codes[:, j] = p.decode(p.encode(col))
            else:
                for i, values in enumerate(values_list):
                    c = p.value_to_code(values[name]) if name in values else None
                    codes[i, j] = p.default_code if c is None else c
        return codes

    def encode_values(self, values_list: list[dict]) -> np.ndarray:
        codes = self.codes_from_values(values_list)
        return self.encode_codes(codes, self._activity(codes))

    def raw_from_values(self, values_list: list[dict]) -> np.ndarray:
        codes = self.codes_from_values(values_list)
        raw = np.empty_like(codes)
        for j, p in enumerate(self.params):
            raw[:, j] = p.code_to_raw(codes[:, j])
        return raw

    def values_of(self, codes: np.ndarray, active: np.ndarray) -> dict:
        """One row of codes -> keras-tuner values dict (only active parameters, Fixed included)."""
        values: dict[str, Any] = {}
        hps = hp_module.HyperParameters()
        pi = 0
        for hp, p in self.entries:
            hps.merge([hp])
            if p is None:
                if hps.is_active(hp):
                    values[hp.name] = hp.value
                    hps.values[hp.name] = hp.value
                continue
            if active[pi]:
                values[hp.name] = p.code_to_value(codes[pi])
                hps.values[hp.name] = values[hp.name]
            pi += 1
        return values

    def enumerate_raw(self) -> np.ndarray:
        grids = [p.grid_raw() for p in self.params]
        mesh = np.meshgrid(*grids, indexing="ij")
        return np.stack([g.ravel() for g in mesh], axis=1)

    def discrete_mask(self) -> np.ndarray:
        """Which raw columns take finitely many values (they move by jumps, not small steps)."""
        return np.array([not p.continuous for p in self.params], dtype=bool)


def _matches(parent_hp: Any, pcodes: np.ndarray | None, allowed: list, m: int) -> np.ndarray:
    if pcodes is None:  # Fixed parent
        return np.full(m, parent_hp.value in allowed)
    if isinstance(parent_hp, hp_module.Choice):
        idx = [i for i, v in enumerate(parent_hp.values) if v in allowed]
        return np.isin(pcodes, idx)
    if isinstance(parent_hp, hp_module.Boolean):
        return np.isin(pcodes > 0.5, [bool(v) for v in allowed])
    return np.isin(pcodes, np.asarray(allowed, dtype=float))


def row_key(x: np.ndarray) -> bytes:
    """Identity of an encoded configuration (rounded, so float noise cannot make a duplicate new)."""
    return np.round(x, 9).tobytes()


def row_keys(x: np.ndarray) -> list[bytes]:
    """:func:`row_key` of every row of ``x`` (one rounding for the whole matrix)."""
    return [row.tobytes() for row in np.round(x, 9)]


def _as_float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan
