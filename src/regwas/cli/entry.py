"""The `regwas` command line: one module per subcommand in regwas.cli, each with
add_arguments(parser) and run(args) -> exit status."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from regwas import __version__
from regwas.errors import InputError

# name -> (module, one-line help). The module defines add_arguments(parser) and run(args) -> int.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "simulate": (
        "regwas.cli.simulate",
        "simulate the synthetic biobank (genotypes, ECG, brain MRI, tables, truth)",
    ),
    "cohort": (
        "regwas.cli.cohort",
        "validate a cohort's inputs and compute genetic principal components",
    ),
    "store": (
        "regwas.cli.store",
        "an array store from a manifest (ecg native / median_beat, brain native) for embed",
    ),
    "median-beat": ("regwas.cli.median_beat", "median beat of one WFDB record"),
    "embed": ("regwas.cli.embed", "PCA baseline embeddings of a registered array store"),
    "adjust": (
        "regwas.cli.adjust",
        "remove confounders from embeddings (residualise or nullspace projection)",
    ),
    "gwas": (
        "regwas.cli.gwas",
        "latent-space GWAS (vectorised MANOVA) of embeddings on PLINK genotypes",
    ),
    "phewas": ("regwas.cli.phewas", "PheWAS of embeddings on phecodes from ICD-10 diagnoses"),
    "probe": ("regwas.cli.probe", "cross-validated linear probes of embeddings for phenotypes"),
    "plot": ("regwas.cli.plot", "Manhattan, Miami, QQ and PheWAS plots"),
    "bundle": (
        "regwas.cli.bundle",
        "verify a publication bundle (manifest, no individual-level data) or diff two",
    ),
}


def add_embedding_io(
    parser: argparse.ArgumentParser, samples: str, out: str, seed: bool = True
) -> None:
    """The arguments every per-space analysis command shares: the embeddings it reads, the
    samples table (``samples`` says which columns it needs), the output and the seed (the
    workflow's by default)."""
    from regwas.config.schema import defaults

    parser.add_argument("--embeddings", required=True, help="embeddings.parquet")
    parser.add_argument("--samples", required=True, help=samples)
    parser.add_argument("--out", required=True, help=out)
    if seed:
        parser.add_argument("--seed", type=int, default=defaults("seed"))


def int_at_least(minimum: int):
    """An argparse type: an integer >= ``minimum`` (argparse then exits 2 with one line)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be >= {minimum}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (status 2) pointing to --help."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported (start-up stays fast)."""
    parser = _Parser(prog="regwas", description=__doc__)
    parser.add_argument("--version", action="version", version=f"regwas {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        if name == command:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if a in SUBCOMMANDS), None)
    args = build_parser(command).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except InputError as err:
        print(f"regwas {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
