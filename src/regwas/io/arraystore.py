"""The array-store contract: data.npy (N x shape, float32, memory-mapped) + samples.tsv."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from regwas.errors import InputError
from regwas.io.tables import read_tsv

log = logging.getLogger(__name__)


def load_array_store(store_dir: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Open ``store_dir``/data.npy memory-mapped and its sample order (samples.tsv)."""
    store_dir = Path(store_dir)
    data_path, ids_path = store_dir / "data.npy", store_dir / "samples.tsv"
    if not data_path.exists():
        raise InputError(f"{data_path}: array store does not exist")
    try:
        data = np.load(data_path, mmap_mode="r")
    except ValueError as err:
        raise InputError(f"{data_path}: not a readable .npy array: {err}") from err
    ids = read_tsv(ids_path, dtype={"sample_id": str})["sample_id"].to_numpy()
    if data.shape[0] != len(ids):
        raise InputError(
            f"{data_path}: {data.shape[0]} rows but {ids_path} lists {len(ids)} samples"
        )
    return data, ids
