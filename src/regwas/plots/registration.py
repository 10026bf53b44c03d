"""Registration figures. Overlays (the seed paper's Figure 1): three people's images as the
red, green and blue channels of one picture, per space. Where the anatomy is aligned the
channels agree and the picture is grey; misalignment shows as colour fringes. Native first,
then each registered space, so the figure shows at a glance what registration removed. The
warp grid: the template with a regular grid deformed by one subject's non-rigid warp, per
method (ANTs SyN, VoxelMorph), over the warp's log-Jacobian."""

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


# --------------------------------------------------------------------------- warp grid

WARP_TITLES = {"ants_syn": "ANTs SyN", "voxelmorph": "VoxelMorph"}


def _in_plane(disp: np.ndarray) -> np.ndarray:
    """(2, H, W): the in-plane components of a 2D field, or of the middle axial slice of a 3D
    one (components along the first two axes)."""
    u = np.asarray(disp, dtype=np.float64)
    if u.ndim == 4:
        u = u[:2, :, :, u.shape[3] // 2]
    if u.ndim != 3 or u.shape[0] != 2:
        raise InputError(f"warp grid: a displacement field of shape {disp.shape} is not 2D or 3D")
    return u


def warp_grid_figure(
    template: np.ndarray,
    fields: Mapping[str, np.ndarray],
    sample_id: str = "",
    spacing: int = 5,
    config: dict | None = None,
):
    """One panel per method: the template with a regular grid (every ``spacing`` voxels) drawn
    through that method's warp of one subject, x -> x + u(x) (where each template point is
    read from the subject's affinely aligned image). Straight lines: no non-rigid motion; the
    colour behind is log det J of the warp (red: the subject is larger there, blue: smaller)."""
    section("plots", config)
    tpl = _plane(template)
    fig, axes = _new_figure(3.2 * len(fields), 3.8, 1, len(fields), squeeze=False)
    lo, hi = np.percentile(tpl, [1, 99])
    for ax, (method, disp) in zip(axes[0], fields.items(), strict=True):
        u = _in_plane(disp)
        if u.shape[1:] != tpl.shape:
            raise InputError(f"warp grid: {method} field {u.shape[1:]} vs template {tpl.shape}")
        g0, g1 = np.gradient(u[0]), np.gradient(u[1])
        det = (1 + g0[0]) * (1 + g1[1]) - g0[1] * g1[0]
        logj = np.log(np.clip(det, 1e-3, None))
        # array axis 0 is the image's horizontal axis, axis 1 its vertical (upright, as overlays)
        ax.imshow(tpl.T, cmap="gray", origin="lower", vmin=lo, vmax=hi, interpolation="nearest")
        lim = max(float(np.percentile(np.abs(logj), 99)), 1e-3)
        ax.imshow(logj.T, cmap="RdBu_r", origin="lower", vmin=-lim, vmax=lim, alpha=0.35)
        i, j = np.indices(tpl.shape)
        x, y = i + u[0], j + u[1]
        for k in range(0, tpl.shape[0], spacing):
            ax.plot(x[k, :], y[k, :], color="gold", lw=0.5)
        for k in range(0, tpl.shape[1], spacing):
            ax.plot(x[:, k], y[:, k], color="gold", lw=0.5)
        mag = np.sqrt((u**2).sum(axis=0))
        ax.set_title(
            f"{WARP_TITLES.get(method, method)}\nmax |u| {mag.max():.1f} vox, "
            f"det J {det.min():.2f}-{det.max():.2f}",
            fontsize=8,
        )
        ax.set_xlim(-0.5, tpl.shape[0] - 0.5)
        ax.set_ylim(-0.5, tpl.shape[1] - 0.5)
        ax.set_axis_off()
    fig.suptitle(f"template with the non-rigid warp of {sample_id}", fontsize=9)
    return fig


def warp_grid(
    example: str | os.PathLike, out_prefix: str | os.PathLike, config: dict | None = None
) -> list[Path]:
    """Draw :func:`warp_grid_figure` from a warp-example file (.npz: template, sample_id,
    methods, disp_<method>) and write ``out_prefix``.png and .pdf atomically."""
    path = Path(example)
    try:
        with np.load(path) as z:
            methods = [str(m) for m in z["methods"]]
            fields = {m: z[f"disp_{m}"] for m in methods}
            template, sid = z["template"], str(z["sample_id"])
    except (OSError, KeyError, ValueError) as err:
        raise InputError(f"{path}: not a readable warp-example file: {err}") from err
    fig = warp_grid_figure(template, fields, sid, config=config)
    return save_figure(fig, out_prefix, int(section("plots", config)["dpi"]))
