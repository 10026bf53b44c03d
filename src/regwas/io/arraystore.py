"""The array-store contract between registration and representation.

A store is a folder ``results/{modality}/{space}/`` holding

- ``data.npy``: N x (row shape) float32, C order, read memory-mapped;
- ``samples.tsv``: ``sample_id`` of each row, in row order;
- ``qc.tsv`` (optional): one row per person the registration saw (``sample_id``, ``ok``,
  ``error`` and method-specific QC metrics), including people left out of ``data.npy``.

:class:`ArrayStoreWriter` streams rows to disk as they are produced (no stage holds a whole
store in memory) and makes the files appear only when every row was written;
:class:`ArrayStore` opens a store memory-mapped and reads it in blocks.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd

from regwas.errors import InputError
from regwas.io.atomic import atomic_path
from regwas.io.tables import read_tsv

log = logging.getLogger(__name__)

DATA, SAMPLES, QC = "data.npy", "samples.tsv", "qc.tsv"


def _npy_header(shape: tuple[int, ...], dtype: np.dtype) -> bytes:
    """The .npy (format 1.0) header numpy itself writes for a C-order array of ``shape``."""
    buf = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue()


class ArrayStoreWriter:
    """Write an array store row by row; files appear atomically when the ``with`` block ends.

    ``capacity`` is an upper bound on the number of rows (the people in the manifest): the
    header is reserved for it, rows are appended as they come, and the final header records
    the rows actually written (people that failed registration are left out and named in
    ``qc.tsv``). ``row_shape`` None takes the first row's shape. On an exception nothing is
    left behind.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike,
        row_shape: Sequence[int] | None,
        capacity: int,
        dtype: np.dtype | type = np.float32,
        qc_columns: Sequence[str] = (),
    ):
        self.out_dir = Path(out_dir)
        self.row_shape = None if row_shape is None else tuple(int(s) for s in row_shape)
        self.dtype = np.dtype(dtype)
        self.capacity = int(capacity)
        self.sample_ids: list[str] = []
        self.qc_rows: list[dict] = []
        self.qc_columns = list(qc_columns)
        self._stack: ExitStack | None = None

    # -- context ---------------------------------------------------------------------------
    def __enter__(self) -> ArrayStoreWriter:
        self._stack = ExitStack()
        self._tmp_data = self._stack.enter_context(atomic_path(self.out_dir / DATA, ".npy"))
        self._tmp_samples = self._stack.enter_context(atomic_path(self.out_dir / SAMPLES))
        self._fh = open(self._tmp_data, "wb")  # noqa: SIM115 (closed in __exit__)
        if self.row_shape is not None:
            self._reserve()
        return self

    def _reserve(self) -> None:
        self._reserved = _npy_header((self.capacity, *self.row_shape), self.dtype)
        self._fh.write(self._reserved)

    def __exit__(self, exc_type, exc, tb) -> bool:
        assert self._stack is not None
        if exc_type is None:
            try:
                self._finish()
            except BaseException as err:  # publish nothing when the last step fails
                self._fh.close()
                self._stack.__exit__(type(err), err, err.__traceback__)
                raise
        self._fh.close()
        self._stack.__exit__(exc_type, exc, tb)
        return False

    # -- rows ------------------------------------------------------------------------------
    def append(self, sample_id: str, row: np.ndarray, qc: dict | None = None) -> None:
        """Append one person's row (cast to the store's dtype) and, optionally, their QC."""
        row = np.asarray(row)
        if self.row_shape is None:
            self.row_shape = row.shape
            self._reserve()
        if row.shape != self.row_shape:
            raise InputError(
                f"{sample_id}: array of shape {row.shape}, the store {self.out_dir} needs "
                f"{self.row_shape}"
            )
        if len(self.sample_ids) >= self.capacity:
            raise ValueError(f"{self.out_dir}: more than the {self.capacity} rows reserved")
        self._fh.write(np.ascontiguousarray(row, dtype=self.dtype).tobytes())
        self.sample_ids.append(str(sample_id))
        if qc is not None:
            self.qc_rows.append({"sample_id": str(sample_id), "ok": True, **qc, "error": ""})

    def exclude(self, sample_id: str, error: str, qc: dict | None = None) -> None:
        """Record a person left out of the store (``ok`` false in qc.tsv, with the reason)."""
        self.qc_rows.append(
            {"sample_id": str(sample_id), "ok": False, **(qc or {}), "error": error}
        )

    @property
    def n(self) -> int:
        return len(self.sample_ids)

    def qc_table(self) -> pd.DataFrame:
        """The QC rows so far (every person seen, in order): sample_id, ok, metrics, error."""
        columns = ["sample_id", "ok", *self.qc_columns]
        for row in self.qc_rows:
            columns += [k for k in row if k not in columns and k != "error"]
        return pd.DataFrame(self.qc_rows, columns=[*columns, "error"])

    def _finish(self) -> None:
        if self.row_shape is None:
            raise InputError(f"{self.out_dir}: no rows to write")
        header = _npy_header((self.n, *self.row_shape), self.dtype)
        if len(header) == len(self._reserved):
            self._fh.seek(0)
            self._fh.write(header)
            self._fh.close()
        else:  # the row count needs fewer header bytes: shift the rows (rare)
            self._fh.close()
            shifted = self._tmp_data.with_name(self._tmp_data.name + ".shift")
            with open(self._tmp_data, "rb") as src, open(shifted, "wb") as dst:
                src.seek(len(self._reserved))
                dst.write(header)
                shutil.copyfileobj(src, dst, 1 << 24)
            os.replace(shifted, self._tmp_data)
        pd.DataFrame({"sample_id": self.sample_ids}).to_csv(
            self._tmp_samples, sep="\t", index=False
        )
        if self.qc_rows:
            assert self._stack is not None
            tmp_qc = self._stack.enter_context(atomic_path(self.out_dir / QC))
            self.qc_table().to_csv(tmp_qc, sep="\t", index=False)
        else:  # no QC for this store: a stale qc.tsv must not describe it
            (self.out_dir / QC).unlink(missing_ok=True)
        log.info("array store %s: %s", self.out_dir / DATA, (self.n, *self.row_shape))


class ArrayStore:
    """An array store opened for reading: ``data`` is memory-mapped, never copied whole."""

    def __init__(self, store_dir: str | os.PathLike):
        self.dir = Path(store_dir)
        data_path, ids_path = self.dir / DATA, self.dir / SAMPLES
        if not data_path.exists():
            raise InputError(f"{data_path}: array store does not exist")
        try:
            self.data = np.load(data_path, mmap_mode="r")
        except ValueError as err:
            raise InputError(f"{data_path}: not a readable .npy array: {err}") from err
        self.sample_ids = read_tsv(ids_path, dtype={"sample_id": str})["sample_id"].to_numpy()
        if self.data.shape[0] != len(self.sample_ids):
            raise InputError(
                f"{data_path}: {self.data.shape[0]} rows but {ids_path} lists "
                f"{len(self.sample_ids)} samples"
            )

    @property
    def n(self) -> int:
        return int(self.data.shape[0])

    @property
    def row_shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape[1:])

    @property
    def n_features(self) -> int:
        return int(np.prod(self.row_shape, dtype=np.int64))

    def qc(self) -> pd.DataFrame | None:
        """The store's qc.tsv, or None when the registration wrote none."""
        path = self.dir / QC
        return read_tsv(path, dtype={"sample_id": str}) if path.exists() else None

    def blocks(
        self, rows: int = 1024, dtype: type = np.float64
    ) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, rows x features block) over the store, each block copied as ``dtype``."""
        flat = self.data.reshape(self.n, -1)
        for start in range(0, self.n, rows):
            yield start, np.asarray(flat[start : start + rows], dtype=dtype)


def load_array_store(store_dir: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(memory-mapped data, sample ids) of a store: a shortcut for :class:`ArrayStore`."""
    store = ArrayStore(store_dir)
    return store.data, store.sample_ids


EXCLUSION_COLUMNS = ["sample_id", "step", "space", "reason"]


def comparison_samples(
    stores: Mapping[str, str | os.PathLike],
    expected: Sequence[str] | None = None,
    modality: str = "",
) -> tuple[list[str], pd.DataFrame]:
    """Who a comparison of spaces uses: the people in the array store of every space.

    ``stores`` maps each space of one modality to its store folder; only ``samples.tsv`` and
    ``qc.tsv`` are read. ``expected`` (e.g. the modality's manifest ids) adds the people no
    store holds. Returns (sorted sample ids in every store, exclusion table): one row per
    person and space they are missing from, with ``step`` ``register``, the ``space`` and the
    ``reason`` (the registration's error from qc.tsv, or "not in the array store"). Every stage
    that compares spaces (probe folds, the comparison) uses these people, so one record that
    fails one registration drops that person everywhere instead of breaking the comparison.
    """
    if not stores:
        raise InputError("comparison of spaces: no array stores given")
    members: dict[str, set[str]] = {}
    reasons: dict[str, dict[str, str]] = {}
    for space, folder in stores.items():
        folder = Path(folder)
        members[space] = set(
            read_tsv(folder / SAMPLES, dtype={"sample_id": str})["sample_id"].astype(str)
        )
        reasons[space] = {}
        if (folder / QC).exists():
            qc = read_tsv(folder / QC, dtype={"sample_id": str, "error": str})
            ok = qc["ok"].astype(str).str.lower().isin(("true", "1"))
            for sid, err in zip(qc.loc[~ok, "sample_id"], qc.loc[~ok, "error"], strict=True):
                reasons[space][str(sid)] = str(err) if isinstance(err, str) and err else "failed QC"
    everyone = set().union(*members.values()) | set(map(str, () if expected is None else expected))
    common = sorted(set.intersection(*members.values()))
    rows = [
        {
            "sample_id": sid,
            "step": "register",
            "space": space,
            "reason": reasons[space].get(sid, "not in the array store"),
        }
        for space in stores
        for sid in sorted(everyone - members[space])
    ]
    table = pd.DataFrame(rows, columns=EXCLUSION_COLUMNS)
    per_space = ", ".join(f"{s} {int((table['space'] == s).sum())}" for s in stores)
    log.info(
        "%scomparison of spaces uses %d of %d people; left out at registration: %s",
        f"{modality}: " if modality else "",
        len(common),
        len(everyone),
        per_space,
    )
    return common, table
