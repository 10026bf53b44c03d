"""Chromosome names: parsing of ranges such as '1-22,X' and natural sort order."""

from __future__ import annotations

import logging

from regwas.errors import InputError

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- CLI


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
