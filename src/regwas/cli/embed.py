"""`regwas embed`: embeddings of an array store (the represent section's method)."""

from __future__ import annotations

import argparse

from regwas.cli.entry import int_at_least
from regwas.config.schema import defaults
from regwas.represent.base import embed_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `regwas embed`; defaults from the config schema's represent section."""
    cfg = defaults("represent")
    parser.add_argument("store", help="array store directory (data.npy + samples.tsv)")
    parser.add_argument("--out", required=True, help="output embeddings.parquet")
    parser.add_argument("--method", default=cfg["method"], help=f"default {cfg['method']}")
    parser.add_argument("--latent-dim", type=int_at_least(1), default=cfg["latent_dim"])
    parser.add_argument("--no-standardize", action="store_true")
    parser.add_argument("--seed", type=int, default=defaults("seed"))


def run(args: argparse.Namespace) -> int:
    """Embed the store and print the fitted model's metadata."""
    cfg = {"method": args.method, "latent_dim": args.latent_dim}
    cfg["standardize"] = not args.no_standardize
    embedder = embed_store(args.store, args.out, cfg, args.seed)
    print(f"{embedder.method}: {embedder.latent_dim} dims, checksum {embedder.checksum()[:16]}")
    for key, value in embedder.info().items():
        print(f"{key}: {value}")
    return 0
