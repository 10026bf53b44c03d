"""Publication plots of association results: Manhattan, Miami, QQ (with λGC) and PheWAS QQ.

Everything is drawn from ``neg_log10_p`` (computed in log space upstream), so p-values far
below 1e-300 -- even those stored as ``p_value = 0.0`` -- plot at their true height. Millions
of variants are thinned (every point above ``keep_above`` is kept, the null cloud is reduced to
one point per grid cell, which keeps its shape) and scatters are rasterised, so PNGs and PDFs
stay small. Figures use matplotlib's object API with the Agg canvas (no pyplot global state)
and each plot is written as ``out_prefix.png`` and ``out_prefix.pdf`` atomically.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, MaxNLocator
from scipy import stats

from regwas.config import merge_defaults
from regwas.errors import InputError
from regwas.gwas_kernel import lambda_gc
from regwas.io import atomic_path, read_tsv

log = logging.getLogger(__name__)

#: Config section ``plots``: defaults for every key (see the module's report for meanings).
DEFAULTS: dict[str, Any] = {
    "threshold": 5e-8,
    "suggestive": 1e-5,
    "keep_above": 2.0,
    "thin_x_bins": 2000,
    "thin_y_bins": 50,
    "qq_keep_top": 1000,
    "y_log_above": 20.0,
    "n_labels": 10,
    "label_window_bp": 1_000_000,
    "phewas_alpha": 0.05,
    "phewas_n_labels": 15,
    "dpi": 300,
    "width": 12.0,
    "height": 4.5,
    "colors": ["#1f4e79", "#7ba7d6"],
    "highlight": "#d62728",
}

GWAS_COLUMNS = ("chromosome", "base_pair_location", "neg_log10_p")
LEAD_COLUMNS = ("chromosome", "base_pair_location", "variant_id", "neg_log10_p")
PHEWAS_COLUMNS = ("phecode", "description", "category", "p_value", "significant")
_SPECIAL_CHROM = {"X": 23, "Y": 24, "XY": 25, "M": 26, "MT": 26}
_YLABEL = r"$-\log_{10}(p)$"


# --------------------------------------------------------------------------------------------
# config, input checks
# --------------------------------------------------------------------------------------------
def _config(config: dict | None) -> dict:
    """Merged plots config with basic range checks (InputError names the key)."""
    cfg = merge_defaults(DEFAULTS, config, where="plots")
    for key in ("threshold", "phewas_alpha"):
        if not 0.0 < float(cfg[key]) < 1.0:
            raise InputError(f"config plots.{key}: must lie in (0, 1), got {cfg[key]}")
    if cfg["suggestive"] is not None and not 0.0 < float(cfg["suggestive"]) < 1.0:
        raise InputError("config plots.suggestive: must lie in (0, 1) or be null")
    if float(cfg["keep_above"]) <= 0:
        raise InputError(f"config plots.keep_above: must be > 0, got {cfg['keep_above']}")
    for key in ("thin_x_bins", "thin_y_bins", "dpi"):
        if int(cfg[key]) < 1:
            raise InputError(f"config plots.{key}: must be a positive integer, got {cfg[key]}")
    if cfg["y_log_above"] is not None and float(cfg["y_log_above"]) <= 0:
        raise InputError("config plots.y_log_above: must be > 0 or null")
    return cfg


def chrom_sort_key(name: str) -> tuple[int, str]:
    """Natural chromosome order: 1..22, X, Y, XY, MT, then anything else alphabetically."""
    s = _norm_chrom(name)
    if s.isdigit():
        return (int(s), "")
    return (_SPECIAL_CHROM.get(s.upper(), 1000), s)


def _norm_chrom(name: object) -> str:
    """'chr01' / 1 / '1.0' -> '1'; 'chrX' -> 'X'."""
    s = str(name).strip()
    s = re.sub(r"^chr", "", s, flags=re.IGNORECASE)
    if re.fullmatch(r"\d+(\.0+)?", s):
        return str(int(float(s)))
    return s.upper() if s.upper() in _SPECIAL_CHROM else s


def _check_columns(df: pd.DataFrame, needed: Sequence[str], source: str) -> None:
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise InputError(
            f"{source}: missing column(s) {missing} (columns present: {list(df.columns)[:15]})"
        )


def _neg_log10(df: pd.DataFrame, source: str) -> np.ndarray:
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


@dataclass
class _Gwas:
    """Plotting arrays of one summary-statistics table (rows with finite values only)."""

    code: np.ndarray  # chromosome code per row, indexes names
    names: np.ndarray  # normalised chromosome name per code
    bp: np.ndarray  # int64 position
    y: np.ndarray  # float64 neg_log10_p, >= 0
    rows: np.ndarray  # row positions in the original table
    source: str

    def __len__(self) -> int:
        return int(self.y.size)


def _gwas_frame(gwas: pd.DataFrame, source: str) -> _Gwas:
    """Validate a summary-statistics table and extract its plotting arrays."""
    if not isinstance(gwas, pd.DataFrame):
        raise InputError(f"{source}: expected a table (DataFrame), got {type(gwas).__name__}")
    _check_columns(gwas, ("chromosome", "base_pair_location"), source)
    y = _neg_log10(gwas, source)
    bp = pd.to_numeric(gwas["base_pair_location"], errors="coerce").to_numpy(np.float64)
    codes, uniques = pd.factorize(gwas["chromosome"], use_na_sentinel=True)
    ok = np.isfinite(y) & np.isfinite(bp) & (codes >= 0)
    if not ok.all():
        log.warning(
            "%s: %d rows with missing p, position or chromosome skipped", source, int((~ok).sum())
        )
    if not ok.any():
        raise InputError(f"{source}: no rows with a finite neg_log10_p, position and chromosome")
    names = np.array([_norm_chrom(u) for u in uniques], dtype=object)
    return _Gwas(
        code=codes[ok].astype(np.int64),
        names=names,
        bp=bp[ok].astype(np.int64),
        y=np.maximum(y[ok], 0.0),
        rows=np.flatnonzero(ok),
        source=source,
    )


def read_gwas(path: str | os.PathLike) -> pd.DataFrame:
    """Read the plotting columns of a summary-statistics TSV(.gz) (InputError names the file)."""
    path = Path(path)
    head = read_tsv(path, nrows=0)
    _check_columns(head, ("chromosome", "base_pair_location"), str(path))
    if "neg_log10_p" not in head.columns and "p_value" not in head.columns:
        raise InputError(f"{path}: needs a neg_log10_p (or p_value) column")
    wanted = [
        c
        for c in ("chromosome", "base_pair_location", "variant_id", "neg_log10_p", "p_value")
        if c in head.columns
    ]
    if "neg_log10_p" in wanted and "p_value" in wanted:
        wanted.remove("p_value")
    return read_tsv(path, usecols=wanted, dtype={"chromosome": str})


# --------------------------------------------------------------------------------------------
# statistics helpers
# --------------------------------------------------------------------------------------------
def thin_points(
    x: np.ndarray,
    y: np.ndarray,
    keep_above: float = DEFAULTS["keep_above"],
    x_bins: int = DEFAULTS["thin_x_bins"],
    y_bins: int = DEFAULTS["thin_y_bins"],
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


# --------------------------------------------------------------------------------------------
# drawing helpers
# --------------------------------------------------------------------------------------------
def _new_figure(width: float, height: float, nrows: int = 1, **kw: Any) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, 1, squeeze=True, **kw)
    return fig, axes


def save_figure(
    fig: Figure, out_prefix: str | os.PathLike, dpi: int = DEFAULTS["dpi"]
) -> list[Path]:
    """Write PNG and PDF atomically (both temp files renamed only once both are written)."""
    prefix = str(out_prefix)
    paths = [Path(prefix + ".png"), Path(prefix + ".pdf")]
    with contextlib.ExitStack() as stack:
        for path in paths:
            tmp = stack.enter_context(atomic_path(path, suffix=path.suffix))
            fig.savefig(tmp, format=path.suffix[1:], dpi=dpi)
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


# --------------------------------------------------------------------------------------------
# genome layout
# --------------------------------------------------------------------------------------------
def _layout(frames: Sequence[_Gwas]) -> tuple[list[str], dict[str, float], np.ndarray]:
    """Chromosome order, cumulative offsets (with a small gap) and centres for labels."""
    lengths: dict[str, int] = {}
    starts: dict[str, int] = {}
    for f in frames:
        n_codes = f.names.size
        hi = np.full(n_codes, np.iinfo(np.int64).min)
        lo = np.full(n_codes, np.iinfo(np.int64).max)
        np.maximum.at(hi, f.code, f.bp)
        np.minimum.at(lo, f.code, f.bp)
        for k in np.unique(f.code):
            name = f.names[k]
            lengths[name] = max(lengths.get(name, 0), int(hi[k]))
            starts[name] = min(starts.get(name, int(lo[k])), int(lo[k]))
    order = sorted(lengths, key=chrom_sort_key)
    spans = np.array([lengths[c] - starts[c] + 1 for c in order], dtype=np.float64)
    gap = 0.008 * spans.sum()
    offsets, centres, pos = {}, [], 0.0
    for name, span in zip(order, spans, strict=True):
        offsets[name] = pos - starts[name]
        centres.append(pos + span / 2.0)
        pos += span + gap
    return order, offsets, np.array(centres)


def _xpos(frame: _Gwas, offsets: dict[str, float]) -> np.ndarray:
    offs = np.array([offsets[name] for name in frame.names], dtype=np.float64)
    return frame.bp.astype(np.float64) + offs[frame.code]


def _chrom_ticks(ax: Axes, order: list[str], centres: np.ndarray, xmax: float) -> None:
    ax.set_xticks(centres)
    # stagger labels when many chromosomes share a narrow axis so they never collide
    labels = [c if (len(order) <= 24 or i % 2 == 0) else "" for i, c in enumerate(order)]
    ax.set_xticklabels(labels, fontsize=7)
    ax.tick_params(axis="x", length=0)
    ax.set_xlim(-0.005 * xmax, xmax * 1.005)
    ax.set_xlabel("chromosome")


def _lead_table(frame: _Gwas, original: pd.DataFrame, thr_y: float, cfg: dict) -> pd.DataFrame:
    """Top peaks above the threshold, at least label_window_bp apart, when no leads are given."""
    sig = np.flatnonzero(frame.y > thr_y)
    if sig.size == 0:
        return pd.DataFrame(columns=list(LEAD_COLUMNS))
    chrom = frame.names[frame.code[sig]]
    bp = frame.bp[sig]
    y = frame.y[sig]
    alive = np.ones(sig.size, dtype=bool)
    picks = []
    while alive.any() and len(picks) < int(cfg["n_labels"]):
        j = int(np.flatnonzero(alive)[np.argmax(y[alive])])
        picks.append(j)
        alive &= ~((chrom == chrom[j]) & (np.abs(bp - bp[j]) < int(cfg["label_window_bp"])))
    rows = frame.rows[sig[picks]]
    if "variant_id" in original.columns:
        ids = original["variant_id"].iloc[rows].astype(str).to_numpy()
    else:
        ids = np.array([f"{c}:{b}" for c, b in zip(chrom[picks], bp[picks], strict=True)])
    return pd.DataFrame(
        {
            "chromosome": chrom[picks],
            "base_pair_location": bp[picks],
            "variant_id": ids,
            "neg_log10_p": y[picks],
        }
    )


def _prepare_leads(
    leads: pd.DataFrame | str | os.PathLike | None,
    frame: _Gwas,
    original: pd.DataFrame,
    thr_y: float,
    cfg: dict,
) -> pd.DataFrame:
    if leads is None:
        return _lead_table(frame, original, thr_y, cfg)
    source = "leads"
    if not isinstance(leads, pd.DataFrame):
        source = str(leads)
        leads = read_tsv(leads, dtype={"chromosome": str})
    _check_columns(leads, LEAD_COLUMNS, source)
    out = leads.loc[:, list(LEAD_COLUMNS)].copy()
    out["chromosome"] = [_norm_chrom(c) for c in out["chromosome"]]
    out["neg_log10_p"] = pd.to_numeric(out["neg_log10_p"], errors="coerce")
    out = out.dropna(subset=["neg_log10_p"])
    return out.sort_values("neg_log10_p", ascending=False).head(int(cfg["n_labels"]))


def _draw_manhattan(
    ax: Axes,
    frame: _Gwas,
    offsets: dict[str, float],
    order: list[str],
    cfg: dict,
    thr_y: float,
) -> int:
    """Thinned, rasterised scatter in alternating colours; returns the number of points drawn."""
    x = _xpos(frame, offsets)
    y = frame.y
    keep = thin_points(
        x, y, min(float(cfg["keep_above"]), thr_y), int(cfg["thin_x_bins"]), int(cfg["thin_y_bins"])
    )
    x, y = x[keep], y[keep]
    rank = {c: i for i, c in enumerate(order)}
    code_rank = np.array([rank[name] for name in frame.names], dtype=np.int64)
    parity = code_rank[frame.code[keep]] % 2
    colors = cfg["colors"]
    for k in (0, 1):
        m = (parity == k) & (y <= thr_y)
        ax.plot(
            x[m],
            y[m],
            ls="none",
            marker="o",
            ms=1.6,
            mew=0,
            color=colors[k % len(colors)],
            rasterized=True,
            zorder=2,
        )
    m = y > thr_y
    if m.any():
        ax.plot(
            x[m],
            y[m],
            ls="none",
            marker="o",
            ms=2.4,
            mew=0,
            color=cfg["highlight"],
            rasterized=True,
            zorder=3,
        )
    ax.axhline(thr_y, color=cfg["highlight"], ls="--", lw=0.8, zorder=4)
    if cfg["suggestive"] is not None:
        ax.axhline(-math.log10(float(cfg["suggestive"])), color="0.55", ls=":", lw=0.7, zorder=4)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    log.info("%s: drew %d of %d points", frame.source, keep.size, len(frame))
    return int(keep.size)


def _draw_leads(ax: Axes, leads: pd.DataFrame, offsets: dict[str, float]) -> None:
    if leads.empty:
        return
    known = leads["chromosome"].isin(list(offsets))
    if not known.all():
        log.warning(
            "%d lead variants on chromosomes without summary statistics skipped",
            int((~known).sum()),
        )
    leads = leads[known]
    xs = leads["base_pair_location"].to_numpy(np.float64) + leads["chromosome"].map(
        offsets
    ).to_numpy(np.float64)
    _label_points(
        ax, xs, leads["neg_log10_p"].to_numpy(np.float64), leads["variant_id"].astype(str).tolist()
    )


# --------------------------------------------------------------------------------------------
# public plots
# --------------------------------------------------------------------------------------------
def manhattan_figure(
    gwas: pd.DataFrame,
    title: str | None = None,
    threshold: float | None = None,
    leads: pd.DataFrame | str | os.PathLike | None = None,
    config: dict | None = None,
) -> Figure:
    """Manhattan plot of ``neg_log10_p`` along the genome, lead variants labelled.

    ``leads`` (a table or TSV path with chromosome, base_pair_location, variant_id,
    neg_log10_p) names the variants to label; without it the top ``n_labels`` peaks above the
    threshold, ``label_window_bp`` apart, are labelled.
    """
    cfg = _config(config)
    thr = float(threshold if threshold is not None else cfg["threshold"])
    if not 0.0 < thr < 1.0:
        raise InputError(f"threshold must lie in (0, 1), got {thr}")
    thr_y = -math.log10(thr)
    frame = _gwas_frame(gwas, "gwas")
    order, offsets, centres = _layout([frame])
    lead_tab = _prepare_leads(leads, frame, gwas, thr_y, cfg)
    fig, ax = _new_figure(float(cfg["width"]), float(cfg["height"]))
    _draw_manhattan(ax, frame, offsets, order, cfg, thr_y)
    ymax = max(float(frame.y.max()), thr_y)
    _set_y_axis(ax, ymax, cfg)
    xmax = float(_xpos(frame, offsets).max())
    _chrom_ticks(ax, order, centres, xmax)
    ax.set_ylabel(_YLABEL)
    if title:
        ax.set_title(title)
    _draw_leads(ax, lead_tab, offsets)
    return fig


def manhattan(
    gwas: pd.DataFrame,
    out_prefix: str | os.PathLike,
    title: str | None = None,
    threshold: float | None = None,
    leads: pd.DataFrame | str | os.PathLike | None = None,
    config: dict | None = None,
) -> list[Path]:
    """Draw :func:`manhattan_figure` and write ``out_prefix``.png and .pdf atomically; return both."""
    fig = manhattan_figure(gwas, title=title, threshold=threshold, leads=leads, config=config)
    return save_figure(fig, out_prefix, int(_config(config)["dpi"]))


def miami_figure(
    top_gwas: pd.DataFrame,
    bottom_gwas: pd.DataFrame,
    top_label: str = "registered",
    bottom_label: str = "native",
    title: str | None = None,
    threshold: float | None = None,
    top_leads: pd.DataFrame | str | os.PathLike | None = None,
    bottom_leads: pd.DataFrame | str | os.PathLike | None = None,
    config: dict | None = None,
) -> Figure:
    """Miami plot: ``top_gwas`` upwards, ``bottom_gwas`` mirrored below on the same genome axis.

    Both panels share x (union of chromosomes and positions) and y range, so peak heights
    compare directly; each has the genome-wide line.
    """
    cfg = _config(config)
    thr = float(threshold if threshold is not None else cfg["threshold"])
    if not 0.0 < thr < 1.0:
        raise InputError(f"threshold must lie in (0, 1), got {thr}")
    thr_y = -math.log10(thr)
    top = _gwas_frame(top_gwas, f"top ({top_label})")
    bottom = _gwas_frame(bottom_gwas, f"bottom ({bottom_label})")
    order, offsets, centres = _layout([top, bottom])
    ymax = max(float(top.y.max()), float(bottom.y.max()), thr_y)
    fig, (ax_t, ax_b) = _new_figure(
        float(cfg["width"]), float(cfg["height"]) * 1.6, nrows=2, sharex=True
    )
    fig.get_layout_engine().set(h_pad=0.0, hspace=0.0)
    xmax = max(float(_xpos(top, offsets).max()), float(_xpos(bottom, offsets).max()))
    for ax, frame, label, leads, original, invert in (
        (ax_t, top, top_label, top_leads, top_gwas, False),
        (ax_b, bottom, bottom_label, bottom_leads, bottom_gwas, True),
    ):
        _draw_manhattan(ax, frame, offsets, order, cfg, thr_y)
        _set_y_axis(ax, ymax, cfg, invert=invert)
        ax.set_ylabel(f"{label}\n{_YLABEL}")
        lead_tab = _prepare_leads(leads, frame, original, thr_y, cfg)
        if invert:
            ax.spines["bottom"].set_visible(False)
            ax.spines["top"].set_visible(True)
        _draw_leads(ax, lead_tab, offsets)
    _chrom_ticks(ax_b, order, centres, xmax)
    ax_t.tick_params(axis="x", labelbottom=False, length=0)
    if title:
        ax_t.set_title(title)
    return fig


def miami(
    top_gwas: pd.DataFrame,
    bottom_gwas: pd.DataFrame,
    out_prefix: str | os.PathLike,
    top_label: str = "registered",
    bottom_label: str = "native",
    title: str | None = None,
    threshold: float | None = None,
    top_leads: pd.DataFrame | str | os.PathLike | None = None,
    bottom_leads: pd.DataFrame | str | os.PathLike | None = None,
    config: dict | None = None,
) -> list[Path]:
    """Draw :func:`miami_figure` and write ``out_prefix``.png and .pdf atomically; return both."""
    fig = miami_figure(
        top_gwas,
        bottom_gwas,
        top_label,
        bottom_label,
        title=title,
        threshold=threshold,
        top_leads=top_leads,
        bottom_leads=bottom_leads,
        config=config,
    )
    return save_figure(fig, out_prefix, int(_config(config)["dpi"]))


def _as_neg_log10(obj: Any, source: str) -> np.ndarray:
    if isinstance(obj, pd.DataFrame):
        y = _neg_log10(obj, source)
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


def _draw_band(ax: Axes, n: int, ranks: np.ndarray, color: str = "0.6") -> None:
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
    cfg = _config(config)
    thr = float(threshold if threshold is not None else cfg["threshold"])
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
    palette = _palette(len(series))
    for k, (y, label) in enumerate(zip(series, labels, strict=True)):
        obs, exp_, ranks = _qq_series(y, thr_y, cfg)
        if k == big:
            _draw_band(ax, y.size, ranks)
        lam = lambda_gc(y)
        text = f"{label + ': ' if label else ''}λGC = {lam:.3f} (n = {y.size:,})"
        ax.plot(
            exp_,
            obs,
            ls="none",
            marker="o",
            ms=2.2,
            mew=0,
            color=palette[k],
            rasterized=True,
            zorder=3 + k,
            label=text,
        )
        ymax, xmax = max(ymax, float(obs.max())), max(xmax, float(exp_.max()))
        log.info("qq %s: λGC %.4f, drew %d of %d points", label or "gwas", lam, obs.size, y.size)
    ax.plot([0, xmax], [0, xmax], color="0.3", lw=0.7, zorder=2)
    ax.axhline(thr_y, color=DEFAULTS["highlight"], ls="--", lw=0.7, zorder=2)
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
    return save_figure(fig, out_prefix, int(_config(config)["dpi"]))


def _palette(n: int) -> list:
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    return [colormaps["tab20"](i % 20) for i in range(n)]


def phewas_qq_figure(
    phewas: pd.DataFrame | str | os.PathLike,
    title: str | None = None,
    config: dict | None = None,
) -> Figure:
    """PheWAS QQ: phecode p-values against uniform expectation, coloured by phecode category.

    Phecodes flagged ``significant`` (Bonferroni, from the PheWAS table) are labelled with
    their description (the top ``phewas_n_labels``); the dashed line is phewas_alpha / n.

    """
    cfg = _config(config)
    source = "phewas"
    if not isinstance(phewas, pd.DataFrame):
        source = str(phewas)
        phewas = read_tsv(phewas, dtype={"phecode": str})
    _check_columns(phewas, PHEWAS_COLUMNS, source)
    y_all = _neg_log10(phewas, source)
    ok = np.isfinite(y_all)
    if not ok.any():
        raise InputError(f"{source}: no finite p_value to plot")
    tab = phewas.loc[ok].copy()
    tab["_y"] = np.maximum(y_all[ok], 0.0)
    tab["_sig"] = _as_bool(tab["significant"], source)
    tab["category"] = tab["category"].fillna("other").astype(str)
    tab = tab.sort_values("_y", ascending=False, kind="stable").reset_index(drop=True)
    n = len(tab)
    ranks = np.arange(1, n + 1, dtype=np.float64)
    tab["_exp"] = -np.log10(ranks / (n + 1.0))
    fig, ax = _new_figure(8.0, 5.5)
    _draw_band(ax, n, ranks)
    cats = sorted(tab["category"].unique())
    palette = _palette(len(cats))
    for k, cat in enumerate(cats):
        m = (tab["category"] == cat).to_numpy()
        sig = m & tab["_sig"].to_numpy()
        ax.plot(
            tab["_exp"][m],
            tab["_y"][m],
            ls="none",
            marker="o",
            ms=4,
            mew=0,
            color=palette[k],
            label=cat,
            zorder=3,
            rasterized=n > 5000,
        )
        if sig.any():
            ax.plot(
                tab["_exp"][sig],
                tab["_y"][sig],
                ls="none",
                marker="o",
                ms=5,
                mfc="none",
                mec="black",
                mew=0.6,
                zorder=4,
            )
    xmax = float(tab["_exp"].max())
    ax.plot([0, xmax], [0, xmax], color="0.3", lw=0.7, zorder=2)
    bonf = -math.log10(float(cfg["phewas_alpha"]) / n)
    ax.axhline(
        bonf,
        color=DEFAULTS["highlight"],
        ls="--",
        lw=0.7,
        zorder=2,
        label=f"Bonferroni ({cfg['phewas_alpha']:g}/{n})",
    )
    _set_y_axis(ax, max(float(tab["_y"].max()), bonf), cfg, pad=1.15)
    ax.set_xlim(0, xmax * 1.05)
    ax.set_xlabel(r"expected $-\log_{10}(p)$")
    ax.set_ylabel(r"observed $-\log_{10}(p)$")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=7,
        frameon=False,
        title="phecode category",
        title_fontsize=7,
    )
    lam = lambda_gc(tab["_y"].to_numpy())
    ax.text(
        0.02,
        0.98,
        f"λ = {lam:.3f}\n{int(tab['_sig'].sum())} of {n} phecodes significant",
        transform=ax.transAxes,
        ha="left",
        va="top",
        fontsize=7,
    )
    lab = tab[tab["_sig"]].head(int(cfg["phewas_n_labels"]))
    if int(tab["_sig"].sum()) > len(lab):
        log.info(
            "%s: labelled the top %d of %d significant phecodes",
            source,
            len(lab),
            int(tab["_sig"].sum()),
        )
    texts = [_short(str(d)) for d in lab["description"]]
    _label_points(ax, lab["_exp"].to_numpy(), lab["_y"].to_numpy(), texts, fontsize=6.5)
    if title:
        ax.set_title(title)
    return fig


def phewas_qq(
    phewas: pd.DataFrame | str | os.PathLike,
    out_prefix: str | os.PathLike,
    title: str | None = None,
    config: dict | None = None,
) -> list[Path]:
    """Draw :func:`phewas_qq_figure` and write ``out_prefix``.png and .pdf atomically; return both."""
    fig = phewas_qq_figure(phewas, title=title, config=config)
    return save_figure(fig, out_prefix, int(_config(config)["dpi"]))


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


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`regwas plot {manhattan,miami,qq,phewas}` arguments."""
    sub = parser.add_subparsers(dest="plot_kind", required=True, metavar="KIND")
    p = sub.add_parser("manhattan", help="Manhattan plot of one summary-statistics file")
    p.add_argument("--gwas", required=True, help="summary statistics TSV(.gz)")
    p.add_argument("--leads", help="lead variants TSV to label (default: top peaks)")
    p.add_argument("--title")
    p.add_argument("--threshold", type=float, default=DEFAULTS["threshold"])
    p.add_argument("--out", required=True, help="output prefix (.png and .pdf are written)")

    p = sub.add_parser("miami", help="Miami plot: one space up, another mirrored down")
    p.add_argument("--top", required=True, help="summary statistics drawn upwards")
    p.add_argument("--bottom", required=True, help="summary statistics drawn downwards")
    p.add_argument("--top-label", default="registered")
    p.add_argument("--bottom-label", default="native")
    p.add_argument("--top-leads")
    p.add_argument("--bottom-leads")
    p.add_argument("--title")
    p.add_argument("--threshold", type=float, default=DEFAULTS["threshold"])
    p.add_argument("--out", required=True)

    p = sub.add_parser("qq", help="QQ plot of one or several summary statistics with λGC")
    p.add_argument("--gwas", required=True, action="append", help="repeat for several")
    p.add_argument("--label", action="append", help="one per --gwas, in order")
    p.add_argument("--title")
    p.add_argument("--threshold", type=float, default=DEFAULTS["threshold"])
    p.add_argument("--out", required=True)

    p = sub.add_parser("phewas", help="PheWAS QQ coloured by phecode category")
    p.add_argument("--phewas", required=True, help="phewas.tsv")
    p.add_argument("--title")
    p.add_argument("--out", required=True)


def run(args: argparse.Namespace) -> int:
    """Run one `regwas plot` subcommand."""
    kind = args.plot_kind
    if kind == "manhattan":
        manhattan(
            read_gwas(args.gwas),
            args.out,
            title=args.title,
            threshold=args.threshold,
            leads=args.leads,
        )
    elif kind == "miami":
        miami(
            read_gwas(args.top),
            read_gwas(args.bottom),
            args.out,
            args.top_label,
            args.bottom_label,
            title=args.title,
            threshold=args.threshold,
            top_leads=args.top_leads,
            bottom_leads=args.bottom_leads,
        )
    elif kind == "qq":
        if args.label and len(args.label) != len(args.gwas):
            raise InputError(f"{len(args.label)} --label for {len(args.gwas)} --gwas files")
        labels = args.label or ([Path(g).name for g in args.gwas] if len(args.gwas) > 1 else None)
        qq(
            [read_gwas(g) for g in args.gwas],
            args.out,
            labels=labels,
            title=args.title,
            threshold=args.threshold,
        )
    elif kind == "phewas":
        phewas_qq(args.phewas, args.out, title=args.title)
    else:  # argparse restricts the choices; kept for direct callers
        raise InputError(f"unknown plot kind {kind!r}")
    return 0
