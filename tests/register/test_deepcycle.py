"""DeepCycle on simulated cine: phase order recovered on held-out subjects (stated bounds),
QC, the frame-index baseline, resampling onto the common phase grid, bad cine files."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from regwas.errors import InputError  # noqa: E402
from regwas.register.cine import deepcycle as dc  # noqa: E402
from regwas.simulate import cardiac  # noqa: E402

N, FRAMES, N_TRAIN = 64, 20, 48
# Bounds on the 16 held-out cines (measured on this set-up, 2 CPU threads, 340 stage-1 steps,
# 2 temporal harmonics, training seeds 0-2: 100 % wind once, median concordance 0.92-0.95;
# mean error against the true phase: per-frame theta 17.6-20.5 deg, the phase with one
# harmonic of warp 13.6-16.5, the pure shift 8.3-8.9, frame index 25.8; ~10-20 CPU s)
MIN_WIND_ONCE, MIN_CONCORDANCE, MAX_ERROR_DEG = 0.8, 0.8, 30.0
MAX_SMOOTH_ERROR_DEG, MAX_SHIFT_ERROR_DEG = 20.0, 13.0


@pytest.fixture(scope="module")
def cines(tmp_path_factory) -> tuple[Path, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    people = pd.DataFrame(
        {
            "sample_id": [f"S{i:06d}" for i in range(N)],
            "sex": rng.choice(["F", "M"], N),
            "bmi": rng.normal(26, 4, N),
        }
    )
    factors = pd.DataFrame(
        rng.standard_normal((N, len(cardiac.FACTORS))),
        columns=cardiac.FACTORS,
        index=people["sample_id"],
    )
    out = tmp_path_factory.mktemp("cine")
    table = cardiac.render_cardiac(people, factors, {"frames": FRAMES}, 3, out)
    phase = pd.read_csv(out / "truth" / "cardiac_phase.tsv", sep="\t")
    true = 2 * np.pi * phase["phase"].to_numpy().reshape(N, FRAMES)
    return out, table, true


def test_deepcycle_recovers_phase_order(cines):
    torch.set_num_threads(2)
    out, table, true = cines
    x = np.stack(
        [
            dc.prepare(dc.read_cine(out / p, s)[0])
            for s, p in zip(table.sample_id, table.path, strict=True)
        ]
    )
    model, log = dc.train(
        x[:N_TRAIN], stage1_steps=340, stage2_steps=2, width=8, batch=6, harmonics=2
    )
    assert np.isfinite(log.stage2_loss)
    theta = dc.phases(model, x[N_TRAIN:])
    q = dc.phase_qc(theta, true[N_TRAIN:])
    base = dc.phase_qc(dc.frame_index_phase(N - N_TRAIN, FRAMES), true[N_TRAIN:])
    assert (q["winding"] == 1).mean() >= MIN_WIND_ONCE
    assert np.median(q["concordance"]) > MIN_CONCORDANCE
    assert q["error_deg"].mean() < MAX_ERROR_DEG
    # the baseline winds once with exact per-subject concordance; its error is the start spread
    assert (base["winding"] == 1).all() and np.allclose(base["concordance"], 1)
    assert base["error_deg"].mean() > 24
    # the phase read from all of a cine's frames beats frame index by > 5 deg (warped) and
    # > 12 deg (pure shift), and winds once with every step forward
    for harmonics, bound in [(1, MAX_SMOOTH_ERROR_DEG), (0, MAX_SHIFT_ERROR_DEG)]:
        qs = dc.phase_qc(dc.smooth_phase(theta, harmonics)[0], true[N_TRAIN:])
        assert qs["error_deg"].mean() < bound, harmonics
        assert (qs["winding"] == 1).all() and (qs["forward_share"] == 1).all()


def test_smooth_phase_is_frame_index_plus_the_circular_mean_offset_and_a_smooth_warp():
    rng = np.random.default_rng(1)
    n, t = 5, 24
    start = rng.uniform(-np.pi, np.pi, n)
    true = dc.frame_index_phase(n, t) + start[:, None]
    # per-frame readings: the true phase plus a warp that averages out over the cycle + noise
    warp = 0.4 * np.sin(2 * np.pi * np.arange(t) / t)
    theta = np.mod(true + warp + rng.normal(0, 0.05, (n, t)), 2 * np.pi)
    phase, offset = dc.smooth_phase(theta, 0)
    # the offsets are the start phases (circular difference), the phase winds once evenly
    assert np.abs(np.angle(np.exp(1j * (offset - start)))).max() < 0.05
    np.testing.assert_allclose(
        np.angle(np.exp(1j * np.diff(phase, axis=1))), 2 * np.pi / t, rtol=1e-9
    )
    q = dc.phase_qc(phase, np.mod(true, 2 * np.pi))
    assert (q["winding"] == 1).all() and np.allclose(q["concordance"], 1)
    assert q["error_deg"].max() < 3
    # theta that is already frame index + a constant comes back unchanged
    exact = np.mod(true, 2 * np.pi)
    np.testing.assert_allclose(np.exp(1j * dc.smooth_phase(exact, 0)[0]), np.exp(1j * exact))
    # one harmonic keeps the warp (here exactly one harmonic) and drops the noise
    warped, offset1 = dc.smooth_phase(theta, 1)
    np.testing.assert_allclose(offset1, offset)
    err = np.abs(np.angle(np.exp(1j * (warped - true - warp))))
    assert err.max() < 0.1 and err.mean() < 0.03
    # all harmonics: theta itself (up to the arithmetic mean of the wrapped deviation, which
    # the circular-mean offset already stands for)
    same = dc.smooth_phase(theta, t // 2)[0]
    np.testing.assert_allclose(np.exp(1j * same), np.exp(1j * theta), atol=2e-3)


def test_resampling_onto_the_phase_grid_aligns_end_diastole(cines):
    out, table, true = cines
    for i in range(6):
        frames, _, _ = dc.read_cine(out / table.path[i])
        lab = np.moveaxis(np.asarray(nib.load(out / table.label_path[i]).dataobj)[:, :, 0], -1, 0)
        assert dc.phase_qc(true[i : i + 1])["winding"][0] == 1
        grid = dc.resample_to_grid((lab == 2).astype(np.float32), true[i])
        area = grid.sum(axis=(1, 2))
        # phase 0 is end-diastole: the largest LV cavity sits at (or next to) grid row 0
        assert min(np.argmax(area), FRAMES - np.argmax(area)) <= 1
        assert dc.resample_to_grid(frames, true[i]).shape == frames.shape


def test_bad_cines(tmp_path):
    with pytest.raises(InputError, match="S1.*does not exist"):
        dc.read_cine(tmp_path / "none.nii.gz", "S1")
    img = nib.Nifti1Image(np.zeros((8, 8, 10), np.float32), np.eye(4))
    nib.save(img, tmp_path / "three.nii.gz")
    with pytest.raises(InputError, match="S2.*time axis"):
        dc.read_cine(tmp_path / "three.nii.gz", "S2")
    img = nib.Nifti1Image(np.zeros((8, 8, 1, 10), np.float32), np.eye(4))
    img.header.set_zooms((1.0, 1.0, 1.0, 0.0))
    nib.save(img, tmp_path / "nodt.nii.gz")
    with pytest.raises(InputError, match="S3.*frame interval"):
        dc.read_cine(tmp_path / "nodt.nii.gz", "S3")
