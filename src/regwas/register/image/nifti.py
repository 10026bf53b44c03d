"""NIfTI images and their geometry for image registration.

Every image is read with its NIfTI affine (voxel -> RAS mm) and checked (readable, finite,
the expected dimensionality). ANTs (ITK) works in LPS physical space with spacing, origin and
direction; :class:`Grid` converts between the two so that no numpy round trip loses or flips
the geometry: ``x_lps = diag(-1, -1, 1) @ x_ras``, ``origin = x_lps(voxel 0)`` and
``direction = (A_lps / spacing)``. A 2D image is a NIfTI of shape (X, Y, 1) whose slice plane
is axial (the affine does not mix z with x, y); it registers as a 2D ANTs image and keeps the
slice's z row of the affine when written back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from regwas.errors import InputError

_LPS = np.diag([-1.0, -1.0, 1.0])


@dataclass(frozen=True)
class Grid:
    """A voxel grid: NIfTI shape (X, Y, Z; Z = 1 for a 2D slice) and 4x4 affine (RAS mm)."""

    shape: tuple[int, int, int]
    affine: np.ndarray

    @property
    def dims(self) -> int:
        return 2 if self.shape[2] == 1 else 3

    @property
    def array_shape(self) -> tuple[int, ...]:
        """Shape of a row in an array store: (X, Y) in 2D, (X, Y, Z) in 3D."""
        return self.shape[:2] if self.dims == 2 else self.shape

    @property
    def spacing(self) -> np.ndarray:
        return np.linalg.norm(self.affine[:3, :3], axis=0)

    def ants_geometry(self) -> tuple[tuple, tuple, np.ndarray]:
        """(spacing, origin, direction) of this grid in ANTs' LPS convention."""
        lin = _LPS @ self.affine[:3, :3]
        spacing = np.linalg.norm(lin, axis=0)
        direction = lin / spacing
        origin = _LPS @ self.affine[:3, 3]
        if self.dims == 2:
            if np.abs(self.affine[:2, 2]).max() > 1e-6 or np.abs(self.affine[2, :2]).max() > 1e-6:
                raise InputError("2D image: the affine mixes the slice axis with x/y (not axial)")
            return tuple(spacing[:2]), tuple(origin[:2]), direction[:2, :2]
        return tuple(spacing), tuple(origin), direction

    def to_ants(self, array: np.ndarray):
        """An ANTs image of ``array`` (row shape or NIfTI shape) on this grid."""
        import ants

        arr = np.asarray(array, dtype=np.float32).reshape(self.array_shape)
        spacing, origin, direction = self.ants_geometry()
        return ants.from_numpy(
            np.ascontiguousarray(arr), origin=origin, spacing=spacing, direction=direction
        )

    def from_ants(self, image) -> np.ndarray:
        """The array of an ANTs image that lies on this grid (checked), in row shape."""
        spacing, origin, direction = self.ants_geometry()
        ok = (
            tuple(image.shape) == self.array_shape
            and np.allclose(image.spacing, spacing, atol=1e-4)
            and np.allclose(image.origin, origin, atol=1e-3)
            and np.allclose(image.direction, direction, atol=1e-5)
        )
        if not ok:
            raise ValueError(
                f"ANTs image (shape {image.shape}, spacing {image.spacing}, origin "
                f"{image.origin}) is not on the grid {self.array_shape} {spacing} {origin}"
            )
        return np.asarray(image.numpy(), dtype=np.float32)

    def matches(self, other: Grid, atol: float = 1e-3) -> bool:
        return self.shape == other.shape and np.allclose(self.affine, other.affine, atol=atol)

    def save(self, array: np.ndarray, path: str | os.PathLike, dtype=np.float32) -> None:
        """Write ``array`` (row or NIfTI shape) on this grid as NIfTI (sform = qform = affine)."""
        from regwas.io.atomic import atomic_path

        img = nib.Nifti1Image(np.asarray(array, dtype=dtype).reshape(self.shape), self.affine)
        img.set_sform(self.affine, code=1)
        img.set_qform(self.affine, code=1)
        img.header.set_xyzt_units("mm")
        with atomic_path(path, suffix=".nii.gz") as tmp:
            nib.save(img, tmp)


def load_nifti(
    path: str | os.PathLike, who: str, dtype: type | None = None
) -> tuple[Any, np.ndarray]:
    """(nibabel image, voxel array) of a NIfTI file; InputError starting with ``who`` (which
    names the sample and file) when it is missing, truncated or corrupt."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{who}: file does not exist")
    try:
        img = nib.load(str(p))
        data = np.asarray(img.dataobj, dtype=dtype)
    except Exception as err:  # nibabel raises several types for truncated / corrupt files
        raise InputError(f"{who}: not a readable NIfTI ({type(err).__name__}: {err})") from None
    return img, data


def read_image(
    path: str | os.PathLike, sample_id: str = "", kind: str = "image", labels: bool = False
) -> tuple[np.ndarray, Grid]:
    """Read a 2D-slice or 3D NIfTI as (array in NIfTI shape, Grid).

    InputError names the sample and file when it is missing, corrupt, not 3D (a 4th axis of
    length 1 is dropped), or holds NaN/inf voxels; labels must be non-negative integers.
    """
    who = f"{kind} of sample {sample_id}: {path}" if sample_id else f"{kind} {path}"
    img, data = load_nifti(path, who)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim == 2:
        data = data[:, :, None]
    if data.ndim != 3:
        raise InputError(f"{who}: expected a 2D slice or a 3D volume, got shape {data.shape}")
    if labels:
        if not np.issubdtype(data.dtype, np.integer):
            if not np.all(np.isfinite(data)) or np.any(data != np.round(data)):
                raise InputError(f"{who}: label image holds non-integer values")
        data = data.astype(np.int16)
        if data.min() < 0:
            raise InputError(f"{who}: label image holds negative values")
    else:
        data = data.astype(np.float32)
        bad = ~np.isfinite(data)
        if bad.any():
            raise InputError(f"{who}: {int(bad.sum())} NaN/inf voxels")
    affine = np.asarray(img.affine, dtype=np.float64)
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise InputError(f"{who}: singular or non-finite affine")
    return data, Grid(tuple(int(s) for s in data.shape), affine)  # type: ignore[arg-type]


def resample_to_grid(
    array: np.ndarray, source: Grid, target: Grid, labels: bool = False
) -> np.ndarray:
    """Resample an image from its grid onto ``target`` in world space (identity transform).

    Linear interpolation (nearest neighbour for labels), zero outside. An image already on
    ``target`` is returned unchanged (no interpolation blur).
    """
    if source.matches(target, atol=1e-6):
        return np.asarray(array).reshape(target.array_shape)
    from scipy import ndimage as ndi

    ijk = np.indices(target.shape, dtype=np.float64).reshape(3, -1)
    vox = np.linalg.inv(source.affine) @ target.affine
    coords = vox[:3, :3] @ ijk + vox[:3, 3:4]
    src = np.asarray(array, dtype=np.float32).reshape(source.shape)
    if source.shape[2] == 1:  # a slice: the target plane must be the source plane
        if np.abs(coords[2]).max() > 0.5:
            raise InputError("2D image: its slice plane differs from the common grid's")
        coords[2] = 0.0
    out = ndi.map_coordinates(
        src, coords, order=0 if labels else 1, mode="constant", cval=0.0, prefilter=False
    )
    return out.reshape(target.array_shape).astype(np.float32)
