"""The inputs every image renderer checks: the people table and its factors table."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from regwas.errors import InputError

#: sample ids become file names of the rendered images
SAMPLE_ID = re.compile(r"^[A-Za-z0-9._-]+$")


def renderer_inputs(
    people: pd.DataFrame,
    factors: pd.DataFrame,
    factor_names: Sequence[str],
    modality: str,
    people_columns: Sequence[str] = ("sample_id", "sex"),
) -> tuple[list[str], np.ndarray]:
    """(sample ids in people order, their factor values people x factors), after checking that
    both tables have their columns, ids are unique, file-name safe and all have factors, and
    the factors are finite. Errors name the table, the column or the sample."""
    missing = [col for col in people_columns if col not in people.columns]
    if missing:
        raise InputError(f"people table: missing column(s) {missing}")
    if "sample_id" in factors.columns:
        factors = factors.set_index("sample_id")
    factors = factors.set_axis(factors.index.astype(str))
    lacking = [f for f in factor_names if f not in factors.columns]
    if lacking:
        raise InputError(f"{modality} factors table: missing column(s) {lacking}")
    ids = people["sample_id"].astype(str)
    if ids.duplicated().any():
        raise InputError(f"people table: duplicated sample_id {ids[ids.duplicated()].iloc[0]!r}")
    absent = ~ids.isin(factors.index)
    if absent.any():
        raise InputError(f"{modality} factors table: no row for sample_id {ids[absent].iloc[0]!r}")
    bad = [s for s in ids if not SAMPLE_ID.match(s)]
    if bad:
        raise InputError(f"people table: sample_id {bad[0]!r} is not file-name safe")
    values = factors.loc[ids, list(factor_names)].to_numpy(dtype=np.float64)
    finite = np.isfinite(values).all(axis=1)
    if not finite.all():
        raise InputError(
            f"{modality} factors table: non-finite factor for sample_id {ids[~finite].iloc[0]!r}"
        )
    return ids.tolist(), values
