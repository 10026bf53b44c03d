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


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_atomic_dir_never_deletes_what_it_did_not_create(tmp_path, monkeypatch):
    from regwas.io.atomic import MARKER, atomic_dir

    user = tmp_path / "mine"
    user.mkdir()
    (user / "important.txt").write_text("keep")
    with pytest.raises(InputError, match=r"mine: folder is not empty.*--force"), atomic_dir(user):
        raise AssertionError("must refuse before the block runs")
    assert (user / "important.txt").read_text() == "keep"
    assert _tree(tmp_path) == ["mine", "mine/important.txt"]  # no temporary left

    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)  # empty folders only (as Snakemake makes them): fine
    with atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("1")
    assert _tree(out) == [MARKER, "a.txt"]
    with atomic_dir(out) as tmp:  # a previous output is replaced
        (tmp / "b.txt").write_text("2")
    assert _tree(out) == [MARKER, "b.txt"]
    (out / "notes.txt").write_text("mine")  # ... unless something was added to it
    with pytest.raises(InputError, match=r"did not write \(notes.txt\)"), atomic_dir(out):
        pass
    assert (out / "notes.txt").exists()
    with atomic_dir(user, force=True) as tmp:  # --force replaces
        (tmp / "c.txt").write_text("3")
    assert _tree(user) == [MARKER, "c.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a folder"), atomic_dir(tmp_path / "file"):
        pass

    monkeypatch.chdir(out)
    for target in (".", "..", str(out)):
        with pytest.raises(InputError, match="working directory"):
            with atomic_dir(target, force=True):
                pass
    assert _tree(out) == [MARKER, "b.txt", "notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "mine", "out"]


def test_empty_or_text_embeddings_are_named(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    write_embeddings([], np.zeros((0, 3)), tmp_path / "empty.parquet")
    with pytest.raises(InputError, match=r"empty\.parquet: no rows"):
        read_embeddings(tmp_path / "empty.parquet")
    table = pa.table({"sample_id": ["a", "b"], "z000": [1.0, 2.0], "z001": ["1.5", "2.5"]})
    pq.write_table(table, tmp_path / "text.parquet")
    with pytest.raises(
        InputError, match=r"text\.parquet: embedding columns must hold numbers.*z001"
    ):
        read_embeddings(tmp_path / "text.parquet")


def test_comma_separated_table_gets_a_delimiter_hint(tmp_path):
    from regwas.io.tables import align_samples, read_tsv

    (tmp_path / "s.csv").write_text("sample_id,age,sex\nS1,40,F\n")
    with pytest.raises(InputError, match=r"no 'sample_id' column.*looks ','-separated"):
        align_samples(["S1"], read_tsv(tmp_path / "s.csv"), source=str(tmp_path / "s.csv"))
