"""Synthetic 12-lead ECGs rendered from biological factors, with nuisance that registration removes.

Model: the heart is a rotating dipole (vectorcardiogram, VCG) built as a sum of Gaussian waves
(P, septal Q, R, terminal S, an asymmetric T), in the spirit of McSharry et al.'s ECGSYN
(IEEE TBME 2003). The VCG (Frank axes: X right->left, Y head->foot, Z front->back) is projected
onto leads I, II, V1-V6 with the inverse Dower matrix (Dower et al. 1980; Edenbrandt & Pahlm
1988); III, aVR, aVL and aVF are derived from I and II exactly as an electrocardiograph does,
so Einthoven's and Goldberger's relations hold exactly on the clean signal.

Biology (fixed per person, the "clean beat"): PR interval, QRS width, QTc, T amplitude and the
frontal QRS axis come from standardised factors; overall voltage falls with BMI and is higher in
men. Nuisance (per record): heart rate and beat-to-beat variability (respiratory sinus
arrhythmia + white jitter), random start phase, baseline wander, white noise and optional mains
hum (added to the 8 independent leads, then derived like the cardiac signal), and a per-lead
amplifier gain on the cardiac signal of each of the 12 leads. The beat template is the person's
beat at their mean RR interval (QT follows Fridericia: QT = QTc * RR^(1/3)), repeated at every
R peak of the rhythm.
"""

from __future__ import annotations

import logging
import multiprocessing
import re
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from regwas.config.schema import section
from regwas.errors import InputError
from regwas.io.atomic import atomic_dir

log = logging.getLogger(__name__)

FACTORS: tuple[str, ...] = ("qrs_width", "qt_interval", "t_amplitude", "qrs_axis", "pr_interval")
LEADS: tuple[str, ...] = (
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
)  # fmt: skip

# Inverse Dower transform: Frank VCG (X, Y, Z) -> leads I, II, V1..V6 (rows), in mV per mV.
DOWER = np.array(
    [
        [0.632, -0.235, 0.059],  # I
        [0.235, 1.066, -0.132],  # II
        [-0.515, 0.157, -0.917],  # V1
        [0.044, 0.164, -1.387],  # V2
        [0.882, 0.098, -1.277],  # V3
        [1.213, 0.127, -0.601],  # V4
        [1.125, 0.127, -0.086],  # V5
        [0.831, 0.076, 0.230],  # V6
    ]
)
# 12 x 8: the 12 standard leads from the 8 independent ones (I, II, V1..V6).
DERIVE = np.zeros((12, 8))
DERIVE[0, 0] = 1.0  # I
DERIVE[1, 1] = 1.0  # II
DERIVE[2, :2] = [-1.0, 1.0]  # III = II - I
DERIVE[3, :2] = [-0.5, -0.5]  # aVR = -(I + II) / 2
DERIVE[4, :2] = [1.0, -0.5]  # aVL = I - II / 2
DERIVE[5, :2] = [-0.5, 1.0]  # aVF = II - I / 2
DERIVE[6:, 2:] = np.eye(6)
LEAD_MATRIX = DERIVE @ DOWER  # 12 x 3: VCG -> 12 leads

# factor -> (morphology key, clip range in physical units)
_FACTOR_MAP = {
    "pr_interval": ("pr_ms", (90.0, 320.0)),
    "qrs_width": ("qrs_ms", (60.0, 160.0)),
    "qt_interval": ("qtc_ms", (320.0, 540.0)),
    "qrs_axis": ("qrs_axis_deg", (-90.0, 180.0)),
}
_RECORD_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
COMMENTS = ("regwas synthetic ECG",)
MEASURED = ("heart_rate", "pr_interval", "qrs_duration", "qt", "qtc", "qrs_axis", "t_amplitude")


def _rng(seed: int, index: int, stream: int) -> np.random.Generator:
    """Per-person random stream derived from (seed, person index, stream)."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(index), stream)))


def ecg_parameters(
    people: pd.DataFrame, factors: pd.DataFrame, cfg: Mapping | None, seed: int
) -> pd.DataFrame:
    """Physical beat parameters per person (indexed by sample_id) from factors and covariates.

    Columns: hr_bpm, rr_s, pr_ms, qrs_ms, qtc_ms, qt_ms, axis_deg, t_amp_mv, gain. The heart
    rate is a per-person draw from stream (seed, person index, 0).
    """
    cfg = section("simulate.ecg", cfg)
    morph = cfg["morphology"]
    for col in ("sample_id", "sex", "bmi"):
        if col not in people.columns:
            raise InputError(f"people table: missing column {col!r}")
    missing = [f for f in FACTORS if f not in factors.columns]
    if missing:
        raise InputError(f"ECG factors table: missing columns {missing}")
    ids = people["sample_id"].astype(str).to_numpy()
    absent = ~pd.Index(ids).isin(factors.index.astype(str))
    if absent.any():
        raise InputError(f"ECG factors table: no row for sample ids {list(ids[absent][:5])}")
    f = factors.set_axis(factors.index.astype(str)).loc[ids, list(FACTORS)].to_numpy(float)
    if not np.isfinite(f).all():
        raise InputError("ECG factors table: NaN or inf factor values")
    sex = people["sex"].astype(str).str.upper().to_numpy()
    if not np.isin(sex, ["F", "M"]).all():
        raise InputError("people table: column 'sex' must hold F or M")
    bmi = people["bmi"].to_numpy(float)
    bmi = np.where(np.isfinite(bmi), bmi, 27.0)

    out = pd.DataFrame(index=pd.Index(ids, name="sample_id"))
    for j, name in enumerate(FACTORS):
        if name in _FACTOR_MAP:
            key, (lo, hi) = _FACTOR_MAP[name]
            mean, sd = morph[key]
            out[key] = np.clip(mean + sd * f[:, j], lo, hi)
    t_median, t_logsd = morph["t_amplitude_mv"]
    out["t_amp_mv"] = np.clip(t_median * np.exp(t_logsd * f[:, FACTORS.index("t_amplitude")]),
                              0.03, 1.5)  # fmt: skip
    out["axis_deg"] = out.pop("qrs_axis_deg")
    out["gain"] = np.exp(
        morph["amplitude_bmi"] * (bmi - 27.0) + morph["amplitude_male"] * ((sex == "M") - 0.5)
    )
    lo, hi = cfg["heart_rate_bpm"]
    out["hr_bpm"] = [_rng(seed, i, 0).uniform(lo, hi) for i in range(len(ids))]
    out["rr_s"] = 60.0 / out["hr_bpm"]
    out["qt_ms"] = out["qtc_ms"] * np.cbrt(out["rr_s"])
    out["p_amp_mv"] = float(morph["p_amplitude_mv"])
    out["r_amp_mv"] = float(morph["r_amplitude_mv"])
    return out


def _direction(angle_deg: float, z: float) -> np.ndarray:
    """Unit VCG direction from a frontal-plane angle (0 = lead I, 90 = aVF) and a Z component."""
    a = np.deg2rad(angle_deg)
    v = np.array([np.cos(a), np.sin(a), z])
    return v / np.linalg.norm(v)


def _waves(p: Mapping) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian waves of one beat: centres (s, R at 0), left/right widths (s), VCG vectors (mV)."""
    w = p["qrs_ms"] / 1000.0
    qt = p["qt_ms"] / 1000.0
    pr = p["pr_ms"] / 1000.0
    axis = float(p["axis_deg"])
    g = float(p["gain"])
    qrs_on = -0.46 * w
    sp = 0.022
    s_up, s_dn = 0.055 * qt / 0.4, 0.032 * qt / 0.4
    mu = np.array([qrs_on - pr + 2.5 * sp, -0.30 * w, 0.0, 0.30 * w, qrs_on + qt - 2.5 * s_dn])
    left = np.array([sp, 0.065 * w, 0.095 * w, 0.075 * w, s_up])
    right = np.array([sp, 0.065 * w, 0.095 * w, 0.075 * w, s_dn])
    r_amp = float(p["r_amp_mv"])
    vec = g * np.stack(
        [
            float(p["p_amp_mv"]) * _direction(55.0, -0.2),  # P: left, inferior, anterior
            0.17 * r_amp * _direction(axis + 108.0, -1.8),  # septal Q: rightward, anterior
            r_amp * _direction(axis, 0.45),  # R: along the axis, posterior
            0.3 * r_amp * _direction(axis - 166.0, 1.0),  # terminal S: rightward, posterior
            float(p["t_amp_mv"]) * _direction(40.0 + 0.4 * (axis - 45.0), -0.35),  # T
        ]
    )
    return mu, left, right, vec


def _vcg(t: np.ndarray, r_times: np.ndarray, p: Mapping) -> np.ndarray:
    """VCG (3 x len(t)) of beats with R peaks at r_times (s), evaluated at times t (s)."""
    mu, left, right, vec = _waves(p)
    out = np.zeros((3, t.size))
    for k in range(mu.size):
        lo = t.searchsorted(r_times + mu[k] - 6 * left[k])
        hi = t.searchsorted(r_times + mu[k] + 6 * right[k])
        amp = np.zeros(t.size)
        for a, b, r in zip(lo, hi, r_times, strict=True):
            d = t[a:b] - (r + mu[k])
            s = np.where(d < 0, left[k], right[k])
            amp[a:b] += np.exp(-0.5 * (d / s) ** 2)
        out += vec[k][:, None] * amp[None, :]
    return out


def clean_beat(
    sample_params: Mapping, fs: float = 500.0, length: int = 600, pre_r: int = 250
) -> np.ndarray:
    """The noiseless, unit-electrode-gain beat of one person (12 x length, mV), R at index pre_r.

    sample_params is one row of ecg_parameters(); the beat is isolated (no neighbouring beats),
    as regwas.ecg.median_beat returns it.
    """
    t = (np.arange(length) - pre_r) / float(fs)
    return LEAD_MATRIX @ _vcg(t, np.array([0.0]), sample_params)


def measure_beat(sample_params: Mapping) -> dict[str, float]:
    """Interval/axis/amplitude measurements of a person's clean beat (as an ECG cart would make).

    QRS onset/offset where the spatial magnitude crosses 2% of its R peak, P onset and T end where
    it crosses 5% of the P/T peak; the frontal axis from the net QRS areas of leads I and aVF.
    """
    fs = 2000.0
    t = np.arange(-0.6, 0.9, 1.0 / fs)
    v = _vcg(t, np.array([0.0]), sample_params)
    mag = np.linalg.norm(v, axis=0)
    i0 = int(np.searchsorted(t, 0.0))
    thr = 0.02 * mag[i0]
    on = int(np.flatnonzero(mag[:i0] < thr)[-1])
    off = i0 + int(np.flatnonzero(mag[i0:] < thr)[0])
    p_peak = int(np.argmax(mag[: on - int(0.01 * fs)]))
    p_on = int(np.flatnonzero(mag[:p_peak] < 0.05 * mag[p_peak])[-1])
    t_peak = off + int(np.argmax(mag[off:]))
    t_end = t_peak + int(np.flatnonzero(mag[t_peak:] < 0.05 * mag[t_peak])[0])
    leads = LEAD_MATRIX @ v[:, on:off]
    area_i, area_avf = leads[0].sum(), leads[5].sum()
    rr = float(sample_params["rr_s"])
    qt = (t_end - on) / fs * 1000.0
    return {
        "pr_interval": (on - p_on) / fs * 1000.0,
        "qrs_duration": (off - on) / fs * 1000.0,
        "qt": qt,
        "qtc": qt / np.cbrt(rr),
        "qrs_axis": float(np.degrees(np.arctan2(area_avf, area_i))),
        "t_amplitude": float(mag[t_peak]),
    }


def _r_times(p: Mapping, cfg: Mapping, rng: np.random.Generator) -> np.ndarray:
    """R-peak times (s) of one record: random phase, RSA and white RR jitter around the mean RR."""
    rr = float(p["rr_s"])
    duration = float(cfg["duration_s"])
    n = int(np.ceil((duration + 3.0) / (0.7 * rr))) + 2
    t0 = -1.5 + rng.uniform(0.0, rr)
    f_resp = rng.uniform(*cfg["respiration_hz"])
    phase = rng.uniform(0.0, 2 * np.pi)
    approx = t0 + rr * np.arange(n)
    factor = 1.0 + cfg["rsa"] * np.sin(2 * np.pi * f_resp * approx + phase)
    factor += cfg["hrv_sd"] * rng.standard_normal(n)
    times = t0 + np.concatenate([[0.0], np.cumsum(rr * np.clip(factor, 0.7, 1.3))[:-1]])
    return times[times < duration + 1.5]


def render_record(p: Mapping, cfg: Mapping, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """One noisy 12-lead record (12 x samples, mV) and its mean heart rate (bpm)."""
    fs = float(cfg["fs"])
    n = int(round(float(cfg["duration_s"]) * fs))
    t = np.arange(n) / fs
    r_times = _r_times(p, cfg, rng)
    electrodes = DOWER @ _vcg(t, r_times, p)  # 8 independent leads: I, II, V1..V6
    lo, hi = cfg["baseline_wander_hz"]
    freqs = rng.uniform(lo, hi, size=(8, 3))
    phases = rng.uniform(0, 2 * np.pi, size=(8, 3))
    amps = cfg["baseline_wander_mv"] * rng.uniform(0.2, 1.0, size=(8, 3)) / np.sqrt(3)
    wander = np.einsum(
        "lk,lkt->lt", amps, np.sin(2 * np.pi * freqs[..., None] * t + phases[..., None])
    )
    gains = np.exp(cfg["lead_gain_sd"] * rng.standard_normal(12))
    noise = cfg["noise_mv"] * rng.standard_normal((8, n))
    hum_phase = rng.uniform(0, 2 * np.pi)
    hum = cfg["powerline_mv"] * np.sin(2 * np.pi * cfg["powerline_hz"] * t + hum_phase)
    sig = gains[:, None] * (DERIVE @ electrodes) + DERIVE @ (wander + noise + hum)
    inside = r_times[(r_times >= 0) & (r_times < n / fs)]
    hr = 60.0 / float(np.mean(np.diff(inside))) if inside.size > 1 else float(p["hr_bpm"])
    return sig, hr


def write_wfdb16(
    d_signal: np.ndarray,
    name: str,
    fs: float,
    adc_gain: float,
    sig_names: list[str] | tuple[str, ...],
    write_dir: Path,
    units: str = "mV",
    comments: tuple[str, ...] = (),
) -> None:
    """Write a WFDB record (format 16, baseline 0) byte-identical to wfdb.wrsamp's output.

    wfdb.wrsamp spends ~0.25 s per record validating its header fields; this writes the same
    .hea/.dat (checked against wfdb.wrsamp and wfdb.rdrecord in the tests) in ~1 ms.
    """
    d = np.ascontiguousarray(d_signal, dtype="<i2")  # samples x signals
    n, k = d.shape
    checksum = d.sum(axis=0, dtype=np.int64) % 65536
    lines = [f"{name} {k} {fs:g} {n}"]
    for j in range(k):
        lines.append(
            f"{name}.dat 16 {float(adc_gain)!r}(0)/{units} 16 0 {int(d[0, j])} "
            f"{int(checksum[j])} 0 {sig_names[j]}"
        )
    lines += [f"# {c}" for c in comments]
    write_dir = Path(write_dir)
    (write_dir / f"{name}.hea").write_text("\n".join(lines) + "\n")
    d.tofile(write_dir / f"{name}.dat")


def _write_record(sig: np.ndarray, name: str, cfg: Mapping, write_dir: Path) -> None:
    """Write a 12-lead record as WFDB format 16 with a fixed ADC gain (units mV)."""
    gain = float(cfg["adc_gain"])
    d = np.clip(np.round(sig.T * gain), -32767, 32767).astype(np.int16)
    write_wfdb16(d, name, float(cfg["fs"]), gain, LEADS, write_dir, comments=COMMENTS)


def _render_chunk(args: tuple) -> list[dict]:
    """Worker: render, write and measure a chunk of people; returns one measured row each."""
    rows, cfg, seed, ecg_dir = args
    noise_sd = cfg["measurement_noise"]
    out = []
    for idx, sid, p in rows:
        sig, hr = render_record(p, cfg, _rng(seed, idx, 1))
        _write_record(sig, sid, cfg, ecg_dir)
        m = measure_beat(p)
        rng = _rng(seed, idx, 2)
        for key in ("pr_interval", "qrs_duration", "qt", "qrs_axis", "t_amplitude"):
            m[key] += noise_sd[key] * rng.standard_normal()
        m["qtc"] = m["qt"] / np.cbrt(60.0 / hr)
        out.append({"sample_id": sid, "path": f"ecg/{sid}", "heart_rate": hr, **m})
    return out


def render_ecg(
    people: pd.DataFrame,
    factors: pd.DataFrame,
    cfg: Mapping | None,
    seed: int,
    out_dir: Path,
    threads: int = 1,
) -> pd.DataFrame:
    """Render one WFDB record per person to out_dir/ecg/{sample_id}; return measured phenotypes.

    The ecg/ folder appears whole or not at all. Returned columns: sample_id, path (relative to
    out_dir, no extension), heart_rate (bpm), pr_interval, qrs_duration, qt, qtc (ms), qrs_axis
    (degrees), t_amplitude (mV): measured on the clean beat at the person's heart rate, plus
    measurement noise. Output does not depend on ``threads``.
    """
    cfg = section("simulate.ecg", cfg)
    params = ecg_parameters(people, factors, cfg, seed)
    ids = params.index.to_numpy()
    bad = [s for s in ids if not _RECORD_NAME.match(s)]
    if bad:
        raise InputError(f"people table: sample ids unusable as WFDB record names: {bad[:5]}")
    if len(set(ids)) != len(ids):
        raise InputError("people table: duplicate sample ids")
    records = [(i, sid, params.iloc[i].to_dict()) for i, sid in enumerate(ids)]
    out_dir = Path(out_dir)
    rows: list[dict] = []
    with atomic_dir(out_dir / "ecg", marker=False) as tmp:
        chunk = max(1, min(50, len(records) // max(1, 4 * threads) or 1))
        jobs = [(records[a : a + chunk], cfg, seed, tmp) for a in range(0, len(records), chunk)]
        bar = tqdm(total=len(records), desc="render ECG", unit="record", disable=None)
        if threads <= 1 or len(jobs) == 1:
            for job in jobs:
                rows.extend(_render_chunk(job))
                bar.update(len(job[0]))
        else:
            ctx = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=threads, mp_context=ctx) as pool:
                for job, res in zip(jobs, pool.map(_render_chunk, jobs), strict=True):
                    rows.extend(res)
                    bar.update(len(job[0]))
        bar.close()
    log.info("rendered %d ECG records to %s", len(rows), out_dir / "ecg")
    return pd.DataFrame(rows, columns=["sample_id", "path", *MEASURED])
