"""QQ plots of one or several spaces with lambda GC and a Beta order-statistic 95% band."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import stats

from regwas.config.schema import defaults, section
from regwas.errors import InputError
from regwas.genetics.inflation import lambda_gc
from regwas.plots.common import (
    _grid_thin,
    _new_figure,
    _set_y_axis,
    category_colors,
    neg_log10_column,
    points,
    save_figure,
)

log = logging.getLogger(__name__)


def qq_band(
    n: int, ranks: np.ndarray | None = None, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected -log10 p and the pointwise ``level`` band of the i-th smallest of n uniform p.

    The i-th order statistic of n uniforms is Beta(i, n - i + 1); expected = -log10(i/(n+1)),
    band = -log10 of its (1±level)/2 quantiles. Returns (expected, lower, upper) in -log10
    units, where ``lower`` < expected < ``upper``.
    """
    i = np.arange(1, n + 1, dtype=np.float64) if ranks is None else np.asarray(ranks, float)
    a = (1.0 - level) / 2.0
    expected = -np.log10(i / (n + 1.0))
    p_hi = stats.beta.ppf(1.0 - a, i, n - i + 1.0)  # larger p -> smaller -log10
    p_lo = stats.beta.ppf(a, i, n - i + 1.0)
    return expected, -np.log10(p_hi), -np.log10(p_lo)


def _as_neg_log10(obj: Any, source: str) -> np.ndarray:
    if isinstance(obj, pd.DataFrame):
        y = neg_log10_column(obj, source)
    else:
        y = np.asarray(obj, dtype=np.float64)
        if np.isposinf(y).any():
            raise InputError(f"{source}: +inf in neg_log10_p; compute it in log space")
    y = y[np.isfinite(y)]
    if y.size == 0:
        raise InputError(f"{source}: no finite p-values to plot")
    return np.maximum(y, 0.0)


def _qq_series(y: np.ndarray, thr_y: float, cfg: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted observed, expected and kept ranks (1-based) after thinning the dense low end."""
    obs = -np.sort(-y)
    n = obs.size
    ranks = np.arange(1, n + 1, dtype=np.float64)
    exp_ = -np.log10(ranks / (n + 1.0))
    always = np.flatnonzero((ranks <= int(cfg["qq_keep_top"])) | (obs > thr_y))
    rest = np.setdiff1d(np.arange(n), always, assume_unique=True)
    kept = np.union1d(
        always, _grid_thin(exp_, obs, rest, int(cfg["thin_x_bins"]), int(cfg["thin_y_bins"]))
    )
    kept = np.union1d(kept, [n - 1])  # the p≈1 end anchors the band
    return obs[kept], exp_[kept], ranks[kept]


def draw_band(ax: Axes, n: int, ranks: np.ndarray, color: str = "0.6") -> None:
    expected, lower, upper = qq_band(n, ranks)
    order = np.argsort(expected)
    ax.fill_between(
        expected[order],
        lower[order],
        upper[order],
        color=color,
        alpha=0.25,
        lw=0,
        zorder=1,
        label="95% CI (null)",
    )


def qq_figure(
    gwas_or_list: Any,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    threshold: float | None = None,
    config: dict | None = None,
) -> Figure:
    """QQ plot of one or several summary statistics (tables or neg_log10_p arrays), λGC each.

    The grey band is the pointwise 95% interval of uniform order statistics (Beta(i, n-i+1))
    for the largest input.
    """
    cfg = section("plots", config)
    thr = float(threshold if threshold is not None else defaults("gwas.p_threshold"))
    thr_y = -math.log10(thr)
    items = list(gwas_or_list) if isinstance(gwas_or_list, list | tuple) else [gwas_or_list]
    if labels is None:
        labels = [f"set {k + 1}" for k in range(len(items))] if len(items) > 1 else [""]
    labels = list(labels)
    if len(labels) != len(items):
        raise InputError(f"qq: {len(labels)} labels for {len(items)} summary statistics")
    series = [_as_neg_log10(it, lab or "gwas") for it, lab in zip(items, labels, strict=True)]
    fig, ax = _new_figure(5.0, 5.0)
    big = int(np.argmax([s.size for s in series]))
    ymax, xmax = thr_y, 1.0
    colors = category_colors(len(series))
    for k, (y, label) in enumerate(zip(series, labels, strict=True)):
        obs, exp_, ranks = _qq_series(y, thr_y, cfg)
        if k == big:
            draw_band(ax, y.size, ranks)
        lam = lambda_gc(y)
        text = f"{label + ': ' if label else ''}λGC = {lam:.3f} (n = {y.size:,})"
        points(
            ax,
            exp_,
            obs,
            2.2,
            colors[k],
            rasterized=True,
            zorder=3 + k,
            label=text,
        )
        ymax, xmax = max(ymax, float(obs.max())), max(xmax, float(exp_.max()))
        log.info("qq %s: λGC %.4f, drew %d of %d points", label or "gwas", lam, obs.size, y.size)
    ax.plot([0, xmax], [0, xmax], color="0.3", lw=0.7, zorder=2)
    ax.axhline(thr_y, color=cfg["highlight"], ls="--", lw=0.7, zorder=2)
    _set_y_axis(ax, ymax, cfg, pad=1.05)
    ax.set_xlim(0, xmax * 1.03)
    ax.set_xlabel(r"expected $-\log_{10}(p)$")
    ax.set_ylabel(r"observed $-\log_{10}(p)$")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    if title:
        ax.set_title(title)
    return fig


def qq(
    gwas_or_list: Any,
    out_prefix: str | os.PathLike,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    threshold: float | None = None,
    config: dict | None = None,
) -> list[Path]:
    """Draw :func:`qq_figure` and write ``out_prefix``.png and .pdf atomically; return both."""
    fig = qq_figure(gwas_or_list, labels=labels, title=title, threshold=threshold, config=config)
    return save_figure(fig, out_prefix, int(section("plots", config)["dpi"]))
