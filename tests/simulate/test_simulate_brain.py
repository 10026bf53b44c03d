"""Tests for regwas.simulate.brain: geometry, planted factor effects, pose, determinism."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi
from scipy.spatial.transform import Rotation

from regwas.config import defaults
from regwas.errors import InputError
from regwas.simulate import brain

pytest.importorskip("nilearn")
from nilearn import datasets  # noqa: E402

NO_POSE = {"rotation_deg": 0.0, "translation_mm": 0.0, "scale_sd": 0.0, "scale_sex": 0.0}
NO_SCANNER = {"bias_strength": 0.0, "noise_sd": 0.0, "site_gain_sd": 0.0, "site_offset_sd": 0.0}
NO_DEFORM = {
    "deformation": dict.fromkeys(brain.FACTORS, 0.0),
    "age_ventricle_per_decade": 0.0,
    "age_gm_per_decade": 0.0,
}
SLICE_K = (16 - (-72)) // 2  # default slice_z_mm = 16 on the 2 mm grid starting at -72


def make_inputs(
    n: int, seed: int = 0, age: float | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A small people table and standardised factors."""
    rng = np.random.default_rng(seed)
    people = pd.DataFrame(
        {
            "sample_id": [f"S{i:06d}" for i in range(n)],
            "age": rng.uniform(40, 80, n) if age is None else np.full(n, age),
            "sex": rng.choice(["F", "M"], n),
            "bmi": rng.normal(26, 4, n),
            "height": rng.normal(170, 9, n),
            "site": rng.choice(["site1", "site2", "site3"], n),
        }
    )
    factors = pd.DataFrame(
        rng.standard_normal((n, len(brain.FACTORS))),
        columns=brain.FACTORS,
        index=pd.Index(people["sample_id"], name="sample_id"),
    )
    return people, factors


@pytest.fixture(scope="module")
def mni() -> nib.Nifti1Image:
    """nilearn's 2 mm MNI152 T1 template: the independent geometry reference."""
    return datasets.load_mni152_template(resolution=2)


@pytest.fixture(scope="module")
def rendered_2d(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    people, factors = make_inputs(6)
    out = tmp_path_factory.mktemp("b2d")
    return out, brain.render_brain(people, factors, {}, seed=7, out_dir=out)


def load(out: Path, rel: str) -> nib.Nifti1Image:
    return nib.load(out / rel)


def test_2d_images_have_intended_geometry(rendered_2d, mni):
    out, df = rendered_2d
    expected = np.array(mni.affine, dtype=float)
    expected[2, 3] = 16.0  # the slice plane, same 2 mm voxels and orientation
    assert np.allclose(nib.affines.apply_affine(expected, [0, 0, 0]), [-98, -134, 16])
    assert list(df.columns[:4]) == ["sample_id", "path", "t2_path", "label_path"]
    assert df["path"].iloc[0] == "brain/S000000_T1w.nii.gz"
    rels = [*df["path"], *df["t2_path"], *df["label_path"]]
    rels += [f"brain/template_{k}.nii.gz" for k in ("T1w", "T2w", "dseg")]
    for rel in rels:
        img = load(out, rel)
        assert img.shape == (99, 117, 1)
        assert np.array_equal(img.affine, expected)
        assert int(img.header["sform_code"]) == 4 and int(img.header["qform_code"]) == 4
        data = np.asanyarray(img.dataobj)
        if "dseg" in rel:
            assert data.dtype == np.uint8
            assert set(np.unique(data)) <= {0, 1, 2, 3, 4}
        else:
            assert data.dtype == np.float32 and np.isfinite(data).all()
    # the template slice is nilearn's template at that plane
    tpl = np.asanyarray(load(out, "brain/template_T1w.nii.gz").dataobj)[:, :, 0]
    ref = mni.get_fdata()[:, :, SLICE_K]
    ref[ref < 1e-6] = 0
    assert np.allclose(tpl, ref, atol=1e-6)
    labels = np.asanyarray(load(out, "brain/template_dseg.nii.gz").dataobj)
    assert set(np.unique(labels)) == {0, 1, 2, 3, 4}  # ventricles are in this slice


def test_3d_mode(tmp_path, mni):
    people, factors = make_inputs(2)
    df = brain.render_brain(people, factors, {"dims": 3}, seed=1, out_dir=tmp_path)
    for rel in [*df["path"], *df["label_path"], "brain/template_T1w.nii.gz"]:
        img = load(tmp_path, rel)
        assert img.shape == (99, 117, 95)
        assert np.array_equal(img.affine, mni.affine)
    labels = np.asanyarray(load(tmp_path, df["label_path"].iloc[0]).dataobj)
    assert labels.dtype == np.uint8 and set(np.unique(labels)) == {0, 1, 2, 3, 4}
    # measured volumes are plausible for an adult brain (ml) and match the written labels
    assert 800 < df["gm_ml"].iloc[0] < 1400 and 5 < df["ventricle_ml"].iloc[0] < 60
    assert df["ventricle_ml"].iloc[0] == pytest.approx(np.count_nonzero(labels == 4) * 8 / 1000)
    assert (df["min_jacobian"] > 0).all()


@pytest.mark.parametrize("order", [1, 3])
def test_identity_without_pose_or_deformation_is_the_template(tmp_path, mni, order):
    people, factors = make_inputs(2)
    cfg = {**NO_POSE, **NO_SCANNER, **NO_DEFORM, "interp_order": order}
    df = brain.render_brain(people, factors, cfg, seed=3, out_dir=tmp_path)
    ref = mni.get_fdata()[:, :, SLICE_K]
    ref[ref < 1e-6] = 0
    tpl_labels = np.asanyarray(load(tmp_path, "brain/template_dseg.nii.gz").dataobj)
    for row in df.itertuples():
        t1 = np.asanyarray(load(tmp_path, row.path).dataobj)[:, :, 0]
        assert np.allclose(t1, ref, atol=1e-5)
        assert np.array_equal(np.asanyarray(load(tmp_path, row.label_path).dataobj), tpl_labels)


def test_pose_matches_independent_affine_resampling(tmp_path, mni):
    """With pose only, T1 equals scipy's affine_transform of the template by the reported pose."""
    people, factors = make_inputs(3)
    cfg = {**NO_SCANNER, **NO_DEFORM, "rotation_deg": 10.0, "translation_mm": 6.0}
    df = brain.render_brain(people, factors, cfg, seed=5, out_dir=tmp_path)
    vol = mni.get_fdata()
    vol[vol < 1e-6] = 0
    a = np.array(mni.affine, dtype=float)
    out_aff = a.copy()
    out_aff[2, 3] = 16.0
    centre = np.array([*brain.POSE_CENTRE_XY, 16.0])
    for row in df.itertuples():
        rot = Rotation.from_euler(
            "xyz", [row.pose_rot_x_deg, row.pose_rot_y_deg, row.pose_rot_z_deg], degrees=True
        ).as_matrix()
        t = np.array([row.pose_tx_mm, row.pose_ty_mm, row.pose_tz_mm])
        # template voxel = A^-1 (c + R^T (y - c - t) / s), y = out_aff @ ijk
        m_world = np.eye(4)
        m_world[:3, :3] = rot.T / row.pose_scale
        m_world[:3, 3] = centre - rot.T @ (centre + t) / row.pose_scale
        m = np.linalg.inv(a) @ m_world @ out_aff
        ref = ndi.affine_transform(vol, m, output_shape=(99, 117, 1), order=1, mode="constant")
        t1 = np.asanyarray(load(tmp_path, row.path).dataobj)
        assert np.allclose(t1, ref, atol=1e-4)
        tpl = np.asanyarray(load(tmp_path, "brain/template_T1w.nii.gz").dataobj)
        assert np.abs(t1 - tpl).mean() > 0.01  # the pose moved the brain
        labels = np.asanyarray(load(tmp_path, row.label_path).dataobj)
        t2 = np.asanyarray(load(tmp_path, row.t2_path).dataobj)
        # labels move with the intensities: T1 WM > GM > CSF; T2 CSF > GM > WM
        t1_means = [t1[labels == k].mean() for k in (1, 2, 3)]
        t2_means = [t2[np.isin(labels, ks)].mean() for ks in ((1, 4), (2,), (3,))]
        assert t1_means[2] > t1_means[1] > t1_means[0]
        assert t2_means[0] > t2_means[1] > t2_means[2]


def test_regional_volumes_follow_factors(tmp_path):
    people, factors = make_inputs(30, seed=11, age=60.0)
    df = brain.render_brain(people, factors, {**NO_POSE}, seed=2, out_dir=tmp_path / "a")
    vent = [
        np.count_nonzero(np.asanyarray(nib.load(tmp_path / "a" / p).dataobj) == 4)
        for p in df["label_path"]
    ]
    assert np.corrcoef(vent, factors["ventricle_volume"])[0, 1] > 0.8
    for col, fac in (("frontal_gm_cm2", "frontal_gm"), ("temporal_gm_cm2", "temporal_gm")):
        assert np.corrcoef(df[col], factors[fac])[0, 1] > 0.8
    assert (df["min_jacobian"] > 0).all()
    # with pose (head size scales areas by s^2), the scale-corrected area still follows
    posed = brain.render_brain(people, factors, {}, seed=2, out_dir=tmp_path / "b")
    corrected = posed["ventricle_cm2"] / posed["pose_scale"] ** 2
    assert np.corrcoef(corrected, factors["ventricle_volume"])[0, 1] > 0.8
    assert posed["pose_scale"].std() > 0


def test_deformation_jacobian_is_positive_and_matches_finite_differences():
    amp = defaults("simulate.brain.deformation")
    clip = defaults("simulate.brain.factor_clip")
    axes = [np.arange(-90.0, 91.0, 2.0), np.arange(-120.0, 81.0, 2.0), np.arange(-60.0, 81.0, 2.0)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    rng = np.random.default_rng(0)
    pts = rng.uniform([-90, -120, -60], [90, 80, 80], size=(20000, 3))
    h = 1e-3
    for sign in (1.0, -1.0):
        ks = {name: sign * amp[name] * clip for name in brain.FACTORS}
        _, det_grid = brain.displacement(grid, ks)
        assert det_grid.min() > 0  # no folding at the extreme allowed factors
        _, det = brain.displacement(pts, ks)
        cols = []
        for j in range(3):
            e = np.zeros(3)
            e[j] = h
            plus = pts + e + brain.displacement(pts + e, ks)[0]
            minus = pts - e + brain.displacement(pts - e, ks)[0]
            cols.append((plus - minus) / (2 * h))
        det_fd = np.linalg.det(np.stack(cols, axis=-1))
        assert np.allclose(det, det_fd, atol=1e-6)
        # the fields change local volume: the pull-back contracts (+) or expands (-) by > 2x
        assert det_grid.min() < 0.5 if sign > 0 else det_grid.max() > 2.0


def test_determinism_seed_and_threads(tmp_path):
    people, factors = make_inputs(5)

    def arrays(out: Path, df: pd.DataFrame) -> list[np.ndarray]:
        return [
            np.asanyarray(nib.load(out / p).dataobj)
            for p in [*df["path"], *df["t2_path"], *df["label_path"]]
        ]

    a = brain.render_brain(people, factors, {}, seed=9, out_dir=tmp_path / "a")
    b = brain.render_brain(people, factors, {}, seed=9, out_dir=tmp_path / "b", threads=2)
    c = brain.render_brain(people, factors, {}, seed=10, out_dir=tmp_path / "c")
    pd.testing.assert_frame_equal(a, b)
    for x, y in zip(arrays(tmp_path / "a", a), arrays(tmp_path / "b", b), strict=True):
        assert np.array_equal(x, y)
    t1_a = arrays(tmp_path / "a", a)[0]
    t1_c = arrays(tmp_path / "c", c)[0]
    assert not np.array_equal(t1_a, t1_c)
    # one site, one gain
    for _, grp in a.groupby(people["site"].to_numpy()):
        assert grp["site_gain"].nunique() == 1


def test_bad_inputs_are_named(tmp_path):
    people, factors = make_inputs(2)
    with pytest.raises(InputError, match="temporal_gm"):
        brain.render_brain(people, factors.drop(columns="temporal_gm"), {}, 0, tmp_path)
    with pytest.raises(InputError, match="simulate.brain.colour"):
        brain.render_brain(people, factors, {"colour": 1}, 0, tmp_path)
    with pytest.raises(InputError, match="slice_z_mm"):
        brain.render_brain(people, factors, {"slice_z_mm": 15.0}, 0, tmp_path)
    bad = people.assign(sex=["F", "X"])
    with pytest.raises(InputError, match="column sex"):
        brain.render_brain(bad, factors, {}, 0, tmp_path)
    with pytest.raises(InputError, match="S000001"):
        brain.render_brain(people, factors.iloc[:1], {}, 0, tmp_path)
