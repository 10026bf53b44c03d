"""Summary statistics in the GWAS Catalog's GWAS-SSF format (v1.0), with its metadata YAML,
and a check of the format's rules.

The rules are those of the GWAS-SSF standard (Hayhurst et al. 2023, "A community standard for
summary statistics", and EBISPOT/gwas-summary-statistics-standard) as its reference validator
``gwas-sumstats-tools`` 1.0.25 (``gwas_sumstats_tools/schema/data_table.py``, ``validate.py``,
``schema/metadata.py``) applies them:

- file name ends in ``.tsv`` or ``.tsv.gz``; tab-separated; missing values are ``NA``;
- the first eight columns, in order: chromosome, base_pair_location, effect_allele,
  other_allele, beta (or odds_ratio / hazard_ratio), standard_error, effect_allele_frequency,
  p_value (or neg_log_10_p_value); optional standard columns (variant_id, rsid, ref_allele,
  ci_upper, ci_lower, info, n) and further columns may follow;
- chromosome an integer 1-25 (X = 23, Y = 24, MT = 25); base_pair_location an integer >= 0;
  alleles nucleotide sequences ``[ACTGactg]+`` (or LONG_STRING); beta and standard_error
  numbers (not missing); effect_allele_frequency in [0, 1]; p_value in [0, 1] with a mantissa
  > 0 (p = 0 only when explicitly allowed); variant_id matching ``[A-Za-z0-9_]+``; n an integer
  >= 0;
- the validator also asks for every autosome 1-22 and at least 100,000 rows (both options
  here, since a test cohort has three short chromosomes);
- metadata ``<data file>-meta.yaml`` with at least data_file_name, data_file_md5sum,
  genome_assembly, date_metadata_last_modified, file_type ``GWAS-SSF v1.0``.

The latent-space GWAS is a multivariate test (MANOVA of a d-dimensional embedding on each
variant): it has no single signed effect. ``beta`` is its equivalent standardised effect
z/sqrt(n) (z the two-sided normal quantile of the MANOVA p, so beta >= 0 and carries no
direction) with ``standard_error`` 1/sqrt(n), so that beta / standard_error reproduces the
p-value; the metadata says so, and Pillai's trace, F and its degrees of freedom follow as extra
columns.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from regwas.errors import InputError
from regwas.io.atomic import atomic_path
from regwas.io.sumstats import read_sumstats, tested
from regwas.io.tables import write_tsv

SSF_VERSION = "GWAS-SSF v1.0"
MANDATORY = [
    "chromosome",
    "base_pair_location",
    "effect_allele",
    "other_allele",
    "beta",
    "standard_error",
    "effect_allele_frequency",
    "p_value",
]
EFFECT_FIELDS = ("beta", "odds_ratio", "hazard_ratio")
PVALUE_FIELDS = ("p_value", "neg_log_10_p_value")
OPTIONAL = ["variant_id", "rsid", "ref_allele", "ci_upper", "ci_lower", "info", "n"]
EXTRA = ["pillai", "f_stat", "df1", "df2"]
SSF_COLUMNS = [*MANDATORY, "variant_id", "n", *EXTRA]
CHROM_CODES = {"X": 23, "Y": 24, "XY": 23, "MT": 25, "M": 25}
ALLELE = re.compile(r"^(LONG_STRING|[ACTGactg]+)$")
VARIANT_ID = re.compile(r"^[A-Za-z0-9_]+$")
META_REQUIRED = [
    "data_file_name",
    "data_file_md5sum",
    "genome_assembly",
    "date_metadata_last_modified",
    "file_type",
]


def chromosome_code(chrom: object) -> int:
    """GWAS-SSF chromosome: 1-22, X = 23, Y = 24, MT = 25 (a leading 'chr' is dropped)."""
    text = str(chrom).strip().removeprefix("chr").upper()
    if text in CHROM_CODES:
        return CHROM_CODES[text]
    if text.isdigit() and 1 <= int(text) <= 25:
        return int(text)
    raise InputError(f"chromosome {chrom!r} has no GWAS-SSF code (1-22, X, Y, MT)")


def p_value_text(neg_log10_p: np.ndarray) -> list[str]:
    """p as text, exact below the float64 range: ``m.mmmmmme-EEE`` from -log10 p."""
    out = []
    for x in np.asarray(neg_log10_p, dtype=np.float64):
        if not np.isfinite(x):
            out.append("NA")
            continue
        x = max(float(x), 0.0)
        if x < 300:
            out.append(f"{10.0**-x:.6g}")
            continue
        exponent = math.ceil(x)
        mantissa = 10.0 ** (exponent - x)
        if mantissa >= 9.9999995:
            mantissa, exponent = 1.0, exponent - 1
        out.append(f"{mantissa:.6g}e-{exponent}")
    return out


def equivalent_beta(neg_log10_p: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(beta, standard_error): z/sqrt(n) and 1/sqrt(n), z the two-sided normal quantile of p
    (computed from log p, so exact where p underflows)."""
    from scipy.special import ndtri_exp

    log_half_p = -np.asarray(neg_log10_p, dtype=np.float64) * np.log(10.0) - np.log(2.0)
    z = -ndtri_exp(np.minimum(log_half_p, np.log(0.5)))
    se = 1.0 / np.sqrt(np.asarray(n, dtype=np.float64))
    return np.maximum(z, 0.0) * se, se


def to_gwas_ssf(sumstats: pd.DataFrame) -> pd.DataFrame:
    """The regwas summary statistics as a GWAS-SSF table (columns SSF_COLUMNS). Variants
    written without a test (empty p-value, a ``note``) are left out: GWAS-SSF requires a p."""
    if "note" in sumstats.columns:
        sumstats = sumstats[tested(sumstats)].reset_index(drop=True)
    beta, se = equivalent_beta(sumstats["neg_log10_p"], sumstats["n"])
    variant = sumstats["variant_id"].astype(str).str.replace(r"[^A-Za-z0-9_]", "_", regex=True)
    return pd.DataFrame(
        {
            "chromosome": [chromosome_code(c) for c in sumstats["chromosome"]],
            "base_pair_location": sumstats["base_pair_location"].astype(np.int64),
            "effect_allele": sumstats["effect_allele"].astype(str),
            "other_allele": sumstats["other_allele"].astype(str),
            "beta": beta,
            "standard_error": se,
            "effect_allele_frequency": sumstats["effect_allele_frequency"].astype(float),
            "p_value": p_value_text(sumstats["neg_log10_p"]),
            "variant_id": variant,
            "n": sumstats["n"].astype(np.int64),
            **{c: sumstats[c] for c in EXTRA},
        }
    )


def ssf_metadata(
    data_file: str | os.PathLike,
    *,
    sample_size: int,
    trait: str,
    genome_assembly: str,
    software: str,
    covariates: list[str] | None = None,
    date: str | None = None,
    notes: str | None = None,
) -> dict:
    """The GWAS-SSF metadata of ``data_file`` (md5 of its bytes; field order of the schema)."""
    data_file = Path(data_file)
    md5 = hashlib.md5(usedforsecurity=False)
    with open(data_file, "rb") as fh:
        while block := fh.read(1 << 20):
            md5.update(block)
    meta = {
        "author_notes": notes,
        "date_metadata_last_modified": date or dt.date.today().isoformat(),
        "trait_description": [trait],
        "genome_assembly": genome_assembly,
        "coordinate_system": "1-based",
        "samples": [{"sample_size": int(sample_size)}],
        "data_file_name": data_file.name,
        "file_type": SSF_VERSION,
        "data_file_md5sum": md5.hexdigest(),
        "analysis_software": software,
        "adjusted_covariates": list(covariates or []),
        "is_harmonised": False,
        "is_sorted": True,
    }
    return {k: v for k, v in meta.items() if v is not None}


def write_gwas_ssf(
    sumstats_path: str | os.PathLike,
    out: str | os.PathLike,
    meta: Mapping,
) -> tuple[Path, Path]:
    """Write ``out`` (.tsv.gz) and ``out``-meta.yaml. ``meta``: the keyword arguments of
    ssf_metadata other than the file and sample size (taken from the n column)."""
    out = Path(out)
    if not out.name.endswith((".tsv", ".tsv.gz")):
        raise InputError(f"{out}: a GWAS-SSF file name ends in .tsv or .tsv.gz")
    sumstats = read_sumstats(sumstats_path)
    table = to_gwas_ssf(sumstats)
    write_tsv(table, out, na_rep="NA")
    n = int(sumstats["n"].max()) if len(sumstats) else 0
    metadata = ssf_metadata(out, sample_size=n, **meta)
    meta_path = out.with_name(out.name + "-meta.yaml")
    with atomic_path(meta_path) as tmp:
        tmp.write_text(yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True))
    return out, meta_path


def check_gwas_ssf(
    path: str | os.PathLike,
    minimum_rows: int = 100_000,
    require_all_autosomes: bool = True,
    max_errors: int = 20,
) -> list[str]:
    """Problems of a GWAS-SSF file and its metadata against the rules above (empty: valid)."""
    path = Path(path)
    problems: list[str] = []
    if not path.name.endswith((".tsv", ".tsv.gz")):
        problems.append(f"extension of {path.name!r} is not .tsv or .tsv.gz")
    table = pd.read_csv(
        path,
        sep="\t",
        dtype=str,
        keep_default_na=False,
        na_values=["", "#NA", "NA", "N/A", "NaN", "NR"],
    )
    header = list(table.columns)
    order = list(MANDATORY)
    if len(header) > 4 and header[4] in EFFECT_FIELDS:
        order[4] = header[4]
    if len(header) > 7 and header[7] in PVALUE_FIELDS:
        order[7] = header[7]
    if header[: len(order)] != order:
        problems.append(f"first columns {header[:8]} are not, in order, {order}")
        return problems

    def number(col: str) -> pd.Series:
        return pd.to_numeric(table[col], errors="coerce")

    def bad(mask: pd.Series, col: str, rule: str) -> None:
        if mask.any():
            first = int(np.flatnonzero(mask.to_numpy())[0])
            problems.append(
                f"{col}: {int(mask.sum())} rows {rule} (first at data row {first + 1}: "
                f"{table[col].iloc[first]!r})"
            )

    chrom = number("chromosome")
    bad(chrom.isna() | (chrom % 1 != 0) | (chrom < 1) | (chrom > 25), "chromosome", "not 1-25")
    bp = number("base_pair_location")
    bad(bp.isna() | (bp % 1 != 0) | (bp < 0), "base_pair_location", "not an integer >= 0")
    for col in ("effect_allele", "other_allele"):
        bad(~table[col].fillna("").str.match(ALLELE), col, "not a nucleotide sequence")
    effect = number(order[4])
    bad(effect.isna(), order[4], "not a number")
    if order[4] != "beta":
        bad(effect < 0, order[4], "negative")
    bad(number("standard_error").isna(), "standard_error", "not a number")
    eaf = number("effect_allele_frequency")
    bad(eaf.isna() | (eaf < 0) | (eaf > 1), "effect_allele_frequency", "not in [0, 1]")
    if order[7] == "p_value":
        text = table["p_value"].fillna("")
        parts = text.str.extract(r"^\s*([0-9.]+)(?:[eE]([-+]?[0-9]+))?\s*$")
        mantissa = pd.to_numeric(parts[0], errors="coerce")
        exponent = pd.to_numeric(parts[1], errors="coerce").fillna(0)
        log10 = np.log10(mantissa.where(mantissa > 0)) + exponent
        bad(mantissa.isna() | (mantissa <= 0) | (log10 > 0), "p_value", "not in (0, 1]")
    else:
        nl = number("neg_log_10_p_value")
        bad(nl.isna() | (nl < 0), "neg_log_10_p_value", "not a number >= 0")
    if "variant_id" in table.columns:
        vid = table["variant_id"]
        bad(vid.notna() & ~vid.fillna("").str.match(VARIANT_ID), "variant_id", "not [A-Za-z0-9_]+")
    if "n" in table.columns:
        n = number("n")
        bad(table["n"].notna() & (n.isna() | (n % 1 != 0) | (n < 0)), "n", "not an integer >= 0")
    if len(table) < minimum_rows:
        problems.append(f"{len(table)} rows, fewer than the minimum {minimum_rows}")
    if require_all_autosomes:
        missing = sorted(set(range(1, 23)) - set(chrom.dropna().astype(int)))
        if missing:
            problems.append(f"chromosome column lacks autosomes {missing}")
    problems += check_ssf_metadata(path)
    return problems[:max_errors]


def check_ssf_metadata(path: str | os.PathLike) -> list[str]:
    """The metadata file beside ``path``: present, required fields, file name and md5 match."""
    path = Path(path)
    meta_path = path.with_name(path.name + "-meta.yaml")
    if not meta_path.exists():
        return [f"metadata file {meta_path.name} is missing"]
    meta = yaml.safe_load(meta_path.read_text()) or {}
    problems = [f"metadata lacks {k}" for k in META_REQUIRED if not meta.get(k)]
    if meta.get("data_file_name") not in (None, path.name):
        problems.append(f"metadata data_file_name {meta['data_file_name']!r} is not {path.name!r}")
    if meta.get("data_file_md5sum"):
        md5 = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
        if md5 != meta["data_file_md5sum"]:
            problems.append("metadata data_file_md5sum does not match the file")
    file_type = str(meta.get("file_type", ""))
    if not re.fullmatch(r"pre-GWAS-SSF|non-GWAS-SSF|GWAS-SSF v\d+(\.\d+)*|NR", file_type):
        problems.append(f"metadata file_type {file_type!r} is not 'GWAS-SSF v<version>'")
    try:
        dt.date.fromisoformat(str(meta.get("date_metadata_last_modified")))
    except ValueError:
        problems.append("metadata date_metadata_last_modified is not a date (YYYY-MM-DD)")
    return problems
