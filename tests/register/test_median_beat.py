"""ECG registration by median beat: planted clean beats, a real device median, stores, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from regwas.errors import InputError
from regwas.register import ecg
from regwas.simulate import ecg as se


def _people(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    people = pd.DataFrame(
        {
            "sample_id": [f"S{i:03d}" for i in range(n)],
            "age": rng.uniform(40, 70, n),
            "sex": rng.choice(["F", "M"], n),
            "bmi": rng.normal(27, 4, n),
            "height": 170.0,
            "site": "a",
        }
    )
    factors = pd.DataFrame(
        rng.standard_normal((n, len(se.FACTORS))), columns=se.FACTORS, index=people["sample_id"]
    )
    return people, factors


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """24 records at the default nuisance (HR 50-95, HRV, random phase, wander, noise, gains)."""
    people, factors = _people(24)
    out = tmp_path_factory.mktemp("ecg")
    table = se.render_ecg(people, factors, {}, seed=5, out_dir=out)
    params = se.ecg_parameters(people, factors, {}, seed=5)
    return table, params, out


def test_median_beat_recovers_clean_beat(sim):
    table, params, out = sim
    lead_r = []
    for row in table.itertuples():
        beat, qc = ecg.median_beat_record(out / row.path)
        assert beat.shape == (12, 600) and beat.dtype == np.float32
        clean = se.clean_beat(params.loc[row.sample_id], fs=500, length=600, pre_r=250)
        # all leads together
        flat_b = (beat - beat.mean(axis=1, keepdims=True)).ravel()
        flat_c = (clean - clean.mean(axis=1, keepdims=True)).ravel()
        assert np.corrcoef(flat_b, flat_c)[0, 1] >= 0.99, row.sample_id
        # each lead that carries signal (SD >= 0.05 mV over the 1.2 s window); nearly flat
        # leads (perpendicular to the heart's axis) are dominated by the residual noise
        for lead in range(12):
            if clean[lead].std() >= 0.05:
                lead_r.append(np.corrcoef(beat[lead], clean[lead])[0, 1])
        assert qc["n_beats_used"] >= 3
        assert qc["n_beats_used"] <= qc["n_beats_detected"]
        assert abs(qc["heart_rate"] - row.heart_rate) < 3.0
        assert 0.9 <= qc["corr_min"] <= qc["corr_mean"] <= 1.0
    lead_r = np.asarray(lead_r)
    assert lead_r.size >= 0.85 * 12 * len(table)
    assert np.mean(lead_r >= 0.99) >= 0.98
    assert lead_r.min() >= 0.98


def test_xqrs_detector_agrees(sim):
    table, _, out = sim
    sig, fs, _ = ecg.read_record(out / table["path"].iloc[0])
    a, _ = ecg.median_beat(sig, fs)
    b, _ = ecg.median_beat(sig, fs, {"detector": "xqrs"})
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99


def test_output_rate_and_window(sim):
    """fs 250 Hz output: the beat is the 500 Hz beat downsampled; R stays at pre_r."""
    table, params, out = sim
    sig, fs, _ = ecg.read_record(out / table["path"].iloc[1])
    beat, _ = ecg.median_beat(sig, fs, {"fs": 250, "length": 300, "pre_r": 100})
    clean = se.clean_beat(params.iloc[1], fs=250, length=300, pre_r=100)
    assert beat.shape == (12, 300)
    assert np.corrcoef(beat.ravel(), clean.ravel())[0, 1] > 0.98
    assert abs(int(np.argmax((beat**2).sum(axis=0))) - 100) <= 1


def _dicom_ecg() -> tuple[np.ndarray, np.ndarray]:
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("waveform_ecg.dcm"))
    groups = [str(w.MultiplexGroupLabel) for w in ds.WaveformSequence]
    rhythm = ds.waveform_array(groups.index("RHYTHM")).T / 1000.0  # uV -> mV
    device = ds.waveform_array(groups.index("MEDIAN BEAT")).T / 1000.0
    return rhythm, device


def test_real_ecg_matches_device_median_beat():
    """pydicom's real 12-lead ECG (10 s at 1 kHz) carries the device's own median beat."""
    from scipy.signal import resample_poly

    rhythm, device = _dicom_ecg()
    assert rhythm.shape == (12, 10000) and device.shape == (12, 1200)
    beat, qc = ecg.median_beat(rhythm, 1000.0)  # resampled to the 500 Hz default
    assert beat.shape == (12, 600)
    assert 55 < qc["heart_rate"] < 67 and qc["n_beats_used"] >= 8
    dev = resample_poly(device, 1, 2, axis=1)  # 1.2 s at 500 Hz, R near 0.5 s like ours
    best = None
    for lag in range(-20, 21):
        shifted = np.roll(beat, lag, axis=1)[:, 25:-25]
        r = np.array([np.corrcoef(shifted[k], dev[k, 25:-25])[0, 1] for k in range(12)])
        if best is None or r.mean() > best[1].mean():
            best = (lag, r)
    lag, r = best
    assert abs(lag) <= 5
    assert r.min() >= 0.95, dict(zip(ecg.STANDARD_LEADS, r.round(4), strict=True))


def test_corrupt_or_missing_record_names_the_file(sim, tmp_path):
    table, _, out = sim
    with pytest.raises(InputError, match="nothere.hea"):
        ecg.read_record(tmp_path / "nothere")
    # truncated signal file
    src = out / table["path"].iloc[0]
    (tmp_path / "trunc.hea").write_text(Path(f"{src}.hea").read_text().replace(src.name, "trunc"))
    (tmp_path / "trunc.dat").write_bytes(Path(f"{src}.dat").read_bytes()[:5000])
    with pytest.raises(InputError, match="trunc"):
        ecg.read_record(tmp_path / "trunc")
    # garbage header
    (tmp_path / "junk.hea").write_text("this is not a header\n")
    (tmp_path / "junk.dat").write_bytes(b"\x00" * 10)
    with pytest.raises(InputError, match="junk"):
        ecg.read_record(tmp_path / "junk")
    # a flat record: no beats
    se.write_wfdb16(np.zeros((5000, 12), np.int16), "flat", 500.0, 1000.0, se.LEADS, tmp_path)
    with pytest.raises(ecg.BeatDetectionError, match="flat"):
        ecg.median_beat_record(tmp_path / "flat")


def test_config_errors_name_the_key():
    sig = np.zeros((12, 5000))
    with pytest.raises(
        InputError, match=r"ecg\.median_beat\.pre_r: must be < ecg\.median_beat\.length"
    ):
        ecg.median_beat(sig, 500.0, {"pre_r": 700})
    with pytest.raises(InputError, match=r"ecg\.median_beat\.qrs_band_hz"):
        ecg.median_beat(sig, 500.0, {"fs": 40.0})
    with pytest.raises(InputError, match=r"unknown key 'ecg\.median_beat\.nope'"):
        ecg.median_beat(sig, 500.0, {"nope": 1})
    with pytest.raises(InputError, match=r"key 'ecg\.median_beat\.length'"):
        ecg.median_beat(sig, 500.0, {"length": 1})


def _manifest(table: pd.DataFrame, n: int) -> pd.DataFrame:
    return table[["sample_id", "path"]].iloc[:n].reset_index(drop=True)


def test_build_native(sim, tmp_path):
    table, _, out = sim
    manifest = _manifest(table, 5)
    ecg.build_native(manifest, out, tmp_path / "native", threads=2)
    arr = np.load(tmp_path / "native" / "data.npy", mmap_mode="r")
    assert isinstance(arr, np.memmap) and arr.shape == (5, 12, 5000) and arr.dtype == np.float32
    ids = pd.read_csv(tmp_path / "native" / "samples.tsv", sep="\t")["sample_id"].tolist()
    assert ids == manifest["sample_id"].tolist()
    for i, path in enumerate(manifest["path"]):
        np.testing.assert_array_equal(arr[i], ecg.read_record(out / path)[0])


def test_build_native_failures_leave_nothing(sim, tmp_path):
    table, _, out = sim
    manifest = _manifest(table, 4)
    manifest.loc[2, "path"] = "ecg/missing"
    with pytest.raises(InputError, match="missing.hea"):
        ecg.build_native(manifest, out, tmp_path / "native")
    # another sampling rate
    sig, _, _ = ecg.read_record(out / table["path"].iloc[0])
    d = np.round(sig.T * 1000).astype(np.int16)
    se.write_wfdb16(d, "other", 250.0, 1000.0, se.LEADS, tmp_path)
    manifest = _manifest(table, 3)
    manifest.loc[1, "path"] = str(tmp_path / "other")
    with pytest.raises(InputError, match="other"):
        ecg.build_native(manifest, out, tmp_path / "native")
    left = list((tmp_path / "native").iterdir()) if (tmp_path / "native").exists() else []
    assert left == []


def test_build_median_beat(sim, tmp_path):
    table, _, out = sim
    manifest = _manifest(table, 6)
    se.write_wfdb16(np.zeros((5000, 12), np.int16), "flat", 500.0, 1000.0, se.LEADS, tmp_path)
    manifest.loc[3, "path"] = str(tmp_path / "flat")  # absolute path, no beats
    qc = ecg.build_median_beat(manifest, out, {}, tmp_path / "mb", threads=1)
    arr = np.load(tmp_path / "mb" / "data.npy", mmap_mode="r")
    assert arr.shape == (5, 12, 600) and arr.dtype == np.float32
    ids = pd.read_csv(tmp_path / "mb" / "samples.tsv", sep="\t")["sample_id"].tolist()
    assert ids == [s for i, s in enumerate(manifest["sample_id"]) if i != 3]
    qc_file = pd.read_csv(tmp_path / "mb" / "qc.tsv", sep="\t", keep_default_na=False)
    assert qc_file["sample_id"].tolist() == manifest["sample_id"].tolist()
    assert qc_file["ok"].tolist() == [True, True, True, False, True, True]
    assert "beats detected" in qc_file.loc[3, "error"]
    assert set(ecg.QC_COLUMNS) <= set(qc_file.columns)
    first, _ = ecg.median_beat_record(out / manifest["path"].iloc[0])
    np.testing.assert_array_equal(arr[0], first)
    # threads do not change the result
    ecg.build_median_beat(manifest, out, {}, tmp_path / "mb2", threads=2)
    np.testing.assert_array_equal(np.load(tmp_path / "mb2" / "data.npy"), np.asarray(arr))
    assert (tmp_path / "mb2" / "qc.tsv").read_bytes() == (tmp_path / "mb" / "qc.tsv").read_bytes()
    assert qc["sample_id"].tolist() == qc_file["sample_id"].tolist()
    # on_failure "error": the flat record stops the build and nothing is written
    with pytest.raises(InputError, match="flat"):
        ecg.build_median_beat(manifest, out, {"on_failure": "error"}, tmp_path / "mb3")
    assert not (tmp_path / "mb3").exists() or list((tmp_path / "mb3").iterdir()) == []


def test_cli_writes_beat(sim, tmp_path, capsys):
    from regwas.cli import main

    table, _, out = sim
    record = str(out / table["path"].iloc[0])
    assert main(["median-beat", record, "--out", str(tmp_path / "beat.npy")]) == 0
    beat = np.load(tmp_path / "beat.npy")
    assert beat.shape == (12, 600) and beat.dtype == np.float32
    qc = json.loads(capsys.readouterr().out)
    assert qc["n_beats_used"] >= 3 and qc["leads"] == list(ecg.STANDARD_LEADS)
    assert main(["median-beat", str(tmp_path / "none"), "--out", str(tmp_path / "x.npy")]) == 2
    assert not (tmp_path / "x.npy").exists()
