"""Cohort stage: validate a cohort's inputs and compute genetic principal components.

The same checks serve the synthetic biobank and a real cohort: the samples, diagnoses and
manifest tables are validated against their schemas, manifest files must exist (and their
NIfTI / WFDB headers must read), sample ids must match the genotype .fam, and every .fam of
the per-chromosome file sets must be identical. Relatives are then removed: KING-robust kinship
of all pairs and plink2's greedy --king-cutoff rule (``regwas.genetics.kinship``), or a given
keep list; the removed people leave every table this stage writes, so no later stage (GWAS,
PheWAS, probes, registration) sees them, and are listed with the relative that caused their
removal. Genetic PCs come from common, well-called, LD-pruned variants outside long-range LD
regions, fitted on the kept (unrelated) people by a seeded randomized SVD that streams int8
genotypes, so memory stays at one byte per genotype used; the removed relatives are projected
onto them (their scores are reported with them)."""

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
from regwas.genetics.kinship import king_cutoff, king_pairs
from regwas.genetics.pca import compute_pcs, long_range_ld_regions
from regwas.io.atomic import atomic_path
from regwas.io.genotypes import sample_file

logger = logging.getLogger(__name__)


def check_x_sex(fam: pd.DataFrame, samples: pd.DataFrame, fam_path: str, samples_path: str) -> None:
    """Chromosome X is analysed with the .fam sex (1 male, 2 female): it must agree with the
    samples table's sex (M/F) wherever the .fam gives one; 0 (unknown) is allowed (those people
    are left out on X, with a warning, as plink2 --glm does)."""
    if "sex" not in fam.columns:
        raise InputError(
            f"{fam_path}: chromosome X needs the sex of each sample: give the genotypes as PLINK 1 "
            "(.bed/.fam) or PLINK 2 (.pgen/.psam with SEX)"
        )
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
    diagnoses.tsv, {modality}.manifest.tsv (absolute paths), pca.tsv, related_pairs.tsv and
    related_removed.tsv, all or nothing. Returns a summary of counts.
    """
    from threadpoolctl import threadpool_limits

    cfg = section("cohort_qc", cfg)
    pca = cfg["pca"]
    rel = cfg["relatedness"]
    if pca["build"] is not None:
        long_range_ld_regions(pca["build"])  # an unknown build stops before any work
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
    fam_path = str(sample_file(next(iter(prefixes.values()))))
    fam_ids = fam["iid"].to_numpy(dtype=object)
    in_fam = set(fam_ids)
    sample_ids = set(samples["sample_id"])
    n_without_row = {}
    for mod, man in list(manifests.items()):
        unknown = [s for s in man["sample_id"] if s not in sample_ids]
        n_without_row[mod] = len(unknown)
        if not unknown:
            continue
        where = f"{mod} manifest {manifests_in[mod]}"
        if not cfg["drop_unmatched_samples"]:
            raise InputError(
                f"{where}: {len(unknown)} sample ids are not in {inputs['samples']}: "
                f"{_examples(unknown)} (cohort_qc.drop_unmatched_samples: true "
                "(--drop-unmatched-samples) drops them)"
            )
        logger.warning(
            "%s: dropped %d rows whose sample is not in %s (%s)",
            where,
            len(unknown),
            inputs["samples"],
            _examples(unknown),
        )
        manifests[mod] = man[man["sample_id"].isin(sample_ids)].reset_index(drop=True)
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
        check_manifest_files(
            man,
            mod,
            manifests_in[mod],
            deep=cfg["check_files"],
            threads=threads,
            ecg_fs=cfg["ecg_fs"],
            ecg_leads=cfg["ecg_leads"],
        )

    # 4. relatives, from the autosomes (X, with men hemizygous, would add a sex axis, as for
    # the PCs); the removed leave every output table
    if any(is_x_chromosome(c) for c in prefixes):
        check_x_sex(fam, samples, fam_path, inputs["samples"])
    autosomes = {c: p for c, p in prefixes.items() if not is_x_chromosome(c)}
    if not autosomes:
        raise InputError(
            f"chromosomes {list(prefixes)}: genetic PCs need at least one autosome besides X"
        )
    sample_index = np.flatnonzero(keep)
    with threadpool_limits(limits=threads):
        pairs, removed = find_relatives(autosomes, sample_index, final_ids, fam_path, rel)
    unrelated = ~np.isin(final_ids, removed["sample_id"].to_numpy())
    kept_ids = set(final_ids[unrelated])
    samples = samples[samples["sample_id"].isin(kept_ids)].reset_index(drop=True)
    n_rel_diag = len(diagnoses)
    diagnoses = diagnoses[diagnoses["sample_id"].isin(kept_ids)].reset_index(drop=True)
    for mod in manifests:
        manifests[mod] = manifests[mod][manifests[mod]["sample_id"].isin(kept_ids)].reset_index(
            drop=True
        )
    if len(removed):
        logger.info(
            "relatedness: %d of %d people removed (with %d diagnoses rows)",
            len(removed),
            len(final_ids),
            n_rel_diag - len(diagnoses),
        )

    # 5. genetic PCs (autosomes) fitted on the unrelated, the removed relatives projected
    with threadpool_limits(limits=threads):
        scores, pca_table, used = compute_pcs(autosomes, sample_index, pca, seed, fit=unrelated)
    pc_cols = list(pca_table["component"])
    removed = removed.merge(
        pd.DataFrame(scores[~unrelated], columns=pc_cols).assign(sample_id=final_ids[~unrelated]),
        on="sample_id",
        how="left",
        validate="1:1",
    )
    scores = scores[unrelated]
    clash = [c for c in samples.columns if c in pc_cols or c == "sex_male"]
    if clash:
        logger.warning("samples table columns %s are replaced by the computed ones", clash)
        samples = samples.drop(columns=clash)
    samples["sex_male"] = (samples["sex"] == "M").astype(np.int8)
    samples = pd.concat([samples, pd.DataFrame(scores, columns=pc_cols)], axis=1)

    # 6. outputs, all or nothing
    outputs = {
        "samples.tsv": samples,
        "diagnoses.tsv": diagnoses,
        "pca.tsv": pca_table,
        "related_pairs.tsv": pairs,
        "related_removed.tsv": removed,
    }
    for mod, man in manifests.items():
        outputs[f"{mod}.manifest.tsv"] = man
    with contextlib.ExitStack() as stack:
        for name, table in outputs.items():
            tmp = stack.enter_context(atomic_path(out_dir / name))
            table.to_csv(tmp, sep="\t", index=False)
    summary = {
        "n_fam": len(fam),
        "n_samples_table": len(sample_ids),
        "n_samples": len(samples),
        "n_related_removed": len(removed),
        "n_related_pairs": len(pairs),
        "n_genotyped_without_row": n_no_row,
        "n_unmatched_dropped": n_unmatched,
        "n_manifest_rows_without_sample": n_without_row,
        "n_diagnoses": len(diagnoses),
        "n_diagnoses_dropped": n_diag - len(diagnoses),
        "manifests": {mod: len(man) for mod, man in manifests.items()},
        "n_variants_pca": int(pca_table["n_variants"].iloc[0]),
        "variance_explained": [float(x) for x in pca_table["variance_explained"]],
    }
    logger.info("cohort: %d samples written to %s", len(samples), out_dir)
    return summary


PAIR_COLUMNS = ["sample_id_1", "sample_id_2", "nsnp", "hethet", "ibs0", "kinship"]
REMOVED_COLUMNS = ["sample_id", "reason", "n_related", "related_to", "kinship"]


def read_keep_file(path: str | os.PathLike) -> list[str]:
    """Sample ids of a keep list: one id per line, or plink's FID IID columns (IID used);
    '#' lines and a header line (IID / sample_id) are skipped."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"cohort_qc.relatedness.keep_file {path}: file does not exist")
    ids = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        iid = fields[0] if len(fields) == 1 else fields[1]
        if number == 1 and iid in ("IID", "sample_id"):
            continue
        ids.append(iid)
    if not ids:
        raise InputError(f"cohort_qc.relatedness.keep_file {path}: no sample id in the file")
    return ids


def find_relatives(
    prefixes: dict[str, str],
    sample_index: np.ndarray,
    sample_ids: np.ndarray,
    fam_path: str,
    rel: dict,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Related pairs (kinship above ``report_min_kinship``) and the people to remove (plink2's
    greedy --king-cutoff order, with the relative of highest kinship that caused it), among
    the samples at ``sample_index`` (.fam positions; ids ``sample_ids``). With ``keep_file``
    the people not in it are removed instead (its ids must all be in the .fam)."""
    sample_ids = np.asarray(sample_ids, dtype=object)
    no_pairs = pd.DataFrame(columns=PAIR_COLUMNS)
    if not rel["enabled"]:
        return no_pairs, pd.DataFrame(columns=REMOVED_COLUMNS)
    if rel["keep_file"] is not None:
        ids = read_keep_file(rel["keep_file"])
        from regwas.io.plink import read_fam

        in_fam = set(read_fam(fam_path)["iid"])
        unknown = [s for s in ids if s not in in_fam]
        if unknown:
            raise InputError(
                f"cohort_qc.relatedness.keep_file {rel['keep_file']}: {len(unknown)} sample ids "
                f"are not in the genotypes {fam_path}: {_examples(unknown)}"
            )
        out = [s for s in sample_ids if s not in set(ids)]
        removed = pd.DataFrame(
            {"sample_id": out, "reason": "not in keep_file", "n_related": pd.NA}
        ).assign(related_to=pd.NA, kinship=np.nan)
        return no_pairs, removed[REMOVED_COLUMNS]
    report = min(rel["report_min_kinship"], rel["king_cutoff"])
    pairs = king_pairs(prefixes, sample_index, report, rel["block_samples"])
    cut = king_cutoff(len(sample_index), pairs, rel["king_cutoff"])
    table = pd.DataFrame(
        {
            "sample_id_1": sample_ids[pairs["index1"].to_numpy(dtype=np.int64)],
            "sample_id_2": sample_ids[pairs["index2"].to_numpy(dtype=np.int64)],
            "nsnp": pairs["nsnp"],
            "hethet": pairs["hethet"],
            "ibs0": pairs["ibs0"],
            "kinship": pairs["kinship"],
        }
    )
    removed = pd.DataFrame(
        {
            "sample_id": sample_ids[cut["index"].to_numpy(dtype=np.int64)],
            "reason": f"KING kinship > {rel['king_cutoff']:g}",
            "n_related": cut["n_related"],
            "related_to": sample_ids[cut["partner"].to_numpy(dtype=np.int64)],
            "kinship": cut["kinship"],
        }
    )
    logger.info(
        "relatedness: %d pairs with kinship > %g; %d people removed at king_cutoff %g",
        len(table),
        report,
        len(removed),
        rel["king_cutoff"],
    )
    return table, removed
