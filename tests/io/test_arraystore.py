"""The array-store contract: streamed writes, exclusions in qc.tsv, atomicity, mmap reads."""

import numpy as np
import pandas as pd
import pytest

from regwas.errors import InputError
from regwas.io.arraystore import ArrayStore, ArrayStoreWriter


def test_rows_stream_to_a_valid_npy_with_the_rows_written(tmp_path):
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(7, 3, 5))
    with ArrayStoreWriter(tmp_path / "s", (3, 5), capacity=10, qc_columns=["snr"]) as w:
        for i, r in enumerate(rows):
            if i == 2:
                w.exclude(f"S{i}", "flat signal")
            else:
                w.append(f"S{i}", r, {"snr": float(i)})
    data = np.load(tmp_path / "s" / "data.npy")  # numpy's own reader, no mmap
    np.testing.assert_array_equal(data, np.delete(rows, 2, axis=0).astype(np.float32))
    assert data.dtype == np.float32 and data.flags.c_contiguous
    store = ArrayStore(tmp_path / "s")
    assert isinstance(store.data, np.memmap)
    assert store.sample_ids.tolist() == ["S0", "S1", "S3", "S4", "S5", "S6"]
    qc = store.qc()
    assert qc.columns.tolist() == ["sample_id", "ok", "snr", "error"]
    assert qc["ok"].tolist() == [True, True, False, True, True, True, True]
    assert qc.loc[2, "error"] == "flat signal" and np.isnan(qc.loc[2, "snr"])
    blocks = list(store.blocks(rows=4))
    assert [b[0] for b in blocks] == [0, 4]
    np.testing.assert_allclose(np.vstack([b[1] for b in blocks]), data.reshape(6, -1))


def test_header_shrink_is_handled(tmp_path):
    """A capacity whose header is longer than the final one (rows shifted) still reads."""
    shape = (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)
    with ArrayStoreWriter(tmp_path / "s", shape, capacity=10**15) as w:
        w.append("a", np.ones(shape))
        w.append("b", np.zeros(shape))
    data = np.load(tmp_path / "s" / "data.npy")
    assert data.shape == (2, *shape) and data.reshape(2)[0] == 1 and data.reshape(2)[1] == 0


def test_failure_leaves_nothing_and_wrong_shape_is_named(tmp_path):
    out = tmp_path / "s"
    with pytest.raises(InputError, match=r"S1: array of shape \(4,\)"):
        with ArrayStoreWriter(out, (3,), capacity=3) as w:
            w.append("S0", np.zeros(3))
            w.append("S1", np.zeros(4))
    assert not out.exists() or list(out.iterdir()) == []
    with pytest.raises(InputError, match="no rows"):
        with ArrayStoreWriter(out, None, capacity=3) as w:
            w.exclude("S0", "bad")
    assert not out.exists() or list(out.iterdir()) == []


def test_reader_names_mismatched_sample_list(tmp_path):
    with ArrayStoreWriter(tmp_path / "s", (2,), capacity=2) as w:
        w.append("a", np.zeros(2))
    pd.DataFrame({"sample_id": ["a", "b"]}).to_csv(tmp_path / "s" / "samples.tsv", sep="\t")
    with pytest.raises(InputError, match="1 rows but .* lists 2 samples"):
        ArrayStore(tmp_path / "s")


def test_comparison_samples_are_the_people_in_every_space(tmp_path):
    """One record that fails one registration drops that person from the comparison, named."""
    from regwas.io.arraystore import comparison_samples

    people = ["S3", "S1", "S2", "S4"]
    with ArrayStoreWriter(tmp_path / "native", (2,), capacity=4) as w:
        for sid in people[:3]:  # S4 has no record at all
            w.append(sid, np.ones(2))
    with ArrayStoreWriter(tmp_path / "beat", (2,), capacity=4, qc_columns=["snr"]) as w:
        for sid in people[:3]:
            if sid == "S1":
                w.exclude(sid, "flat signal: no beats")
            else:
                w.append(sid, np.ones(2), {"snr": 1.0})
    kept, excluded = comparison_samples(
        {"native": tmp_path / "native", "beat": tmp_path / "beat"}, expected=people
    )
    assert kept == ["S2", "S3"]
    assert excluded.columns.tolist() == ["sample_id", "step", "space", "reason"]
    assert excluded.values.tolist() == [
        ["S4", "register", "native", "not in the array store"],
        ["S1", "register", "beat", "flat signal: no beats"],
        ["S4", "register", "beat", "not in the array store"],
    ]
    with pytest.raises(InputError, match="no array stores"):
        comparison_samples({})
