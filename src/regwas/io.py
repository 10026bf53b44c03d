"""Atomic file output and the embeddings Parquet contract (DESIGN.md section 2)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from regwas.errors import InputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    Nothing half-written is left behind: on error the temporary file is removed.
    ``suffix`` lets writers that insist on an extension (np.save, wfdb) see one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp creates 0600; outputs are meant to be shared
            os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; move it to ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_tsv(df: pd.DataFrame, path: str | os.PathLike, **kwargs) -> None:
    """Write a tab-separated table atomically (gzip when the name ends in .gz).

    Gzip output carries no timestamp or file name in its header, so the same table always
    gives the same bytes.
    """
    import gzip

    path = Path(path)
    with atomic_path(path) as tmp:
        if path.name.endswith(".gz"):
            with open(tmp, "wb") as raw, gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, mtime=0
            ) as gz:
                df.to_csv(gz, sep="\t", index=False, **kwargs)
        else:
            df.to_csv(tmp, sep="\t", index=False, **kwargs)


def read_tsv(path: str | os.PathLike, **kwargs) -> pd.DataFrame:
    """Read a tab-separated table; a missing or unreadable file raises InputError naming it."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file does not exist")
    try:
        return pd.read_csv(path, sep="\t", **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot be read as a tab-separated table: {err}") from err


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def config_digest(obj: object) -> str:
    """Short stable digest of a JSON-serialisable object (a config section)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


EMBEDDING_PREFIX = "z"


def embedding_columns(d: int) -> list[str]:
    """Column names z000..zNNN of a d-dimensional embedding."""
    return [f"{EMBEDDING_PREFIX}{i:03d}" for i in range(d)]


def write_embeddings(
    sample_ids: list[str] | np.ndarray,
    z: np.ndarray,
    path: str | os.PathLike,
    metadata: dict[str, str] | None = None,
) -> None:
    """Write embeddings.parquet: sample_id + z000..zNNN float32, with key-value metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    z = np.asarray(z, dtype=np.float32)
    if z.ndim != 2 or z.shape[0] != len(sample_ids):
        raise ValueError(f"embeddings of shape {z.shape} do not match {len(sample_ids)} sample ids")
    cols = {"sample_id": pa.array([str(s) for s in sample_ids], type=pa.string())}
    for name, j in zip(embedding_columns(z.shape[1]), range(z.shape[1]), strict=True):
        cols[name] = pa.array(z[:, j], type=pa.float32())
    table = pa.table(cols)
    meta = {k.encode(): str(v).encode() for k, v in (metadata or {}).items()}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
    with atomic_path(path, suffix=".parquet") as tmp:
        pq.write_table(table, tmp)


def read_embeddings(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """Read embeddings.parquet -> (sample_ids, float array n x d, metadata).

    Raises InputError naming the file when it is missing, has no sample_id or z columns,
    or holds NaN/inf (the offending sample ids are named).
    """
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: embeddings file does not exist")
    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several types for corrupt files
        raise InputError(f"{path}: cannot be read as Parquet: {err}") from err
    names = table.column_names
    if "sample_id" not in names:
        raise InputError(f"{path}: no 'sample_id' column (columns: {names[:8]})")
    zcols = [c for c in names if c.startswith(EMBEDDING_PREFIX) and c[1:].isdigit()]
    if not zcols:
        raise InputError(f"{path}: no embedding columns z000..zNNN")
    ids = np.asarray(table.column("sample_id").to_pylist(), dtype=object).astype(str)
    z = np.column_stack([table.column(c).to_numpy(zero_copy_only=False) for c in zcols]).astype(
        np.float64
    )
    bad = ~np.isfinite(z).all(axis=1)
    if bad.any():
        examples = ", ".join(ids[bad][:5])
        raise InputError(
            f"{path}: {int(bad.sum())} rows hold NaN or inf embeddings (sample ids: {examples})"
        )
    if len(set(ids)) != len(ids):
        raise InputError(f"{path}: duplicate sample ids")
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    meta.pop("ARROW:schema", None)
    return ids, z, meta
