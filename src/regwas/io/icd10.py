"""ICD-10 codes in the dotted form of the phecode map (phecodeX_WHO): the normaliser the cohort
checks, the simulator and the PheWAS share."""

from __future__ import annotations

import re

import pandas as pd

#: a normalised ICD-10 code: letter, two characters, optional dot and up to 4 more
ICD10_PATTERN = re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")

_ICD10_SEP = re.compile(r"[\s.]")


def normalise_icd10(values: pd.Series) -> pd.Series:
    """ICD-10 codes to the dotted phecodeX_WHO form: upper case, a dot after 3 characters.

    "i480", "I480", "I48.0" -> "I48.0"; "I10" -> "I10"; "B1810" -> "B18.10". Values that are
    not codes stay recognisably wrong for the schema's pattern check.
    """
    s = values.astype(str).str.upper().str.replace(_ICD10_SEP, "", regex=True)
    long = s.str.len() > 3
    return s.where(~long, s.str[:3] + "." + s.str[3:])
