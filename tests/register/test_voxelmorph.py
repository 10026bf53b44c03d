"""VoxelMorph: diffeomorphic integration, a CPU training smoke test, checkpoint and resume."""

from __future__ import annotations

import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from regwas.config import section  # noqa: E402
from regwas.errors import InputError  # noqa: E402
from regwas.register.image import jacobian_determinant, mean_dice, ncc  # noqa: E402
from regwas.register.image import voxelmorph as vm  # noqa: E402


def _smooth_field(shape, dims, sigma, amplitude, seed):
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    f = np.stack([ndi.gaussian_filter(rng.standard_normal(shape), sigma) for _ in range(dims)])
    return (amplitude * f / np.abs(f).max()).astype(np.float32)


@pytest.mark.parametrize("dims", [2, 3])
def test_scaling_and_squaring_does_not_fold(dims):
    """A velocity field that folds when used as a displacement integrates to a fold-free one."""
    shape = (64, 64) if dims == 2 else (24, 24, 24)
    v = _smooth_field(shape, dims, sigma=4 if dims == 2 else 3, amplitude=12.0, seed=dims)
    assert jacobian_determinant(v).min() < 0  # the test field is strong enough to fold
    disp = vm.scaling_and_squaring(torch.from_numpy(v)[None], steps=7)[0].numpy()
    det = jacobian_determinant(disp)[(slice(4, -4),) * dims]  # away from the zero-padded rim
    assert det.min() > 0, det.min()


def test_warp_matches_a_known_shift():
    """A constant displacement of +2 voxels along axis 0 reads the image 2 voxels further on."""
    img = torch.arange(20 * 10, dtype=torch.float32).reshape(1, 1, 20, 10)
    disp = torch.zeros(1, 2, 20, 10)
    disp[:, 0] = 2.0
    out = vm.warp(img, disp)
    np.testing.assert_allclose(out[0, 0, :18].numpy(), img[0, 0, 2:].numpy(), rtol=1e-5)


def _cfg(**kw):
    return section("brain.voxelmorph", {"device": "cpu", **kw})


def _toy_cohort(n, seed=0):
    """Template = the MNI152 slice; subjects = it warped by smooth random fields."""
    pytest.importorskip("nilearn")
    from regwas.io.mni import load_template

    tpl = load_template().t1[:, :, 44].astype(np.float32)
    tpl = tpl[2:98:2, 2:114:2] / tpl.max()  # 48 x 56 (4 mm): a CPU-sized smoke test
    t = torch.from_numpy(tpl)[None, None]
    rows = []
    for k in range(n):
        d = _smooth_field(tpl.shape, 2, sigma=5, amplitude=2.0, seed=seed + k)
        rows.append(vm.warp(t, torch.from_numpy(d)[None])[0, 0].numpy())
    return np.stack(rows), tpl


@pytest.mark.parametrize(("downsize", "loss_drop", "ncc_gain"), [(1, 0.02, 0.01), (2, 0.01, 0.003)])
def test_training_decreases_loss_and_beats_identity(tmp_path, downsize, loss_drop, ncc_gain):
    """CPU smoke test (<= 2 min): the loss falls and held-out NCC beats the identity (the
    velocity at image resolution, and on the 2x coarser grid: 8 mm on this 4 mm toy, which
    learns less in 100 steps: loss -0.585 -> -0.599, NCC 0.970 -> 0.976, vs -0.607 and 0.982
    at full resolution)."""
    torch.set_num_threads(1)
    data, tpl = _toy_cohort(20)
    cfg = _cfg(
        steps=100,
        batch_size=4,
        enc=[8, 16, 16],
        dec=[16, 16, 16, 8],
        log_every=25,
        checkpoint_every=100,
        learning_rate=3e-3,
        velocity_downsize=downsize,
    )
    t0 = time.perf_counter()
    out = vm.train(data, tpl, cfg, seed=1, out=tmp_path / "vm.pt", train_rows=np.arange(16))
    print(f"VoxelMorph smoke training: {time.perf_counter() - t0:.1f} s")  # ~1 min unloaded
    losses = np.array([h[1] for h in out["history"]])
    assert losses[-20:].mean() < losses[:20].mean() - loss_drop, (
        losses[:20].mean(),
        losses[-20:].mean(),
    )
    model = vm.load_model(tmp_path / "vm.pt")
    warped, disp = vm.register_rows(model, data[16:], tpl)
    before = np.mean([ncc(r, tpl) for r in data[16:]])
    after = np.mean([ncc(r, tpl) for r in warped])
    assert after > before + ncc_gain, (before, after)
    assert (np.stack([jacobian_determinant(d) for d in disp]) > 0).all()


def test_checkpoint_resume_equals_a_straight_run(tmp_path):
    """20 steps + resume to 30 gives the weights of 30 steps in one go (seeded, CPU)."""
    rng = np.random.default_rng(0)
    data = rng.random((6, 24, 20)).astype(np.float32)
    tpl = data.mean(axis=0)
    small = {"enc": [4, 8], "dec": [8, 4, 4], "batch_size": 2, "checkpoint_every": 10}
    vm.train(data, tpl, _cfg(steps=30, **small), seed=3, out=tmp_path / "a.pt")
    vm.train(data, tpl, _cfg(steps=20, **small), seed=3, out=tmp_path / "b.pt")
    res = vm.train(data, tpl, _cfg(steps=30, **small), seed=3, out=tmp_path / "b.pt")
    assert len(res["history"]) == 30
    a = torch.load(tmp_path / "a.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b.pt", weights_only=False)["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k])


def test_3d_forward_shapes():
    model = vm.VoxelMorph(3, 7, (4, 8), (8, 4, 4))
    x = torch.rand(1, 1, 16, 20, 12)
    warped, disp, vel = model(x, x)
    assert warped.shape == x.shape and disp.shape == (1, 3, 16, 20, 12)


def test_3d_coarse_velocity_shapes():
    """velocity_downsize 2: the velocity on the first encoder level's grid, the displacement on
    the image's; 4 with a 2-level encoder is refused."""
    model = vm.VoxelMorph(3, 7, (4, 8), (8, 4, 4), downsize=2)
    x = torch.rand(1, 1, 17, 20, 12)
    warped, disp, vel = model(x, x)
    assert vel.shape == (1, 3, 9, 10, 6)
    assert warped.shape == x.shape and disp.shape == (1, 3, 17, 20, 12)
    with pytest.raises(InputError, match="velocity_downsize: 4"):
        vm.VoxelMorph(3, 7, (4, 8), (8, 4, 4), downsize=4)
    with pytest.raises(InputError, match="velocity_downsize: 3"):
        vm.VoxelMorph(3, 7, (4, 8), (8, 4, 4), downsize=3)


@pytest.mark.parametrize("shape", [(9, 13), (5, 7, 6)])
def test_upsampled_displacement_is_the_same_map(shape):
    """A linear coarse displacement u(i) = A i + b (coarse voxels) upsampled to a finer grid
    with corner centres aligned (fine x = r i, r = (S - 1) / (s - 1) per axis) is that map in
    fine voxels: r * u(x / r). Linear interpolation reproduces it exactly."""
    dims = len(shape)
    fine = tuple(2 * n - 1 if k % 2 == 0 else 2 * n for k, n in enumerate(shape))
    rng = np.random.default_rng(dims)
    a, b = rng.normal(0, 0.2, (dims, dims)), rng.normal(0, 1.5, dims)
    i = np.indices(shape, dtype=np.float64)
    u = np.einsum("de,e...->d...", a, i) + b.reshape(-1, *[1] * dims)
    up = vm.upsample_displacement(torch.tensor(u, dtype=torch.float32)[None], fine)[0].numpy()
    r = np.array([(f - 1) / (s - 1) for f, s in zip(fine, shape, strict=True)])
    x = np.indices(fine, dtype=np.float64) / r.reshape(-1, *[1] * dims)  # in coarse voxels
    want = (np.einsum("de,e...->d...", a, x) + b.reshape(-1, *[1] * dims)) * r.reshape(
        -1, *[1] * dims
    )
    np.testing.assert_allclose(up, want, atol=2e-4)


def test_a_model_saved_without_velocity_downsize_loads_at_full_resolution(tmp_path):
    model = vm.VoxelMorph(2, 7, (4, 8), (8, 4, 4))
    cfg = {k: v for k, v in _cfg(enc=[4, 8], dec=[8, 4, 4]).items() if k != "velocity_downsize"}
    torch.save({"model": model.state_dict(), "cfg": cfg, "dims": 2}, tmp_path / "old.pt")
    x = torch.rand(1, 1, 12, 10)
    _, _, vel = vm.load_model(tmp_path / "old.pt")(x, x)
    assert vel.shape == (1, 2, 12, 10)


def test_device_is_cuda_when_present():
    dev = vm.pick_device(section("brain.voxelmorph", {}))
    assert dev.type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_apply_to_store_keeps_exclusions_order_and_dice(tmp_path):
    """Inference on an affine store: people the affine stage left out stay left out (with its
    error, in its qc order), Dice comes from the affine-stage labels warped by the same field,
    and the before/input columns are the affine store's."""
    from regwas.io.arraystore import ArrayStore, ArrayStoreWriter
    from regwas.register.image import stores
    from regwas.register.image.nifti import Grid

    data, tpl = _toy_cohort(4, seed=7)
    labels = np.digitize(tpl, [0.2, 0.5, 0.8]).astype(np.uint8)  # 0..3 by intensity
    grid = Grid((*tpl.shape, 1), np.diag([4.0, 4.0, 4.0, 1.0]))
    grid.save(tpl, tmp_path / "template" / stores.TEMPLATE_IMAGE)
    grid.save(labels, tmp_path / "template" / stores.TEMPLATE_LABELS, dtype=np.uint8)
    ids = ["A", "B", "C", "D"]
    sub_labels = [np.digitize(r, [0.2, 0.5, 0.8]).astype(np.uint8) for r in data]
    for name, rows, dtype in (("aff", data, np.float32), ("lab", sub_labels, np.uint8)):
        with ArrayStoreWriter(tmp_path / name, tpl.shape, 4, dtype, stores.QC_COLUMNS) as w:
            for k, sid in enumerate(ids):
                qc = {"ncc_before": 0.1 * k, "dice_before": 0.2, "ncc_after": 0.9}
                if sid == "B":
                    w.exclude(sid, "ITK went wrong", qc)
                else:
                    w.append(sid, rows[k], qc)
    cfg = _cfg(steps=2, batch_size=2, enc=[4, 8], dec=[8, 4, 4], batch_infer=2)
    vm.train(ArrayStore(tmp_path / "aff").data, tpl, cfg, 1, tmp_path / "m.pt")
    out = {"voxelmorph": tmp_path / "vm", "voxelmorph_jac": tmp_path / "jac"}
    vm.apply_to_store(tmp_path / "aff", tmp_path / "template", tmp_path / "m.pt", cfg, out,
                      labels_dir=tmp_path / "lab")  # fmt: skip
    for d in out.values():
        st = ArrayStore(d)
        assert list(st.sample_ids) == ["A", "C", "D"]
        qc = st.qc().set_index("sample_id")
        assert list(qc.index) == ids
        assert not qc.loc["B", "ok"] and "ITK went wrong" in qc.loc["B", "error"]
        np.testing.assert_allclose(qc.loc[["A", "C", "D"], "ncc_before"], [0.0, 0.2, 0.3])
        for k, sid in ((0, "A"), (2, "C"), (3, "D")):
            assert qc.loc[sid, "dice_input"] == pytest.approx(mean_dice(sub_labels[k], labels))
            assert qc.loc[sid, "ncc_input"] == pytest.approx(ncc(data[k], tpl, labels > 0))
        assert qc.loc[["A", "C", "D"], "dice_after"].notna().all()
