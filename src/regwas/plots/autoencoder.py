"""Autoencoder figures: the training curve (train and held-out MSE against the mean
predictor's) and a few held-out people's inputs beside their reconstructions.

They read what the represent stage wrote beside the embeddings (``training_log.tsv`` and
``reconstruction_examples.npz``), so drawing never needs torch or the model.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from regwas.config.schema import section
from regwas.errors import InputError
from regwas.io.tables import read_tsv
from regwas.plots.common import check_columns, save_figure

log = logging.getLogger(__name__)

TRAINING_COLUMNS = ("step", "train_mse", "val_mse", "val_mean_predictor_mse")
EXAMPLE_KEYS = ("sample_id", "input", "reconstruction", "mse")


def read_examples(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of a reconstruction_examples.npz, checked."""
    try:
        with np.load(path, allow_pickle=False) as f:
            out = {k: f[k] for k in f.files}
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: not a readable .npz ({err})") from None
    missing = [k for k in EXAMPLE_KEYS if k not in out]
    if missing:
        raise InputError(f"{path}: missing arrays {', '.join(missing)}")
    if out["input"].shape != out["reconstruction"].shape or len(out["input"]) == 0:
        raise InputError(
            f"{path}: inputs {out['input'].shape} and reconstructions "
            f"{out['reconstruction'].shape} must have the same non-empty shape"
        )
    return out


def _draw_training(ax, log_table: pd.DataFrame) -> None:
    ax.plot(log_table["step"], log_table["train_mse"], color="C0", label="training")
    ax.plot(log_table["step"], log_table["val_mse"], color="C1", label="held-out")
    ax.plot(
        log_table["step"],
        log_table["val_mean_predictor_mse"],
        color="0.5",
        ls="--",
        label="held-out, mean predictor",
    )
    best = log_table.loc[log_table["val_mse"].idxmin()]
    ax.axvline(best["step"], color="C1", lw=0.6, ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("MSE (standardised units)")
    ax.legend(fontsize=7, frameon=False)
    ax.set_title(f"training (best held-out MSE {best['val_mse']:.3g} at step {best['step']:.0f})")


def _as_image(row: np.ndarray) -> np.ndarray:
    """A 2D view: the image itself, the middle slice of a volume, the middle frame of a cine."""
    a = np.asarray(row, dtype=np.float64)
    a = a.reshape([s for s in a.shape if s > 1] or [1])
    while a.ndim > 2:
        a = a[..., a.shape[-1] // 2]
    return a


def _is_signal(x: np.ndarray) -> bool:
    """Channels x samples (ECG-like) rather than an image: few rows, many columns."""
    return x.ndim == 2 and x.shape[0] < x.shape[1] // 4


def _draw_signal(ax, x: np.ndarray, xr: np.ndarray, sid: str, mse: float) -> None:
    offsets = np.arange(x.shape[0])[::-1] * (np.ptp(x) or 1.0)
    for c in range(x.shape[0]):
        ax.plot(x[c] + offsets[c], color="0.2", lw=0.5)
        ax.plot(xr[c] + offsets[c], color="C3", lw=0.5)
    ax.set_yticks([])
    ax.set_xlabel("sample")
    ax.set_title(f"{sid}: input (grey), reconstruction (red); MSE {mse:.3g}", fontsize=8)


def _draw_images(ax_in, ax_out, x: np.ndarray, xr: np.ndarray, sid: str, mse: float) -> None:
    a, b = _as_image(x), _as_image(xr)
    lo, hi = np.percentile(a, [1, 99])
    for ax, img, what in ((ax_in, a, "input"), (ax_out, b, f"reconstruction, MSE {mse:.3g}")):
        ax.imshow(np.flipud(img.T), cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_axis_off()
        ax.set_title(f"{sid}: {what}", fontsize=8)


def autoencoder_figure(
    training_log: pd.DataFrame, examples: dict[str, np.ndarray], title: str | None = None
):
    """The training curve on top; below, each example person's input and reconstruction
    (signals overlaid in one panel, images side by side)."""
    check_columns(training_log, TRAINING_COLUMNS, "training log")
    if training_log.empty:
        raise InputError("training log: no evaluation rows (training ran no evaluation step)")
    n = len(examples["sample_id"])
    signal = _is_signal(np.asarray(examples["input"][0]).squeeze())
    fig = Figure(figsize=(9.0, 3.0 + (2.2 if signal else 3.0) * n), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(1 + n, 2)
    _draw_training(fig.add_subplot(grid[0, :]), training_log)
    for i in range(n):
        x = np.asarray(examples["input"][i], dtype=np.float64)
        xr = np.asarray(examples["reconstruction"][i], dtype=np.float64)
        sid, mse = str(examples["sample_id"][i]), float(examples["mse"][i])
        if signal:
            _draw_signal(fig.add_subplot(grid[i + 1, :]), x.squeeze(), xr.squeeze(), sid, mse)
        else:
            ax_in, ax_out = fig.add_subplot(grid[i + 1, 0]), fig.add_subplot(grid[i + 1, 1])
            _draw_images(ax_in, ax_out, x, xr, sid, mse)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def autoencoder_plots(
    training_log: str | os.PathLike,
    examples: str | os.PathLike,
    out_prefix: str | os.PathLike,
    title: str | None = None,
    config: dict | None = None,
) -> list[Path]:
    """Draw :func:`autoencoder_figure` from the files the represent stage wrote and write
    ``out_prefix``.png and .pdf atomically."""
    cfg = section("plots", config)
    table = read_tsv(training_log)
    fig = autoencoder_figure(table, read_examples(examples), title)
    return save_figure(fig, out_prefix, int(cfg["dpi"]))
