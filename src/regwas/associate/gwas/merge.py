"""Merging per-chromosome GWAS shards into the sorted summary statistics (TSV.gz) with
lambda GC, and reading them back."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from regwas.config.schema import section
from regwas.errors import InputError
from regwas.genetics.chromosomes import chromosome_order
from regwas.genetics.inflation import lambda_gc
from regwas.io.sumstats import SUMSTATS_COLUMNS, empty_sumstats, tested
from regwas.io.tables import write_tsv

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- merge, lambda


def merge_shards(shard_paths: list, out_tsv_gz: str | os.PathLike, cfg: dict | None) -> dict:
    """Concatenate Parquet shards, sort by chromosome and position, write TSV.gz; lambda GC."""
    cfg = section("gwas", cfg)
    frames = []
    for path in shard_paths:
        if not Path(path).exists():
            raise InputError(f"{path}: GWAS shard does not exist")
        frames.append(pd.read_parquet(path))
    gwas = pd.concat(frames, ignore_index=True) if frames else empty_sumstats()
    missing = [c for c in SUMSTATS_COLUMNS if c not in gwas.columns]
    if missing:
        raise InputError(f"GWAS shards lack columns {missing}")
    gwas = gwas[SUMSTATS_COLUMNS]
    order = np.lexsort(
        (gwas["base_pair_location"].to_numpy(), chromosome_order(gwas["chromosome"]))
    )
    gwas = gwas.iloc[order].reset_index(drop=True)
    write_tsv(gwas, out_tsv_gz, float_format="%.10g")
    thr = -np.log10(float(cfg["p_threshold"]))
    is_tested = tested(gwas)
    result = {
        "lambda_gc": lambda_gc(gwas["neg_log10_p"]),
        "n_variants": int(is_tested.sum()),
        "n_untested": int((~is_tested).sum()),
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
