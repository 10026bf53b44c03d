"""p-values of the MANOVA tests on the log scale: the regularised incomplete beta by a
continued fraction where scipy underflows, so neg_log10_p stays exact for tiny p."""

from __future__ import annotations

import logging

import numpy as np
from scipy import special

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- p-values


LN10 = np.log(10.0)


def _log_betainc_cf(a: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """log I_x(a, b) by the continued fraction (modified Lentz), valid for x < (a+1)/(a+b+2)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones_like(x)
    dd = 1.0 - qab * x / qap
    dd = np.where(np.abs(dd) < tiny, tiny, dd)
    dd = 1.0 / dd
    h = dd.copy()
    done = np.zeros(x.shape, dtype=bool)
    for m in range(1, 100_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        dd = 1.0 + aa * dd
        dd = np.where(np.abs(dd) < tiny, tiny, dd)
        c = 1.0 + aa / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        dd = 1.0 / dd
        h = np.where(done, h, h * dd * c)
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        dd = 1.0 + aa * dd
        dd = np.where(np.abs(dd) < tiny, tiny, dd)
        c = 1.0 + aa / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        dd = 1.0 / dd
        delta = dd * c
        h = np.where(done, h, h * delta)
        done |= np.abs(delta - 1.0) < 1e-16
        if done.all():
            break
    log_front = a * np.log(x) + b * np.log1p(-x) - special.betaln(a, b) - np.log(a)
    return log_front + np.log(h)


def log_betainc(a: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Natural log of the regularised incomplete beta I_x(a, b), finite even below 1e-308.

    scipy.special.betainc where its value is comfortably representable; the continued
    fraction with a log-space prefactor where it would underflow (the far tail of a GWAS).
    """
    a, b, x = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (a, b, x)))
    a, b, x = a.copy(), b.copy(), x.copy()
    out = np.full(x.shape, np.nan)
    p = special.betainc(a, b, np.clip(x, 0.0, 1.0))
    ok = p > 1e-280
    with np.errstate(divide="ignore"):
        out[ok] = np.log(p[ok])
    out[x <= 0] = -np.inf
    tail = ~ok & (x > 0) & np.isfinite(x)
    if tail.any():
        # in the far tail x < (a+1)/(a+b+2) always holds (the mode of the beta lies above x)
        out[tail] = _log_betainc_cf(a[tail], b[tail], x[tail])
    return out


def pillai_pvalues(
    pillai: np.ndarray, s: int, df1: np.ndarray | float, df2: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(F, p, -log10 p) of Pillai's trace with statsmodels' F approximation (exact for s=1)."""
    pillai = np.asarray(pillai, dtype=np.float64)
    df1 = np.broadcast_to(np.asarray(df1, dtype=np.float64), pillai.shape)
    df2 = np.broadcast_to(np.asarray(df2, dtype=np.float64), pillai.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        f_stat = df2 / df1 * pillai / (s - pillai)
        x = np.clip(1.0 - pillai / s, 0.0, 1.0)
    logp = log_betainc(df2 / 2.0, df1 / 2.0, x)
    logp = np.minimum(logp, 0.0)
    return f_stat, np.exp(logp), -logp / LN10
