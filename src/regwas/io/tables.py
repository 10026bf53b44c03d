"""Tab-separated tables: atomic writes (byte-reproducible gzip), reads that name the file, and
rows of a samples table aligned to the order of an embedding."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from regwas.errors import InputError
from regwas.io.atomic import atomic_path


def write_tsv(df: pd.DataFrame, path: str | os.PathLike, **kwargs) -> None:
    """Write a tab-separated table atomically (gzip when the name ends in .gz).

    Gzip output carries no timestamp or file name in its header, so the same table always
    gives the same bytes.
    """
    import gzip

    path = Path(path)
    with atomic_path(path) as tmp:
        if path.name.endswith(".gz"):
            with (
                open(tmp, "wb") as raw,
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
            ):
                df.to_csv(gz, sep="\t", index=False, **kwargs)
        else:
            df.to_csv(tmp, sep="\t", index=False, **kwargs)


def read_tsv(path: str | os.PathLike, **kwargs) -> pd.DataFrame:
    """Read a tab-separated table; a missing or unreadable file raises InputError naming it."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file does not exist")
    try:
        table = pd.read_csv(path, sep="\t", **kwargs)
    except pd.errors.EmptyDataError as err:  # the cohort stage's words for the same file
        raise InputError(f"{path}: the table is empty (no header line)") from err
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot be read as a tab-separated table: {err}") from err
    table.attrs["path"] = str(path)  # align_samples names the file in its errors
    return table


def delimiter_hint(columns) -> str:
    """A hint for a missing-column message when the header was read as one column that holds
    commas or semicolons (a CSV given where a tab-separated table is expected); else ""."""
    names = [str(c) for c in columns]
    if len(names) == 1 and ("," in names[0] or ";" in names[0]):
        sep = "," if "," in names[0] else ";"
        return (
            f"; the header is one column holding {sep!r}: the file looks {sep!r}-separated, "
            "but regwas reads tab-separated tables (save it as TSV)"
        )
    return ""


def align_samples(
    ids: np.ndarray, samples: pd.DataFrame, source: str | None = None
) -> pd.DataFrame:
    """Rows of ``samples`` in the order of the embedding ``ids`` (InputError if any id is absent).

    Errors name ``source``, by default the file ``read_tsv`` read the table from."""
    source = source or samples.attrs.get("path", "samples")
    if "sample_id" not in samples.columns:
        raise InputError(
            f"{source}: no 'sample_id' column (columns: {list(samples.columns)[:10]})"
            + delimiter_hint(samples.columns)
        )
    sid = samples["sample_id"].astype(str)
    dup = sid[sid.duplicated()]
    if len(dup):
        raise InputError(f"{source}: duplicate sample ids: {', '.join(dup.iloc[:5])}")
    table = samples.assign(sample_id=sid).set_index("sample_id", drop=False)
    ids = np.asarray(ids).astype(str)
    missing = ~pd.Index(ids).isin(table.index)
    if missing.any():
        raise InputError(
            f"{source}: {int(missing.sum())} embedded sample ids are not in the samples table "
            f"(e.g. {', '.join(ids[missing][:5])})"
        )
    return table.loc[ids].reset_index(drop=True)
