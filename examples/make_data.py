"""Regenerate the demo data shipped in examples/data/ (no download: scikit-learn bundles digits).

    python examples/make_data.py            # writes digits.csv, digits.npz, housing.csv

Every file is deterministic (seeded), so rerunning it reproduces the committed bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def write_digits_csv(path: Path) -> None:
    """64 integer pixel columns p0..p63 (0..16) plus an integer ``target`` (0..9)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.data.astype(np.int64)
    y = digits.target.astype(np.int64)
    header = ",".join([f"p{i}" for i in range(x.shape[1])] + ["target"])
    rows = np.column_stack([x, y])
    np.savetxt(path, rows, fmt="%d", delimiter=",", header=header, comments="")


def write_digits_npz(path: Path) -> None:
    """Images for the CNN: ``x`` (n, 8, 8, 1) float32 in [0, 1], ``y`` int64."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[..., None]
    y = digits.target.astype(np.int64)
    np.savez_compressed(path, x=x, y=y)


def write_housing_csv(path: Path, n: int = 1000, seed: int = 7) -> None:
    """Synthetic regression table: 6 numeric features, a smooth nonlinear ``price`` plus noise."""
    rng = np.random.default_rng(seed)
    rooms = rng.uniform(1, 8, n)
    age = rng.uniform(0, 100, n)
    distance = rng.exponential(5.0, n)
    income = rng.lognormal(1.0, 0.4, n)
    crime = rng.gamma(1.5, 1.0, n)
    lat = rng.uniform(-1, 1, n)
    price = (
        50.0
        + 12.0 * np.log1p(rooms) * income
        - 0.15 * age
        - 8.0 * np.sqrt(distance)
        - 4.0 * crime
        + 10.0 * np.sin(np.pi * lat)
        + rng.normal(0, 3.0, n)
    )
    cols = {
        "rooms": rooms,
        "age": age,
        "distance": distance,
        "income": income,
        "crime": crime,
        "lat": lat,
        "price": price,
    }
    header = ",".join(cols)
    table = np.column_stack(list(cols.values()))
    np.savetxt(path, table, fmt="%.4f", delimiter=",", header=header, comments="")


def main() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    write_digits_csv(DATA / "digits.csv")
    write_digits_npz(DATA / "digits.npz")
    write_housing_csv(DATA / "housing.csv")
    for p in sorted(DATA.iterdir()):
        print(f"{p.relative_to(HERE.parent)}  {p.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
