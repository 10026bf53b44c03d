"""PCA baseline embeddings against numpy's SVD; the embeddings contract."""

import numpy as np
import pandas as pd
import pytest

from regwas.errors import InputError
from regwas.io.embeddings import read_embeddings
from regwas.represent import Embedder, embed_store, pca
from regwas.represent.pca import pca_embeddings


def _store(tmp_path, data, ids=None):
    d = tmp_path / "store"
    d.mkdir(parents=True)
    np.save(d / "data.npy", data)
    ids = ids if ids is not None else [f"S{i:04d}" for i in range(len(data))]
    pd.DataFrame({"sample_id": ids}).to_csv(d / "samples.tsv", sep="\t", index=False)
    return d


def test_pca_spans_the_top_singular_subspace():
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(300, 3)) * [5, 3, 2]
    data = (latent @ rng.normal(size=(3, 40)) + 0.1 * rng.normal(size=(300, 40))).reshape(
        300, 4, 10
    )
    z, info = pca_embeddings(data, 3, seed=1, standardize=False)
    x = data.reshape(300, -1) - data.reshape(300, -1).mean(axis=0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    reference = u[:, :3] * s[:3]
    # same subspace, component by component up to sign
    for j in range(3):
        assert abs(np.corrcoef(z[:, j], reference[:, j])[0, 1]) > 0.999
    np.testing.assert_allclose(
        info["explained_variance_ratio"], (s[:3] ** 2) / (s**2).sum(), rtol=1e-3
    )


def test_embed_store_writes_the_contract(tmp_path):
    rng = np.random.default_rng(1)
    d = _store(tmp_path, rng.normal(size=(50, 2, 30)).astype(np.float32))
    out = tmp_path / "emb.parquet"
    embed_store(d, out, {"latent_dim": 5}, seed=3, modality="ecg", space="native")
    ids, z, meta = read_embeddings(out)
    assert z.shape == (50, 5) and ids[0] == "S0000"
    assert meta["modality"] == "ecg" and meta["space"] == "native" and "config_digest" in meta
    # same seed, same output
    out2 = tmp_path / "emb2.parquet"
    embed_store(d, out2, {"latent_dim": 5}, seed=3)
    np.testing.assert_array_equal(read_embeddings(out2)[1], z)
    assert read_embeddings(out2)[2]["model_checksum"] == meta["model_checksum"]
    assert meta["method"] == "pca" and meta["latent_dim"] == "5"


def test_standardize_by_modality(tmp_path):
    """represent.standardize_by_modality overrides standardize for one modality: cardiac
    (default false) gets the PCA of the centred rows, another modality that of the standardised
    rows (references: numpy's SVD of each)."""
    rng = np.random.default_rng(5)
    data = rng.normal(size=(60, 8)) * np.array([5.0, 3.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.1])
    d = _store(tmp_path, data.astype(np.float32))
    x = data - data.mean(axis=0)
    for modality, cfg, scaled in [
        ("cardiac", {"latent_dim": 2}, False),
        ("ecg", {"latent_dim": 2}, True),
        ("cardiac", {"latent_dim": 2, "standardize_by_modality": {"cardiac": True}}, True),
        ("ecg", {"latent_dim": 2, "standardize": False}, False),
    ]:
        embed_store(d, tmp_path / "e.parquet", cfg, seed=0, modality=modality)
        z = read_embeddings(tmp_path / "e.parquet")[1]
        ref = x / x.std(axis=0) if scaled else x
        u, s, _ = np.linalg.svd(ref, full_matrices=False)
        for j in range(2):
            assert abs(np.corrcoef(z[:, j], u[:, j])[0, 1]) > 0.999, (modality, cfg, j)


def test_model_checksum_covers_the_fitted_parameters(tmp_path):
    """The checksum is a digest of the model (components, centre, scale), not of a summary:
    different data with the same variance profile gives a different checksum."""
    rng = np.random.default_rng(2)
    data = rng.normal(size=(40, 12)).astype(np.float32)
    e1 = embed_store(_store(tmp_path / "a", data), tmp_path / "a.parquet", {"latent_dim": 4}, 0)
    perm = data[:, rng.permutation(12)]  # same spectrum, other components
    e2 = embed_store(_store(tmp_path / "b", perm), tmp_path / "b.parquet", {"latent_dim": 4}, 0)
    assert isinstance(e1, Embedder)
    assert e1.checksum() != e2.checksum()
    assert read_embeddings(tmp_path / "a.parquet")[2]["model_checksum"] == e1.checksum()


def test_bad_stores_are_named(tmp_path):
    data = np.ones((10, 5), dtype=np.float32)
    data[3, 2] = np.nan
    d = _store(tmp_path, data)
    with pytest.raises(InputError) as err:
        embed_store(d, tmp_path / "e.parquet", {"latent_dim": 2}, seed=0)
    # the file and the sample, not the array row
    assert str(d / "data.npy") in str(err.value) and "samples S0003 hold NaN" in str(err.value)
    assert not (tmp_path / "e.parquet").exists()
    d2 = tmp_path / "s2"
    d2.mkdir()
    np.save(d2 / "data.npy", np.zeros((4, 3), dtype=np.float32))
    pd.DataFrame({"sample_id": ["a", "b"]}).to_csv(d2 / "samples.tsv", sep="\t", index=False)
    with pytest.raises(InputError, match="4 rows but"):
        embed_store(d2, tmp_path / "e.parquet", {"latent_dim": 2}, seed=0)
    small = tmp_path / "small"
    small.mkdir()
    with pytest.raises(InputError, match="latent_dim 9 exceeds"):
        embed_store(
            _store(small, np.zeros((5, 3))), tmp_path / "e.parquet", {"latent_dim": 9}, seed=0
        )


def test_pca_streams_a_memory_mapped_store(tmp_path):
    """A store larger than the cache is read in row blocks: peak allocations stay below half
    its size (a copy of the store would exceed it), and the embeddings equal those of the same
    data held in memory, and those from the standardised rows kept in memory (a store within
    the cache)."""
    import tracemalloc

    rng = np.random.default_rng(4)
    n, f = 3000, 2000
    latent = rng.normal(size=(n, 4)) @ rng.normal(size=(4, f))
    data = (latent + rng.normal(size=(n, f))).astype(np.float32)
    np.save(tmp_path / "data.npy", data)
    mm = np.load(tmp_path / "data.npy", mmap_mode="r")
    tracemalloc.start()
    z_mm, _ = pca_embeddings(mm, 4, seed=0, chunk=100, cache_bytes=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < data.nbytes / 2, (
        f"peak {peak / 1e6:.1f} MB for a {data.nbytes / 1e6:.0f} MB store"
    )
    z_mem, info = pca_embeddings(data, 4, seed=0, chunk=100, cache_bytes=0)
    np.testing.assert_array_equal(z_mm, z_mem)
    assert data.nbytes <= pca.CACHE_BYTES
    z_cached, cached_info = pca_embeddings(mm, 4, seed=0, chunk=100)
    np.testing.assert_array_equal(z_cached, z_mm)
    for key in ("components", "mean", "scale"):
        np.testing.assert_array_equal(cached_info[key], info[key])
    assert cached_info["explained_variance_ratio"] == info["explained_variance_ratio"]
    assert info["components"].shape == (4, f)


@pytest.mark.parametrize("dim", ["0", "-3", "two"])
def test_cli_latent_dim_must_be_a_positive_integer(tmp_path, capsys, dim):
    from regwas.cli import main

    with pytest.raises(SystemExit) as err:
        main(["embed", str(tmp_path), "--out", str(tmp_path / "e.parquet"), "--latent-dim", dim])
    assert err.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "--latent-dim" in lines[0] and "regwas embed: error" in lines[0]
    assert not (tmp_path / "e.parquet").exists()
