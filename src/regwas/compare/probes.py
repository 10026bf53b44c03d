"""Paired fold-by-fold comparison of probe results between a registered space and native."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats

from regwas.errors import InputError

log = logging.getLogger(__name__)


def fold_values(df: pd.DataFrame) -> np.ndarray:
    """The fold_1..fold_k columns of a probes table as an array (rows x k)."""
    cols = sorted(
        (c for c in df.columns if c.startswith("fold_") and c[5:].isdigit()),
        key=lambda c: int(c[5:]),
    )
    return df[cols].to_numpy(dtype=np.float64)


def compare_probes(native: pd.DataFrame, registered: pd.DataFrame) -> pd.DataFrame:
    """Paired fold-by-fold comparison of a registered space against native, per phenotype.

    Both tables must come from the same folds (same seed, same people): their folds_digest
    must match, else InputError. Reports the mean difference (registered - native), the paired
    t-test p (scipy.stats.ttest_rel; optimistic, folds share training data) and the
    Nadeau-Bengio corrected resampled t-test p (variance x (1/k + 1/(k-1)) k), which is the one
    to trust.
    """
    merged = native.merge(registered, on=["phenotype", "metric"], suffixes=("_native", "_reg"))
    rows = []
    for _, r in merged.iterrows():
        if r.get("folds_digest_native") != r.get("folds_digest_reg"):
            raise InputError(
                f"probes: '{r['phenotype']}' was cross-validated on different folds in the two "
                "tables (use the same seed and the same people: probe every space with "
                "--people results/{modality}/comparison_samples.tsv)"
            )
        a = fold_values(native[native["phenotype"] == r["phenotype"]])[0]
        b = fold_values(registered[registered["phenotype"] == r["phenotype"]])[0]
        k = len(a)
        diff = b - a
        t_p = stats.ttest_rel(b, a)
        sd = float(np.std(diff, ddof=1))
        mean = float(np.mean(diff))
        if sd > 0:
            t_nb = mean / (sd * np.sqrt(1 / k + 1 / (k - 1)))
            p_nb = float(2 * stats.t.sf(abs(t_nb), k - 1))
        else:
            t_nb, p_nb = np.nan, np.nan
        rows.append(
            {
                "phenotype": r["phenotype"],
                "metric": r["metric"],
                "mean_native": float(a.mean()),
                "mean_registered": float(b.mean()),
                "mean_diff": mean,
                "t_paired": float(t_p.statistic),
                "p_paired": float(t_p.pvalue),
                "t_corrected": float(t_nb),
                "p_corrected": p_nb,
                "folds": k,
            }
        )
    return pd.DataFrame(rows)
