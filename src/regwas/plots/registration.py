"""Registration overlays (the seed paper's Figure 1): three people's images as the red, green
and blue channels of one picture, per space. Where the anatomy is aligned the channels agree
and the picture is grey; misalignment shows as colour fringes. Native first, then each
registered space, so the figure shows at a glance what registration removed."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from regwas.config.schema import section
from regwas.errors import InputError
from regwas.io.arraystore import ArrayStore
from regwas.plots.common import _new_figure, save_figure

log = logging.getLogger(__name__)


def _plane(row: np.ndarray) -> np.ndarray:
    """A 2D view of one stored image: the image itself, or the middle slice of a volume."""
    a = np.asarray(row, dtype=np.float64)
    a = a.reshape([s for s in a.shape if s > 1] or [1])
    if a.ndim == 3:
        a = a[:, :, a.shape[2] // 2]
    if a.ndim != 2:
        raise InputError(f"overlays need 2D images or 3D volumes, got a row of shape {row.shape}")
    return a


def rgb_overlay(images: Sequence[np.ndarray], low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """(H, W, 3) in [0, 1] from three 2D images, each scaled by its own robust range (the
    ``low`` and ``high`` percentiles) so intensity differences between people do not tint."""
    if len(images) != 3:
        raise ValueError(f"an RGB overlay needs 3 images, got {len(images)}")
    planes = []
    for image in images:
        a = _plane(image)
        lo, hi = np.percentile(a, [low, high])
        planes.append(np.clip((a - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.zeros_like(a))
    if len({p.shape for p in planes}) != 1:
        raise InputError(f"overlay images differ in shape: {[p.shape for p in planes]}")
    return np.stack(planes, axis=-1)


def overlay_subjects(stores: Mapping[str, ArrayStore], n: int = 3) -> list[str]:
    """The first ``n`` people (in the first store's order) that every store holds."""
    first = next(iter(stores.values()))
    common = set.intersection(*(set(s.sample_ids) for s in stores.values()))
    chosen = [s for s in first.sample_ids if s in common][:n]
    if len(chosen) < n:
        raise InputError(f"overlays: only {len(chosen)} people are in every space's store")
    return chosen


def overlay_figure(
    stores: Mapping[str, ArrayStore],
    subjects: Sequence[str] | None = None,
    title: str | None = None,
    config: dict | None = None,
):
    """One panel per space: ``subjects`` (default :func:`overlay_subjects`) as R, G and B."""
    section("plots", config)
    subjects = list(subjects) if subjects is not None else overlay_subjects(stores)
    fig, axes = _new_figure(3.0 * len(stores), 3.4, 1, len(stores), squeeze=False)
    axes = axes[0]
    for ax, (space, store) in zip(axes, stores.items(), strict=True):
        index = {s: i for i, s in enumerate(store.sample_ids)}
        missing = [s for s in subjects if s not in index]
        if missing:
            raise InputError(f"{store.dir}: no image for {', '.join(missing)}")
        rgb = rgb_overlay([store.data[index[s]] for s in subjects])
        # array rows are the image's first axis: show it upright (first axis vertical, flipped)
        ax.imshow(np.flipud(np.transpose(rgb, (1, 0, 2))), interpolation="nearest")
        ax.set_title(space, fontsize=10)
        ax.set_axis_off()
    fig.suptitle(title or f"R, G, B = {', '.join(subjects)}", fontsize=9)
    return fig


def overlays(
    store_dirs: Mapping[str, str | os.PathLike],
    out_prefix: str | os.PathLike,
    title: str | None = None,
    config: dict | None = None,
) -> list[Path]:
    """Draw :func:`overlay_figure` for the stores at ``store_dirs`` (space -> folder) and write
    ``out_prefix``.png and .pdf atomically."""
    stores = {space: ArrayStore(d) for space, d in store_dirs.items()}
    fig = overlay_figure(stores, title=title, config=config)
    return save_figure(fig, out_prefix, int(section("plots", config)["dpi"]))
