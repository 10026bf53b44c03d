"""`regwas probe`: cross-validated linear probes of embeddings."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from regwas.associate.probes import probe_embeddings
from regwas.cli.entry import add_embedding_io, int_at_least
from regwas.config.schema import defaults
from regwas.io.embeddings import read_embeddings
from regwas.io.tables import read_tsv, write_tsv

log = logging.getLogger(__name__)


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [s.strip() for s in text.split(",") if s.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """CLI: regwas probe --embeddings E --samples S --out OUT.tsv [--folds] [--seed] ...

    Defaults from the config schema's probes section and seed."""
    cfg = defaults("probes")
    add_embedding_io(parser, "samples.tsv with phenotype columns", "output probes.tsv")
    parser.add_argument("--folds", type=int_at_least(2), default=cfg["folds"])
    parser.add_argument(
        "--people",
        default=None,
        help="table with a sample_id column: probe only these people (e.g. the workflow's "
        "results/{modality}/comparison_samples.tsv, so that every space gets the same folds)",
    )
    cont, binary = ",".join(cfg["continuous"]), ",".join(cfg["binary"])
    parser.add_argument(
        "--continuous",
        default=None,
        help=f"comma-separated continuous phenotypes (default: {cont})",
    )
    parser.add_argument(
        "--binary", default=None, help=f"comma-separated 0/1 phenotypes (default: {binary})"
    )


def run(args: argparse.Namespace) -> int:
    """Run the probe subcommand."""
    cfg: dict[str, Any] = {"folds": args.folds}
    for key in ("continuous", "binary"):
        names = _names(getattr(args, key))
        if names is not None:
            cfg[key] = names
    ids, z, _ = read_embeddings(args.embeddings)
    samples = read_tsv(args.samples, dtype={"sample_id": str})
    people = None
    if args.people is not None:
        people = read_tsv(args.people, dtype={"sample_id": str})["sample_id"].tolist()
    write_tsv(probe_embeddings(ids, z, samples, cfg, args.seed, people=people), args.out)
    return 0
