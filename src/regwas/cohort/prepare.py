"""Cohort stage: validate a cohort's inputs and compute genetic principal components.

The same checks serve the synthetic biobank and a real cohort: the samples, diagnoses and
manifest tables are validated against their schemas, manifest files must exist (and their
NIfTI / WFDB headers must read), sample ids must match the genotype .fam, and every .fam of
the per-chromosome file sets must be identical. Genetic PCs come from common, well-called,
LD-pruned variants by a seeded randomized SVD that streams int8 genotypes, so memory stays
at one byte per genotype used."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from regwas.cohort.checks import (
    _examples,
    _unmatched_report,
    check_bed_files,
    check_fam_files,
    check_manifest_files,
    chromosome_prefixes,
    resolve_manifest_paths,
)
from regwas.cohort.tables import validate_table
from regwas.config.schema import section
from regwas.errors import InputError
from regwas.genetics.chromosomes import is_x_chromosome
from regwas.genetics.pca import compute_pcs
from regwas.io.atomic import atomic_path

logger = logging.getLogger(__name__)


def check_x_sex(fam: pd.DataFrame, samples: pd.DataFrame, fam_path: str, samples_path: str) -> None:
    """Chromosome X is analysed with the .fam sex (1 male, 2 female): it must agree with the
    samples table's sex (M/F) wherever the .fam gives one; 0 (unknown) is allowed (those people
    are left out on X, with a warning, as plink2 --glm does)."""
    fam_sex = pd.Series(fam["sex"].astype(str).to_numpy(), index=fam["iid"].to_numpy())
    table_sex = samples.set_index("sample_id")["sex"]
    code = fam_sex.reindex(table_sex.index)
    expected = table_sex.map({"M": "1", "F": "2"})
    bad = code.isin(["1", "2"]) & (code != expected)
    if bad.any():
        ids = list(table_sex.index[bad.to_numpy()])
        raise InputError(
            f"{fam_path}: the sex of {len(ids)} people (column 5: 1 male, 2 female) differs from "
            f"{samples_path} (e.g. {', '.join(map(str, ids[:5]))}); chromosome X needs the "
            "right sex: correct one of the two, or set the .fam sex to 0 to leave them out on X"
        )
    unknown = int((~code.isin(["1", "2"])).sum())
    if unknown:
        logger.warning(
            "%s: %d people have no sex (1 or 2) in the .fam; the GWAS leaves them out on X",
            fam_path,
            unknown,
        )


def prepare_cohort(
    inputs: dict,
    chromosomes: list,
    cfg: dict,
    out_dir: str | os.PathLike,
    seed: int,
    threads: int = 1,
) -> dict:
    """Validate a cohort's inputs, compute genetic PCs and write the checked tables to out_dir.

    ``inputs``: genotypes (PLINK prefix pattern with {chrom}), samples, diagnoses, manifests
    ({modality: path}). Writes samples.tsv (+ sex_male, PC1..PCk, in .fam order),
    diagnoses.tsv, {modality}.manifest.tsv (absolute paths) and pca.tsv, all or nothing.
    Returns a summary of counts.
    """
    from threadpoolctl import threadpool_limits

    cfg = section("cohort_qc", cfg)
    pca = cfg["pca"]
    out_dir = Path(out_dir)
    manifests_in = dict(inputs.get("manifests") or {})
    for key in ("genotypes", "samples", "diagnoses"):
        if not inputs.get(key):
            raise InputError(f"inputs.{key} is not set")

    # 1. tables
    samples = validate_table(inputs["samples"], "samples")
    diagnoses = validate_table(inputs["diagnoses"], "diagnoses")
    manifests = {
        mod: resolve_manifest_paths(validate_table(path, "manifest"), path)
        for mod, path in manifests_in.items()
    }

    # 2. genotypes and sample ids
    prefixes = chromosome_prefixes(inputs["genotypes"], chromosomes)
    fam = check_fam_files(prefixes)
    check_bed_files(prefixes, len(fam))  # cheap: before any record or image is opened
    fam_path = f"{next(iter(prefixes.values()))}.fam"
    fam_ids = fam["iid"].to_numpy(dtype=object)
    in_fam = set(fam_ids)
    sample_ids = set(samples["sample_id"])
    for mod, man in manifests.items():
        unknown = [s for s in man["sample_id"] if s not in sample_ids]
        if unknown:
            raise InputError(
                f"{mod} manifest {manifests_in[mod]}: {len(unknown)} sample ids are not in "
                f"{inputs['samples']}: {_examples(unknown)}"
            )
    unmatched = {
        f"samples {inputs['samples']}": [s for s in samples["sample_id"] if s not in in_fam]
    }
    for mod, man in manifests.items():
        unmatched[f"{mod} manifest {manifests_in[mod]}"] = [
            s for s in man["sample_id"] if s not in in_fam
        ]
    n_unmatched = {k: len(v) for k, v in unmatched.items()}
    if any(n_unmatched.values()):
        if not cfg["drop_unmatched_samples"]:
            raise InputError(_unmatched_report(unmatched, fam_path))
        for where, n_drop in n_unmatched.items():
            if n_drop:
                logger.warning("%s: dropped %d sample ids without genotypes", where, n_drop)
    keep = np.array([s in sample_ids for s in fam_ids])
    n_no_row = int((~keep).sum())
    if n_no_row:
        logger.info("%d genotyped people have no row in %s; left out", n_no_row, inputs["samples"])
    final_ids = fam_ids[keep]
    if len(final_ids) == 0:
        raise InputError(f"no sample of {inputs['samples']} is in the genotypes {fam_path}")
    order = pd.Series(np.arange(len(final_ids)), index=final_ids)
    samples = samples[samples["sample_id"].isin(order.index)]
    samples = samples.iloc[np.argsort(order[samples["sample_id"]].to_numpy())].reset_index(
        drop=True
    )
    n_diag = len(diagnoses)
    diagnoses = diagnoses[diagnoses["sample_id"].isin(order.index)].reset_index(drop=True)
    if len(diagnoses) < n_diag:
        logger.info(
            "diagnoses: dropped %d of %d rows (people not in the analysed cohort)",
            n_diag - len(diagnoses),
            n_diag,
        )
    for mod in manifests:
        man = manifests[mod]
        man = man[man["sample_id"].isin(order.index)]
        manifests[mod] = man.iloc[np.argsort(order[man["sample_id"]].to_numpy())].reset_index(
            drop=True
        )

    # 3. files named by the manifests
    for mod, man in manifests.items():
        check_manifest_files(man, mod, manifests_in[mod], deep=cfg["check_files"], threads=threads)

    # 4. genetic PCs, from the autosomes (X, with men hemizygous, would add a sex axis)
    if any(is_x_chromosome(c) for c in prefixes):
        check_x_sex(fam, samples, fam_path, inputs["samples"])
    autosomes = {c: p for c, p in prefixes.items() if not is_x_chromosome(c)}
    if not autosomes:
        raise InputError(
            f"chromosomes {list(prefixes)}: genetic PCs need at least one autosome besides X"
        )
    sample_index = np.flatnonzero(keep)
    with threadpool_limits(limits=threads):
        scores, pca_table, used = compute_pcs(autosomes, sample_index, pca, seed)
    pc_cols = list(pca_table["component"])
    clash = [c for c in samples.columns if c in pc_cols or c == "sex_male"]
    if clash:
        logger.warning("samples table columns %s are replaced by the computed ones", clash)
        samples = samples.drop(columns=clash)
    samples["sex_male"] = (samples["sex"] == "M").astype(np.int8)
    samples = pd.concat([samples, pd.DataFrame(scores, columns=pc_cols)], axis=1)

    # 5. outputs, all or nothing
    outputs = {"samples.tsv": samples, "diagnoses.tsv": diagnoses, "pca.tsv": pca_table}
    for mod, man in manifests.items():
        outputs[f"{mod}.manifest.tsv"] = man
    with contextlib.ExitStack() as stack:
        for name, table in outputs.items():
            tmp = stack.enter_context(atomic_path(out_dir / name))
            table.to_csv(tmp, sep="\t", index=False)
    summary = {
        "n_fam": len(fam),
        "n_samples_table": len(sample_ids),
        "n_samples": len(final_ids),
        "n_genotyped_without_row": n_no_row,
        "n_unmatched_dropped": n_unmatched,
        "n_diagnoses": len(diagnoses),
        "n_diagnoses_dropped": n_diag - len(diagnoses),
        "manifests": {mod: len(man) for mod, man in manifests.items()},
        "n_variants_pca": int(pca_table["n_variants"].iloc[0]),
        "variance_explained": [float(x) for x in pca_table["variance_explained"]],
    }
    logger.info("cohort: %d samples written to %s", len(final_ids), out_dir)
    return summary
