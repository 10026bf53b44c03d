"""Atomic writers and the embeddings contract."""

import os
import stat
import time

import numpy as np
import pandas as pd
import pytest

from regwas.errors import InputError
from regwas.io.atomic import atomic_path
from regwas.io.embeddings import read_embeddings, write_embeddings
from regwas.io.tables import write_tsv


def test_gzip_tables_are_byte_reproducible(tmp_path):
    df = pd.DataFrame({"a": np.arange(1000), "b": np.linspace(0, 1, 1000)})
    write_tsv(df, tmp_path / "one.tsv.gz")
    time.sleep(1.1)  # a gzip header timestamp would now differ
    write_tsv(df, tmp_path / "two.tsv.gz")
    assert (tmp_path / "one.tsv.gz").read_bytes() == (tmp_path / "two.tsv.gz").read_bytes()
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "one.tsv.gz", sep="\t"), df)


def test_atomic_path_leaves_nothing_on_error_and_shares_on_success(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask


def test_embeddings_round_trip_and_bad_rows(tmp_path):
    z = np.arange(12, dtype=np.float32).reshape(4, 3)
    write_embeddings(["a", "b", "c", "d"], z, tmp_path / "e.parquet", {"space": "native"})
    ids, back, meta = read_embeddings(tmp_path / "e.parquet")
    assert list(ids) == ["a", "b", "c", "d"] and meta["space"] == "native"
    np.testing.assert_array_equal(back, z)
    z[2, 1] = np.nan
    write_embeddings(["a", "b", "c", "d"], z, tmp_path / "bad.parquet")
    with pytest.raises(InputError, match=r"1 rows hold NaN or inf.*c"):
        read_embeddings(tmp_path / "bad.parquet")
