"""The embeddings contract: Parquet with sample_id + z000..zNNN (float32) and key-value
metadata (modality, space, method, model checksum, config digest)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from regwas.errors import InputError
from regwas.io.atomic import atomic_path

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


def read_embeddings_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The key-value metadata of embeddings.parquet (method, model checksum, ...), read from
    its footer only."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: cannot be read as Parquet: {err}") from err
    return {k.decode(): v.decode() for k, v in meta.items() if not k.startswith(b"ARROW:")}


def read_embeddings(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """Read embeddings.parquet -> (sample_ids, float array n x d, metadata).

    Raises InputError naming the file when it is missing, empty, has no sample_id or z
    columns, z columns that are not numbers (e.g. text), or NaN/inf (the offending sample ids
    are named).
    """
    import pyarrow as pa
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
    if table.num_rows == 0:
        raise InputError(f"{path}: no rows (an embeddings file needs one row per person)")
    not_numbers = [
        f"{c} ({table.schema.field(c).type})"
        for c in zcols
        if not (
            pa.types.is_floating(table.schema.field(c).type)
            or pa.types.is_integer(table.schema.field(c).type)
        )
    ]
    if not_numbers:
        raise InputError(
            f"{path}: embedding columns must hold numbers (float32); "
            f"{', '.join(not_numbers[:5])} do not"
        )
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
