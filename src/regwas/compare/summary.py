"""The summary printed at the end of `make demo`: where the results are, comparison.tsv as a
short table (one column per modality/space), and how long the run took.

`python -m regwas.compare.summary [--results results] [--config FILE] [--seconds N]`
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import pandas as pd

# (label, column) rows of the short table; "a/b" shows two columns as a fraction
ROWS = [
    ("variants tested", "n_variants"),
    ("lambda GC", "lambda_gc"),
    ("lead loci", "lead_loci"),
    ("planted causal variants recovered", "causal_recovered/causal_total"),
    ("false loci", "false_loci"),
    ("lambda GC outside the planted loci", "lambda_gc_outside_causal"),
    ("PheWAS hits / phecodes tested", "phewas_hits/phewas_tests"),
    ("planted disease links recovered", "disease_links_recovered/disease_links_total"),
]


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _column_names(table: pd.DataFrame) -> list[str]:
    """modality/space per row; with two methods side by side (represent.baseline: a space in
    two rows) each name also says its row's method, e.g. ecg/native (pca)."""
    names = [f"{m}/{s}" for m, s in zip(table["modality"], table["space"], strict=True)]
    if "method" in table.columns and len(set(names)) < len(names):
        methods = table["method"].fillna("").astype(str)
        names = [f"{n} ({m})" if m else n for n, m in zip(names, methods, strict=True)]
    return names


def comparison_table(table: pd.DataFrame) -> str:
    """comparison.tsv transposed into aligned text: a row per measure, a column per space
    (and method)."""
    header = ["", *_column_names(table)]
    lines = [header]
    rows = list(ROWS) + [
        (f"probe {c[len('probe_') :].replace('_', ' ')}", c)
        for c in table.columns
        if c.startswith("probe_")
    ]
    for label, spec in rows:
        parts = spec.split("/")
        if not all(p in table.columns for p in parts):
            continue
        cells = ["/".join(_cell(row[p]) for p in parts) for _, row in table.iterrows()]
        lines.append([label, *cells])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            [line[0].ljust(widths[0])]
            + [c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True)]
        ).rstrip()
        for line in lines
    )


def duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def summary_text(
    results: str | os.PathLike, seconds: float | None = None, name: str | None = None
) -> str:
    """The end-of-run summary of the workflow's results folder."""
    results = Path(results).resolve()
    run = f"regwas run '{name}'" if name else "regwas run"
    took = f" in {duration(seconds)}" if seconds is not None else ""
    lines = [f"{run} finished{took}. Results: {results}/", ""]
    table_path = results / "comparison.tsv"
    if not table_path.exists():
        return "\n".join([*lines, f"(no {table_path.name} yet: the run made other targets)"])
    table = pd.read_csv(table_path, sep="\t", dtype={"modality": str, "space": str})
    lines += [f"{table_path.name} (start here; every column in README.md):", ""]
    lines += ["  " + line for line in comparison_table(table).splitlines()]
    modalities = list(dict.fromkeys(table["modality"]))
    places = [
        (
            "probe_comparison.tsv",
            "each registered space against native (same method), per phenotype",
        )
    ]
    places += [(f"plots/{m}/", "Manhattan, Miami, QQ, PheWAS QQ (PNG + PDF)") for m in modalities]
    places += [(f"{m}/<space>/", "GWAS, lead variants, PheWAS, probes") for m in modalities]
    if "analysis" in table.columns and (table["analysis"] != table["space"]).any():
        places += [
            (f"{m}/<space>.<method>/", "the same for represent.baseline's method")
            for m in modalities
        ]
    places += [("logs/", "one log per job")]
    width = max(len(p) for p, _ in places) + 2
    lines += ["", *(f"  {p.ljust(width)}{what}" for p, what in places)]
    lines += ["", "HTML report with the plots and the table: snakemake --report report.html"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results", help="the workflow's results folder")
    parser.add_argument("--config", help="the run's config file (for its name)")
    parser.add_argument("--seconds", type=float, help="how long the run took")
    args = parser.parse_args(argv)
    name = None
    if args.config:
        from regwas.config.schema import load_config

        name = load_config(args.config)["name"]
    print(summary_text(args.results, args.seconds, name))


if __name__ == "__main__":
    main()
