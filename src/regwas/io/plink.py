"""PLINK 1 genotype files: .fam/.bim tables and block reads of the .bed with pgenlib.

Convention (as plink2): .bim column 5 (A1) is the ALT / effect allele, column 6 (A2) the REF.
Genotypes are ALT allele counts 0/1/2, missing = -9 (int8)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from regwas.errors import InputError

FAM_COLUMNS = ["fid", "iid", "father", "mother", "sex", "phenotype"]
BIM_COLUMNS = ["chromosome", "variant_id", "cm", "position", "alt", "ref"]
MISSING = -9


def bfile_paths(prefix: str | os.PathLike) -> dict[str, Path]:
    """The .bed/.bim/.fam paths of a PLINK prefix; raises InputError naming any missing file."""
    prefix = str(prefix)
    paths = {ext: Path(f"{prefix}.{ext}") for ext in ("bed", "bim", "fam")}
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        raise InputError(f"genotype file set {prefix}: missing {', '.join(missing)}")
    return paths


def read_fam(path: str | os.PathLike) -> pd.DataFrame:
    """Read a .fam file (whitespace separated, 6 columns); iid is the sample_id."""
    try:
        fam = pd.read_csv(path, sep=r"\s+", header=None, names=FAM_COLUMNS, dtype=str)
    except Exception as err:
        raise InputError(f"{path}: cannot be read as a PLINK .fam file: {err}") from err
    if fam.isna().any().any():
        raise InputError(f"{path}: a .fam line does not have 6 columns")
    return fam


def read_bim(path: str | os.PathLike) -> pd.DataFrame:
    """Read a .bim file (6 columns: chromosome, variant_id, cm, position, alt=A1, ref=A2)."""
    try:
        bim = pd.read_csv(
            path,
            sep=r"\s+",
            header=None,
            names=BIM_COLUMNS,
            dtype={"chromosome": str, "variant_id": str, "alt": str, "ref": str},
        )
    except Exception as err:
        raise InputError(f"{path}: cannot be read as a PLINK .bim file: {err}") from err
    if bim[["position"]].isna().any().any():
        raise InputError(f"{path}: a .bim line does not have 6 columns")
    ids = bim["variant_id"]
    dup = ids[ids.duplicated(keep=False) & (ids != ".")]
    if len(dup):
        first = dup.index[0]
        raise InputError(
            f"{path}: {dup.nunique()} variant ids occur more than once (line {first + 1}: "
            f"{ids[first]}; e.g. {', '.join(dup.unique()[:5])}); variant ids must be unique "
            "(plink2 --rm-dup, or --set-all-var-ids @:#:\\$r:\\$a)"
        )
    return bim


class BedReader:
    """Reads ALT allele counts from a PLINK 1 .bed in blocks of variants (pgenlib).

    ``sample_index`` (optional) selects and orders samples (indices into the .fam).
    """

    def __init__(self, prefix: str | os.PathLike, sample_index: np.ndarray | None = None):
        import pgenlib

        self.paths = bfile_paths(prefix)
        self.fam = read_fam(self.paths["fam"])
        self.bim = read_bim(self.paths["bim"])
        self.n_raw = len(self.fam)
        self.n_variants = len(self.bim)
        expected = 3 + self.n_variants * ((self.n_raw + 3) // 4)
        size = self.paths["bed"].stat().st_size
        if size != expected:
            raise InputError(
                f"{self.paths['bed']}: {size} bytes, expected {expected} for "
                f"{self.n_raw} samples x {self.n_variants} variants (corrupt or mismatched .bed)"
            )
        subset = None
        if sample_index is not None:
            sample_index = np.asarray(sample_index, dtype=np.int64)
            order = np.argsort(sample_index, kind="stable")
            subset = np.ascontiguousarray(np.sort(sample_index).astype(np.uint32))
            # pgenlib returns samples in increasing .fam order; undo to the requested order
            self._reorder = np.empty_like(order)
            self._reorder[order] = np.arange(len(order))
            if np.array_equal(order, np.arange(len(order))):
                self._reorder = None  # already in .fam order: skip a copy per block
        else:
            self._reorder = None
        self.n_samples = self.n_raw if subset is None else len(subset)
        try:
            self._reader = pgenlib.PgenReader(
                bytes(str(self.paths["bed"]), "utf8"),
                raw_sample_ct=self.n_raw,
                sample_subset=subset,
            )
        except Exception as err:
            raise InputError(f"{self.paths['bed']}: cannot be read as a PLINK .bed: {err}") from err

    def read(self, start: int, stop: int) -> np.ndarray:
        """ALT counts of variants [start, stop) as int8 (variants x samples), missing = -9."""
        out = np.empty((stop - start, self.n_samples), dtype=np.int8)
        self._reader.read_range(start, stop, out, allele_idx=1)
        if self._reorder is not None:
            out = out[:, self._reorder]
        return out

    def blocks(self, block_size: int = 4096) -> Iterator[tuple[int, int, np.ndarray]]:
        """Yield (start, stop, genotypes) over all variants in blocks."""
        for start in range(0, self.n_variants, block_size):
            stop = min(start + block_size, self.n_variants)
            yield start, stop, self.read(start, stop)

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> BedReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_variant_rows(
    prefix: str | os.PathLike, index: np.ndarray, sample_index: np.ndarray | None = None
) -> np.ndarray:
    """ALT counts (int8, variants x samples) of the variants at ``index`` (any order), read in
    runs of consecutive variants; ``sample_index`` selects and orders samples (None: all)."""
    index = np.asarray(index, dtype=np.int64)
    with BedReader(prefix, sample_index=sample_index) as reader:
        out = np.empty((len(index), reader.n_samples), dtype=np.int8)
        breaks = np.flatnonzero(np.diff(index) != 1) + 1
        row = 0
        for run in np.split(index, breaks) if len(index) else []:
            out[row : row + len(run)] = reader.read(int(run[0]), int(run[-1]) + 1)
            row += len(run)
    return out
