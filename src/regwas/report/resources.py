"""Resource usage per rule from Snakemake's benchmark files (one TSV per job)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

RESOURCE_COLUMNS = ["rule", "jobs", "total_s", "max_s", "max_rss_mb", "cpu_time_s"]


def read_benchmarks(root: str | os.PathLike) -> pd.DataFrame:
    """One row per benchmark file under ``root``: the job (path without .tsv), its rule (the
    first folder, or the file name for rules without wildcards) and its seconds, max RSS (MB)
    and CPU time. Files that are not benchmark tables are skipped."""
    root = Path(root)
    rows = []
    for path in sorted(root.rglob("*.tsv")):
        try:
            table = pd.read_csv(path, sep="\t")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
            continue
        if table.empty or "s" not in table.columns:
            continue
        rel = path.relative_to(root).with_suffix("")
        rows.append(
            {
                "rule": rel.parts[0] if len(rel.parts) > 1 else rel.name,
                "job": str(rel),
                "s": float(table["s"].iloc[-1]),
                "max_rss_mb": float(pd.to_numeric(table.get("max_rss"), errors="coerce").iloc[-1])
                if "max_rss" in table.columns
                else float("nan"),
                "cpu_time_s": float(pd.to_numeric(table.get("cpu_time"), errors="coerce").iloc[-1])
                if "cpu_time" in table.columns
                else float("nan"),
            }
        )
    return pd.DataFrame(rows, columns=["rule", "job", "s", "max_rss_mb", "cpu_time_s"])


def resource_table(root: str | os.PathLike) -> pd.DataFrame:
    """Per rule: jobs, total and longest wall time (s), largest max RSS (MB), total CPU (s);
    the longest-running rules first."""
    jobs = read_benchmarks(root)
    if jobs.empty:
        return pd.DataFrame(columns=RESOURCE_COLUMNS)
    table = (
        jobs.groupby("rule")
        .agg(
            jobs=("job", "size"),
            total_s=("s", "sum"),
            max_s=("s", "max"),
            max_rss_mb=("max_rss_mb", "max"),
            cpu_time_s=("cpu_time_s", "sum"),
        )
        .reset_index()
        .sort_values(["total_s", "rule"], ascending=[False, True])
    )
    return table[RESOURCE_COLUMNS].round(2).reset_index(drop=True)
