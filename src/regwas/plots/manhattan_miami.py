"""Manhattan plots of one space and Miami plots (registered up, native down) of two."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from regwas.config.schema import defaults, section
from regwas.errors import InputError
from regwas.plots.common import (
    _YLABEL,
    _label_points,
    _new_figure,
    _set_y_axis,
    points,
    save_figure,
    thin_points,
)
from regwas.plots.genome import (
    GwasFrame,
    as_gwas_frame,
    chrom_ticks,
    genome_layout,
    prepare_leads,
    xpos,
)

log = logging.getLogger(__name__)


def _draw_manhattan(
    ax: Axes,
    frame: GwasFrame,
    offsets: dict[str, float],
    order: list[str],
    cfg: dict,
    thr_y: float,
) -> int:
    """Thinned, rasterised scatter in alternating colours; returns the number of points drawn."""
    x = xpos(frame, offsets)
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
        points(
            ax,
            x[m],
            y[m],
            1.6,
            colors[k % len(colors)],
            rasterized=True,
            zorder=2,
        )
    m = y > thr_y
    if m.any():
        points(
            ax,
            x[m],
            y[m],
            2.4,
            cfg["highlight"],
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
    cfg = section("plots", config)
    thr = float(threshold if threshold is not None else defaults("gwas.p_threshold"))
    if not 0.0 < thr < 1.0:
        raise InputError(f"threshold must lie in (0, 1), got {thr}")
    thr_y = -math.log10(thr)
    frame = as_gwas_frame(gwas, "gwas")
    order, offsets, centres = genome_layout([frame])
    lead_tab = prepare_leads(leads, frame, gwas, thr_y, cfg)
    fig, ax = _new_figure(float(cfg["width"]), float(cfg["height"]))
    _draw_manhattan(ax, frame, offsets, order, cfg, thr_y)
    ymax = max(float(frame.y.max()), thr_y)
    _set_y_axis(ax, ymax, cfg)
    xmax = float(xpos(frame, offsets).max())
    chrom_ticks(ax, order, centres, xmax)
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
    return save_figure(fig, out_prefix, int(section("plots", config)["dpi"]))


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
    cfg = section("plots", config)
    thr = float(threshold if threshold is not None else defaults("gwas.p_threshold"))
    if not 0.0 < thr < 1.0:
        raise InputError(f"threshold must lie in (0, 1), got {thr}")
    thr_y = -math.log10(thr)
    top = as_gwas_frame(top_gwas, f"top ({top_label})")
    bottom = as_gwas_frame(bottom_gwas, f"bottom ({bottom_label})")
    order, offsets, centres = genome_layout([top, bottom])
    ymax = max(float(top.y.max()), float(bottom.y.max()), thr_y)
    fig, (ax_t, ax_b) = _new_figure(
        float(cfg["width"]), float(cfg["height"]) * 1.6, nrows=2, sharex=True
    )
    fig.get_layout_engine().set(h_pad=0.0, hspace=0.0)
    xmax = max(float(xpos(top, offsets).max()), float(xpos(bottom, offsets).max()))
    for ax, frame, label, leads, original, invert in (
        (ax_t, top, top_label, top_leads, top_gwas, False),
        (ax_b, bottom, bottom_label, bottom_leads, bottom_gwas, True),
    ):
        _draw_manhattan(ax, frame, offsets, order, cfg, thr_y)
        _set_y_axis(ax, ymax, cfg, invert=invert)
        ax.set_ylabel(f"{label}\n{_YLABEL}")
        lead_tab = prepare_leads(leads, frame, original, thr_y, cfg)
        if invert:
            ax.spines["bottom"].set_visible(False)
            ax.spines["top"].set_visible(True)
        _draw_leads(ax, lead_tab, offsets)
    chrom_ticks(ax_b, order, centres, xmax)
    ax_t.tick_params(axis="x", labelbottom=False, length=0)
    if title:
        ax_t.set_title(title)
    return fig


def miami(
    top_gwas: pd.DataFrame,
    bottom_gwas: pd.DataFrame,
    out_prefix: str | os.PathLike,
    **options: Any,
) -> list[Path]:
    """Draw :func:`miami_figure` (``options`` are its keyword arguments) and write
    ``out_prefix``.png and .pdf atomically; return both."""
    fig = miami_figure(top_gwas, bottom_gwas, **options)
    return save_figure(fig, out_prefix, int(section("plots", options.get("config"))["dpi"]))
