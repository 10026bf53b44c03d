"""ECG registration by median beat, ECG array stores, and the `regwas median-beat` command.

Registration of a 10 s 12-lead rhythm strip = its median beat: every beat cut out around its
R peak, aligned to a common template, and the median taken sample by sample. This removes the
nuisance that the native strip carries (heart rate, start phase, baseline wander, noise) and
keeps the beat's morphology (P, PR, QRS, QT, T).

Algorithm of :func:`median_beat` (all at the output rate ``fs``):
1. resample the input to ``fs`` (polyphase, scipy.signal.resample_poly) when its rate differs;
2. remove baseline wander: zero-phase high-pass (``highpass_hz``; low-pass ``lowpass_hz`` and
   optional mains notch), then subtract a cubic spline through isoelectric knots (20 ms means):
   ``knot_before_qrs_s`` before the QRS onset of every beat (PR segment; the onset is where the
   spatial velocity of a provisional median rises above 5% of its peak) and, with ``tp_knots``,
   at every boundary between beats (TP segment, ``split_fraction`` of the RR interval after R),
   the TP knots shifted by their median offset from the PR level (a real PR-TP difference is
   kept);
3. detect R peaks on a multi-lead QRS-band energy signal (Pan-Tompkins-like: band-pass, square,
   sum over leads, 100 ms moving integration, peaks above ``detect_threshold`` x its 98th
   percentile, refractory ``refractory_s``); or wfdb's XQRS on the lead with most QRS energy;
4. align: each beat is cross-correlated over the QRS window (``align_window_s``) with the
   provisional median (Pearson over all leads, lags up to ``max_lag_s``, parabolic sub-sample
   peak) and re-cut at its fractional position (cubic interpolation); ``iterations`` rounds;
5. reject beats whose QRS correlation with the template is below ``min_corr`` and premature
   (ectopic) beats whose preceding RR is below ``premature_ratio`` x the median RR;
6. median over the kept beats. With ``isolate`` neighbouring beats (whose position varies with
   heart rate) are cut out of each beat's window: a beat contributes up to where the next beat
   begins (``beat_extent_s[0]`` before that beat's R) and back to where the previous one ends
   (``beat_extent_s[1]`` after its R); where the two extents overlap (fast rates), the boundary
   is ``split_fraction`` of the RR interval after R. Samples no beat covers (the window's
   ends at fast rates) take the mean of the 20 ms of covered samples next to them;
7. place the fiducial: the spatial-magnitude peak of the median (sum of squares over leads) is
   put at index ``pre_r`` (sub-sample), and the isoelectric level (PR knot) is set to 0 mV.

Defaults: 500 Hz, 600 samples (1.2 s), R at index 250 (0.5 s), the convention of the GE
median beats stored in DICOM ECGs (1.2 s with R at 0.5 s)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy import signal as sps
from scipy.interpolate import CubicSpline
from scipy.ndimage import uniform_filter1d

from regwas.config.schema import section
from regwas.errors import InputError
from regwas.register.ecg.records import read_record, record_paths

log = logging.getLogger(__name__)


QC_COLUMNS = ("n_beats_detected", "n_beats_used", "corr_mean", "corr_min", "heart_rate")


class BeatDetectionError(InputError):
    """A record in which too few usable beats were found (flat, noisy or very short)."""


def _check_cross_keys(cfg: dict) -> dict:
    """Checks of the ecg.median_beat section that JSON schema cannot express (they relate two
    keys); every key on its own (types, ranges, choices) is checked by ``section``."""
    if not int(cfg["pre_r"]) < int(cfg["length"]):
        raise InputError(
            f"config ecg.median_beat.pre_r: must be < ecg.median_beat.length "
            f"({cfg['length']}), got {cfg['pre_r']}"
        )
    lo, hi = cfg["qrs_band_hz"]
    if not 0 < lo < hi < cfg["fs"] / 2:
        raise InputError(
            "config ecg.median_beat.qrs_band_hz: must satisfy 0 < low < high < "
            f"ecg.median_beat.fs / 2 ({cfg['fs'] / 2:g}), got {cfg['qrs_band_hz']}"
        )
    return cfg


# --------------------------------------------------------------------------- median beat


def _resample(x: np.ndarray, fs: float, fs_out: float) -> np.ndarray:
    """Polyphase resampling of leads x samples from fs to fs_out (identity when equal)."""
    if abs(fs - fs_out) < 1e-9:
        return x
    ratio = Fraction(fs_out / fs).limit_denominator(1000)
    return sps.resample_poly(x, ratio.numerator, ratio.denominator, axis=1)


def _filter(x: np.ndarray, fs: float, cfg: Mapping) -> np.ndarray:
    """Zero-phase high-pass / low-pass / notch filtering, as configured."""
    padlen = min(x.shape[1] - 1, int(3 * fs))
    if cfg["highpass_hz"] and cfg["highpass_hz"] > 0:
        sos = sps.butter(2, cfg["highpass_hz"], btype="highpass", fs=fs, output="sos")
        x = sps.sosfiltfilt(sos, x, axis=1, padlen=padlen)
    if cfg["lowpass_hz"] and 0 < cfg["lowpass_hz"] < fs / 2:
        sos = sps.butter(4, cfg["lowpass_hz"], btype="lowpass", fs=fs, output="sos")
        x = sps.sosfiltfilt(sos, x, axis=1, padlen=padlen)
    if cfg["notch_hz"] and 0 < cfg["notch_hz"] < fs / 2:
        b, a = sps.iirnotch(cfg["notch_hz"], 30.0, fs=fs)
        x = sps.filtfilt(b, a, x, axis=1, padlen=padlen)
    return x


def _detect(x: np.ndarray, fs: float, cfg: Mapping) -> np.ndarray:
    """R-peak sample indices: QRS-band multi-lead energy peaks (or wfdb XQRS), refined to maxima."""
    sos = sps.butter(2, cfg["qrs_band_hz"], btype="bandpass", fs=fs, output="sos")
    band = sps.sosfiltfilt(sos, x, axis=1, padlen=min(x.shape[1] - 1, int(fs)))
    energy = (band**2).sum(axis=0)
    distance = max(1, int(cfg["refractory_s"] * fs))
    if cfg["detector"] == "xqrs":
        from wfdb import processing

        lead = int(np.argmax((band**2).sum(axis=1)))
        with contextlib.redirect_stdout(None):
            peaks = np.asarray(processing.xqrs_detect(x[lead], fs=fs, verbose=False), dtype=int)
    else:
        integrated = uniform_filter1d(energy, size=max(1, int(0.1 * fs)))
        thr = cfg["detect_threshold"] * np.quantile(integrated, 0.98)
        if not thr > 0:
            return np.zeros(0, dtype=int)
        peaks, _ = sps.find_peaks(integrated, height=thr, distance=distance)
    # refine each peak to the spatial-magnitude maximum of the filtered signal nearby
    half = int(0.05 * fs)
    mag = (x**2).sum(axis=0)
    refined = []
    for p in peaks:
        a, b = max(0, p - half), min(x.shape[1], p + half + 1)
        refined.append(a + int(np.argmax(mag[a:b])))
    refined = np.unique(np.asarray(refined, dtype=int))
    if refined.size > 1:  # drop peaks that merged within the refractory period
        keep = np.concatenate([[True], np.diff(refined) >= distance])
        refined = refined[keep]
    return refined


def _knot_values(x: np.ndarray, knots: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Knots inside the record (sorted sample indices) and their 20 ms mean values per lead."""
    n = x.shape[1]
    knots = np.unique(np.round(knots).astype(int))
    knots = knots[(knots >= 0) & (knots < n)]
    half = max(1, int(0.01 * fs))
    csum = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)], axis=1)
    a, b = np.clip(knots - half, 0, n), np.clip(knots + half + 1, 0, n)
    return knots, (csum[:, b] - csum[:, a]) / (b - a)


def _interp_knots(knots: np.ndarray, values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Cubic spline through (knots, values) at t, held flat beyond the end knots (linear for two
    knots, constant for one, zero for none)."""
    if knots.size == 0:
        return np.zeros((values.shape[0], t.size))
    if knots.size == 1:
        return np.repeat(values, t.size, axis=1)
    tc = np.clip(t, knots[0], knots[-1])
    if knots.size == 2:
        return np.stack([np.interp(tc, knots, v) for v in values])
    return CubicSpline(knots, values, axis=1)(tc)


def _spline_baseline(
    x: np.ndarray, pr_knots: np.ndarray, tp_knots: np.ndarray, fs: float
) -> np.ndarray:
    """Baseline wander (leads x samples) through isoelectric knots: PR-segment knots, plus
    TP-segment knots shifted by their median offset from the PR-knot spline, so that a genuine
    PR-TP level difference (atrial repolarisation) is kept while the TP knots help follow the
    wander between beats."""
    t = np.arange(x.shape[1])
    k_pr, v_pr = _knot_values(x, pr_knots, fs)
    if tp_knots.size == 0 or k_pr.size < 2:
        return _interp_knots(k_pr, v_pr, t)
    k_tp, v_tp = _knot_values(x, tp_knots, fs)
    if k_tp.size == 0:
        return _interp_knots(k_pr, v_pr, t)
    offset = np.median(v_tp - _interp_knots(k_pr, v_pr, k_tp), axis=1, keepdims=True)
    knots = np.concatenate([k_pr, k_tp])
    values = np.concatenate([v_pr, v_tp - offset], axis=1)
    order = np.argsort(knots, kind="stable")
    knots, values = knots[order], values[:, order]
    uniq = np.concatenate([[True], np.diff(knots) > 0])
    return _interp_knots(knots[uniq], values[:, uniq], t)


def _pr_knot(x: np.ndarray, r: np.ndarray, fs: float, before_qrs_s: float) -> float:
    """Distance (samples) from R back to the PR-segment isoelectric point: the QRS onset of the
    provisional median (walking back from the steepest upstroke before R, the first 10 ms with
    spatial velocity below 5% of its peak and below 3x its median) plus before_qrs_s; clipped
    to 20-200 ms."""
    a, b = int(0.25 * fs), int(0.05 * fs)
    r_in = r[(r - a >= 0) & (r + b < x.shape[1])]
    lo, hi = 0.02 * fs, 0.2 * fs
    if r_in.size == 0:
        return float(np.clip(0.06 * fs, lo, hi))
    med = np.median(x[:, r_in[:, None] + np.arange(-a, b)[None, :]], axis=1)  # leads x window
    med = uniform_filter1d(med, size=max(1, int(0.01 * fs)), axis=1)
    v = np.sqrt((np.diff(med, axis=1) ** 2).sum(axis=0))
    start = a - int(0.1 * fs)
    steep = start + int(np.argmax(v[start:a]))  # steepest upstroke before R
    k = max(1, int(0.01 * fs))  # quiet for 10 ms, not a momentary dip between Q and R
    thr = max(0.05 * v[start:].max(), 3.0 * np.median(v))  # above the noise floor
    q = (v[:steep] < thr).astype(float)
    quiet = np.flatnonzero(np.convolve(q, np.ones(k), mode="full")[: q.size] >= k)
    onset = a - quiet[-1] if quiet.size else 0.05 * fs
    return float(np.clip(onset + before_qrs_s * fs, lo, hi))


class _Cutter:
    """Cuts beat windows out of a leads x samples signal at fractional positions (cubic)."""

    def __init__(self, x: np.ndarray):
        self.n = x.shape[1]
        self.spline = CubicSpline(np.arange(self.n), x, axis=1, extrapolate=False)

    def __call__(self, pos: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Windows (beats x leads x len(offsets)); samples outside the record are NaN."""
        t = pos[:, None] + offsets[None, :]
        out = self.spline(t.ravel())  # leads x (beats * len)
        return out.reshape(-1, pos.size, offsets.size).transpose(1, 0, 2)


def _pearson(segs: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Pearson correlation of each segment (..., leads, T) with template (leads, T), leads
    concatenated after per-lead mean removal."""
    m = template - template.mean(axis=-1, keepdims=True)
    t = segs.shape[-1]
    num = np.einsum("...lt,lt->...", segs, m)
    ss = np.einsum("...lt,...lt->...", segs, segs) - (segs.sum(axis=-1) ** 2).sum(axis=-1) / t
    den = np.sqrt(np.maximum(ss, 0.0) * (m**2).sum())
    return num / np.where(den > 0, den, np.inf)


def _nanmedian0(a: np.ndarray) -> np.ndarray:
    """Median over axis 0 ignoring NaN (NaN where no value); faster than np.nanmedian here."""
    s = np.sort(a, axis=0)  # NaN sort last
    cnt = np.isfinite(a).sum(axis=0)
    lo = np.clip((cnt - 1) // 2, 0, None)[None]
    hi = np.clip(cnt // 2, 0, a.shape[0] - 1)[None]
    med = 0.5 * (np.take_along_axis(s, lo, 0)[0] + np.take_along_axis(s, hi, 0)[0])
    return np.where(cnt > 0, med, np.nan)


def _parabolic(c: np.ndarray, i: np.ndarray) -> np.ndarray:
    """Sub-sample offset of the peak of c[k, i[k]] from a parabola through its neighbours."""
    k = np.arange(c.shape[0])
    inner = (i > 0) & (i < c.shape[1] - 1)
    ic = np.clip(i, 1, c.shape[1] - 2)
    y0, y1, y2 = c[k, ic - 1], c[k, ic], c[k, ic + 1]
    den = y0 - 2 * y1 + y2
    d = np.where(den < 0, 0.5 * (y0 - y2) / np.where(den < 0, den, -1), 0.0)
    return np.where(inner, np.clip(d, -0.5, 0.5), 0.0)


def median_beat(
    signal: np.ndarray, fs: float, cfg: Mapping | None = None, name: str = "signal"
) -> tuple[np.ndarray, dict]:
    """Median beat (leads x length float32, R at pre_r, output rate cfg fs) and its QC.

    QC: n_beats_detected, n_beats_used, corr_mean / corr_min (Pearson over all leads of each
    used beat with the median, over the window each beat covers), heart_rate (bpm, median RR).
    Fewer than min_beats usable beats raises BeatDetectionError (an InputError) naming ``name``.
    """
    cfg = _check_cross_keys(section("ecg.median_beat", cfg))
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise InputError(f"{name}: expected a leads x samples array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise InputError(f"{name}: signal holds NaN or inf")
    if not fs > 0:
        raise InputError(f"{name}: sampling rate must be > 0 (got {fs})")
    fs_out = float(cfg["fs"])
    length, pre_r = int(cfg["length"]), int(cfg["pre_r"])
    x = _resample(x, float(fs), fs_out)
    if x.shape[1] < int(0.5 * fs_out):
        raise BeatDetectionError(f"{name}: record shorter than 0.5 s")
    x = x - np.median(x, axis=1, keepdims=True)
    x = _filter(x, fs_out, cfg)
    r = _detect(x, fs_out, cfg)
    n_detected = int(r.size)
    min_beats = int(cfg["min_beats"])
    if n_detected < max(min_beats, 2):
        raise BeatDetectionError(
            f"{name}: {n_detected} beats detected, at least {max(min_beats, 2)} needed"
        )
    split = float(cfg["split_fraction"])
    pr_knot = _pr_knot(x, r, fs_out, float(cfg["knot_before_qrs_s"]))
    if cfg["baseline"] == "spline":
        tp = r[:-1] + split * np.diff(r) if cfg["tp_knots"] else np.zeros(0)
        x = x - _spline_baseline(x, r - pr_knot, tp, fs_out)

    cut = _Cutter(x)
    offsets = np.arange(length, dtype=float) - pre_r
    a_win, b_win = (np.asarray(cfg["align_window_s"], dtype=float) * fs_out).round().astype(int)
    win = np.arange(a_win, b_win + 1)
    max_lag = max(1, int(round(float(cfg["max_lag_s"]) * fs_out)))
    lags = np.arange(-max_lag, max_lag + 1)

    rr = np.diff(r).astype(float)
    rr_med = float(np.median(rr))
    prev_rr = np.concatenate([[np.inf], rr])
    next_rr = np.concatenate([rr, [rr_med]])
    before = np.concatenate([[rr_med], rr])
    # a beat's own samples: up to where its neighbours begin (their extent around their R
    # peaks); where neighbouring extents overlap, the boundary is split_fraction of the RR
    ext_pre, ext_post = (float(e) * fs_out for e in cfg["beat_extent_s"])
    lim_after = np.maximum(split * next_rr, next_rr - ext_pre)
    lim_before = np.maximum((1 - split) * before, before - ext_post)
    premature = prev_rr < float(cfg["premature_ratio"]) * rr_med

    def windows(pos: np.ndarray, idx: np.ndarray) -> np.ndarray:
        beats = cut(pos[idx], offsets)
        if cfg["isolate"]:
            rel = offsets[None, :]
            outside = (rel <= -lim_before[idx, None]) | (rel >= lim_after[idx, None])
            beats[np.broadcast_to(outside[:, None, :], beats.shape)] = np.nan
        return beats

    def template(pos: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return _nanmedian0(windows(pos, idx))

    # beats whose QRS window (with the largest lags) lies inside the record can be aligned
    margin = max_lag * (int(cfg["iterations"]) + 2)
    usable = (r + a_win - margin >= 0) & (r + b_win + margin < x.shape[1])
    pos = r.astype(float)
    keep = usable & ~premature
    if keep.sum() < min_beats:
        raise BeatDetectionError(
            f"{name}: {int(keep.sum())} usable beats of {n_detected} detected, "
            f"at least {min_beats} needed"
        )
    corr = np.zeros(r.size)
    for _ in range(int(cfg["iterations"])):
        tmpl = template(pos, np.flatnonzero(keep))[:, pre_r + win]
        if not np.isfinite(tmpl).all():
            break
        idx = np.flatnonzero(usable)
        base = np.round(pos[idx]).astype(int)
        where = base[:, None, None] + lags[None, :, None] + win[None, None, :]
        segs = x[:, where].transpose(1, 2, 0, 3)  # beats x lags x leads x window
        c = _pearson(segs, tmpl)
        best = np.argmax(c, axis=1)
        pos[idx] = base + lags[best] + _parabolic(c, best)
        corr[:] = -1.0
        corr[idx] = c[np.arange(idx.size), best]
        keep = usable & ~premature & (corr >= float(cfg["min_corr"]))
        if keep.sum() < min_beats:
            raise BeatDetectionError(
                f"{name}: {int(keep.sum())} beats correlate >= {cfg['min_corr']} with the "
                f"median of {n_detected} detected, at least {min_beats} needed"
            )
    used = np.flatnonzero(keep)

    # fiducial: spatial-magnitude peak of the median at pre_r (sub-sample)
    med = template(pos, used)
    mag = np.nan_to_num((med**2).sum(axis=0), nan=0.0)
    a, b = max(0, pre_r - max_lag), min(length, pre_r + max_lag + 1)
    peak = a + int(np.argmax(mag[a:b]))
    shift = peak - pre_r + float(_parabolic(mag[None, :], np.array([peak]))[0])
    pos = pos + shift
    beats = windows(pos, used)
    med = _nanmedian0(beats)
    knot = pre_r - pr_knot
    ka = int(np.clip(round(knot - 0.01 * fs_out), 0, length - 1))
    kb = int(np.clip(round(knot + 0.01 * fs_out) + 1, ka + 1, length))
    level = np.nanmean(med[:, ka:kb], axis=1, keepdims=True)
    med = _fill_edges(med - np.nan_to_num(level), max(1, int(0.02 * fs_out)))

    corrs = []
    for beat in beats:
        ok = np.isfinite(beat[0])
        corrs.append(float(_pearson(beat[:, ok], med[:, ok])) if ok.sum() > 2 else np.nan)
    corrs = np.asarray(corrs)
    qc = {
        "n_beats_detected": n_detected,
        "n_beats_used": int(used.size),
        "corr_mean": float(np.nanmean(corrs)),
        "corr_min": float(np.nanmin(corrs)),
        "heart_rate": float(60.0 * fs_out / np.median(np.diff(pos))),
    }
    return med.astype(np.float32), qc


def _fill_edges(m: np.ndarray, k: int) -> np.ndarray:
    """Fill the uncovered (NaN) start and end of each lead with the mean of the k covered
    samples next to them (the level between beats); 0 where nothing is covered."""
    ok = np.isfinite(m).all(axis=0)
    if ok.all():
        return m
    if not ok.any():
        return np.zeros_like(m)
    m = m.copy()
    first, last = int(np.argmax(ok)), m.shape[1] - 1 - int(np.argmax(ok[::-1]))
    m[:, :first] = m[:, first : first + k].mean(axis=1, keepdims=True)
    m[:, last + 1 :] = m[:, max(first, last + 1 - k) : last + 1].mean(axis=1, keepdims=True)
    return np.nan_to_num(m, nan=0.0)


def median_beat_record(path: str | Path, cfg: Mapping | None = None) -> tuple[np.ndarray, dict]:
    """Read a WFDB record and return its median beat and QC (errors name the record)."""
    sig, fs, _ = read_record(path)
    return median_beat(sig, fs, cfg, name=str(record_paths(path)))
