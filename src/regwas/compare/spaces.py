"""Registered vs native: one row per modality x space, scored against planted truth when known."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from regwas.config.schema import section
from regwas.io.tables import read_tsv

log = logging.getLogger(__name__)


def recovered_loci(
    leads: pd.DataFrame, causal: pd.DataFrame, window_kb: float, p_threshold: float
) -> tuple[int, int, int]:
    """Count planted causal variants hit by a lead (same chromosome, within the window, p below
    threshold), and loci none of whose leads hits a causal variant (false loci).

    Leads that share a ``locus`` (LD-clumped leads grouped by distance) form one locus; without
    that column every lead is its own locus. Returns (causal recovered, causal total, false loci).
    """
    window = window_kb * 1000
    sig = leads[leads["p_value"].astype(float) < p_threshold]
    lead_chr = sig["chromosome"].astype(str).to_numpy()
    lead_pos = sig["base_pair_location"].astype(np.int64).to_numpy()
    c_chr = causal["chromosome"].astype(str).to_numpy()
    c_pos = causal["position"].astype(np.int64).to_numpy()
    near = (lead_chr[:, None] == c_chr[None, :]) & (
        np.abs(lead_pos[:, None] - c_pos[None, :]) <= window
    )
    locus = sig["locus"].to_numpy() if "locus" in sig.columns else np.arange(len(sig))
    hits_per_locus = pd.Series(near.any(axis=1)).groupby(locus).any()
    return int(near.any(axis=0).sum()), len(causal), int((~hits_per_locus).sum())


def lambda_outside(
    gwas: pd.DataFrame, causal: pd.DataFrame, distance_kb: float
) -> tuple[float, int]:
    """λGC over the variants farther than ``distance_kb`` from every planted causal variant.

    Near 1 when the inflation of the full λGC is signal in LD with the causal variants; above 1
    when something else (e.g. confounding by ancestry) inflates the null. Returns (λ, variants).
    """
    from regwas.genetics.inflation import lambda_gc

    chrom = gwas["chromosome"].astype(str).to_numpy()
    pos = gwas["base_pair_location"].to_numpy(np.int64)
    near = np.zeros(len(gwas), dtype=bool)
    for c_chrom, c_pos in zip(
        causal["chromosome"].astype(str), causal["position"].astype(np.int64), strict=True
    ):
        near |= (chrom == c_chrom) & (np.abs(pos - c_pos) <= distance_kb * 1000)
    far = gwas.loc[~near, "neg_log10_p"]
    return (lambda_gc(far) if len(far) else float("nan")), int((~near).sum())


def count_loci(leads: pd.DataFrame, p_threshold: float) -> int:
    """Significant loci: distinct ``locus`` values among significant leads (or the leads)."""
    sig = leads[leads["p_value"].astype(float) < p_threshold]
    return int(sig["locus"].nunique()) if "locus" in sig.columns else len(sig)


def _phecodes_of(value: object) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [p.strip() for p in str(value).replace(";", ",").split(",") if p.strip()]


def recovered_diseases(phewas: pd.DataFrame, diseases: pd.DataFrame) -> tuple[int, int]:
    """Planted disease links (non-zero effect) whose phecode is Bonferroni-significant."""
    planted = diseases[diseases["log_odds_ratio"].astype(float) != 0]
    column = "phecodes" if "phecodes" in planted.columns else "phecode"
    significant = set(phewas.loc[phewas["significant"].astype(bool), "phecode"].astype(str))
    hits = sum(any(p in significant for p in _phecodes_of(value)) for value in planted[column])
    return int(hits), len(planted)


def _method(files: dict) -> str:
    """The representation method of a space (its embeddings' metadata), or "" without them."""
    if not files.get("embeddings"):
        return ""
    from regwas.io.embeddings import read_embeddings_metadata

    return read_embeddings_metadata(files["embeddings"]).get("method", "")


def _people(kept: str | os.PathLike | None, excluded: str | os.PathLike | None) -> dict[str, int]:
    """People the probes of a modality's spaces share (comparison_samples.tsv) and those left
    out (exclusions.tsv), when given."""
    out: dict[str, int] = {}
    if kept is not None:
        out["n_compared"] = len(read_tsv(kept, dtype={"sample_id": str}))
    if excluded is not None:
        table = read_tsv(excluded, dtype={"sample_id": str})
        out["n_excluded"] = int(table["sample_id"].nunique())
        if out["n_excluded"]:
            log.info(
                "%d people left out of the comparison (%s): %s%s",
                out["n_excluded"],
                excluded,
                ", ".join(table["sample_id"].drop_duplicates().iloc[:5]),
                ", ..." if out["n_excluded"] > 5 else "",
            )
    return out


def compare_spaces(
    space_files: dict[str, dict[str, dict[str, str | os.PathLike]]],
    cfg: dict | None,
    causal_path: str | os.PathLike | None = None,
    diseases_path: str | os.PathLike | None = None,
    chromosomes: list[str] | None = None,
    people_files: dict[str, tuple[str | os.PathLike, str | os.PathLike]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the comparison table and the paired probe comparison (registered vs native).

    ``space_files``: modality -> space -> the files of that space, by kind: ``summary``
    (gwas_summary.json), ``leads`` (lead_variants.tsv), ``phewas``, ``probes`` and ``gwas``
    (gwas.tsv.gz, read only with planted truth), optionally ``samples`` (the array store's
    samples.tsv) and ``embeddings`` (embeddings.parquet: the ``method`` column); one table row
    per space, in this order.
    ``chromosomes``: the chromosomes that were analysed; planted causal variants elsewhere are
    not counted (``causal_total``), as no lead could recover them. ``people_files``:
    modality -> (comparison_samples.tsv, exclusions.tsv), for the counts of people compared
    and left out.
    """
    from regwas.compare.probes import compare_probes

    cfg = section("compare", cfg)
    causal = read_tsv(causal_path, dtype={"chromosome": str}) if causal_path else None
    if causal is not None and chromosomes is not None:
        causal = causal[causal["chromosome"].isin([str(c) for c in chromosomes])]
    diseases = read_tsv(diseases_path, dtype=str) if diseases_path else None
    rows, probe_rows = [], []
    for modality, by_space in space_files.items():
        probes_by_space = {}
        people = _people(*(people_files or {}).get(modality, (None, None)))
        for space, files in by_space.items():
            summary = json.loads(Path(files["summary"]).read_text())
            leads = read_tsv(files["leads"], dtype={"chromosome": str})
            phewas = read_tsv(files["phewas"], dtype={"phecode": str})
            probes = read_tsv(files["probes"])
            probes_by_space[space] = probes
            row = {
                "modality": modality,
                "space": space,
                "method": _method(files),
                "n_variants": summary.get("n_variants"),
                "lambda_gc": summary.get("lambda_gc"),
                "lead_loci": count_loci(leads, cfg["p_threshold"]),
            }
            if files.get("samples"):  # the space's array store: who it holds
                row["n_in_space"] = len(read_tsv(files["samples"], dtype={"sample_id": str}))
            row.update(people)
            if causal is not None:
                mine = causal[causal["modality"] == modality]
                hit, total, false = recovered_loci(
                    leads, mine, cfg["window_kb"], cfg["p_threshold"]
                )
                row.update(causal_recovered=hit, causal_total=total, false_loci=false)
                gwas = pd.read_csv(
                    files["gwas"],
                    sep="\t",
                    usecols=["chromosome", "base_pair_location", "neg_log10_p"],
                    dtype={"chromosome": str},
                )
                lam, n_far = lambda_outside(gwas, mine, 2 * cfg["window_kb"])
                row.update(lambda_gc_outside_causal=lam, n_variants_outside_causal=n_far)
            row["phewas_tests"] = len(phewas)
            row["phewas_hits"] = int(phewas["significant"].astype(bool).sum())
            if diseases is not None:
                mine = diseases[diseases["modality"].fillna("") == modality]
                hit, total = recovered_diseases(phewas, mine)
                row.update(disease_links_recovered=hit, disease_links_total=total)
            for p in probes.itertuples():
                row[f"probe_{p.phenotype}_{p.metric}"] = p.mean
            rows.append(row)
        native = probes_by_space.get("native")
        for space, probes in probes_by_space.items():
            if space == "native" or native is None:
                continue
            cmp = compare_probes(native, probes)
            cmp.insert(0, "space", space)
            cmp.insert(0, "modality", modality)
            probe_rows.append(cmp)
    table = pd.DataFrame(rows)
    probe_table = pd.concat(probe_rows, ignore_index=True) if probe_rows else pd.DataFrame()
    return table, probe_table
