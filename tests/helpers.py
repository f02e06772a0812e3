"""Small builders shared by tests (real files, real services)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def write_csv(path: Path, rows: int = 200, seed: int = 0) -> Path:
    """A small mixed table: numeric, categorical, a target, some missing values."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows),
            "income": rng.lognormal(10, 1, rows).round(2),
            "city": rng.choice(["Paris", "Lyon", "Nice"], rows),
            "sex": rng.choice(["female", "male"], rows),
            "churn": rng.choice(["yes", "no"], rows, p=[0.3, 0.7]),
        }
    )
    df.loc[df.sample(frac=0.1, random_state=seed).index, "income"] = np.nan
    df.to_csv(path, index=False)
    return path


def write_big_parquet_csv(path: Path, rows: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(12)})
    df["cat"] = rng.choice([f"c{i}" for i in range(50)], rows)
    df.to_csv(path, index=False)
    return path
