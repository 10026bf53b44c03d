"""Lead-variant directions of several modalities in one shared latent space, clustered.

With DropFuse every covered modality's embeddings live in the same d-dimensional space, so the
latent direction of a lead variant (mean embedding of the alternate homozygotes minus the
reference homozygotes, from ``lead_variants.tsv``) can be compared across modalities. The
figure (after the seed paper's Figure 5) is a heat map of the unit-length directions, one row
per lead of each modality's GWAS, rows ordered by average-linkage clustering on cosine
distance (dendrogram on the left), with two marker columns:

- **found in**: the modality whose GWAS gave the lead, or "shared" when leads of two or more
  modalities lie within the clumping window of each other (one locus found in several);
- **planted**: from the simulator's truth, the modalities with a causal variant within the
  window ("none": a false lead); left out for a real cohort.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from scipy.cluster import hierarchy
from scipy.spatial.distance import pdist

from regwas.config.schema import section
from regwas.errors import InputError
from regwas.io.tables import read_tsv
from regwas.plots.common import category_colors, check_columns, save_figure

log = logging.getLogger(__name__)

LEAD_COLUMNS = ("chromosome", "base_pair_location", "variant_id", "direction_het", "direction_hom")


def _vector(het: str, hom: str, source: str) -> np.ndarray:
    """The alternate-homozygote direction (twice the heterozygote one when no alternate
    homozygote was seen), from the JSON lists of lead_variants.tsv."""
    try:
        h = np.asarray(json.loads(het) if isinstance(het, str) else [], dtype=np.float64)
        a = np.asarray(json.loads(hom) if isinstance(hom, str) else [], dtype=np.float64)
    except (ValueError, TypeError) as err:
        raise InputError(f"{source}: a direction is not a JSON list of numbers ({err})") from None
    if a.size and np.isfinite(a).all():
        return a
    return 2.0 * h


def lead_directions(leads: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per lead of each modality: modality, chromosome, position, variant id and the
    unit-length direction (column ``direction``); leads without a finite direction dropped."""
    rows = []
    dims = set()
    for m, table in leads.items():
        check_columns(table, LEAD_COLUMNS, f"{m} lead variants")
        for r in table.itertuples():
            v = _vector(r.direction_het, r.direction_hom, f"{m} lead {r.variant_id}")
            norm = np.linalg.norm(v) if v.size else 0.0
            if not np.isfinite(norm) or norm == 0:
                continue
            dims.add(v.size)
            rows.append(
                {
                    "modality": m,
                    "chromosome": str(r.chromosome),
                    "position": int(r.base_pair_location),
                    "variant_id": str(r.variant_id),
                    "direction": v / norm,
                }
            )
    if len(dims) > 1:
        raise InputError(
            f"lead directions of different sizes {sorted(dims)}: the modalities' embeddings are "
            "not one shared space"
        )
    return pd.DataFrame(
        rows, columns=["modality", "chromosome", "position", "variant_id", "direction"]
    )


def _near(table: pd.DataFrame, chrom: str, pos: int, window_bp: float) -> pd.DataFrame:
    return table[(table["chromosome"] == chrom) & ((table["position"] - pos).abs() <= window_bp)]


def annotate(
    rows: pd.DataFrame, window_bp: float, truth: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Add ``found_in`` (the modality, or "shared") and ``planted`` (truth modalities within the
    window joined by "+", "none", or NaN without truth)."""
    rows = rows.copy()
    found = []
    for r in rows.itertuples():
        others = _near(rows, r.chromosome, r.position, window_bp)
        found.append("shared" if others["modality"].nunique() > 1 else r.modality)
    rows["found_in"] = found
    if truth is not None:
        check_columns(truth, ("modality", "chromosome", "position"), "causal variants")
        t = truth.assign(chromosome=truth["chromosome"].astype(str))
        rows["planted"] = [
            "+".join(sorted(set(_near(t, r.chromosome, r.position, window_bp)["modality"])))
            or "none"
            for r in rows.itertuples()
        ]
    return rows


def lead_cluster_figure(rows: pd.DataFrame, title: str | None = None):
    """Dendrogram, heat map of the directions and the marker columns (see the module doc)."""
    if len(rows) < 2:  # nothing to cluster: say so in the figure (a run must not fail on it)
        fig = Figure(figsize=(6.0, 2.0), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.set_axis_off()
        found = ", ".join(rows["variant_id"]) if len(rows) else "none"
        ax.text(
            0.5,
            0.5,
            f"{len(rows)} lead variant(s) with a direction ({found}): nothing to cluster",
            ha="center",
            va="center",
            fontsize=9,
        )
        fig.suptitle(title or "lead-variant directions in the shared latent space", fontsize=10)
        return fig
    vec = np.stack(rows["direction"].to_list())
    link = hierarchy.linkage(pdist(vec, metric="cosine"), method="average")
    order = hierarchy.leaves_list(link)
    marks = [c for c in ("found_in", "planted") if c in rows]
    n, d = vec.shape
    fig = Figure(figsize=(3.0 + 0.25 * d + 1.2 * len(marks), 1.5 + 0.16 * n), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(1, 2 + len(marks), width_ratios=[1.2, 0.25 * d] + [0.5] * len(marks))
    ax_tree = fig.add_subplot(grid[0, 0])
    hierarchy.dendrogram(link, orientation="left", ax=ax_tree, no_labels=True, color_threshold=0)
    ax_tree.invert_yaxis()
    ax_tree.set_axis_off()
    ax = fig.add_subplot(grid[0, 1])
    lim = float(np.abs(vec).max())
    im = ax.imshow(vec[order], aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set_yticks(range(n))
    labels = [f"{rows['modality'].iloc[i]}: {rows['variant_id'].iloc[i]}" for i in order]
    ax.set_yticklabels(labels, fontsize=6)
    ax.set_xlabel("latent dimension")
    fig.colorbar(im, ax=ax, shrink=0.5, label="unit direction")
    values = sorted({v for col in marks for v in rows[col]} - {"shared", "none"})
    palette = category_colors(len(values) + 1)
    colors = {v: palette[i] for i, v in enumerate(values)}
    colors["shared"] = palette[-1]
    colors["none"] = (0.85, 0.85, 0.85, 1.0)
    for k, col in enumerate(marks):
        cats = sorted(set(rows[col]))
        codes = np.array([cats.index(rows[col].iloc[i]) for i in order])[:, None]
        mark = fig.add_subplot(grid[0, 2 + k], sharey=ax)
        mark.imshow(codes, aspect="auto", cmap=ListedColormap([colors[c] for c in cats]))
        mark.set_xticks([0])
        mark.set_xticklabels(["found in" if col == "found_in" else "planted"], fontsize=7)
        mark.tick_params(axis="y", left=False, labelleft=False)
    used = sorted(
        {v for col in marks for v in rows[col]}, key=lambda c: (c in ("shared", "none"), c)
    )
    handles = [Patch(color=colors[c], label=c) for c in used]
    fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=7, frameon=False)
    fig.suptitle(title or "lead-variant directions in the shared latent space", fontsize=10)
    return fig


def lead_cluster_plots(
    lead_files: Mapping[str, str | os.PathLike],
    out_prefix: str | os.PathLike,
    window_kb: float,
    truth: str | os.PathLike | None = None,
    title: str | None = None,
    config: dict | None = None,
) -> list[Path]:
    """Read each modality's lead_variants.tsv (and the planted truth), draw
    :func:`lead_cluster_figure` and write ``out_prefix``.png and .pdf atomically."""
    cfg = section("plots", config)
    leads = {m: read_tsv(p, dtype={"chromosome": str}) for m, p in lead_files.items()}
    truth_table = None if truth is None else read_tsv(truth, dtype={"chromosome": str})
    rows = annotate(lead_directions(leads), 1000.0 * window_kb, truth_table)
    log.info("lead clusters: %d leads of %s", len(rows), ", ".join(lead_files))
    fig = lead_cluster_figure(rows, title)
    return save_figure(fig, out_prefix, int(cfg["dpi"]))
