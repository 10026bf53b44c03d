"""Publication plots of association results: Manhattan, Miami, QQ (with λGC) and PheWAS QQ.

Everything is drawn from ``neg_log10_p`` (computed in log space upstream), so p-values far
below 1e-300 -- even those stored as ``p_value = 0.0`` -- plot at their true height. Millions
of variants are thinned (every point above ``keep_above`` is kept, the null cloud is reduced to
one point per grid cell, which keeps its shape) and scatters are rasterised, so PNGs and PDFs
stay small. Figures use matplotlib's object API with the Agg canvas (no pyplot global state)
and each plot is written as ``out_prefix.png`` and ``out_prefix.pdf`` atomically."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, MaxNLocator

from regwas.config.schema import defaults
from regwas.errors import InputError
from regwas.io.atomic import atomic_path

log = logging.getLogger(__name__)

# The plots config is the schema's ``plots`` section: callers validate it with
# ``regwas.config.section("plots", config)`` (defaults, types and ranges from the schema).
_YLABEL = r"$-\log_{10}(p)$"


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------
def check_columns(df: pd.DataFrame, needed: Sequence[str], source: str) -> None:
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise InputError(
            f"{source}: missing column(s) {missing} (columns present: {list(df.columns)[:15]})"
        )


def neg_log10_column(df: pd.DataFrame, source: str) -> np.ndarray:
    """neg_log10_p as float64; only when it is absent, fall back to -log10(p_value)."""
    if "neg_log10_p" in df.columns:
        y = pd.to_numeric(df["neg_log10_p"], errors="coerce").to_numpy(np.float64)
    elif "p_value" in df.columns:
        p = pd.to_numeric(df["p_value"], errors="coerce").to_numpy(np.float64)
        zero = p == 0
        if zero.any():
            log.warning(
                "%s: no neg_log10_p column and %d p-values are 0; drawn at the float64 floor",
                source,
                int(zero.sum()),
            )
        with np.errstate(divide="ignore"):
            y = -np.log10(np.where(zero, np.nextafter(0.0, 1.0), p))
    else:
        raise InputError(f"{source}: needs a neg_log10_p (or p_value) column")
    if np.isposinf(y).any():
        row = int(np.flatnonzero(np.isposinf(y))[0])
        raise InputError(
            f"{source}: row {row + 2}, column neg_log10_p is +inf; compute it in log space"
        )
    return y


# --------------------------------------------------------------------------------------------
# statistics helpers
# --------------------------------------------------------------------------------------------
def thin_points(
    x: np.ndarray,
    y: np.ndarray,
    keep_above: float = defaults("plots.keep_above"),
    x_bins: int = defaults("plots.thin_x_bins"),
    y_bins: int = defaults("plots.thin_y_bins"),
) -> np.ndarray:
    """Sorted indices of points to draw: all with y > keep_above, one per grid cell below.

    The null cloud (y <= keep_above) is cut into ``x_bins x y_bins`` cells over its extent and
    one point (the first) is kept per occupied cell: deterministic, bounded by
    ``x_bins * y_bins`` points, and at plotting resolution the cloud looks the same.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    always = np.flatnonzero(y > keep_above)
    rest = np.flatnonzero(~(y > keep_above))
    return np.sort(np.concatenate([always, _grid_thin(x, y, rest, x_bins, y_bins)]))


def _grid_thin(
    x: np.ndarray, y: np.ndarray, idx: np.ndarray, x_bins: int, y_bins: int
) -> np.ndarray:
    """One representative (the first) of ``idx`` per occupied cell of a grid over their extent."""
    if idx.size == 0:
        return idx
    xs, ys = x[idx], y[idx]

    def cell(v: np.ndarray, bins: int) -> np.ndarray:
        lo, hi = float(np.min(v)), float(np.max(v))
        span = hi - lo if hi > lo else 1.0
        return np.clip(((v - lo) / span * bins).astype(np.int64), 0, bins - 1)

    key = cell(xs, x_bins) * int(y_bins) + cell(ys, y_bins)
    _, first = np.unique(key, return_index=True)
    return idx[first]


# --------------------------------------------------------------------------------------------
# drawing helpers
# --------------------------------------------------------------------------------------------
def _new_figure(
    width: float, height: float, nrows: int = 1, ncols: int = 1, **kw: Any
) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, **{"squeeze": True, **kw})
    return fig, axes


def save_figure(
    fig: Figure, out_prefix: str | os.PathLike, dpi: int = defaults("plots.dpi")
) -> list[Path]:
    """Write PNG and PDF atomically (both temp files renamed only once both are written); the
    PDF carries no creation date, so the same figure always gives the same bytes."""
    prefix = str(out_prefix)
    paths = [Path(prefix + ".png"), Path(prefix + ".pdf")]
    with contextlib.ExitStack() as stack:
        for path in paths:
            tmp = stack.enter_context(atomic_path(path, suffix=path.suffix))
            # no creation date in the PDF: the same figure gives the same bytes (bundle diff)
            meta = {"CreationDate": None} if path.suffix == ".pdf" else {}
            fig.savefig(tmp, format=path.suffix[1:], dpi=dpi, metadata=meta)
    log.info("wrote %s and %s", paths[0], paths[1])
    return paths


def _compress_fns(c: float):
    """y -> y below c, c(1 + ln(y/c)) above: linear near the null, logarithmic for huge peaks."""

    def fwd(y):
        y = np.asarray(y, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(y <= c, y, c * (1.0 + np.log(np.maximum(y, c) / c)))

    def inv(u):
        u = np.asarray(u, dtype=np.float64)
        return np.where(u <= c, u, c * np.exp(np.minimum(u / c - 1.0, 700.0)))

    return fwd, inv


def _set_y_axis(ax: Axes, ymax: float, cfg: dict, invert: bool = False, pad: float = 1.12):
    """Y limits covering ymax (+ headroom); compressed log scale above y_log_above if needed."""
    c = cfg["y_log_above"]
    ymax = max(float(ymax), 1.0)
    if c is not None and ymax > 1.5 * float(c):
        c = float(c)
        fwd, inv = _compress_fns(c)
        ax.set_yscale("function", functions=(fwd, inv))
        top = float(inv(fwd(ymax) * pad))
        lin = MaxNLocator(nbins=4, steps=[1, 2, 5, 10]).tick_values(0, c)
        lin = [t for t in lin if 0 <= t <= c]
        logs = [m * 10.0**k for k in range(1, 8) for m in (1, 2, 5)]
        logs = [t for t in logs if c * 1.4 < t <= top]
        ticks = lin + logs
        ax.yaxis.set_major_locator(FixedLocator(ticks))
        ax.yaxis.set_minor_locator(FixedLocator([]))
        ax.axhline(c, color="0.85", lw=0.6, ls=(0, (1, 3)), zorder=0)
        ax.annotate(
            f"log scale above {c:g}",
            xy=(0.0, c),
            xycoords=("axes fraction", "data"),
            xytext=(3, -2 if invert else 2),
            textcoords="offset points",
            ha="left",
            va="top" if invert else "bottom",
            fontsize=6,
            color="0.5",
        )
    else:
        top = ymax * pad
    ax.set_ylim((top, 0.0) if invert else (0.0, top))
    return top


def _label_points(
    ax: Axes, xs: np.ndarray, ys: np.ndarray, texts: Sequence[str], fontsize: float = 7
) -> None:
    """Label points with text that adjustText moves apart, connected by thin leader lines."""
    if len(texts) == 0:
        return
    from adjustText import adjust_text

    artists = [
        ax.text(
            x,
            y,
            t,
            fontsize=fontsize,
            ha="center",
            va="bottom",
            zorder=5,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75},
        )
        for x, y, t in zip(xs, ys, texts, strict=True)
    ]
    try:
        adjust_text(
            artists,
            x=np.asarray(xs, float),
            y=np.asarray(ys, float),
            ax=ax,
            arrowprops={"arrowstyle": "-", "color": "0.4", "lw": 0.5},
            ensure_inside_axes=True,
            expand=(1.1, 1.3),
            time_lim=5,
        )
    except Exception as err:  # adjustText is cosmetic; never fail a plot over label placement
        log.warning("label placement failed (%s); labels left at their points", err)


def _short(text: str, width: int = 38) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _as_bool(col: pd.Series, source: str) -> pd.Series:
    if col.dtype == bool:
        return col
    mapped = (
        col.astype(str)
        .str.strip()
        .str.lower()
        .map({"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False})
    )
    if mapped.isna().any():
        row = int(np.flatnonzero(mapped.isna().to_numpy())[0])
        raise InputError(
            f"{source}: column significant, row {row + 2}: {col.iloc[row]!r} is not a boolean"
        )
    return mapped.astype(bool)


def category_colors(n: int) -> list:
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    return [colormaps["tab20"](i % 20) for i in range(n)]


def points(ax: Axes, x: Any, y: Any, ms: float, color: Any, **kw: Any) -> None:
    """Markers without lines or edges: the scatter style of every plot family."""
    ax.plot(x, y, ls="none", marker="o", ms=ms, mew=0, color=color, **kw)
