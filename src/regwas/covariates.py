"""Covariate design matrices shared by confounder removal, GWAS and PheWAS.

Numeric columns enter as they are; text columns (site, batch) are one-hot encoded with the
first level dropped; an intercept column comes first. Rows with a missing value in any
requested column are reported (or dropped, when the caller allows it).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from regwas.errors import InputError


def raw_table_hint(table: pd.DataFrame, missing: list[str]) -> str:
    """A hint for a missing-columns error when ``table`` looks like the raw samples table (the
    cohort stage adds ``sex_male`` and the genetic PCs ``PC1..``): empty otherwise."""
    wants = [c for c in missing if c == "sex_male" or re.fullmatch(r"PC\d+", str(c))]
    has = [c for c in table.columns if re.fullmatch(r"PC\d+", str(c))]
    if not wants or has:
        return ""
    return (
        "; this looks like the raw samples table (no genetic PC columns): run `regwas "
        "cohort` first and pass its samples.tsv"
    )


def design_matrix(
    table: pd.DataFrame,
    columns: list[str],
    *,
    source: str = "covariates",
    intercept: bool = True,
    allow_missing: bool = False,
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Build a float64 design matrix from ``columns`` of ``table``.

    Returns (X, names, complete) where ``complete`` flags rows without missing values.
    With ``allow_missing=False`` a missing value raises InputError naming the column and
    the first sample ids (``table`` should carry a sample_id column or index).
    Constant columns (after one-hot) are dropped: they are collinear with the intercept.
    """
    path = table.attrs.get("path")  # the file read_tsv read the table from, when known
    source = f"{path} ({source})" if path and path not in source else source
    missing_cols = [c for c in columns if c not in table.columns]
    if missing_cols:
        raise InputError(
            f"{source}: no column(s) {missing_cols}; available: {list(table.columns)[:20]}"
            + raw_table_hint(table, missing_cols)
        )
    ids = table["sample_id"].astype(str).to_numpy() if "sample_id" in table else table.index
    parts: list[np.ndarray] = []
    names: list[str] = []
    complete = np.ones(len(table), dtype=bool)
    for col in columns:
        values = table[col]
        na = values.isna().to_numpy()
        if na.any() and not allow_missing:
            examples = ", ".join(map(str, np.asarray(ids)[na][:5]))
            raise InputError(
                f"{source}: column '{col}' has {int(na.sum())} missing values (samples: {examples})"
            )
        complete &= ~na
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            parts.append(values.to_numpy(dtype=np.float64, na_value=np.nan)[:, None])
            names.append(col)
        else:
            levels = sorted(values.dropna().astype(str).unique())
            for level in levels[1:]:
                dummy = (values.astype(str) == level).to_numpy(dtype=np.float64)
                dummy[na] = np.nan
                parts.append(dummy[:, None])
                names.append(f"{col}[{level}]")
    X = np.hstack(parts) if parts else np.empty((len(table), 0))
    keep = []
    for j in range(X.shape[1]):
        col = X[complete, j]
        keep.append(col.size > 0 and np.nanmax(col) > np.nanmin(col))
    X = X[:, keep]
    names = [n for n, k in zip(names, keep, strict=True) if k]
    if intercept:
        X = np.hstack([np.ones((len(table), 1)), X])
        names = ["intercept", *names]
    return X, names, complete


def residualise(Y: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Residuals of the columns of Y after least squares on X (float64, via a thin QR of X)."""
    Q, _ = np.linalg.qr(np.asarray(X, dtype=np.float64))
    Y = np.asarray(Y, dtype=np.float64)
    return Y - Q @ (Q.T @ Y)
