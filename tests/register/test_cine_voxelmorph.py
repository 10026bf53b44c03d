"""The cardiac VoxelMorph stores: every cine of a deepcycle-like store registered frame by frame
to the median-BMI exemplar's frame of the same phase. Cines that are known smooth warps of the
exemplar get closer to it; the Jacobian store equals det(I + Du) computed here from the model's
displacements; people the input left out stay left out; a store of the wrong shape or without
its exemplar stops with the store and sample named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from regwas.errors import InputError  # noqa: E402
from regwas.io.arraystore import ArrayStore, ArrayStoreWriter  # noqa: E402
from regwas.register.cine import voxelmorph as cvm  # noqa: E402
from regwas.register.image import voxelmorph as vm  # noqa: E402
from regwas.register.image.metrics import ncc  # noqa: E402

SIZE, T = 16, 6
IDS = ["P0", "P1", "P2", "P3", "P4", "P5", "P6", "P7"]
EXEMPLAR = "P3"  # the median BMI below
BMI = [20.0, 22.0, 24.0, 26.0, 28.0, 30.0, 32.0, 34.0]
LEFT_OUT = "P5"


def _heart(t: int) -> np.ndarray:
    """A ring (the LV wall) whose cavity contracts and relaxes over T frames: (SIZE, SIZE, T)."""
    yy, xx = np.mgrid[:SIZE, :SIZE] - (SIZE - 1) / 2
    r = np.hypot(yy, xx)
    out = np.empty((SIZE, SIZE, t), np.float32)
    for k in range(t):
        inner = 3.0 + 1.2 * np.cos(2 * np.pi * k / t)
        out[..., k] = 1 / (1 + np.exp(-(r - inner) * 2)) * 1 / (1 + np.exp((r - inner - 2.5) * 2))
    return out


def _smooth_field(seed: int, amplitude: float = 1.5) -> np.ndarray:
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    f = np.stack([ndi.gaussian_filter(rng.standard_normal((SIZE, SIZE)), 4) for _ in range(2)])
    return (amplitude * f / np.abs(f).max()).astype(np.float32)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """A deepcycle-like store: the exemplar's cine, and everyone else's = it pulled back through
    one smooth random displacement (every frame alike); P5 was left out upstream."""
    tmp = tmp_path_factory.mktemp("cine_vxm")
    ex = _heart(T)
    frames = torch.from_numpy(np.moveaxis(ex, -1, 0)[:, None].copy())  # (T, 1, H, W)
    rows = {}
    for k, sid in enumerate(IDS):
        if sid == EXEMPLAR:
            rows[sid] = ex
            continue
        d = torch.from_numpy(_smooth_field(k))[None].expand(T, -1, -1, -1)
        rows[sid] = np.moveaxis(vm.warp(frames, d)[:, 0].numpy(), 0, -1)
    with ArrayStoreWriter(
        tmp / "deepcycle", (SIZE, SIZE, T), len(IDS), qc_columns=["qc_pass"]
    ) as w:
        for sid in IDS:
            if sid == LEFT_OUT:
                w.exclude(sid, "rigid: ITK went wrong", {"qc_pass": 1})
            else:
                w.append(sid, rows[sid], {"qc_pass": 1})
    pd.DataFrame({"sample_id": IDS, "bmi": BMI}).to_csv(tmp / "samples.tsv", sep="\t", index=False)
    return tmp, rows


CFG = {
    "device": "cpu",
    "steps": 120,
    "batch_size": 12,
    "learning_rate": 0.005,
    "lncc_window": 5,
    "lambda": 0.1,
    "enc": [8, 16, 16],
    "dec": [16, 16, 16, 8],
    "velocity_downsize": 1,
    "checkpoint_every": 60,
    "batch_infer": 2 * T,
}


@pytest.fixture(scope="module")
def registered(cohort):
    tmp, _ = cohort
    torch.manual_seed(0)
    res = cvm.train_cardiac_voxelmorph(
        tmp / "deepcycle", tmp / "samples.tsv", CFG, 3, tmp / "m.pt", tmp / "hist.tsv"
    )
    out = {"voxelmorph": tmp / "vxm", "voxelmorph_jac": tmp / "jac"}
    cvm.apply_cardiac_voxelmorph(tmp / "deepcycle", tmp / "samples.tsv", tmp / "m.pt", CFG, out)
    return res, out


def test_exemplar_is_the_median_bmi_person_of_the_input(cohort):
    tmp, rows = cohort
    sid, cine = cvm.cine_exemplar(ArrayStore(tmp / "deepcycle"), tmp / "samples.tsv")
    assert sid == EXEMPLAR
    np.testing.assert_array_equal(cine, rows[EXEMPLAR])


def test_warped_cines_move_toward_the_exemplar(cohort, registered):
    """Known smooth warps of the exemplar: after VoxelMorph every cine's mean frame NCC with the
    exemplar's frames rises (independently recomputed here), with no folding."""
    tmp, rows = cohort
    res, out = registered
    assert res["exemplar"] == EXEMPLAR
    hist = pd.read_csv(tmp / "hist.tsv", sep="\t")
    assert (
        len(hist) == CFG["steps"] and hist["loss"].iloc[-10:].mean() < hist["loss"].iloc[:10].mean()
    )
    store = ArrayStore(out["voxelmorph"])
    assert store.row_shape == (SIZE, SIZE, T)
    qc = store.qc().set_index("sample_id")
    ex = rows[EXEMPLAR]
    for k, sid in enumerate(store.sample_ids):
        before = np.mean([ncc(rows[sid][..., f], ex[..., f]) for f in range(T)])
        after = np.mean([ncc(store.data[k][..., f], ex[..., f]) for f in range(T)])
        assert qc.loc[sid, "ncc_before"] == pytest.approx(before, abs=1e-6)
        assert qc.loc[sid, "ncc_after"] == pytest.approx(after, abs=1e-5)
        if sid != EXEMPLAR:
            assert after > before + 0.01, (sid, before, after)
    others = qc.drop(index=[EXEMPLAR, LEFT_OUT])
    assert (others["ncc_after"] - others["ncc_before"]).mean() > 0.03
    assert (qc.loc[qc["ok"].astype(bool), "pct_nonpos_jac"] == 0).all()


def test_jacobian_store_equals_a_direct_computation(cohort, registered):
    """voxelmorph_jac row = log det(I + Du) per frame, u the model's displacement of that frame
    to the exemplar's frame of the same phase, by central differences computed here."""
    tmp, rows = cohort
    _, out = registered
    jac = ArrayStore(out["voxelmorph_jac"])
    model = vm.load_model(tmp / "m.pt")
    ex = rows[EXEMPLAR]
    k = list(jac.sample_ids).index("P1")
    moving = np.moveaxis(rows["P1"], -1, 0)
    _, disp = vm.register_rows(model, moving, np.moveaxis(ex, -1, 0))
    for f in range(T):
        du = [np.gradient(disp[f, i].astype(np.float64)) for i in range(2)]
        det = (1 + du[0][0]) * (1 + du[1][1]) - du[0][1] * du[1][0]
        np.testing.assert_allclose(jac.data[k][..., f], np.log(det), atol=2e-5)
    assert np.abs(jac.data[k]).max() > 1e-3  # a real deformation, not the identity


def test_left_out_people_stay_left_out_in_input_order(registered):
    _, out = registered
    for d in out.values():
        st = ArrayStore(d)
        assert list(st.sample_ids) == [s for s in IDS if s != LEFT_OUT]
        qc = st.qc()
        assert qc["sample_id"].tolist() == IDS
        bad = qc.set_index("sample_id").loc[LEFT_OUT]
        assert not bad["ok"] and "ITK went wrong" in bad["error"]
    summary = pd.read_csv(out["voxelmorph"] / "qc_summary.tsv", sep="\t").set_index("metric")
    assert summary.loc["excluded", "mean"] == 1
    assert {"ncc_before", "ncc_after", "pct_nonpos_jac", "seconds"} <= set(summary.index)


def test_one_fixed_image_per_row_trains_like_one_template(tmp_path):
    """The per-row fixed images (template_index) pick the same batches: with one template in
    the stack, training equals the single-template training bit for bit."""
    ex = np.moveaxis(_heart(T), -1, 0)
    data = np.stack([ex[k % T] * (1 + 0.1 * k) for k in range(12)])
    cfg = {**cvm.voxelmorph_config(CFG), "steps": 4, "batch_size": 3}
    vm.train(data, ex[0], cfg, 1, tmp_path / "a.pt")
    vm.train(data, ex[:1], cfg, 1, tmp_path / "b.pt", template_index=np.zeros(12, int))
    a, b = vm.load_model(tmp_path / "a.pt"), vm.load_model(tmp_path / "b.pt")
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    with pytest.raises(InputError, match="3 template indices for 12 rows"):
        vm.train(data, ex[:1], cfg, 1, tmp_path / "c.pt", template_index=np.zeros(3, int))


def test_a_store_of_the_wrong_shape_stops(tmp_path, cohort):
    tmp, _ = cohort
    with ArrayStoreWriter(tmp_path / "flat", (SIZE, SIZE), 2) as w:
        for sid in IDS[:2]:
            w.append(sid, np.zeros((SIZE, SIZE), np.float32))
    with pytest.raises(InputError, match=r"flat: cine rows of shape \(16, 16\)"):
        cvm.train_cardiac_voxelmorph(
            tmp_path / "flat", tmp / "samples.tsv", CFG, 1, tmp_path / "m.pt"
        )


def test_an_exemplar_left_out_of_the_store_stops(tmp_path, cohort):
    """The median-BMI person of those the deepcycle stage saw was left out: the error names the
    sample and the reason, instead of registering to another person silently."""
    tmp, rows = cohort
    with ArrayStoreWriter(tmp_path / "dc", (SIZE, SIZE, T), len(IDS), qc_columns=[]) as w:
        for sid in IDS:
            if sid == EXEMPLAR:
                w.exclude(sid, "DeepCycle phase QC failed")
            else:
                w.append(sid, rows.get(sid, rows["P0"]))
    with pytest.raises(InputError, match=rf"exemplar, sample {EXEMPLAR} .*DeepCycle phase QC"):
        cvm.apply_cardiac_voxelmorph(
            tmp_path / "dc", tmp / "samples.tsv", tmp / "m.pt", CFG, {"voxelmorph": tmp_path / "o"}
        )
    assert not (tmp_path / "o" / "data.npy").exists()


def test_batched_qc_equals_the_per_frame_metrics():
    """The batched NCC and det J of the apply step equal metrics.ncc and
    metrics.jacobian_determinant frame by frame."""
    from regwas.register.image.metrics import jacobian_determinant

    rng = np.random.default_rng(4)
    a, b = rng.random((5, SIZE, SIZE)), rng.random((5, SIZE, SIZE))
    b[2] = 0.5  # a constant frame: NaN, as metrics.ncc
    got = cvm.frame_ncc(a, b)
    for k in range(5):
        want = ncc(a[k], b[k])
        assert np.isnan(got[k]) if np.isnan(want) else got[k] == pytest.approx(want, abs=1e-12)
    disp = np.stack([_smooth_field(k, 3.0) for k in range(5)])
    dets = cvm.jacobian_determinants(disp)
    for k in range(5):
        np.testing.assert_allclose(dets[k], jacobian_determinant(disp[k]), atol=1e-12)
