"""Synthetic 12-lead ECGs: valid WFDB records, physiological leads, planted factor effects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wfdb

from regwas.errors import InputError
from regwas.simulate import ecg as se


def make_people(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A small people table and standardised factors."""
    rng = np.random.default_rng(seed)
    people = pd.DataFrame(
        {
            "sample_id": [f"P{i:04d}" for i in range(n)],
            "age": rng.uniform(40, 70, n),
            "sex": rng.choice(["F", "M"], n),
            "bmi": rng.normal(27, 4, n),
            "height": rng.normal(170, 9, n),
            "site": rng.choice(["a", "b"], n),
        }
    )
    factors = pd.DataFrame(
        rng.standard_normal((n, len(se.FACTORS))), columns=se.FACTORS, index=people["sample_id"]
    )
    return people, factors


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    people, factors = make_people(40)
    out = tmp_path_factory.mktemp("sim")
    table = se.render_ecg(people, factors, {}, seed=7, out_dir=out)
    return people, factors, table, out


def test_records_are_valid_wfdb(cohort):
    people, _, table, out = cohort
    assert list(table["sample_id"]) == list(people["sample_id"])
    assert set(se.MEASURED) <= set(table.columns)
    for path in table["path"]:
        rec = wfdb.rdrecord(str(out / path))
        assert rec.n_sig == 12 and rec.fs == 500 and rec.sig_len == 5000
        assert rec.sig_name == list(se.LEADS)
        assert rec.units == ["mV"] * 12 and rec.fmt == ["16"] * 12
        assert np.isfinite(rec.p_signal).all()
        assert 0.3 < np.abs(rec.p_signal).max() < 10  # mV, an ECG's range
    assert table["heart_rate"].between(45, 100).all()


def test_writer_matches_wfdb_wrsamp(tmp_path):
    """Our fast format-16 writer produces the same files as wfdb.wrsamp (the reference)."""
    rng = np.random.default_rng(3)
    d = rng.integers(-3000, 3000, size=(700, 12)).astype(np.int16)
    ours, ref = tmp_path / "ours", tmp_path / "ref"
    ours.mkdir()
    ref.mkdir()
    se.write_wfdb16(d, "rec1", 500.0, 1000.0, se.LEADS, ours, comments=se.COMMENTS)
    wfdb.wrsamp(
        "rec1", fs=500.0, units=["mV"] * 12, sig_name=list(se.LEADS), d_signal=d,
        fmt=["16"] * 12, adc_gain=[1000.0] * 12, baseline=[0] * 12,
        comments=list(se.COMMENTS), write_dir=str(ref),
    )  # fmt: skip
    assert (ours / "rec1.dat").read_bytes() == (ref / "rec1.dat").read_bytes()
    assert (ours / "rec1.hea").read_text() == (ref / "rec1.hea").read_text()


def test_limb_leads_einthoven_goldberger_and_physiology(cohort):
    people, factors, _, _ = cohort
    params = se.ecg_parameters(people, factors, {}, seed=7)
    for sid in params.index[:10]:
        b = se.clean_beat(params.loc[sid], fs=500, length=600, pre_r=250)
        lead = dict(zip(se.LEADS, b, strict=True))
        np.testing.assert_allclose(lead["III"], lead["II"] - lead["I"], atol=1e-12)
        np.testing.assert_allclose(lead["aVR"], -(lead["I"] + lead["II"]) / 2, atol=1e-12)
        np.testing.assert_allclose(lead["aVL"], lead["I"] - lead["II"] / 2, atol=1e-12)
        np.testing.assert_allclose(lead["aVF"], lead["II"] - lead["I"] / 2, atol=1e-12)
        np.testing.assert_allclose(lead["aVR"] + lead["aVL"] + lead["aVF"], 0, atol=1e-12)
        qrs = slice(250 - 30, 250 + 30)
        # normal morphology: aVR negative QRS, V1 rS (S deeper than r), V6 dominant R
        assert lead["aVR"][qrs].min() < -abs(lead["aVR"][qrs].max())
        assert lead["V1"][qrs].min() < -lead["V1"][qrs].max()
        assert lead["V6"][qrs].max() > 2 * abs(lead["V6"][qrs].min())
        assert np.abs(b[:, :20]).max() < 1e-3  # isoelectric far before R


def _corr(a, b) -> float:
    return float(np.corrcoef(np.asarray(a, float), np.asarray(b, float))[0, 1])


def test_factors_move_measured_phenotypes(cohort):
    _, factors, table, _ = cohort
    f = factors.loc[table["sample_id"]]
    assert _corr(table["qrs_duration"], f["qrs_width"]) > 0.8
    assert _corr(table["qtc"], f["qt_interval"]) > 0.8
    assert _corr(table["qt"], f["qt_interval"]) > 0.4  # heart rate shortens QT too
    assert _corr(table["pr_interval"], f["pr_interval"]) > 0.8
    assert _corr(table["qrs_axis"], f["qrs_axis"]) > 0.8
    assert _corr(table["t_amplitude"], f["t_amplitude"]) > 0.7
    # QT follows heart rate (Fridericia): faster rate -> shorter QT at equal QTc
    resid = table["qt"] - np.polyval(np.polyfit(f["qt_interval"], table["qt"], 1), f["qt_interval"])
    assert _corr(resid, table["heart_rate"]) < -0.5


def test_factors_move_morphology_in_the_records(cohort):
    """Measured from the written records (median beats), not from the simulator's own table."""
    from regwas.register.ecg.beats import median_beat_record

    _, factors, table, out = cohort
    width, axis, t_amp = [], [], []
    for path in table["path"]:
        b, _ = median_beat_record(out / path)
        mag = np.sqrt((b**2).sum(axis=0))
        qrs = mag[200:300]
        width.append((qrs > 0.3 * qrs.max()).sum())  # samples above 30% of the R magnitude
        lead_i, lead_avf = b[0, 225:275].sum(), b[5, 225:275].sum()
        axis.append(np.degrees(np.arctan2(lead_avf, lead_i)))
        t_amp.append(mag[325:475].max())
    f = factors.loc[table["sample_id"]]
    assert _corr(width, f["qrs_width"]) > 0.7
    assert _corr(axis, f["qrs_axis"]) > 0.8
    assert _corr(t_amp, f["t_amplitude"]) > 0.6


def test_deterministic_and_thread_independent(tmp_path):
    people, factors = make_people(6, seed=1)
    t1 = se.render_ecg(people, factors, {}, seed=11, out_dir=tmp_path / "a")
    t2 = se.render_ecg(people, factors, {}, seed=11, out_dir=tmp_path / "b", threads=2)
    t3 = se.render_ecg(people, factors, {}, seed=12, out_dir=tmp_path / "c")
    pd.testing.assert_frame_equal(t1, t2)
    for sid in people["sample_id"]:
        a = (tmp_path / "a" / "ecg" / f"{sid}.dat").read_bytes()
        assert a == (tmp_path / "b" / "ecg" / f"{sid}.dat").read_bytes()
        assert a != (tmp_path / "c" / "ecg" / f"{sid}.dat").read_bytes()
    assert not t1[list(se.MEASURED)].equals(t3[list(se.MEASURED)])


def test_bad_inputs_raise_and_leave_nothing(tmp_path):
    people, factors = make_people(3)
    with pytest.raises(InputError, match="qt_interval"):
        se.render_ecg(people, factors.drop(columns="qt_interval"), {}, 1, tmp_path)
    bad = people.assign(sample_id=["a/b", "c", "d"])
    with pytest.raises(InputError, match="record names"):
        se.render_ecg(bad, factors.set_axis(bad["sample_id"]), {}, 1, tmp_path)
    with pytest.raises(InputError, match="unknown key"):
        se.render_ecg(people, factors, {"noise": 1}, 1, tmp_path)
    assert not (tmp_path / "ecg").exists()
    assert list(Path(tmp_path).iterdir()) == []
