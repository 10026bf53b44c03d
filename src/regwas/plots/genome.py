"""The shared genome layout of Manhattan and Miami plots: chromosome order, cumulative x
positions, tick labels, and the lead variants to label."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from regwas.errors import InputError
from regwas.genetics.chromosomes import chromosome_sort_key, normalise_chromosome
from regwas.io.sumstats import read_sumstats
from regwas.io.tables import read_tsv
from regwas.plots.common import check_columns, neg_log10_column

log = logging.getLogger(__name__)


GWAS_COLUMNS = ("chromosome", "base_pair_location", "neg_log10_p")
LEAD_COLUMNS = ("chromosome", "base_pair_location", "variant_id", "neg_log10_p")


@dataclass
class GwasFrame:
    """Plotting arrays of one summary-statistics table (rows with finite values only)."""

    code: np.ndarray  # chromosome code per row, indexes names
    names: np.ndarray  # normalised chromosome name per code
    bp: np.ndarray  # int64 position
    y: np.ndarray  # float64 neg_log10_p, >= 0
    rows: np.ndarray  # row positions in the original table
    source: str

    def __len__(self) -> int:
        return int(self.y.size)


def as_gwas_frame(gwas: pd.DataFrame, source: str) -> GwasFrame:
    """Validate a summary-statistics table and extract its plotting arrays."""
    if not isinstance(gwas, pd.DataFrame):
        raise InputError(f"{source}: expected a table (DataFrame), got {type(gwas).__name__}")
    check_columns(gwas, ("chromosome", "base_pair_location"), source)
    y = neg_log10_column(gwas, source)
    bp = pd.to_numeric(gwas["base_pair_location"], errors="coerce").to_numpy(np.float64)
    codes, uniques = pd.factorize(gwas["chromosome"], use_na_sentinel=True)
    ok = np.isfinite(y) & np.isfinite(bp) & (codes >= 0)
    if not ok.all():
        log.warning(
            "%s: %d rows with missing p, position or chromosome skipped", source, int((~ok).sum())
        )
    if not ok.any():
        raise InputError(f"{source}: no rows with a finite neg_log10_p, position and chromosome")
    names = np.array([normalise_chromosome(u) for u in uniques], dtype=object)
    return GwasFrame(
        code=codes[ok].astype(np.int64),
        names=names,
        bp=bp[ok].astype(np.int64),
        y=np.maximum(y[ok], 0.0),
        rows=np.flatnonzero(ok),
        source=source,
    )


def read_plot_gwas(path: str | os.PathLike) -> pd.DataFrame:
    """Read the plotting columns of a summary-statistics TSV(.gz) (InputError names the file)."""
    path = Path(path)
    head = read_tsv(path, nrows=0)
    check_columns(head, ("chromosome", "base_pair_location"), str(path))
    if "neg_log10_p" not in head.columns and "p_value" not in head.columns:
        raise InputError(f"{path}: needs a neg_log10_p (or p_value) column")
    wanted = [
        c
        for c in ("chromosome", "base_pair_location", "variant_id", "neg_log10_p", "p_value")
        if c in head.columns
    ]
    if "neg_log10_p" in wanted and "p_value" in wanted:
        wanted.remove("p_value")
    return read_sumstats(path, wanted)


# --------------------------------------------------------------------------------------------
# genome layout
# --------------------------------------------------------------------------------------------
def genome_layout(frames: Sequence[GwasFrame]) -> tuple[list[str], dict[str, float], np.ndarray]:
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
    order = sorted(lengths, key=chromosome_sort_key)
    spans = np.array([lengths[c] - starts[c] + 1 for c in order], dtype=np.float64)
    gap = 0.008 * spans.sum()
    offsets, centres, pos = {}, [], 0.0
    for name, span in zip(order, spans, strict=True):
        offsets[name] = pos - starts[name]
        centres.append(pos + span / 2.0)
        pos += span + gap
    return order, offsets, np.array(centres)


def xpos(frame: GwasFrame, offsets: dict[str, float]) -> np.ndarray:
    offs = np.array([offsets[name] for name in frame.names], dtype=np.float64)
    return frame.bp.astype(np.float64) + offs[frame.code]


def chrom_ticks(ax: Axes, order: list[str], centres: np.ndarray, xmax: float) -> None:
    ax.set_xticks(centres)
    # stagger labels when many chromosomes share a narrow axis so they never collide
    labels = [c if (len(order) <= 24 or i % 2 == 0) else "" for i, c in enumerate(order)]
    ax.set_xticklabels(labels, fontsize=7)
    ax.tick_params(axis="x", length=0)
    ax.set_xlim(-0.005 * xmax, xmax * 1.005)
    ax.set_xlabel("chromosome")


def _lead_table(frame: GwasFrame, original: pd.DataFrame, thr_y: float, cfg: dict) -> pd.DataFrame:
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


def prepare_leads(
    leads: pd.DataFrame | str | os.PathLike | None,
    frame: GwasFrame,
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
    check_columns(leads, LEAD_COLUMNS, source)
    out = leads.loc[:, list(LEAD_COLUMNS)].copy()
    out["chromosome"] = [normalise_chromosome(c) for c in out["chromosome"]]
    out["neg_log10_p"] = pd.to_numeric(out["neg_log10_p"], errors="coerce")
    out = out.dropna(subset=["neg_log10_p"])
    return out.sort_values("neg_log10_p", ascending=False).head(int(cfg["n_labels"]))
