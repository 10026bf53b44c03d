"""Merging per-chromosome GWAS shards into the sorted summary statistics (TSV.gz) with
lambda GC, and reading them back."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from regwas.associate.gwas.shards import COLUMNS, empty_frame
from regwas.config.schema import section
from regwas.errors import InputError
from regwas.genetics.inflation import lambda_gc
from regwas.io.tables import read_tsv, write_tsv

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- merge, lambda


def _chrom_key(values: pd.Series) -> pd.Series:
    """Sort key for chromosome names: 1..22 numerically, then X, Y, XY, MT, others."""
    special_order = {"X": 23, "23": 23, "Y": 24, "24": 24, "XY": 25, "25": 25, "MT": 26, "M": 26}
    stripped = values.astype(str).str.replace(r"^chr", "", regex=True, flags=re.IGNORECASE)

    def key(v: str) -> float:
        if v.isdigit() and int(v) < 23:
            return float(v)
        return float(special_order.get(v.upper(), 100))

    return stripped.map(key)


def merge_shards(shard_paths: list, out_tsv_gz: str | os.PathLike, cfg: dict | None) -> dict:
    """Concatenate Parquet shards, sort by chromosome and position, write TSV.gz; lambda GC."""
    cfg = section("gwas", cfg)
    frames = []
    for path in shard_paths:
        if not Path(path).exists():
            raise InputError(f"{path}: GWAS shard does not exist")
        frames.append(pd.read_parquet(path))
    gwas = pd.concat(frames, ignore_index=True) if frames else empty_frame()
    missing = [c for c in COLUMNS if c not in gwas.columns]
    if missing:
        raise InputError(f"GWAS shards lack columns {missing}")
    gwas = gwas[COLUMNS]
    order = np.lexsort(
        (gwas["base_pair_location"].to_numpy(), _chrom_key(gwas["chromosome"]).to_numpy())
    )
    gwas = gwas.iloc[order].reset_index(drop=True)
    write_tsv(gwas, out_tsv_gz, float_format="%.10g")
    thr = -np.log10(float(cfg["p_threshold"]))
    result = {
        "lambda_gc": lambda_gc(gwas["neg_log10_p"]),
        "n_variants": len(gwas),
        "n_significant": int((gwas["neg_log10_p"] >= thr).sum()),
    }
    log.info(
        "merged %d shards: %d variants, %d significant, lambda GC %.4f",
        len(shard_paths),
        result["n_variants"],
        result["n_significant"],
        result["lambda_gc"],
    )
    return result


def read_gwas(path: str | os.PathLike) -> pd.DataFrame:
    """Read merged summary statistics (TSV.gz) with string chromosome / id / allele columns."""
    return read_tsv(
        path,
        dtype={"chromosome": str, "variant_id": str, "effect_allele": str, "other_allele": str},
    )
