"""Chromosome names: parsing of ranges such as '1-22,X', natural sort order, and which name is
the X chromosome (PLINK codes it X or 23; its pseudo-autosomal regions are XY or 25)."""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd

from regwas.errors import InputError

logger = logging.getLogger(__name__)


_SPECIAL_CHROM = {"X": 23, "Y": 24, "XY": 25, "M": 26, "MT": 26}


def chromosome_sort_key(name: str) -> tuple[int, str]:
    """Natural chromosome order: 1..22, X, Y, XY, MT, then anything else alphabetically."""
    s = normalise_chromosome(name)
    if s.isdigit():
        return (int(s), "")
    return (_SPECIAL_CHROM.get(s.upper(), 1000), s)


def normalise_chromosome(name: object) -> str:
    """'chr01' / 1 / '1.0' -> '1'; 'chrX' -> 'X'."""
    s = str(name).strip()
    s = re.sub(r"^chr", "", s, flags=re.IGNORECASE)
    if re.fullmatch(r"\d+(\.0+)?", s):
        return str(int(float(s)))
    return s.upper() if s.upper() in _SPECIAL_CHROM else s


def is_x_chromosome(name: object) -> bool:
    """True for the non-pseudo-autosomal X chromosome: 'X', 'chrX', 23 or '23' (PLINK's code).
    The pseudo-autosomal part (XY / 25) is diploid in both sexes and is not X here."""
    s = normalise_chromosome(name)
    return s == "X" or s == "23"


def chromosome_order(values: pd.Series | np.ndarray) -> np.ndarray:
    """Rank of each value in natural chromosome order (for lexsort with positions)."""
    values = pd.Series(np.asarray(values, dtype=object)).astype(str)
    uniques = sorted(pd.unique(values), key=chromosome_sort_key)
    return values.map({u: i for i, u in enumerate(uniques)}).to_numpy(dtype=np.int64)


def parse_chromosomes(text: str) -> list[str]:
    """'1-22', '1,2,5-7', '1-22,X' -> list of chromosome names."""
    out: list[str] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            if not (lo.isdigit() and hi.isdigit()) or int(lo) > int(hi):
                raise InputError(f"--chromosomes: bad range {part!r}")
            out.extend(str(c) for c in range(int(lo), int(hi) + 1))
        else:
            out.append(part)
    if not out:
        raise InputError(f"--chromosomes {text!r}: no chromosomes")
    return out
