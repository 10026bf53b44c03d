"""Tests for regwas.simulate.cardiac: NIfTI geometry and frame interval, planted factors in the
measured phenotypes, phase truth, determinism, factor sharing with the ECG, bad input."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from regwas.errors import InputError
from regwas.io.atomic import sha256_file
from regwas.simulate import cardiac
from regwas.simulate import genotypes as gt
from regwas.simulate.cohort import simulate


def make_inputs(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    people = pd.DataFrame(
        {
            "sample_id": [f"S{i:06d}" for i in range(n)],
            "age": rng.uniform(40, 80, n),
            "sex": rng.choice(["F", "M"], n),
            "bmi": rng.normal(26, 4, n),
            "site": "site1",
        }
    )
    factors = pd.DataFrame(
        rng.standard_normal((n, len(cardiac.FACTORS))),
        columns=cardiac.FACTORS,
        index=pd.Index(people["sample_id"], name="sample_id"),
    )
    return people, factors


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    people, factors = make_inputs(60)
    out = tmp_path_factory.mktemp("cine")
    return out, factors, cardiac.render_cardiac(people, factors, {}, seed=4, out_dir=out)


def test_nifti_geometry_and_frame_interval(rendered):
    out, _, df = rendered
    assert df["path"].iloc[0] == "cardiac/S000000_cine.nii.gz"
    for i in range(3):
        img = nib.load(out / df["path"].iloc[i])
        lab = nib.load(out / df["label_path"].iloc[i])
        assert img.shape == lab.shape == (64, 64, 1, 25)
        assert img.header.get_xyzt_units() == ("mm", "msec")
        # frame interval: the person's RR interval / frames
        rr = 60000.0 / df["cine_heart_rate_bpm"].iloc[i]
        assert img.header.get_zooms()[3] == pytest.approx(rr / 25, rel=1e-5)
        assert lab.header.get_zooms()[3] == pytest.approx(rr / 25, rel=1e-5)
        expected = np.diag([2.5, 2.5, 8.0, 1.0])
        expected[:2, 3] = -31.5 * 2.5  # image centre at world (0, 0)
        assert np.allclose(img.affine, expected) and np.allclose(lab.affine, expected)
        assert img.header["sform_code"] == 1 and img.header["qform_code"] == 1
        labels = np.asarray(lab.dataobj)
        assert labels.dtype == np.uint8 and set(np.unique(labels)) == {0, 1, 2, 3, 4}
        assert np.asarray(img.dataobj).dtype == np.float32


def test_phenotypes_follow_factors(rendered):
    _, factors, df = rendered
    pairs = {
        "lv_edv": ("lv_eda_cm2", 0.8),
        "ejection_fraction": ("lv_area_ef", 0.9),
        "wall_thickness": ("lv_myo_area_cm2", 0.7),
        "systolic_duration": ("systole_measured_ms", 0.4),
    }
    for fac, (col, bound) in pairs.items():
        r = np.corrcoef(factors[fac].to_numpy(), df[col].to_numpy())[0, 1]
        assert r > bound, (fac, col, r)


def test_planted_effects_have_realistic_magnitudes(rendered):
    """Measured on the written labels (2.5 mm pixels), the spread across people of the cardiac
    factors is that of a UK Biobank-like population, not too small to see: ejection fraction
    SD 5-9 points (real volumetric EF ~6-7), end-diastolic wall 0.9-1.6 mm (real ~1-1.5), LV
    end-diastolic diameter 3.5-7.5 mm (real ~4-6), heart-rate-corrected systole 20-45 ms
    (real ~20-30); and the label measurements follow the planted factors. (README, "Cardiac
    cine and DXA": the factors were unreadable for another reason, the heart's pose.)"""
    out, factors, df = rendered
    wall, diameter = [], []
    for rel in df["label_path"]:
        lab = np.asarray(nib.load(out / rel).dataobj)
        lv = (lab == 2).sum(axis=(0, 1, 2)) * 2.5**2
        myo = (lab == 3).sum(axis=(0, 1, 2)) * 2.5**2
        t = int(np.argmax(lv))  # end-diastole
        wall.append(np.sqrt((lv[t] + myo[t]) / np.pi) - np.sqrt(lv[t] / np.pi))
        diameter.append(2 * np.sqrt(lv[t] / np.pi))
    rr_s = df["cine_frame_ms"] * 25 / 1000.0
    systole_corrected = df["systole_measured_ms"] / rr_s ** (1 / 3)
    assert 0.05 <= df["lv_area_ef"].std() <= 0.09
    assert 0.9 <= np.std(wall) <= 1.6
    assert 3.5 <= np.std(diameter) <= 7.5
    assert 20 <= systole_corrected.std() <= 45
    r = lambda a, b: np.corrcoef(factors[a].to_numpy(), np.asarray(b, float))[0, 1]  # noqa: E731
    assert r("ejection_fraction", df["lv_area_ef"]) > 0.95
    assert r("wall_thickness", wall) > 0.85
    assert r("systolic_duration", systole_corrected) > 0.7


def test_phase_truth(rendered):
    out, _, df = rendered
    ph = pd.read_csv(out / "truth" / "cardiac_phase.tsv", sep="\t")
    assert len(ph) == 25 * len(df)
    one = ph[ph.sample_id == df["sample_id"].iloc[0]]
    start = df["cine_start_phase"].iloc[0]
    assert np.allclose(one["phase"], np.mod(start + np.arange(25) / 25, 1), atol=1e-5)
    # the LV cavity is largest where the contraction is smallest (end-diastole)
    lab = np.asarray(nib.load(out / df["label_path"].iloc[0]).dataobj)
    area = (lab == 2).sum(axis=(0, 1, 2))
    assert np.corrcoef(area, one["contraction"])[0, 1] < -0.95


def test_contraction_cycle():
    phi = np.linspace(0, 1, 401)[:-1]
    c = cardiac.contraction(phi, 0.35)
    assert c[0] == 0 and c.max() == pytest.approx(1.0) and (c >= 0).all() and (c <= 1).all()
    assert phi[np.argmax(c)] == pytest.approx(0.35, abs=0.005)


def test_deterministic(tmp_path):
    people, factors = make_inputs(4)
    a = cardiac.render_cardiac(people, factors, {"frames": 10}, seed=1, out_dir=tmp_path / "a")
    b = cardiac.render_cardiac(
        people, factors, {"frames": 10}, seed=1, out_dir=tmp_path / "b", threads=2
    )
    pd.testing.assert_frame_equal(a, b)
    for rel in [*a["path"], *a["label_path"], "truth/cardiac_phase.tsv"]:
        assert sha256_file(tmp_path / "a" / rel) == sha256_file(tmp_path / "b" / rel)
    c = cardiac.render_cardiac(people, factors, {"frames": 10}, seed=2, out_dir=tmp_path / "c")
    assert sha256_file(tmp_path / "a" / a["path"][0]) != sha256_file(tmp_path / "c" / c["path"][0])


def test_bad_inputs(tmp_path):
    people, factors = make_inputs(3)
    with pytest.raises(InputError, match="systolic_duration"):
        cardiac.render_cardiac(people, factors.drop(columns="systolic_duration"), {}, 1, tmp_path)
    with pytest.raises(InputError, match="S000002"):
        cardiac.render_cardiac(people, factors.iloc[:2], {}, 1, tmp_path)
    with pytest.raises(InputError, match="simulate.cardiac.frames"):
        cardiac.render_cardiac(people, factors, {"frames": 2}, 1, tmp_path)


def test_cohort_causal_variants_and_sharing_with_ecg(tmp_path):
    """Cardiac and DXA factors carry their planted variants; shared cardiac factors carry the
    ECG partner's too."""
    cfg = {
        "n_samples": 600,
        "render": False,
        "modalities": ["ecg", "cardiac", "dxa"],
        "genotypes": {"n_chromosomes": 6, "chromosome_length": 1_000_000},
        "factors": {"causal_per_factor": 1, "variance_per_variant": 0.1},
        "diseases": [],
    }
    out = simulate(cfg, 9, tmp_path / "bb")
    factors = pd.read_csv(out / "truth" / "factors.tsv", sep="\t", index_col="sample_id")
    shared = pd.read_csv(out / "truth" / "shared_factors.tsv", sep="\t")
    assert set(shared["factor"]) == {"systolic_duration", "wall_thickness"}
    for row in shared.itertuples():
        r = np.corrcoef(factors[f"cardiac.{row.factor}"], factors[row.partner])[0, 1]
        assert abs(r - 0.6) < 0.1, (row.factor, r)
    causal = pd.read_csv(out / "truth" / "causal_variants.tsv", sep="\t")
    card = causal[causal.modality.isin(["cardiac", "dxa"])]
    assert (causal.modality == "cardiac").sum() == 4 + 2  # own + the two partners' variants
    assert (causal.modality == "dxa").sum() == 3
    fam = pd.read_csv(out / "genotypes" / "chr1.fam", sep=r"\s+", header=None)
    assert fam[1].tolist() == factors.index.tolist()
    for row in card.itertuples():
        bim = pd.read_csv(
            out / "genotypes" / f"chr{row.chromosome}.bim", sep="\t", header=None, dtype={1: str}
        )
        j = int(np.flatnonzero(bim[1].to_numpy() == row.variant_id)[0])
        g = gt.read_dosages(out / "genotypes" / f"chr{row.chromosome}", np.array([j]))[:, 0]
        y = factors[f"{row.modality}.{row.factor}"].to_numpy()
        fit = sm.OLS(y, sm.add_constant(g)).fit()
        assert fit.pvalues[1] < 1e-3, row.variant_id
        assert abs(fit.params[1] - row.effect) < 4 * fit.bse[1] + 0.05


def test_rendered_cohort_with_cardiac_and_dxa(tmp_path):
    cfg = {
        "n_samples": 20,
        "modalities": ["cardiac", "dxa"],
        "genotypes": {"n_chromosomes": 2, "chromosome_length": 300_000},
        "factors": {"causal_per_factor": 1, "min_causal_distance": 0, "min_causal_maf": 0.01},
        "diseases": [],
        "cardiac": {"frames": 10},
    }
    out = simulate(cfg, 2, tmp_path / "bb")
    samples = pd.read_csv(out / "samples.tsv", sep="\t")
    assert {"lv_eda_cm2", "cine_frame_ms", "dxa_height_mm", "dxa_spine_bone"} <= set(samples)
    for m in ("cardiac", "dxa"):
        man = pd.read_csv(out / f"{m}.manifest.tsv", sep="\t")
        assert list(man.columns) == ["sample_id", "path", "label_path"]
        assert man["sample_id"].tolist() == samples["sample_id"].tolist()
        assert all((out / p).is_file() for p in [*man["path"], *man["label_path"]])
    assert (out / "truth" / "cardiac_phase.tsv").is_file()
    assert not (out / "truth" / "shared_factors.tsv").exists()  # no ECG simulated
