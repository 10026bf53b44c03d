"""Tests for regwas.simulate.dxa: NIfTI geometry, planted factors in the measured phenotypes,
determinism, bad input."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from regwas.errors import InputError
from regwas.io.atomic import sha256_file
from regwas.simulate import dxa


def make_inputs(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    people = pd.DataFrame(
        {
            "sample_id": [f"S{i:06d}" for i in range(n)],
            "sex": rng.choice(["F", "M"], n),
            "bmi": rng.normal(26, 4, n),
        }
    )
    factors = pd.DataFrame(
        rng.standard_normal((n, len(dxa.FACTORS))),
        columns=dxa.FACTORS,
        index=pd.Index(people["sample_id"], name="sample_id"),
    )
    return people, factors


def test_geometry_and_phenotypes(tmp_path):
    people, factors = make_inputs(50)
    df = dxa.render_dxa(people, factors, {}, seed=3, out_dir=tmp_path)
    img = nib.load(tmp_path / df["path"].iloc[0])
    lab = nib.load(tmp_path / df["label_path"].iloc[0])
    assert img.shape == lab.shape == (96, 192, 1)
    expected = np.diag([10.0, 10.0, 1.0, 1.0])
    expected[:2, 3] = [-47.5 * 10, -95.5 * 10]
    assert np.allclose(img.affine, expected) and np.allclose(lab.affine, expected)
    assert img.header.get_xyzt_units()[0] == "mm"
    assert set(np.unique(np.asarray(lab.dataobj))) == set(range(7))
    # the male (female) sex shift and BMI are confounders; bounds measured 0.80 / 0.66 / 0.81
    for fac, col, bound in (
        ("height", "dxa_height_mm", 0.6),
        ("bmd", "dxa_spine_bone", 0.45),
        ("hip_width", "dxa_pelvis_width_mm", 0.6),
    ):
        r = np.corrcoef(factors[fac], df[col])[0, 1]
        assert r > bound, (fac, r)


def test_deterministic_and_bad_input(tmp_path):
    people, factors = make_inputs(3)
    a = dxa.render_dxa(people, factors, {}, seed=1, out_dir=tmp_path / "a")
    b = dxa.render_dxa(people, factors, {}, seed=1, out_dir=tmp_path / "b", threads=2)
    pd.testing.assert_frame_equal(a, b)
    for rel in [*a["path"], *a["label_path"]]:
        assert sha256_file(tmp_path / "a" / rel) == sha256_file(tmp_path / "b" / rel)
    with pytest.raises(InputError, match="hip_width"):
        dxa.render_dxa(people, factors.drop(columns="hip_width"), {}, 1, tmp_path)
    with pytest.raises(InputError, match="simulate.dxa.matrix"):
        dxa.render_dxa(people, factors, {"matrix": [4, 4]}, 1, tmp_path)
