"""The MNI152 brain template, shared reference data of the brain simulator and of brain
registration: nilearn's 2 mm MNI152 2009a T1, GM, WM and brain mask (shipped inside nilearn,
read offline), with a T2-like contrast and tissue labels (CSF, GM, WM, ventricles) derived
from them. Cite Fonov et al. 2009 and 2011 (README)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

T2_INTENSITY: dict[str, float] = {"csf": 1.0, "gm": 0.55, "wm": 0.3}


@dataclass(frozen=True)
class Template:
    """The 2 mm MNI152 template arrays the subjects are rendered from."""

    t1: np.ndarray  # float32 (99, 117, 95)
    t2: np.ndarray  # float32
    labels: np.ndarray  # uint8, values in LABELS
    affine: np.ndarray  # 4x4 float64
    bbox_mm: np.ndarray  # (2, 3) world min / max of the voxels that are non-zero anywhere


def _ventricle_mask(csf_label: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Connected CSF components that fill the box around the lateral ventricle bodies."""
    comps, n = ndi.label(csf_label)
    ijk = np.indices(csf_label.shape).reshape(3, -1)
    xyz = (affine[:3, :3] @ ijk + affine[:3, 3:4]).reshape((3, *csf_label.shape))
    box = (
        (np.abs(xyz[0]) <= 25) & (xyz[1] >= -30) & (xyz[1] <= 20) & (xyz[2] >= 15) & (xyz[2] <= 30)
    )
    in_box = np.bincount(comps[box], minlength=n + 1)
    in_box[0] = 0
    keep = np.flatnonzero(in_box >= 50)  # >= 0.4 ml of the component inside the box
    mask = np.isin(comps, keep)
    volume_ml = mask.sum() * abs(np.linalg.det(affine[:3, :3])) / 1000
    if not 5 <= volume_ml <= 60:
        raise RuntimeError(
            f"MNI152 lateral ventricles delineated as {volume_ml:.1f} ml: unexpected"
        )
    return mask


@functools.lru_cache(maxsize=1)
def load_template() -> Template:
    """Load nilearn's 2 mm MNI152 T1, GM, WM and brain mask (offline) and derive T2w + labels."""
    from nilearn import datasets  # slow import, only when needed

    t1_img = datasets.load_mni152_template(resolution=2)
    affine = np.asarray(t1_img.affine, dtype=np.float64)
    t1 = np.asarray(t1_img.get_fdata(), dtype=np.float32)
    gm = np.asarray(datasets.load_mni152_gm_template(resolution=2).get_fdata(), dtype=np.float32)
    wm = np.asarray(datasets.load_mni152_wm_template(resolution=2).get_fdata(), dtype=np.float32)
    mask = datasets.load_mni152_brain_mask(resolution=2).get_fdata() > 0.5
    gm = np.clip(gm, 0, 1) * mask
    wm = np.clip(wm, 0, 1) * mask
    csf = np.clip(mask - gm - wm, 0, 1)
    t2 = T2_INTENSITY["csf"] * csf + T2_INTENSITY["gm"] * gm + T2_INTENSITY["wm"] * wm
    labels = np.zeros(t1.shape, dtype=np.uint8)
    tissue = np.argmax(np.stack([csf, gm, wm]), axis=0).astype(np.uint8) + 1
    labels[mask] = tissue[mask]
    labels[_ventricle_mask(labels == 1, affine)] = 4
    t1[t1 < 1e-6] = 0.0  # the template carries ~1e-17 residues far outside the head
    nz = np.argwhere((labels > 0) | (t1 > 0))
    corners = np.stack([nz.min(0), nz.max(0)]).astype(float)
    world = corners @ affine[:3, :3].T + affine[:3, 3]
    bbox = np.stack([world.min(0), world.max(0)])
    return Template(t1=t1, t2=t2.astype(np.float32), labels=labels, affine=affine, bbox_mm=bbox)
