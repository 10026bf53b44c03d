"""Light helpers of the image stores (no ANTs, no nilearn: the cine rules use them too): the
image manifest (sample_id, path, optional label_path) and the QC summary of a store."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from regwas.errors import InputError
from regwas.io.arraystore import QC
from regwas.io.atomic import atomic_path
from regwas.io.tables import read_tsv

#: the brain stores' QC metrics (the default of write_qc_summary)
QC_COLUMNS = [
    "seconds",
    "ncc_before",
    "ncc_after",
    "dice_before",
    "dice_after",
    "pct_nonpos_jac",
    "retried",
]


def manifest_path_resolver(manifest: str | os.PathLike):
    """A function mapping a manifest cell to an absolute path string (relative paths against
    the manifest's folder), or None for an empty cell."""
    base = Path(manifest).resolve().parent

    def resolve(p):
        if not isinstance(p, str) or not p.strip():
            return None
        q = Path(p)
        return str(q if q.is_absolute() else base / q)

    return resolve


def read_image_manifest(path: str | os.PathLike, modality: str) -> pd.DataFrame:
    """sample_id, image and labels (or None) of an image manifest (columns sample_id, path and
    optional label_path; relative paths against the manifest's folder). InputError names the
    manifest and the sample of a row with no file."""
    man = read_tsv(path, dtype=str)
    for col in ("sample_id", "path"):
        if col not in man.columns:
            raise InputError(f"{modality} manifest {path}: missing column {col!r}")
    if len(man) == 0:
        raise InputError(f"{modality} manifest {path}: no rows")
    if man["sample_id"].duplicated().any():
        sid = man.loc[man["sample_id"].duplicated(), "sample_id"].iloc[0]
        raise InputError(f"{modality} manifest {path}: sample {sid} listed twice")
    resolve = manifest_path_resolver(path)
    out = pd.DataFrame({"sample_id": man["sample_id"].astype(str)})
    out["image"] = [resolve(p) for p in man["path"]]
    if out["image"].isna().any():
        sid = out.loc[out["image"].isna(), "sample_id"].iloc[0]
        raise InputError(f"{modality} manifest {path}: sample {sid} has no file (column path)")
    labels = man["label_path"] if "label_path" in man.columns else [None] * len(man)
    out["labels"] = [resolve(p) for p in labels]
    return out


def write_qc_summary(
    store_dir: str | os.PathLike, columns: Iterable[str] = QC_COLUMNS
) -> pd.DataFrame:
    """qc_summary.tsv: per QC metric (``columns``, then any other numeric column of qc.tsv)
    n, mean, sd, median, min, max; plus subjects excluded."""
    d = Path(store_dir)
    qc = read_tsv(d / QC, dtype={"sample_id": str})
    rows = [
        {
            "metric": "excluded",
            "n": len(qc),
            "mean": float((~qc["ok"].astype(bool)).sum()),
        }
    ]
    columns = list(columns)
    extra = [c for c in qc.columns if c not in (*columns, "sample_id", "ok", "error")]
    for col in [*columns, *extra]:
        if col in qc.columns:
            v = pd.to_numeric(qc[col], errors="coerce").dropna()
            if len(v):
                rows.append(
                    {
                        "metric": col,
                        "n": len(v),
                        "mean": v.mean(),
                        "sd": v.std(),
                        "median": v.median(),
                        "min": v.min(),
                        "max": v.max(),
                    }
                )
    table = pd.DataFrame(rows)
    with atomic_path(d / "qc_summary.tsv") as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    return table
