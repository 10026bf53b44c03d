"""DeepCycle: registration of cine series to the cardiac cycle through one periodic latent.

Registration here reparameterises time: every frame gets an angle theta on the unit circle (its
cycle phase) and each subject's frames are resampled onto a common phase grid, so row k of
every registered cine shows the same point of the cycle (whatever the start phase and heart
rate of the scan).

Model (after Riba et al. 2022 and what the toy experiments in FACTS.md showed works):

- the encoder is a small CNN that sees, per frame, three channels: the frame minus the
  subject's mean frame, the temporal derivative (next frame minus previous, circularly: a
  cine covers exactly one cycle) and the mean frame itself; it outputs a 2-vector whose angle
  is theta. The derivative is needed: at equal contraction a systolic and a diastolic frame
  look alike, only the direction of motion tells them apart. With ``harmonics`` k > 0 it also
  sees the magnitudes of the first k temporal Fourier harmonics of every pixel over the cine:
  they do not change with the start phase, but they describe the shape of the whole cycle
  (e.g. how long systole lasts), which one frame does not show;
- the decoder gets (cos theta, sin theta) and a 16-d code of the subject's mean frame and
  outputs a residual; the reconstruction is mean + residual (subject conditioning: theta need
  not encode anatomy);
- stage 1 regresses the rough phase 2 pi t / T (frame index) so that theta winds exactly once
  per cycle (the winding number cannot change by gradient descent afterwards); since the start
  phase is random and not visible in a frame, the best the encoder can do is the phase the
  frame shows, shifted by the mean start phase;
- stage 2 (optional) trains the autoencoder (reconstruction) with the stage-1 loss kept at a
  small weight.

Reading the phase of a cine (``smooth_phase``; opt-in, ``cardiac.deepcycle.phase_harmonics``:
the workflow resamples along the per-frame theta by default): the frames of a cine are evenly spaced over
exactly one RR interval, so its true (time) phase is start + t / T and only the start is
unknown. The per-frame theta follows the contraction a frame shows, which at a given time
phase differs between people (the systolic fraction of RR varies with heart rate), and it is
noisy and stalls where frames look alike (diastasis): used as it is, its error against the
time phase was no better than frame index (README, "Cardiac cine and DXA"). So the phase is
2 pi t / T + o_i + w_i(t): one offset per cine, the circular mean of theta_i(t) - 2 pi t / T
over its frames (T noisy readings of the start phase averaged), and a smooth time warp w_i,
the deviation of theta from that kept up to a few temporal harmonics (default 1). The warp
keeps what makes the registration useful beyond the start phase: the end-systolic frame on
one row of the grid whatever the heart rate (with the pure shift, as with the true time phase,
PCA no longer reads the ejection fraction). On 1,994 people even the one-harmonic warp left the
ejection fraction unreadable (probe R2 0.02 against 0.41 with the per-frame theta; README), so
it is not the default.

QC per subject (``phase_qc``): the winding number (sum of wrapped steps of theta over the
cycle, last frame back to the first, / 2 pi), the share of forward steps, and, when the true
phase is known (simulation), the circular concordance |mean exp(i (theta - phi))| (1 = theta
follows the true phase up to a constant shift) and the absolute circular error after one
global offset for the whole cohort (the error of the common phase grid).
The frame-index phase 2 pi t / T is the baseline: its per-subject concordance is exact when the
frames are evenly spaced in time, but its global error is the spread of the start phases.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from regwas.errors import InputError
from regwas.register.image.nifti import load_nifti

log = logging.getLogger(__name__)


def read_cine(path: str | Path, sample_id: str = "") -> tuple[np.ndarray, float, np.ndarray]:
    """(frames (T, X, Y) float32, frame interval ms, affine) of a cine NIfTI (x, y, 1, t).

    InputError naming the sample and file when it is missing or unreadable, has no time axis,
    or no frame interval in pixdim[4]."""
    who = f"cine of sample {sample_id}: {path}" if sample_id else f"cine {path}"
    img, data = load_nifti(path, who, np.float32)
    if data.ndim != 4 or data.shape[2] != 1 or data.shape[3] < 4:
        raise InputError(
            f"{who}: expected shape (x, y, 1, t) with t >= 4 frames on the time axis, "
            f"got {data.shape}"
        )
    zooms = img.header.get_zooms()
    frame = float(zooms[3]) if len(zooms) > 3 else 0.0
    if not np.isfinite(frame) or frame <= 0:
        raise InputError(f"{who}: no frame interval (pixdim[4] is {frame})")
    if img.header.get_xyzt_units()[1] == "sec":
        frame *= 1000.0
    if not np.isfinite(data).all():
        raise InputError(f"{who}: NaN/inf voxels")
    return np.moveaxis(data[:, :, 0, :], -1, 0), frame, np.asarray(img.affine)


def prepare(frames: np.ndarray, size: int = 32) -> np.ndarray:
    """Frames (T, X, Y) -> (T, size, size) float32, area-downsampled and scaled by the
    subject's 99th percentile (removes the intensity gain)."""
    x = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32))[:, None]
    x = F.adaptive_avg_pool2d(x, size)[:, 0]
    scale = torch.quantile(x.flatten(), 0.99).clamp_min(1e-6)
    return (x / scale).numpy()


def _inputs(cines: torch.Tensor, harmonics: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(encoder input (B, T, 3 + harmonics, H, W), mean frames (B, 1, H, W)) of cines
    (B, T, H, W)."""
    mean = cines.mean(dim=1, keepdim=True)
    deriv = torch.roll(cines, -1, dims=1) - torch.roll(cines, 1, dims=1)
    chans = [cines - mean, deriv, mean.expand_as(cines)]
    if harmonics:
        t = cines.shape[1]
        mag = torch.fft.rfft(cines, dim=1).abs()[:, 1 : harmonics + 1] * (2.0 / t)
        chans += [m.unsqueeze(1).expand_as(cines) for m in mag.unbind(1)]
    x = torch.stack(chans, dim=2)
    return x, mean


class DeepCycle(nn.Module):
    """Encoder to one angle, subject-conditioned decoder (see the module docstring)."""

    def __init__(self, size: int = 32, width: int = 16, code: int = 16, harmonics: int = 0):
        super().__init__()
        if size % 8:
            raise ValueError("size must be a multiple of 8")
        w = width
        self.size = size
        self.harmonics = harmonics

        def down(cin: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, w, 3, padding=1),
                nn.GELU(),
                nn.Conv2d(w, 2 * w, 3, stride=2, padding=1),
                nn.GELU(),
                nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1),
                nn.GELU(),
                nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1),
                nn.GELU(),
                nn.Flatten(),
            )

        flat = 2 * w * (size // 8) ** 2
        self.encoder = nn.Sequential(
            down(3 + harmonics), nn.Linear(flat, 64), nn.GELU(), nn.Linear(64, 2)
        )
        self.mean_code = nn.Sequential(down(1), nn.Linear(flat, code))
        self.decoder_in = nn.Sequential(nn.Linear(2 + code, flat), nn.GELU())
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(2 * w, 2 * w, 4, stride=2, padding=1),
            nn.GELU(),
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1),
            nn.GELU(),
            nn.ConvTranspose2d(w, w, 4, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(w, 1, 3, padding=1),
        )
        self.width = w

    def encode(self, cines: torch.Tensor) -> torch.Tensor:
        """Unit vectors (B, T, 2) of cines (B, T, H, W)."""
        x, _ = _inputs(cines, self.harmonics)
        b, t = x.shape[:2]
        z = self.encoder(x.flatten(0, 1)).view(b, t, 2)
        return z / z.norm(dim=-1, keepdim=True).clamp_min(1e-6)

    def forward(self, cines: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(unit vectors (B, T, 2), reconstructions (B, T, H, W))."""
        x, mean = _inputs(cines, self.harmonics)
        b, t = x.shape[:2]
        z = self.encoder(x.flatten(0, 1)).view(b, t, 2)
        u = z / z.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        code = self.mean_code(mean).unsqueeze(1).expand(b, t, -1)
        h = self.decoder_in(torch.cat([u, code], dim=-1).flatten(0, 1))
        s = self.size // 8
        res = self.decoder(h.view(b * t, 2 * self.width, s, s)).view(b, t, self.size, self.size)
        return u, mean + res


@dataclass
class TrainLog:
    seconds: float
    stage1_loss: float
    stage2_loss: float


def train(
    cines: np.ndarray,
    stage1_steps: int = 300,
    stage2_steps: int = 200,
    batch: int = 8,
    lr: float = 2e-3,
    stage1_weight: float = 0.1,
    seed: int = 0,
    width: int = 16,
    harmonics: int = 0,
) -> tuple[DeepCycle, TrainLog]:
    """Train on prepared cines (N, T, H, W) (same T for all; see ``prepare``); ``harmonics``:
    the encoder also sees the magnitudes of the first that many temporal harmonics of every
    pixel (module docstring)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    data = torch.from_numpy(np.ascontiguousarray(cines, dtype=np.float32))
    n, t = data.shape[:2]
    model = DeepCycle(size=data.shape[-1], width=width, harmonics=harmonics)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    ang = 2 * math.pi * torch.arange(t) / t
    target = torch.stack([torch.cos(ang), torch.sin(ang)], dim=-1)  # (T, 2)
    t0 = time.perf_counter()
    l1 = l2 = float("nan")
    for step in range(stage1_steps + stage2_steps):
        idx = torch.from_numpy(rng.choice(n, size=min(batch, n), replace=False))
        xb = data[idx]
        if step < stage1_steps:
            u = model.encode(xb)
            loss = ((u - target) ** 2).sum(-1).mean()
            l1 = float(loss.detach())
        else:
            u, rec = model(xb)
            loss = F.mse_loss(rec, xb) * 100 + stage1_weight * ((u - target) ** 2).sum(-1).mean()
            l2 = float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, TrainLog(time.perf_counter() - t0, l1, l2)


@torch.no_grad()
def phases(model: DeepCycle, cines: np.ndarray) -> np.ndarray:
    """theta (N, T) in [0, 2 pi) of prepared cines."""
    model.eval()
    u = model.encode(torch.from_numpy(np.ascontiguousarray(cines, dtype=np.float32)))
    return np.mod(np.arctan2(u[..., 1].numpy(), u[..., 0].numpy()), 2 * np.pi)


def frame_index_phase(n: int, t: int) -> np.ndarray:
    """The baseline: theta = 2 pi t / T for every subject (N, T)."""
    return np.tile(2 * np.pi * np.arange(t) / t, (n, 1))


def smooth_phase(theta: np.ndarray, harmonics: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(phase in [0, 2 pi) (N, T), offsets o_i (N,)) of per-frame theta (N, T): the phase of
    cine i is 2 pi t / T + o_i + w_i(t). o_i is the circular mean over the frames of
    theta_i(t) - 2 pi t / T, i.e. the start phase of the cine as the encoder reads it from all
    its frames together (the frames are evenly spaced over one cycle). w_i is the cine's
    deviation theta_i(t) - 2 pi t / T - o_i (wrapped) kept up to its ``harmonics``-th
    temporal Fourier harmonic: a smooth time warp that moves the frames to the contraction
    they show (0: no warp, a pure time shift)."""
    if harmonics < 0:
        raise ValueError("harmonics must be >= 0")
    n, t = theta.shape
    base = frame_index_phase(n, t)
    offset = np.angle(np.exp(1j * (theta - base)).mean(axis=1))
    shifted = base + offset[:, None]
    if harmonics:
        spec = np.fft.rfft(_wrap(theta - shifted), axis=1)
        spec[:, 0] = 0
        spec[:, harmonics + 1 :] = 0
        shifted = shifted + np.fft.irfft(spec, n=t, axis=1)
    return np.mod(shifted, 2 * np.pi), offset


def _wrap(a: np.ndarray) -> np.ndarray:
    return np.angle(np.exp(1j * a))


def phase_qc(theta: np.ndarray, true_phase: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-subject QC of theta (N, T): winding, forward share; with the true phase (N, T,
    radians): concordance and absolute error (degrees) after one global offset."""
    steps = _wrap(np.diff(np.concatenate([theta, theta[:, :1]], axis=1), axis=1))
    out = {
        "winding": np.round(steps.sum(axis=1) / (2 * np.pi)).astype(int),
        "forward_share": (steps > 0).mean(axis=1),
    }
    if true_phase is not None:
        diff = np.exp(1j * (theta - true_phase))
        out["concordance"] = np.abs(diff.mean(axis=1))
        offset = np.angle(diff.mean())
        err = np.abs(_wrap(theta - true_phase - offset))
        out["error_deg"] = np.degrees(err.mean(axis=1))
    return out


def resample_to_grid(frames: np.ndarray, theta: np.ndarray, k: int | None = None) -> np.ndarray:
    """Frames (T, ...) of one subject at the common phases 2 pi j / k (j = 0..k-1), by linear
    interpolation between the frames that bracket each phase along a monotone theta (theta is
    unwrapped, made non-decreasing and assumed to wind once; QC first)."""
    t = len(theta)
    k = t if k is None else k
    steps = np.clip(_wrap(np.diff(theta)), 0, None)  # backward steps become 0: monotone
    unwrapped = theta[0] + np.concatenate([[0.0], np.cumsum(steps)])
    # close the loop: frame 0 again one turn later
    knots = np.concatenate([unwrapped, [theta[0] + 2 * np.pi]])
    knots = np.maximum.accumulate(knots)
    flat = frames.reshape(t, -1)
    flat = np.concatenate([flat, flat[:1]], axis=0)
    grid = 2 * np.pi * np.arange(k) / k
    pos = np.mod(grid - theta[0], 2 * np.pi) + theta[0]  # grid phases within the knot range
    j = np.clip(np.searchsorted(knots, pos, side="right") - 1, 0, t - 1)
    span = np.maximum(knots[j + 1] - knots[j], 1e-9)
    w = np.clip((pos - knots[j]) / span, 0.0, 1.0)[:, None]
    out = (1 - w) * flat[j] + w * flat[j + 1]
    return out.reshape(k, *frames.shape[1:]).astype(np.float32)
