"""`regwas bundle verify`: the manifest matches, and no file holds individual-level data.

Checks, each naming the offending file:

- the archive is safe (regular files under one top folder, no links, no absolute or ``..``
  paths) and MANIFEST.sha256 lists exactly the other files with their sha256;
- no file is of an individual-level type (PLINK/BGEN/VCF genotypes, NIfTI/DICOM images,
  WFDB/EDF signals, NumPy arrays are checked below);
- no file contains any sample id of the cohort (``samples``): every file is read as bytes,
  gzip and zip members decompressed, PDF streams inflated, and split into maximal runs of
  letters, digits and the ids' other characters; a run equal to an id is a hit (purely numeric
  ids can then also match a number such as a position: a false alarm, never a miss);
- no table has one row per person (the cohort's size N: a TSV/CSV with N data rows, a Parquet
  file with N rows, a table with a person-id column such as ``sample_id``), and no array has N
  rows (``.npy``/``.npz``).

N is the number of ids in ``samples``; without them, the count in provenance/cohort.json.
Files under individual/ are reported too unless ``allow_individual`` (a bundle that opted in).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from regwas.errors import InputError
from regwas.io.tables import read_tsv

MANIFEST = "MANIFEST.sha256"
INDIVIDUAL_SUFFIXES = (
    ".bed", ".bim", ".fam", ".pgen", ".pvar", ".psam", ".bgen", ".vcf", ".vcf.gz", ".bcf",
    ".nii", ".nii.gz", ".dcm", ".mgz", ".hea", ".dat", ".edf", ".mat",
)  # fmt: skip
PERSON_COLUMNS = {"sample_id", "eid", "iid", "fid", "participant_id", "subject_id", "person_id"}
TABLE_SUFFIXES = (".tsv", ".csv", ".txt", ".tsv.gz", ".csv.gz", ".txt.gz")
CHUNK = 1 << 20


@dataclass(frozen=True)
class Problem:
    file: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


def read_sample_ids(path: str | os.PathLike) -> list[str]:
    """Sample ids from a samples table (``sample_id`` column) or a file of one id per line."""
    path = Path(path)
    head = path.open().readline().rstrip("\n").split("\t")
    if "sample_id" in head:
        return list(read_tsv(path, usecols=["sample_id"], dtype=str)["sample_id"].dropna())
    return [line.strip() for line in path.open() if line.strip()]


class IdScanner:
    """Finds any of a set of ids in a byte stream: tokens are maximal runs of letters, digits
    and the ids' other characters, so ``S000001`` is found in ``S000001.hea`` or
    ``"S000001",`` but not in ``XS0000012``."""

    def __init__(self, ids: Iterable[str]):
        self.ids = {i.encode() for i in ids if i}
        # letters, digits and the other characters the ids use (e.g. '-' in 'sub-01')
        extra = sorted({c for i in self.ids for c in i if not chr(c).isalnum()})
        cls = b"A-Za-z0-9" + b"".join(re.escape(bytes([c])) for c in extra)
        self.token = re.compile(b"[" + cls + b"]+")

    def find(self, chunks: Iterable[bytes]) -> bytes | None:
        if not self.ids:
            return None
        carry = b""
        for chunk in chunks:
            data = carry + chunk
            tokens = self.token.findall(data)
            # the last token may continue in the next chunk
            if tokens and data.endswith(tokens[-1]):
                carry = tokens.pop()
            else:
                carry = b""
            hit = next((t for t in tokens if t in self.ids), None)
            if hit:
                return hit
        return carry if carry in self.ids else None


def _chunks(fh: io.BufferedIOBase) -> Iterator[bytes]:
    while block := fh.read(CHUNK):
        yield block


def _open_stream(path: Path, name: str):
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def _pdf_streams(data: bytes) -> Iterator[bytes]:
    yield data
    for match in re.finditer(rb"stream\r?\n(.*?)endstream", data, re.S):
        try:
            yield zlib.decompress(match.group(1))
        except zlib.error:
            continue


def _table_problems(name: str, header: list[str], rows: int, n: int | None) -> list[str]:
    out = []
    person = sorted(c for c in header if c.strip().strip('"').lower() in PERSON_COLUMNS)
    if person:
        out.append(f"table with a person-id column {person}")
    if n and rows == n:
        out.append(f"table with {rows} rows, one per person of the cohort (N = {n})")
    return out


def _text_table(stream: Iterable[bytes]) -> tuple[list[str], int]:
    header, rows, first = [], 0, True
    tail = b""
    for chunk in stream:
        if first:
            line = chunk.split(b"\n", 1)[0]
            header = re.split(r"[\t,]", line.decode(errors="replace"))
            first = False
        rows += chunk.count(b"\n")
        tail = chunk[-1:]
    if tail and tail != b"\n":
        rows += 1
    return header, max(rows - 1, 0)


def _array_problems(name: str, data: bytes, n: int | None) -> list[str]:
    out = []
    try:
        if name.endswith(".npz"):
            with np.load(io.BytesIO(data)) as npz:
                shapes = {k: npz[k].shape for k in npz.files}
        else:
            shapes = {"": np.load(io.BytesIO(data), mmap_mode=None, allow_pickle=False).shape}
    except (ValueError, OSError) as err:
        return [f"unreadable NumPy array: {err}"]
    for key, shape in shapes.items():
        if n and shape and shape[0] == n:
            out.append(f"array {key or ''}{list(shape)} has one row per person (N = {n})")
    return out


def _parquet_problems(data: bytes, n: int | None) -> list[str]:
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(io.BytesIO(data))
    return _table_problems("", meta.schema_arrow.names, meta.metadata.num_rows, n)


def scan_blob(name: str, data: bytes, scanner: IdScanner, n: int | None) -> list[str]:
    """Problems of one in-memory file (members of zip archives)."""
    lower = name.lower()
    out = []
    if lower.endswith(INDIVIDUAL_SUFFIXES):
        out.append("individual-level file type")
    if lower.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                if not info.is_dir():
                    sub = scan_blob(info.filename, zf.read(info), scanner, n)
                    out += [f"{info.filename}: {m}" for m in sub]
        return out
    if lower.endswith(".gz"):
        data = gzip.decompress(data)
        lower = lower[:-3]
    if lower.endswith((".npy", ".npz")):
        out += _array_problems(lower, data, n)
    elif lower.endswith(".parquet"):
        out += _parquet_problems(data, n)
    elif lower.endswith((".tsv", ".csv", ".txt")):
        header, rows = _text_table([data])
        out += _table_problems(name, header, rows, n)
    blobs = _pdf_streams(data) if lower.endswith(".pdf") else [data]
    for blob in blobs:
        hit = scanner.find([blob])
        if hit:
            out.append(f"contains sample id {hit.decode()!r}")
            break
    return out


def scan_file(path: Path, name: str, scanner: IdScanner, n: int | None) -> list[str]:
    """Problems of one file on disk (streamed unless it is an archive, array, table or PDF)."""
    lower = name.lower()
    if lower.endswith((".zip", ".npy", ".npz", ".parquet", ".pdf")) or lower.endswith(
        (".npy.gz", ".npz.gz", ".parquet.gz")
    ):
        return scan_blob(name, path.read_bytes(), scanner, n)
    out = ["individual-level file type"] if lower.endswith(INDIVIDUAL_SUFFIXES) else []
    if lower.endswith(TABLE_SUFFIXES):
        with _open_stream(path, lower) as fh:
            header, rows = _text_table(_chunks(fh))
        out += _table_problems(name, header, rows, n)
    with _open_stream(path, lower) as fh:
        try:
            hit = scanner.find(_chunks(fh))
        except (OSError, EOFError) as err:
            return [*out, f"unreadable: {err}"]
    if hit:
        out.append(f"contains sample id {hit.decode()!r}")
    return out


def _safe_members(tar: tarfile.TarFile) -> tuple[str, list[tarfile.TarInfo], list[Problem]]:
    problems, files, tops = [], [], set()
    for info in tar.getmembers():
        parts = Path(info.name).parts
        if info.name.startswith("/") or ".." in parts:
            problems.append(Problem(info.name, "unsafe path in the archive"))
            continue
        if info.isdir():
            continue
        if not info.isfile():
            problems.append(Problem(info.name, "not a regular file (link or device)"))
            continue
        tops.add(parts[0])
        files.append(info)
    if len(tops) > 1:
        problems.append(Problem(", ".join(sorted(tops)), "more than one top folder"))
    return (sorted(tops)[0] if tops else ""), files, problems


def check_manifest(root: Path, names: list[str]) -> list[Problem]:
    """MANIFEST.sha256 lists exactly ``names`` (less itself) with matching sha256."""
    if MANIFEST not in names:
        return [Problem(MANIFEST, "missing: the bundle has no manifest")]
    listed: dict[str, str] = {}
    problems = []
    for n, line in enumerate((root / MANIFEST).read_text().splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or not re.fullmatch(r"[0-9a-f]{64}", digest):
            problems.append(Problem(MANIFEST, f"line {n} is not '<sha256>  <path>'"))
            continue
        listed[name] = digest
    for name in sorted(set(names) - {MANIFEST}):
        if name not in listed:
            problems.append(Problem(name, "not in the manifest"))
            continue
        h = hashlib.sha256()
        with open(root / name, "rb") as fh:
            for block in _chunks(fh):
                h.update(block)
        if h.hexdigest() != listed[name]:
            problems.append(Problem(name, "sha256 differs from the manifest (file changed)"))
    for name in sorted(set(listed) - set(names)):
        problems.append(Problem(name, "in the manifest but not in the bundle"))
    return problems


def extract(bundle: str | os.PathLike, dest: str | os.PathLike) -> tuple[Path, list[Problem]]:
    """Extract the bundle's regular files into ``dest``; returns (top folder, problems)."""
    bundle = Path(bundle)
    if not bundle.is_file():
        raise InputError(f"{bundle}: bundle does not exist")
    try:
        with tarfile.open(bundle, "r:*") as tar:
            top, files, problems = _safe_members(tar)
            tar.extractall(dest, members=files, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise InputError(f"{bundle}: not a readable .tar.gz bundle: {err}") from err
    return Path(dest) / top, problems


def verify_bundle(
    bundle: str | os.PathLike,
    sample_ids: Iterable[str] | None = None,
    allow_individual: bool = False,
    workdir: str | os.PathLike | None = None,
) -> list[Problem]:
    """Every problem of ``bundle`` (empty list: it verifies)."""
    import tempfile

    with tempfile.TemporaryDirectory(dir=workdir, prefix=".regwas-verify.") as tmp:
        root, problems = extract(bundle, tmp)
        names = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        problems += check_manifest(root, names)
        ids = list(sample_ids) if sample_ids is not None else []
        n = len(set(ids)) or _cohort_size(root)
        scanner = IdScanner(ids)
        for name in names:
            if allow_individual and name.startswith("individual/"):
                continue
            for message in scan_file(root / name, name, scanner, n):
                problems.append(Problem(name, message))
    return problems


def _cohort_size(root: Path) -> int | None:
    path = root / "provenance" / "cohort.json"
    if path.is_file():
        value = json.loads(path.read_text()).get("n_people")
        return int(value) if value else None
    return None
