"""The summary-statistics contract: gwas.tsv.gz columns (docs/architecture.md), read and empty.

One row per variant that passed QC, in genome order: the GWAS-SSF-like columns below, with
``neg_log10_p`` computed in log space so that it stays exact where ``p_value`` underflows. A
variant that passed QC but cannot be tested (the 2-df genotypic test with an empty genotype
class; a genotype constant once the covariates are removed) keeps its row with empty
statistics (``pillai``, ``f_stat``, ``p_value``, ``neg_log10_p``) and the reason in ``note``
(empty for tested variants): ``tested`` selects the tested rows.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd

from regwas.errors import InputError
from regwas.io.tables import read_tsv

SUMSTATS_COLUMNS = [
    "chromosome",
    "base_pair_location",
    "variant_id",
    "effect_allele",
    "other_allele",
    "effect_allele_frequency",
    "n",
    "pillai",
    "f_stat",
    "df1",
    "df2",
    "p_value",
    "neg_log10_p",
    "note",
]
_TEXT = ("chromosome", "variant_id", "effect_allele", "other_allele", "note")
_INTEGER = ("base_pair_location", "n", "df1", "df2")


def read_sumstats(path: str | os.PathLike, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read summary statistics (all columns, or ``columns``) with text ids and alleles.

    A requested column the file lacks raises InputError naming the file.
    """
    if columns is not None:
        have = read_tsv(path, nrows=0).columns
        missing = [c for c in columns if c not in have]
        if missing:
            raise InputError(f"{path}: summary statistics lack column(s) {missing}")
    dtype = {c: str for c in _TEXT if columns is None or c in columns}
    return read_tsv(path, usecols=None if columns is None else list(columns), dtype=dtype)


def tested(sumstats: pd.DataFrame) -> pd.Series:
    """True for the rows of variants that were tested (a p-value; no ``note``)."""
    return pd.to_numeric(sumstats["neg_log10_p"], errors="coerce").notna()


def empty_sumstats() -> pd.DataFrame:
    """A table with the contract's columns and dtypes and no rows."""
    return pd.DataFrame(
        {
            c: pd.Series(dtype="int64" if c in _INTEGER else "str" if c in _TEXT else "float64")
            for c in SUMSTATS_COLUMNS
        }
    )
