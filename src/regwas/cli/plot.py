"""`regwas plot {manhattan,miami,qq,phewas}`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from regwas.config.schema import defaults
from regwas.errors import InputError
from regwas.plots.genome import read_plot_gwas
from regwas.plots.manhattan_miami import manhattan, miami
from regwas.plots.phewas import phewas_qq
from regwas.plots.qq_plot import qq

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`regwas plot {manhattan,miami,qq,phewas}` arguments."""
    sub = parser.add_subparsers(dest="plot_kind", required=True, metavar="KIND")
    p = sub.add_parser("manhattan", help="Manhattan plot of one summary-statistics file")
    p.add_argument("--gwas", required=True, help="summary statistics TSV(.gz)")
    p.add_argument("--leads", help="lead variants TSV to label (default: top peaks)")
    p.add_argument("--title")
    p.add_argument("--threshold", type=float, default=defaults("gwas.p_threshold"))
    p.add_argument("--out", required=True, help="output prefix (.png and .pdf are written)")

    p = sub.add_parser("miami", help="Miami plot: one space up, another mirrored down")
    p.add_argument("--top", required=True, help="summary statistics drawn upwards")
    p.add_argument("--bottom", required=True, help="summary statistics drawn downwards")
    p.add_argument("--top-label", default="registered")
    p.add_argument("--bottom-label", default="native")
    p.add_argument("--top-leads")
    p.add_argument("--bottom-leads")
    p.add_argument("--title")
    p.add_argument("--threshold", type=float, default=defaults("gwas.p_threshold"))
    p.add_argument("--out", required=True)

    p = sub.add_parser("qq", help="QQ plot of one or several summary statistics with λGC")
    p.add_argument("--gwas", required=True, action="append", help="repeat for several")
    p.add_argument("--label", action="append", help="one per --gwas, in order")
    p.add_argument("--title")
    p.add_argument("--threshold", type=float, default=defaults("gwas.p_threshold"))
    p.add_argument("--out", required=True)

    p = sub.add_parser("phewas", help="PheWAS QQ coloured by phecode category")
    p.add_argument("--phewas", required=True, help="phewas.tsv")
    p.add_argument("--title")
    p.add_argument("--out", required=True)


def run(args: argparse.Namespace) -> int:
    """Run one `regwas plot` subcommand."""
    kind = args.plot_kind
    if kind == "manhattan":
        manhattan(
            read_plot_gwas(args.gwas),
            args.out,
            title=args.title,
            threshold=args.threshold,
            leads=args.leads,
        )
    elif kind == "miami":
        miami(
            read_plot_gwas(args.top),
            read_plot_gwas(args.bottom),
            args.out,
            top_label=args.top_label,
            bottom_label=args.bottom_label,
            title=args.title,
            threshold=args.threshold,
            top_leads=args.top_leads,
            bottom_leads=args.bottom_leads,
        )
    elif kind == "qq":
        if args.label and len(args.label) != len(args.gwas):
            raise InputError(f"{len(args.label)} --label for {len(args.gwas)} --gwas files")
        labels = args.label or ([Path(g).name for g in args.gwas] if len(args.gwas) > 1 else None)
        qq(
            [read_plot_gwas(g) for g in args.gwas],
            args.out,
            labels=labels,
            title=args.title,
            threshold=args.threshold,
        )
    elif kind == "phewas":
        phewas_qq(args.phewas, args.out, title=args.title)
    else:  # argparse restricts the choices; kept for direct callers
        raise InputError(f"unknown plot kind {kind!r}")
    return 0
