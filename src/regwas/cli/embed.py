"""`regwas embed`: PCA embeddings of an array store."""

from __future__ import annotations

import argparse
import logging

import pandas as pd

from regwas.represent.pca import DEFAULTS, embed_store

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", help="array store directory (data.npy + samples.tsv)")
    parser.add_argument("--out", required=True, help="output embeddings.parquet")
    parser.add_argument("--latent-dim", type=int, default=DEFAULTS["latent_dim"])
    parser.add_argument("--no-standardize", action="store_true")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    cfg = {"latent_dim": args.latent_dim, "standardize": not args.no_standardize}
    info = embed_store(args.store, args.out, cfg, args.seed)
    print(pd.Series(info["explained_variance_ratio"]).round(4).to_string())
    return 0
