"""The headline: did registration help? One table and one figure for every modality at once.

For each modality and registered space, against native: planted causal loci recovered (when
the cohort is simulated), lead loci, false loci, PheWAS hits, planted disease links recovered,
and every linear probe's mean score with its 95% CI (R² or AUC across folds) and the corrected
paired test of the difference (the seed paper's Table 2 and Figure 2 as one picture).

With represent.baseline a modality has two analyses of each space, one per representation
method (comparison.tsv's ``analysis``: ``median_beat`` and ``median_beat.pca``): each
registered analysis is set against the native analysis of the same method, and the rows name
that ``method`` (DropFuse's fused space against the native analysis of represent.method).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from regwas.errors import InputError
from regwas.io.analysis import native_analysis
from regwas.io.atomic import atomic_path
from regwas.io.tables import read_tsv

HEADLINE_COLUMNS = [
    "modality",
    "space",
    "method",
    "measure",
    "kind",
    "native",
    "native_ci_low",
    "native_ci_high",
    "registered",
    "registered_ci_low",
    "registered_ci_high",
    "difference",
    "p_value",
    "verdict",
]
# comparison.tsv column -> (measure, higher is better); totals are shown beside the recovered
COUNTS = [
    ("causal_recovered", "planted loci recovered", True),
    ("lead_loci", "lead loci", None),
    ("false_loci", "false loci", False),
    ("phewas_hits", "PheWAS hits", True),
    ("disease_links_recovered", "planted disease links recovered", True),
]


def _verdict(diff: float, better: bool | None, p: float = float("nan")) -> str:
    if better is None or not np.isfinite(diff) or diff == 0:
        return "same" if diff == 0 else "n/a"
    if np.isfinite(p) and p >= 0.05:
        return "no significant difference"
    return "registered better" if (diff > 0) == better else "native better"


def headline_table(
    comparison: pd.DataFrame,
    probes: dict[tuple[str, str], pd.DataFrame],
    probe_tests: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Long table, one row per modality x registered analysis x measure.

    ``comparison`` is results/comparison.tsv; ``probes`` maps (modality, analysis) to that
    analysis's probes.tsv (mean and CI per phenotype); ``probe_tests`` is
    results/probe_comparison.tsv (corrected paired t-test p per phenotype). An analysis is
    comparison.tsv's ``analysis`` (the space, when the table has no such column); a registered
    one is compared with the native analysis of its method (``native.pca`` for
    ``median_beat.pca``), and ``method`` is that native analysis's method.
    """
    need = {"modality", "space"}
    if not need <= set(comparison.columns):
        raise InputError(f"comparison table lacks {sorted(need - set(comparison.columns))}")
    comparison = comparison.copy()
    if "analysis" not in comparison.columns:
        comparison["analysis"] = comparison["space"]
    if "method" not in comparison.columns:
        comparison["method"] = ""
    comparison["method"] = comparison["method"].fillna("").astype(str)
    rows = []
    for modality, group in comparison.groupby("modality", sort=False):
        by_analysis = group.set_index("analysis")
        for _, reg in group[group["space"] != "native"].iterrows():
            space, analysis = reg["space"], reg["analysis"]
            native = native_analysis(analysis)
            if native not in by_analysis.index:
                continue
            nat = by_analysis.loc[native]
            pair = {"modality": modality, "space": space, "method": nat["method"]}
            for col, measure, better in COUNTS:
                if col not in group.columns or pd.isna(reg[col]):
                    continue
                diff = float(reg[col]) - float(nat[col])
                rows.append(
                    {
                        **pair,
                        "measure": measure,
                        "kind": "count",
                        "native": float(nat[col]),
                        "registered": float(reg[col]),
                        "difference": diff,
                        "verdict": _verdict(diff, better),
                    }
                )
            rows += _probe_rows(pair, analysis, native, probes, probe_tests)
    return pd.DataFrame(rows, columns=HEADLINE_COLUMNS)


def _probe_rows(pair: dict, analysis: str, native: str, probes, probe_tests) -> list[dict]:
    modality = pair["modality"]
    nat = probes.get((modality, native))
    reg = probes.get((modality, analysis))
    if nat is None or reg is None:
        return []
    key = ["phenotype", "metric"]
    merged = nat.merge(reg, on=key, suffixes=("_n", "_r"))
    tests = {}
    if probe_tests is not None and len(probe_tests):
        # the registered analysis's tests (probe_comparison.tsv before the `analysis` column:
        # its space)
        column = "analysis" if "analysis" in probe_tests.columns else "space"
        sel = probe_tests[(probe_tests["modality"] == modality) & (probe_tests[column] == analysis)]
        tests = {(r.phenotype, r.metric): float(r.p_corrected) for r in sel.itertuples()}
    rows = []
    for r in merged.itertuples():
        diff = float(r.mean_r) - float(r.mean_n)
        p = tests.get((r.phenotype, r.metric), float("nan"))
        rows.append(
            {
                **pair,
                "measure": f"probe {r.phenotype} {r.metric}",
                "kind": "probe",
                "native": float(r.mean_n),
                "native_ci_low": float(r.ci_low_n),
                "native_ci_high": float(r.ci_high_n),
                "registered": float(r.mean_r),
                "registered_ci_low": float(r.ci_low_r),
                "registered_ci_high": float(r.ci_high_r),
                "difference": diff,
                "p_value": p,
                "verdict": _verdict(diff, True, p),
            }
        )
    return rows


def read_headline_inputs(
    comparison: str | os.PathLike,
    probe_files: dict[tuple[str, str], str | os.PathLike],
    probe_comparison: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """headline_table from the files of a run."""
    probes = {k: read_tsv(v) for k, v in probe_files.items()}
    tests = read_tsv(probe_comparison) if probe_comparison else None
    return headline_table(read_tsv(comparison), probes, tests)


def headline_figure(table: pd.DataFrame):
    """One row of panels per modality x registered space x method: counts (native vs
    registered bars) on the left, probe scores with 95% CIs on the right; a method, when the
    table names one, is in the row's first title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = table["method"].fillna("").astype(str) if "method" in table else [""] * len(table)
    pairs = list(dict.fromkeys(zip(table["modality"], table["space"], methods, strict=True)))
    nrows = max(len(pairs), 1)
    fig, axes = plt.subplots(
        nrows, 2, figsize=(12, 3.2 * nrows), squeeze=False, gridspec_kw={"width_ratios": [1, 1.4]}
    )
    colours = {"native": "#7f7f7f", "registered": "#1f77b4"}
    if not pairs:
        axes[0, 0].text(0.5, 0.5, "no registered space to compare", ha="center")
    for row, (modality, space, method) in enumerate(pairs):
        sub = table[
            (table["modality"] == modality)
            & (table["space"] == space)
            & (np.asarray(methods) == method)
        ]
        what = f"{modality} ({method})" if method else modality
        counts = sub[sub["kind"] == "count"]
        ax = axes[row, 0]
        y = np.arange(len(counts))
        ax.barh(y + 0.2, counts["native"], 0.4, color=colours["native"], label="native")
        ax.barh(y - 0.2, counts["registered"], 0.4, color=colours["registered"], label=space)
        for offset, col in ((0.2, "native"), (-0.2, "registered")):
            for yi, value in zip(y, counts[col], strict=True):
                ax.text(value, yi + offset, f" {value:g}", va="center", fontsize=8)
        ax.set_xlim(0, max(1.0, float(counts[["native", "registered"]].max().max())) * 1.2)
        ax.set_yticks(y, counts["measure"])
        ax.invert_yaxis()
        ax.set_xlabel("count")
        ax.set_title(f"{what}: {space} vs native, loci and hits", fontsize=10)
        ax.legend(fontsize=8, loc="lower right")
        probes = sub[sub["kind"] == "probe"]
        ax = axes[row, 1]
        y = np.arange(len(probes))
        for offset, side in ((0.15, "native"), (-0.15, "registered")):
            mean = probes[side].to_numpy(float)
            err = np.vstack(
                [mean - probes[f"{side}_ci_low"].to_numpy(float),
                 probes[f"{side}_ci_high"].to_numpy(float) - mean]
            )  # fmt: skip
            label = "native" if side == "native" else space
            ax.errorbar(
                mean, y + offset, xerr=np.abs(err), fmt="o", color=colours[side], label=label
            )
        labels = [
            m.removeprefix("probe ")
            + (" *" if v.endswith("better") and v != "native better" else "")
            for m, v in zip(probes["measure"], probes["verdict"], strict=True)
        ]
        ax.set_yticks(y, labels)
        ax.invert_yaxis()
        ax.axvline(0, color="black", lw=0.5)
        ax.set_xlabel("probe score (R² or AUC), mean and 95% CI over folds")
        ax.set_title(
            "linear probes (* registered better, corrected paired test p < 0.05)", fontsize=10
        )
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("Did registration help? Registered vs native, every modality", fontsize=12)
    fig.tight_layout()
    return fig


def write_headline(
    table: pd.DataFrame, out_prefix: str | os.PathLike, dpi: int = 150
) -> list[Path]:
    """The headline figure as PNG and PDF (no creation date: same table, same bytes)."""
    import matplotlib.pyplot as plt

    fig = headline_figure(table)
    paths = [Path(f"{out_prefix}.png"), Path(f"{out_prefix}.pdf")]
    try:
        for path in paths:
            meta = {"CreationDate": None} if path.suffix == ".pdf" else {}
            with atomic_path(path, suffix=path.suffix) as tmp:
                fig.savefig(tmp, format=path.suffix[1:], dpi=dpi, metadata=meta)
    finally:
        plt.close(fig)
    return paths
