"""PheWAS QQ plots coloured by phecode category, significant phecodes labelled."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from regwas.config.schema import section
from regwas.errors import InputError
from regwas.genetics.inflation import lambda_gc
from regwas.io.tables import read_tsv
from regwas.plots.common import (
    _as_bool,
    _label_points,
    _new_figure,
    _set_y_axis,
    _short,
    category_colors,
    check_columns,
    neg_log10_column,
    points,
    save_figure,
)
from regwas.plots.qq_plot import draw_band

log = logging.getLogger(__name__)


PHEWAS_COLUMNS = ("phecode", "description", "category", "p_value", "significant")


def phewas_qq_figure(
    phewas: pd.DataFrame | str | os.PathLike,
    title: str | None = None,
    config: dict | None = None,
) -> Figure:
    """PheWAS QQ: phecode p-values against uniform expectation, coloured by phecode category.

    Phecodes flagged ``significant`` (Bonferroni, from the PheWAS table) are labelled with
    their description (the top ``phewas_n_labels``); the dashed line is phewas_alpha / n.

    """
    cfg = section("plots", config)
    source = "phewas"
    if not isinstance(phewas, pd.DataFrame):
        source = str(phewas)
        phewas = read_tsv(phewas, dtype={"phecode": str})
    check_columns(phewas, PHEWAS_COLUMNS, source)
    y_all = neg_log10_column(phewas, source)
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
    draw_band(ax, n, ranks)
    cats = sorted(tab["category"].unique())
    colors = category_colors(len(cats))
    for k, cat in enumerate(cats):
        m = (tab["category"] == cat).to_numpy()
        sig = m & tab["_sig"].to_numpy()
        points(
            ax,
            tab["_exp"][m],
            tab["_y"][m],
            4,
            colors[k],
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
        color=cfg["highlight"],
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
    return save_figure(fig, out_prefix, int(section("plots", config)["dpi"]))
