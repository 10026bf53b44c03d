"""Genomic inflation (lambda GC) from -log10 p, exact for p below 1e-308."""

from __future__ import annotations

import logging

import numpy as np
from scipy import special

log = logging.getLogger(__name__)


LN10 = np.log(10.0)
CHI2_1DF_MEDIAN = 0.454936423119572  # scipy.stats.chi2.ppf(0.5, 1)


def lambda_gc(neg_log10_p) -> float:
    """Genomic inflation: median 1-df chi-square quantile of the p-values / 0.4549.

    Quantiles come from log p (chi2_1 isf(p) = ndtri(p/2)^2 evaluated with ndtri_exp), so
    p-values below 1e-308 are handled; p-values of any df are mapped to 1-df quantiles.
    Used by the GWAS merge, the plots and the comparison alike.
    """
    x = np.asarray(neg_log10_p, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan")
    log_half_p = -x * LN10 - np.log(2.0)
    chi2 = special.ndtri_exp(np.minimum(log_half_p, np.log(0.5))) ** 2
    return float(np.median(chi2) / CHI2_1DF_MEDIAN)
