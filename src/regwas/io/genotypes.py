"""Genotype file sets of any supported format: PLINK 1 (.bed/.bim/.fam), PLINK 2
(.pgen/.pvar/.psam, read with pgenlib) and BGEN 1.2 with its Oxford .sample file (read with
the ``bgen`` package).

A genotype *prefix* names one file set without extension (``plink/chr1``), or with the
extension of its genotype file (``plink/chr1.pgen``), which then decides the format; without one
the format is the one whose genotype file exists (two formats under one prefix are refused as
ambiguous; none: PLINK 1, whose missing files are then named).

Conventions, as plink2's: the effect allele is the ALT allele (.bim column 5; .pvar ALT; the
*second* allele of a BGEN variant, whose first allele is REF, as in UK Biobank's imputed files
and plink2 ``--export bgen-1.2 ref-first``). Hard calls are ALT counts 0/1/2 with missing = -9
(int8). Dosages are expected ALT counts (float64, missing = -9.0): a .pgen's dosage track (its
hard calls where it has none) or, for BGEN, P(het) + 2 P(ALT hom) of the genotype
probabilities. A BGEN hard call is the dosage rounded to the nearest integer when it lies
within ``HARD_CALL_THRESHOLD`` (0.1, plink2's ``--hard-call-threshold`` default) of it, else
missing; a .pgen carries its own hard calls (written by plink2 by the same rule)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from regwas.errors import InputError
from regwas.io.plink import BIM_COLUMNS, MISSING, BedReader, read_bim, read_fam

FORMATS = {
    "bed": ("bed", "bim", "fam"),
    "pgen": ("pgen", "pvar", "psam"),
    "bgen": ("bgen", "sample"),
}
HARD_CALL_THRESHOLD = 0.1


def split_prefix(path: str | os.PathLike) -> tuple[str, str | None]:
    """(prefix without extension, format named by the extension or None)."""
    text = str(path)
    for fmt in FORMATS:
        if text.endswith(f".{fmt}"):
            return text[: -len(fmt) - 1], fmt
    return text, None


def genotype_format(path: str | os.PathLike) -> str:
    """The format of a genotype prefix: bed, pgen or bgen (see the module docstring)."""
    prefix, fmt = split_prefix(path)
    if fmt is not None:
        return fmt
    present = [f for f in FORMATS if Path(f"{prefix}.{f}").exists()]
    if len(present) > 1:
        raise InputError(
            f"genotype file set {prefix}: {' and '.join(f'.{f}' for f in present)} both exist; "
            f"name the one to analyse with its extension (e.g. {prefix}.{present[0]})"
        )
    return present[0] if present else "bed"


def genotype_file_names(path: str | os.PathLike) -> list[str]:
    """The files of a genotype file set (no existence check; PLINK 1 when nothing exists yet)."""
    prefix, _ = split_prefix(path)
    return [f"{prefix}.{ext}" for ext in FORMATS[genotype_format(path)]]


def genotype_paths(path: str | os.PathLike) -> dict[str, Path]:
    """The files of a genotype file set by extension; InputError naming any missing file."""
    prefix, _ = split_prefix(path)
    fmt = genotype_format(path)
    paths = {ext: Path(f"{prefix}.{ext}") for ext in FORMATS[fmt]}
    if fmt == "bgen" and paths["bgen"].exists() and not paths["sample"].exists():
        raise InputError(
            f"{paths['bgen']}: BGEN file without its .sample file {paths['sample']} (the sample "
            "ids of the BGEN's rows; write it with plink2 --export bgen-1.2, or copy the "
            "cohort's .sample file beside the .bgen)"
        )
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        raise InputError(f"genotype file set {prefix}: missing {', '.join(missing)}")
    return paths


# ----------------------------------------------------------------------------- sample and variant tables


def read_psam(path: str | os.PathLike) -> pd.DataFrame:
    """Read a .psam (header line starting '#FID' or '#IID'; a headerless one is .fam-like);
    returns at least the column ``iid``."""
    with open(path) as fh:
        first = fh.readline()
    if not first.startswith("#"):
        return read_fam(path)
    try:
        psam = pd.read_csv(path, sep=r"\s+", dtype=str)
    except Exception as err:
        raise InputError(f"{path}: cannot be read as a PLINK 2 .psam file: {err}") from err
    psam.columns = [c.lstrip("#") for c in psam.columns]
    if "IID" not in psam.columns:
        raise InputError(f"{path}: .psam header has no IID column (columns: {list(psam.columns)})")
    return psam.rename(columns={"IID": "iid", "FID": "fid", "SEX": "sex"})


def read_oxford_sample(path: str | os.PathLike) -> pd.DataFrame:
    """Read an Oxford .sample file (header line, type line '0 0 0 ...', then one line per
    BGEN row); ``iid`` is ID_2 (as plink2 reads it), or the single ID column of a v2 file."""
    try:
        table = pd.read_csv(path, sep=r"\s+", dtype=str, skiprows=[1])
    except Exception as err:
        raise InputError(f"{path}: cannot be read as an Oxford .sample file: {err}") from err
    cols = list(table.columns)
    if "ID_2" in cols:
        iid = table["ID_2"]
        if "ID_1" in cols:
            return pd.DataFrame(
                {"iid": iid.to_numpy(str), "fid": table["ID_1"].to_numpy(str)}
            ).pipe(_no_missing_ids, path)
    elif cols and cols[0] in ("ID", "ID_1"):
        iid = table[cols[0]]
    else:
        raise InputError(f"{path}: .sample header has no ID_1/ID_2 (or ID) column: {cols[:6]}")
    return pd.DataFrame({"iid": iid.to_numpy(str)}).pipe(_no_missing_ids, path)


def _no_missing_ids(table: pd.DataFrame, path) -> pd.DataFrame:
    bad = table["iid"].isin(["nan", ""])
    if bad.any():
        raise InputError(f"{path}: line {int(np.flatnonzero(bad)[0]) + 3} has no sample id")
    return table


def read_pvar(path: str | os.PathLike) -> pd.DataFrame:
    """Read a .pvar ('##' header lines, then '#CHROM POS ID REF ALT ...'; a headerless one is
    .bim-like) into the .bim columns. Multi-allelic variants are refused."""
    skip = 0
    header = None
    with open(path) as fh:
        for line in fh:
            if line.startswith("##"):
                skip += 1
                continue
            if line.startswith("#"):
                header = line.lstrip("#").split()
            break
    if header is None:
        return read_bim(path)
    try:
        pvar = pd.read_csv(
            path,
            sep=r"\s+",
            skiprows=skip,
            dtype={"#CHROM": str, "ID": str, "REF": str, "ALT": str},
        )
    except Exception as err:
        raise InputError(f"{path}: cannot be read as a PLINK 2 .pvar file: {err}") from err
    pvar.columns = [c.lstrip("#") for c in pvar.columns]
    need = ["CHROM", "POS", "ID", "REF", "ALT"]
    if not set(need) <= set(pvar.columns):
        raise InputError(f"{path}: .pvar header lacks {sorted(set(need) - set(pvar.columns))}")
    multi = pvar["ALT"].str.contains(",", regex=False)
    if multi.any():
        first = int(np.flatnonzero(multi)[0])
        raise InputError(
            f"{path}: {int(multi.sum())} multi-allelic variants (e.g. {pvar['ID'].iloc[first]}); "
            "only biallelic variants are supported (plink2 --max-alleles 2)"
        )
    out = pd.DataFrame(
        {
            "chromosome": pvar["CHROM"].astype(str),
            "variant_id": pvar["ID"].astype(str),
            "cm": pvar["CM"].astype(float) if "CM" in pvar.columns else 0.0,
            "position": pvar["POS"].astype(np.int64),
            "alt": pvar["ALT"].astype(str),
            "ref": pvar["REF"].astype(str),
        }
    )
    return _unique_ids(out[BIM_COLUMNS], path)


def _unique_ids(table: pd.DataFrame, path) -> pd.DataFrame:
    ids = table["variant_id"]
    dup = ids[ids.duplicated(keep=False) & (ids != ".")]
    if len(dup):
        raise InputError(
            f"{path}: {dup.nunique()} variant ids occur more than once (e.g. "
            f"{', '.join(dup.unique()[:5])}); variant ids must be unique"
        )
    return table


def _bgen_reader(path: Path, sample_path: Path | None = None):
    try:
        from bgen import BgenReader as _Bgen
    except ImportError as err:  # pragma: no cover - the pinned dependency is installed
        raise InputError(f"{path}: reading BGEN needs the 'bgen' package (requirements)") from err
    try:
        return _Bgen(str(path), str(sample_path) if sample_path else "", delay_parsing=False)
    except Exception as err:
        raise InputError(f"{path}: cannot be read as a BGEN file: {err}") from err


_BGEN_VARIANTS: dict[tuple, pd.DataFrame] = {}


def _bgen_variants(reader, path) -> pd.DataFrame:
    """The variant table of a BGEN (one pass over its variant headers), cached per file
    version: the LD and lead steps open the same BGEN many times."""
    stat = Path(path).stat()
    key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _BGEN_VARIANTS:
        if len(_BGEN_VARIANTS) >= 4:
            _BGEN_VARIANTS.pop(next(iter(_BGEN_VARIANTS)))
        _BGEN_VARIANTS[key] = _read_bgen_variants(reader, path)
    return _BGEN_VARIANTS[key].copy()


def _read_bgen_variants(reader, path) -> pd.DataFrame:
    rows = []
    for i in range(len(reader)):
        var = reader[i]
        alleles = list(var.alleles)
        if len(alleles) != 2:
            raise InputError(
                f"{path}: variant {i + 1} ({var.rsid or var.varid}) has {len(alleles)} alleles; "
                "only biallelic variants are supported"
            )
        rows.append(
            (str(var.chrom), var.rsid or var.varid, 0.0, int(var.pos), alleles[1], alleles[0])
        )
    table = pd.DataFrame(rows, columns=BIM_COLUMNS)
    table["chromosome"] = table["chromosome"].str.replace(r"^chr", "", regex=True)
    return _unique_ids(table, path)


def read_sample_ids(path: str | os.PathLike) -> np.ndarray:
    """Sample ids (IID) of a genotype file set, in file order."""
    paths = genotype_paths(path)
    if "fam" in paths:
        return read_fam(paths["fam"])["iid"].to_numpy(str)
    if "psam" in paths:
        return read_psam(paths["psam"])["iid"].to_numpy(str)
    return read_oxford_sample(paths["sample"])["iid"].to_numpy(str)


def sample_file(path: str | os.PathLike) -> Path:
    """The file that lists the samples of a genotype file set (.fam, .psam or .sample)."""
    paths = genotype_paths(path)
    return next(paths[k] for k in ("fam", "psam", "sample") if k in paths)


def read_variant_table(path: str | os.PathLike) -> pd.DataFrame:
    """The variants of a genotype file set with the .bim columns (alt = effect allele)."""
    paths = genotype_paths(path)
    if "bim" in paths:
        return read_bim(paths["bim"])
    if "pvar" in paths:
        return read_pvar(paths["pvar"])
    return _bgen_variants(_bgen_reader(paths["bgen"], paths["sample"]), paths["bgen"])


def read_sex_codes(prefix: str | os.PathLike) -> np.ndarray:
    """The sex code ('1' male, '2' female, else unknown) per sample of a chromosome X file set,
    from its .fam or its .psam's SEX column; a BGEN (no sex in the .sample file we read) or a
    .psam without SEX is refused."""
    paths = genotype_paths(prefix)
    if "fam" in paths:
        return read_fam(paths["fam"])["sex"].astype(str).to_numpy()
    if "psam" in paths:
        psam = read_psam(paths["psam"])
        if "sex" in psam.columns:
            return psam["sex"].fillna("0").astype(str).to_numpy()
        raise InputError(f"{paths['psam']}: chromosome X needs a SEX column in the .psam")
    raise InputError(
        f"{prefix}: chromosome X needs the sex of each sample: give it as PLINK 1 (.bed/.fam) or "
        "PLINK 2 (.pgen/.psam with SEX)"
    )


# ----------------------------------------------------------------------------- readers


class _Subset:
    """Sample selection shared by the readers: sorted subset + the permutation back."""

    def __init__(self, sample_index: np.ndarray | None, n_raw: int):
        self.subset = None
        self.reorder = None
        if sample_index is None:
            self.n = n_raw
            return
        sample_index = np.asarray(sample_index, dtype=np.int64)
        order = np.argsort(sample_index, kind="stable")
        self.subset = np.ascontiguousarray(np.sort(sample_index).astype(np.uint32))
        self.n = len(self.subset)
        if not np.array_equal(order, np.arange(len(order))):
            self.reorder = np.empty_like(order)
            self.reorder[order] = np.arange(len(order))


class GenotypeReader:
    """Block reads of hard calls and dosages; subclasses set ``variants``, ``n_variants``,
    ``n_samples`` and implement ``_dosages`` (float64, missing -9) and ``read``."""

    has_dosages = True
    variants: pd.DataFrame
    n_variants: int
    n_samples: int

    def read(self, start: int, stop: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def read_block(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(hard calls int8, dosages float64 or None): None when every dosage of the block
        equals its hard call (a hard-called block: the exact integer path is used)."""
        G = self.read(start, stop)
        if not self.has_dosages:
            return G, None
        D = self._dosages(start, stop)
        if np.array_equal(D, G):
            return G, None
        return G, D

    def blocks(self, block_size: int = 4096) -> Iterator[tuple[int, int, np.ndarray]]:
        """Yield (start, stop, hard calls) over all variants in blocks."""
        for start in range(0, self.n_variants, block_size):
            stop = min(start + block_size, self.n_variants)
            yield start, stop, self.read(start, stop)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PlinkBedReader(GenotypeReader):
    """PLINK 1 .bed (hard calls only): regwas.io.plink.BedReader behind the common interface."""

    has_dosages = False

    def __init__(self, prefix: str, sample_index: np.ndarray | None = None):
        self._bed = BedReader(prefix, sample_index)
        self.variants = self._bed.bim
        self.n_variants = self._bed.n_variants
        self.n_samples = self._bed.n_samples

    def read(self, start: int, stop: int) -> np.ndarray:
        return self._bed.read(start, stop)

    def close(self) -> None:
        self._bed.close()


class PgenReader(GenotypeReader):
    """PLINK 2 .pgen with pgenlib: hard calls and the dosage track of allele 1 (the ALT)."""

    def __init__(self, path: str, sample_index: np.ndarray | None = None):
        import pgenlib

        paths = genotype_paths(path)
        self.path = paths["pgen"]
        self.variants = read_pvar(paths["pvar"])
        n_raw = len(read_psam(paths["psam"]))
        self._sel = _Subset(sample_index, n_raw)
        self.n_samples = self._sel.n
        try:
            self._reader = pgenlib.PgenReader(
                bytes(str(self.path), "utf8"), raw_sample_ct=n_raw, sample_subset=self._sel.subset
            )
        except Exception as err:
            raise InputError(f"{self.path}: cannot be read as a PLINK 2 .pgen: {err}") from err
        self.n_variants = int(self._reader.get_variant_ct())
        if self.n_variants != len(self.variants):
            raise InputError(
                f"{self.path}: {self.n_variants} variants but {paths['pvar']} lists "
                f"{len(self.variants)} (mismatched .pgen/.pvar)"
            )
        if int(self._reader.get_raw_sample_ct()) != n_raw:
            raise InputError(
                f"{self.path}: {self._reader.get_raw_sample_ct()} samples but {paths['psam']} "
                f"lists {n_raw} (mismatched .pgen/.psam)"
            )

    def _order(self, out: np.ndarray) -> np.ndarray:
        return out if self._sel.reorder is None else out[:, self._sel.reorder]

    def read(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, self.n_samples), dtype=np.int8)
        self._reader.read_range(start, stop, out, allele_idx=1)
        return self._order(out)

    def _dosages(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, self.n_samples), dtype=np.float64)
        self._reader.read_dosages_range(start, stop, out, allele_idx=1)
        return self._order(out)

    def close(self) -> None:
        self._reader.close()


class BgenFileReader(GenotypeReader):
    """BGEN 1.2 (layouts 1 and 2, zlib or zstd) with the ``bgen`` package: ALT dosages from the
    genotype probabilities; hard calls by ``HARD_CALL_THRESHOLD``. The BGEN's embedded sample
    ids, when present, must equal the .sample file's."""

    def __init__(self, path: str, sample_index: np.ndarray | None = None):
        paths = genotype_paths(path)
        self.path = paths["bgen"]
        table = read_oxford_sample(paths["sample"])
        samples = table["iid"].to_numpy(str)
        self._reader = _bgen_reader(self.path, None)
        header = self._reader.header
        if int(header.nsamples) != len(samples):
            raise InputError(
                f"{self.path}: {header.nsamples} samples but {paths['sample']} lists "
                f"{len(samples)} (mismatched .bgen/.sample)"
            )
        if header.has_sample_ids:
            # plink2 embeds FID_IID when the .sample has two id columns
            embedded = np.asarray(self._reader.samples, dtype=str)
            pasted = samples if "fid" not in table else table["fid"] + "_" + table["iid"]
            bad = np.flatnonzero((embedded != samples) & (embedded != np.asarray(pasted, str)))
            if bad.size:
                i = int(bad[0])
                raise InputError(
                    f"{self.path}: sample {i + 1} is {embedded[i]} in the BGEN but {samples[i]} in "
                    f"{paths['sample']} ({bad.size} rows differ; the .sample must list the BGEN's "
                    "samples in its order)"
                )
        self.variants = _bgen_variants(self._reader, self.path)
        self.n_variants = len(self.variants)
        self._index = None if sample_index is None else np.asarray(sample_index, dtype=np.int64)
        self.n_samples = len(samples) if self._index is None else len(self._index)
        self._cache: tuple[int, int, np.ndarray] | None = None

    def _dosages(self, start: int, stop: int) -> np.ndarray:
        if self._cache is not None and self._cache[:2] == (start, stop):
            return self._cache[2]
        out = np.empty((stop - start, self.n_samples), dtype=np.float64)
        for row, i in enumerate(range(start, stop)):
            var = self._reader[i]
            if var.ploidy is not None and np.any(np.asarray(var.ploidy) != 2):
                raise InputError(f"{self.path}: variant {i + 1} is not diploid in every sample")
            if var.is_phased:
                raise InputError(
                    f"{self.path}: variant {i + 1} holds phased haplotype probabilities; "
                    "only unphased genotype probabilities are supported"
                )
            prob = var.probabilities  # float32: the dosage is summed in float64
            if self._index is not None:
                prob = prob[self._index]
            prob = prob.astype(np.float64)
            dose = prob[:, 1] + 2.0 * prob[:, 2]
            out[row] = np.where(np.isnan(dose), float(MISSING), dose)
        self._cache = (start, stop, out)
        return out

    def read(self, start: int, stop: int) -> np.ndarray:
        return hard_calls(self._dosages(start, stop))

    def close(self) -> None:
        self._cache = None


def hard_calls(D: np.ndarray, threshold: float = HARD_CALL_THRESHOLD) -> np.ndarray:
    """int8 hard calls of dosages (missing -9): the nearest integer when within ``threshold``."""
    rounded = np.rint(D)
    ok = (D >= 0) & (np.abs(D - rounded) <= threshold + 1e-9)
    return np.where(ok, rounded, MISSING).astype(np.int8)


def open_genotypes(path: str | os.PathLike, sample_index: np.ndarray | None = None):
    """A reader of the genotype file set ``path`` (any format); ``sample_index`` selects and
    orders samples (indices into the sample file; None: all)."""
    fmt = genotype_format(path)
    prefix, _ = split_prefix(path)
    if fmt == "bed":
        return PlinkBedReader(prefix, sample_index)
    if fmt == "pgen":
        return PgenReader(prefix, sample_index)
    return BgenFileReader(prefix, sample_index)


def read_genotype_rows(
    path: str | os.PathLike, index: np.ndarray, sample_index: np.ndarray | None = None
) -> np.ndarray:
    """Hard calls (int8, variants x samples) of the variants at ``index`` (any order), read in
    runs of consecutive variants; ``sample_index`` selects and orders samples (None: all)."""
    index = np.asarray(index, dtype=np.int64)
    with open_genotypes(path, sample_index) as reader:
        out = np.empty((len(index), reader.n_samples), dtype=np.int8)
        breaks = np.flatnonzero(np.diff(index) != 1) + 1
        row = 0
        for run in np.split(index, breaks) if len(index) else []:
            out[row : row + len(run)] = reader.read(int(run[0]), int(run[-1]) + 1)
            row += len(run)
    return out
