"""Registered vs native: one row per modality x space, scored against planted truth when known."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from regwas.config.schema import defaults, section
from regwas.io.analysis import split_analysis
from regwas.io.tables import read_tsv

log = logging.getLogger(__name__)


def recovered_loci(
    leads: pd.DataFrame,
    causal: pd.DataFrame,
    window_kb: float,
    p_threshold: float,
    r2: float = 0.1,
    ld: LD | None = None,
) -> tuple[int, int, int]:
    """Score significant leads against planted causal variants with ONE window, the GWAS
    clumping window (the distance within which leads are grouped into loci).

    - A causal variant is **recovered** when a significant lead lies within ``window_kb`` on
      its chromosome; the most significant such lead is its **true lead**.
    - Every other lead within the window of a recovered causal variant is true only when it
      is not an independent signal: r² with that true lead >= ``r2`` (the clumping r²).
      ``ld(chromosome, variant_id_a, variant_id_b)`` gives r² from the genotypes; without it
      (no genotypes) distance decides and such a lead is true.
    - Leads farther than the window from every causal variant are false.
    - **False** = loci (``locus``, else each lead) with no true lead, plus the false leads in
      loci that do hold a true lead (an independent spurious signal next to a true one is not
      hidden by sharing its locus).

    Returns (causal recovered, causal total, false).
    """
    window = window_kb * 1000
    sig = leads[leads["p_value"].astype(float) < p_threshold].reset_index(drop=True)
    lead_chr = sig["chromosome"].astype(str).to_numpy()
    lead_pos = sig["base_pair_location"].astype(np.int64).to_numpy()
    lead_p = sig["p_value"].astype(float).to_numpy()
    ids = sig["variant_id"].astype(str).to_numpy() if "variant_id" in sig else None
    c_chr = causal["chromosome"].astype(str).to_numpy()
    c_pos = causal["position"].astype(np.int64).to_numpy()
    near = (lead_chr[:, None] == c_chr[None, :]) & (
        np.abs(lead_pos[:, None] - c_pos[None, :]) <= window
    )
    true = np.zeros(len(sig), dtype=bool)
    for j in np.flatnonzero(near.any(axis=0)):
        cand = np.flatnonzero(near[:, j])
        best = cand[np.argmin(lead_p[cand])]
        true[best] = True
        for i in cand:
            if i == best or true[i]:
                continue
            if ld is None or ids is None:
                true[i] = True
            else:
                true[i] = ld(lead_chr[i], ids[i], ids[best]) >= r2
    locus = sig["locus"].to_numpy() if "locus" in sig.columns else np.arange(len(sig))
    true_locus = pd.Series(true).groupby(locus).transform("any").to_numpy()
    false_loci = pd.unique(locus[~true_locus]).size
    false_in_true = int((true_locus & ~true).sum())
    return int(near.any(axis=0).sum()), len(causal), int(false_loci + false_in_true)


class LD:
    """r² between two variants of one chromosome from the PLINK files ``pattern`` (with
    {chrom}), over every sample of the .fam; the genotypes of a chromosome are read once per
    requested pair of variants (leads are few)."""

    def __init__(self, pattern: str | os.PathLike):
        self.pattern = str(pattern)
        self._bim: dict[str, pd.Index] = {}

    def __call__(self, chromosome: str, a: str, b: str) -> float:
        from regwas.genetics.standardise import unit_rows
        from regwas.io.genotypes import read_genotype_rows, read_variant_table

        prefix = self.pattern.replace("{chrom}", str(chromosome))
        if chromosome not in self._bim:
            bim = read_variant_table(prefix)
            self._bim[chromosome] = pd.Index(bim["variant_id"].astype(str))
        idx = self._bim[chromosome].get_indexer([a, b])
        if (idx < 0).any():
            return float("nan")
        G = read_genotype_rows(prefix, idx)
        u = unit_rows(G)
        return float((u[0] @ u[1]) ** 2)


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
    far = pd.to_numeric(gwas.loc[~near, "neg_log10_p"], errors="coerce").dropna()  # tested
    return (lambda_gc(far) if len(far) else float("nan")), len(far)


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


def _method(files: dict, suffix: str = "") -> str:
    """The representation method of an analysis (its embeddings' metadata); without them the
    analysis name's suffix, else ""."""
    if not files.get("embeddings"):
        return suffix
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
    causal_path: str | os.PathLike | None = None,
    diseases_path: str | os.PathLike | None = None,
    chromosomes: list[str] | None = None,
    people_files: dict[str, tuple[str | os.PathLike, str | os.PathLike]] | None = None,
    p_threshold: float | None = None,
    clump: dict | None = None,
    genotypes: str | os.PathLike | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the comparison table and the paired probe comparison (registered vs native).

    ``space_files``: modality -> analysis -> the files of that analysis, by kind: ``summary``
    (gwas_summary.json), ``leads`` (lead_variants.tsv), ``phewas``, ``probes`` and ``gwas``
    (gwas.tsv.gz, read only with planted truth), optionally ``samples`` (the array store's
    samples.tsv) and ``embeddings`` (embeddings.parquet: the ``method`` column); one table row
    per analysis, in this order. An analysis is a space (``native``, ``median_beat``) or,
    with represent.baseline, a space and that method (``native.pca``; ``split_analysis``):
    the row's ``space`` is the space, ``method`` the embeddings' method, ``analysis`` the name
    as given, and each registered analysis is paired with the native one of the same suffix
    (same method) in the probe comparison, whose rows carry that ``method`` too.
    ``chromosomes``: the chromosomes that were analysed; planted causal variants elsewhere are
    not counted (``causal_total``), as no lead could recover them. ``people_files``:
    modality -> (comparison_samples.tsv, exclusions.tsv), for the counts of people compared
    and left out. ``clump``: the GWAS's ``gwas.clump`` section, whose window (and r²) scores
    the leads (``recovered_loci``; default the schema's); ``genotypes``: the PLINK prefix
    pattern ({chrom}) from which a second lead near a true one is judged by LD (None: by
    distance only). ``p_threshold``: genome-wide significance of lead variants (default the
    schema's gwas.p_threshold, the one threshold of the GWAS, compare and the plots).
    """
    from regwas.compare.probes import compare_probes

    p_threshold = float(defaults("gwas.p_threshold") if p_threshold is None else p_threshold)
    clump = section("gwas", {"clump": dict(clump or {})})["clump"]
    ld = LD(genotypes) if genotypes else None
    causal = read_tsv(causal_path, dtype={"chromosome": str}) if causal_path else None
    if causal is not None and chromosomes is not None:
        causal = causal[causal["chromosome"].isin([str(c) for c in chromosomes])]
    diseases = read_tsv(diseases_path, dtype=str) if diseases_path else None
    rows, probe_rows = [], []
    for modality, by_space in space_files.items():
        probes_by_analysis, methods = {}, {}
        people = _people(*(people_files or {}).get(modality, (None, None)))
        for analysis, files in by_space.items():
            space, suffix = split_analysis(analysis)
            methods[analysis] = _method(files, suffix)
            summary = json.loads(Path(files["summary"]).read_text())
            leads = read_tsv(files["leads"], dtype={"chromosome": str})
            phewas = read_tsv(files["phewas"], dtype={"phecode": str})
            probes = read_tsv(files["probes"])
            probes_by_analysis[analysis] = probes
            row = {
                "modality": modality,
                "space": space,
                "method": methods[analysis],
                "analysis": analysis,
                "n_variants": summary.get("n_variants"),
                "lambda_gc": summary.get("lambda_gc"),
                "lead_loci": count_loci(leads, p_threshold),
            }
            if files.get("samples"):  # the space's array store: who it holds
                row["n_in_space"] = len(read_tsv(files["samples"], dtype={"sample_id": str}))
            row.update(people)
            if causal is not None:
                mine = causal[causal["modality"] == modality]
                hit, total, false = recovered_loci(
                    leads, mine, clump["window_kb"], p_threshold, clump["r2"], ld
                )
                row.update(causal_recovered=hit, causal_total=total, false_loci=false)
                gwas = pd.read_csv(
                    files["gwas"],
                    sep="\t",
                    usecols=["chromosome", "base_pair_location", "neg_log10_p"],
                    dtype={"chromosome": str},
                )
                lam, n_far = lambda_outside(gwas, mine, 2 * clump["window_kb"])
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
        for analysis, probes in probes_by_analysis.items():
            space, suffix = split_analysis(analysis)
            native = probes_by_analysis.get(".".join(filter(None, ("native", suffix))))
            if space == "native" or native is None:
                continue
            cmp = compare_probes(native, probes)
            cmp.insert(0, "analysis", analysis)
            cmp.insert(0, "method", methods[analysis])
            cmp.insert(0, "space", space)
            cmp.insert(0, "modality", modality)
            probe_rows.append(cmp)
    table = pd.DataFrame(rows)
    probe_table = pd.concat(probe_rows, ignore_index=True) if probe_rows else pd.DataFrame()
    return table, probe_table
