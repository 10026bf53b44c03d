"""The equal-capacity autoencoders: capacity, reconstruction, determinism, resume, bad input."""

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from regwas.config import section  # noqa: E402
from regwas.errors import InputError  # noqa: E402
from regwas.io.arraystore import ArrayStore  # noqa: E402
from regwas.io.embeddings import read_embeddings  # noqa: E402
from regwas.represent import embed_store  # noqa: E402
from regwas.represent.autoencoder import (  # noqa: E402
    CHECKPOINT,
    AutoencoderEmbedder,
    TrainingError,
    TrainingInterrupted,
    build_network,
    count_parameters,
)


def _cfg(**ae):
    tiny = dict(
        stem_channels=8, growth_rate=4, layers_per_block=1, blocks=2, pool_size=4, steps=20,
        batch_size=16, eval_every=5, patience=100, learning_rate=5e-3, min_people=10,
        conv_dims={"ecg": 1, "brain": 2}, device="cpu",
    )  # fmt: skip
    return section(
        "represent", {"method": "autoencoder", "latent_dim": 4, "autoencoder": {**tiny, **ae}}
    )


def _store(tmp_path, data, name="store", ids=None):
    d = tmp_path / name
    d.mkdir(parents=True)
    np.save(d / "data.npy", data.astype(np.float32))
    ids = ids if ids is not None else [f"S{i:04d}" for i in range(len(data))]
    pd.DataFrame({"sample_id": ids}).to_csv(d / "samples.tsv", sep="\t", index=False)
    return d


def _signals(n=160, channels=3, length=64, seed=0):
    """Smooth multichannel signals driven by 3 latent factors, plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, length)
    basis = np.stack([np.sin(2 * np.pi * f * t + p) for f, p in [(1, 0), (2, 1), (3, 2)]])
    mix = rng.normal(size=(3, channels, 1))
    f = rng.normal(size=(n, 3))
    x = np.einsum("nk,kcl->ncl", f, mix * basis[:, None, :])
    return x + 0.05 * rng.normal(size=x.shape)


@pytest.mark.parametrize(
    "dims, channels, shapes",
    [
        (1, 12, [(5000,), (600,)]),
        (2, 1, [(96, 112), (64, 64)]),
        (3, 1, [(24, 28, 20), (16, 16, 16)]),
    ],
)
def test_equal_capacity_across_input_sizes(dims, channels, shapes):
    cfg = section("represent", {"method": "autoencoder"})["autoencoder"]
    counts = []
    for shape in shapes:
        enc, dec = build_network(dims, channels, 16, cfg)
        x = torch.zeros(2, channels, *shape)
        z, sizes = enc(x)
        assert z.shape == (2, 16)
        assert dec(z, sizes).shape == x.shape
        counts.append(count_parameters(enc) + count_parameters(dec))
    # the stated tolerance: exactly equal when the channel count is the same
    assert counts[0] == counts[1]


def test_held_out_reconstruction_beats_the_mean(tmp_path):
    store = ArrayStore(_store(tmp_path, _signals()))
    cfg = _cfg(steps=150, eval_every=30, stem_channels=16, growth_rate=8, pool_size=8)
    ae = AutoencoderEmbedder(cfg, seed=3, modality="ecg").fit(store)
    assert ae.qc["val_mse"] < 0.3 * ae.qc["val_mean_predictor_mse"]
    z = ae.transform(store)
    assert z.shape == (store.n, 4) and np.isfinite(z).all()


def test_embeddings_are_deterministic_for_a_seed(tmp_path):
    store = ArrayStore(_store(tmp_path, _signals(n=60)))
    runs = []
    for _ in range(2):
        ae = AutoencoderEmbedder(_cfg(steps=10), seed=5, modality="ecg").fit(store)
        runs.append((ae.transform(store), ae.checksum()))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
    other = AutoencoderEmbedder(_cfg(steps=10), seed=6, modality="ecg").fit(store)
    assert other.checksum() != runs[0][1]


def test_a_resumed_training_ends_where_an_uninterrupted_one_does(tmp_path):
    store = ArrayStore(_store(tmp_path, _signals(n=60)))
    whole = AutoencoderEmbedder(_cfg(), 5, "ecg", out_dir=tmp_path / "whole").fit(store)
    out = tmp_path / "killed"
    with pytest.raises(TrainingInterrupted):
        AutoencoderEmbedder(_cfg(), 5, "ecg", out_dir=out).fit(store, stop_at=10)
    assert (out / CHECKPOINT).exists() and not (out / "model.pt").exists()
    resumed = AutoencoderEmbedder(_cfg(), 5, "ecg", out_dir=out).fit(store)
    assert resumed.checksum() == whole.checksum()
    assert len(resumed.history) == len(whole.history) == 4
    assert not (out / CHECKPOINT).exists() and (out / "model.pt").exists()


def test_a_nan_loss_stops_with_the_step_and_the_batch(tmp_path, monkeypatch):
    store = ArrayStore(_store(tmp_path, _signals(n=60)))
    calls = []

    def loss(xr, x):
        calls.append(1)
        value = torch.mean((xr - x) ** 2)
        return value * float("nan") if len(calls) > 7 else value

    monkeypatch.setattr(AutoencoderEmbedder, "loss_fn", staticmethod(loss))
    out = tmp_path / "out"
    with pytest.raises(TrainingError, match=r"step 7 .*S00\d\d"):
        AutoencoderEmbedder(_cfg(), 5, "ecg", out_dir=out).fit(store)
    assert (out / CHECKPOINT).exists()  # the last good checkpoint (step 5) is kept
    assert not (out / "model.pt").exists()


def test_bad_input_is_a_clear_error(tmp_path):
    few = ArrayStore(_store(tmp_path, _signals(n=6), "few"))
    with pytest.raises(InputError, match="too few to split"):
        AutoencoderEmbedder(_cfg(), 1, "ecg").fit(few)
    cube = ArrayStore(_store(tmp_path, np.zeros((30, 2, 3, 4, 5)), "cube"))
    with pytest.raises(InputError, match="do not fit a 1-D autoencoder"):
        AutoencoderEmbedder(_cfg(), 1, "ecg").fit(cube)
    with pytest.raises(InputError, match="conv_dims has no entry"):
        AutoencoderEmbedder(_cfg(), 1, "cine")


def test_embed_store_writes_model_qc_and_metadata(tmp_path):
    d = _store(tmp_path, _signals(n=40, length=32), "ecg/native")
    out = d / "embeddings.parquet"
    embed_store(d, out, _cfg(steps=5), seed=2, modality="ecg", space="native")
    ids, z, meta = read_embeddings(out)
    assert z.shape == (40, 4) and meta["method"] == "autoencoder"
    assert len(meta["model_checksum"]) == 64 and meta["model_file"] == "model.pt"
    assert (d / "model.pt").exists() and (d / "training_log.tsv").exists()
    qc = pd.read_csv(d / "reconstruction_qc.tsv", sep="\t")
    assert list(qc.columns) == ["sample_id", "split", "mse", "mean_predictor_mse"]
    assert (qc["split"] == "validation").sum() == 8


def test_brain_slices_train_in_2d(tmp_path):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:20, :24]
    blobs = np.stack(
        [
            np.exp(-((yy - 10 - rng.normal()) ** 2 + (xx - 12) ** 2) / (20 + 5 * rng.normal()) ** 1)
            for _ in range(30)
        ]
    )
    store = ArrayStore(_store(tmp_path, blobs, "brain"))
    ae = AutoencoderEmbedder(_cfg(steps=5), 1, "brain").fit(store)
    assert ae.dims == 2 and ae.transform(store).shape == (30, 4)


def test_the_gpu_config_layers_over_the_demo_config():
    from pathlib import Path

    import yaml

    from regwas.config.schema import load_config, validate_config

    root = Path(__file__).resolve().parents[2]
    config = load_config(root / "config/config.yaml")
    config["represent"] = yaml.safe_load((root / "config/gpu.yaml").read_text())["represent"]
    ae = validate_config(config)["represent"]["autoencoder"]
    assert ae["gpu"] and ae["device"] == "cuda" and ae["steps"] >= 10000


def test_reconstruction_examples_match_the_model_and_are_drawn(tmp_path):
    """reconstruction_examples.npz holds the first validation people's inputs (equal to the
    store's rows) and reconstructions whose MSE, in standardised units, equals the QC table's;
    the figure is written as PNG and PDF, for 1D signals and for 2D images."""
    from regwas.plots.autoencoder import autoencoder_plots, read_examples

    d = _store(tmp_path, _signals(n=40, length=32), "ecg/native")
    embed_store(d, d / "embeddings.parquet", _cfg(steps=10), seed=2, modality="ecg")
    ex = read_examples(d / "reconstruction_examples.npz")
    store = ArrayStore(d)
    qc = pd.read_csv(d / "reconstruction_qc.tsv", sep="\t", dtype={"sample_id": str})
    val = qc.loc[qc["split"] == "validation", "sample_id"].tolist()
    assert ex["sample_id"].tolist() == val[:3]
    rows = [store.sample_ids.tolist().index(s) for s in ex["sample_id"]]
    np.testing.assert_array_equal(ex["input"], store.data[rows])
    # the model's standardisation (the default, global scaling: one scale, the root mean
    # square of the features' SDs), recomputed from the training people's rows
    train = qc.loc[qc["split"] == "train", "sample_id"].tolist()
    flat = store.data.reshape(store.n, -1)[[store.sample_ids.tolist().index(s) for s in train]]
    scale = np.sqrt(np.mean(flat.std(axis=0) ** 2))
    err = (ex["reconstruction"] - ex["input"]).reshape(3, -1) / scale
    np.testing.assert_allclose((err**2).mean(axis=1), ex["mse"], rtol=0.05)
    np.testing.assert_allclose(ex["mse"], qc.set_index("sample_id").loc[val[:3], "mse"], rtol=1e-5)
    paths = autoencoder_plots(
        d / "training_log.tsv", d / "reconstruction_examples.npz", tmp_path / "ae"
    )
    assert all(p.stat().st_size > 1000 for p in paths)

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:20, :24]
    blobs = np.stack(
        [np.exp(-((yy - 10 - rng.normal()) ** 2 + (xx - 12) ** 2) / 20) for _ in range(30)]
    )
    b = _store(tmp_path, blobs, "brain/native")
    embed_store(b, b / "embeddings.parquet", _cfg(steps=5), seed=1, modality="brain")
    paths = autoencoder_plots(
        b / "training_log.tsv", b / "reconstruction_examples.npz", tmp_path / "b"
    )
    assert all(p.exists() for p in paths)
    with pytest.raises(InputError, match="missing arrays"):
        np.savez(tmp_path / "bad.npz", sample_id=np.array(["x"]))
        read_examples(tmp_path / "bad.npz")


def test_nan_in_the_store_is_named_by_file_and_sample(tmp_path):
    from regwas.represent.autoencoder import feature_stats

    data = np.ones((12, 2, 8), dtype=np.float32)
    data[5, 1, 3] = np.inf
    store = ArrayStore(_store(tmp_path, data))
    with pytest.raises(InputError) as err:
        feature_stats(store, np.arange(12))
    msg = str(err.value)
    assert msg.startswith(str(store.dir / "data.npy")) and "samples S0005 hold NaN or inf" in msg


def test_feature_stats_scale_each_feature_or_all_by_one(tmp_path):
    """feature: each feature's own sd (1 where constant); global: one scale for all, the root
    mean square of the features' sds (relative variances kept); both centre every feature."""
    from regwas.represent.autoencoder import feature_stats

    rng = np.random.default_rng(1)
    data = rng.normal(size=(30, 1, 6)) * np.array([0.01, 0.01, 1.0, 2.0, 3.0, 0.0])
    store = ArrayStore(_store(tmp_path, data))
    rows = np.arange(4, 30)
    x = data.reshape(30, -1)[rows].astype(np.float32).astype(np.float64)
    sd = x.std(axis=0)
    mean, scale = feature_stats(store, rows)
    np.testing.assert_allclose(mean, x.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(scale, np.where(sd > 1e-8, sd, 1.0), rtol=1e-5)
    mean_g, scale_g = feature_stats(store, rows, scaling="global")
    np.testing.assert_allclose(mean_g, mean)
    np.testing.assert_allclose(scale_g, np.full(6, np.sqrt(np.mean(sd**2))), rtol=1e-5)
    with pytest.raises(ValueError, match="feature or global"):
        feature_stats(store, rows, scaling="pixel")


def test_the_scaling_reaches_the_embedder(tmp_path):
    """represent.autoencoder.scaling reaches training: global (the default) one scale for
    every feature, feature one per feature."""
    store = ArrayStore(_store(tmp_path, _signals(n=60)))
    ae = AutoencoderEmbedder(_cfg(steps=5), seed=3, modality="ecg").fit(store)
    assert np.unique(ae.scale).size == 1
    ae = AutoencoderEmbedder(_cfg(steps=5, scaling="feature"), seed=3, modality="ecg").fit(store)
    assert np.unique(ae.scale).size > 1


def test_cines_train_as_x_y_t_volumes_and_dxa_in_2d(tmp_path):
    # the default conv_dims: a cardiac store row (x, y, t) is one 3D input with one channel,
    # a DXA row (x, y) one 2D image
    cfg = section("represent", {"method": "autoencoder"})["autoencoder"]
    assert cfg["conv_dims"]["cardiac"] == 3 and cfg["conv_dims"]["dxa"] == 2
    rng = np.random.default_rng(1)
    t = np.arange(8)
    yy, xx = np.mgrid[:16, :16]
    radius = 4 + rng.uniform(0, 2, size=(24, 1, 1, 1)) * (1 + np.cos(2 * np.pi * t / 8)) / 2
    cines = (np.hypot(yy - 8, xx - 8)[None, :, :, None] < radius).astype(float)
    small = _cfg(steps=4, conv_dims=cfg["conv_dims"])
    store = ArrayStore(_store(tmp_path, cines, "cardiac"))
    ae = AutoencoderEmbedder(small, 1, "cardiac").fit(store)
    assert (ae.dims, ae.channels, tuple(ae.spatial)) == (3, 1, (16, 16, 8))
    assert ae.transform(store).shape == (24, 4)
    dxa = ArrayStore(_store(tmp_path, rng.normal(size=(24, 12, 20)), "dxa"))
    ae = AutoencoderEmbedder(small, 1, "dxa").fit(dxa)
    assert (ae.dims, ae.channels, tuple(ae.spatial)) == (2, 1, (12, 20))


def test_grad_clip_bounds_every_steps_gradient_norm(tmp_path, monkeypatch):
    """represent.autoencoder.grad_clip: before every optimiser step the global norm of the
    encoder's and decoder's gradients is at most grad_clip (computed directly after the
    clip); with grad_clip null no step is clipped."""
    store = ArrayStore(_store(tmp_path, 50 * _signals(n=60)))  # large inputs, large gradients
    real, after = torch.nn.utils.clip_grad_norm_, []

    def spy(params, max_norm, *args, **kw):
        params = list(params)
        before = real(params, max_norm, *args, **kw)
        grads = [p.grad.detach().flatten() for p in params if p.grad is not None]
        after.append((float(before), float(torch.linalg.vector_norm(torch.cat(grads)))))
        return before

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    cfg = _cfg(steps=8, grad_clip=0.5, scaling="feature")
    AutoencoderEmbedder(cfg, 5, "ecg").fit(store)
    assert len(after) == 8
    assert all(norm <= 0.5 * (1 + 1e-5) for _, norm in after)
    assert any(before > 0.5 for before, _ in after)  # the clip did act
    after.clear()
    AutoencoderEmbedder(_cfg(steps=8, grad_clip=None), 5, "ecg").fit(store)
    assert after == []
