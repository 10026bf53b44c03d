"""The cohort stage's checks of cine and DXA manifests: a cine without a time axis or frame
interval, a DXA image of the wrong shape and a manifest row with no file each stop the stage
with one error naming the sample and the file."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from regwas.cohort.checks import check_manifest_files
from regwas.errors import InputError


def _nifti(path, shape, zooms=None):
    img = nib.Nifti1Image(np.ones(shape, np.float32), np.eye(4))
    if zooms is not None:
        img.header.set_zooms(zooms)
    nib.save(img, path)
    return str(path)


def _manifest(paths: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({"sample_id": list(paths), "path": list(paths.values())})


def test_good_cines_and_dxa_images_pass(tmp_path):
    cines = {
        f"S{i}": _nifti(tmp_path / f"c{i}.nii.gz", (8, 8, 1, 6), (2, 2, 8, 40)) for i in range(3)
    }
    check_manifest_files(_manifest(cines), "cardiac", "cardiac.manifest.tsv")
    dxa = {f"S{i}": _nifti(tmp_path / f"d{i}.nii.gz", (6, 12, 1)) for i in range(3)}
    check_manifest_files(_manifest(dxa), "dxa", "dxa.manifest.tsv")


def test_a_cine_without_time_axis_is_named(tmp_path):
    paths = {
        f"S{i}": _nifti(tmp_path / f"c{i}.nii.gz", (8, 8, 1, 6), (2, 2, 8, 40)) for i in range(2)
    }
    paths["S9"] = _nifti(tmp_path / "flat.nii.gz", (8, 8, 6))
    with pytest.raises(InputError, match=r"sample S9.*flat\.nii\.gz.*time axis"):
        check_manifest_files(_manifest(paths), "cardiac", "cardiac.manifest.tsv")


def test_a_cine_without_frame_interval_is_named(tmp_path):
    paths = {"S1": _nifti(tmp_path / "c1.nii.gz", (8, 8, 1, 6), (2, 2, 8, 40))}
    paths["S2"] = _nifti(tmp_path / "nodt.nii.gz", (8, 8, 1, 6), (2, 2, 8, 0))
    with pytest.raises(InputError, match=r"sample S2.*nodt\.nii\.gz.*frame interval"):
        check_manifest_files(_manifest(paths), "cardiac", "cardiac.manifest.tsv")


def test_a_cine_with_another_frame_count_is_named(tmp_path):
    paths = {
        f"S{i}": _nifti(tmp_path / f"c{i}.nii.gz", (8, 8, 1, 6), (2, 2, 8, 40)) for i in range(3)
    }
    paths["S7"] = _nifti(tmp_path / "long.nii.gz", (8, 8, 1, 9), (2, 2, 8, 40))
    with pytest.raises(InputError, match=r"sample S7.*long\.nii\.gz.*\(8, 8, 9\).*\(8, 8, 6\)"):
        check_manifest_files(_manifest(paths), "cardiac", "cardiac.manifest.tsv")


def test_a_dxa_image_of_the_wrong_shape_is_named(tmp_path):
    paths = {f"S{i}": _nifti(tmp_path / f"d{i}.nii.gz", (6, 12, 1)) for i in range(3)}
    paths["S5"] = _nifti(tmp_path / "small.nii.gz", (6, 10, 1))
    with pytest.raises(InputError, match=r"sample S5.*small\.nii\.gz.*\(6, 10\).*\(6, 12\)"):
        check_manifest_files(_manifest(paths), "dxa", "dxa.manifest.tsv")
    paths["S5"] = _nifti(tmp_path / "vol.nii.gz", (6, 12, 4))
    with pytest.raises(InputError, match=r"sample S5.*vol\.nii\.gz.*must be 2D"):
        check_manifest_files(_manifest(paths), "dxa", "dxa.manifest.tsv")


def test_a_manifest_row_with_no_file_is_named(tmp_path):
    man = _manifest({"S1": _nifti(tmp_path / "d1.nii.gz", (6, 12, 1)), "S2": None})
    with pytest.raises(InputError, match=r"dxa manifest dxa\.manifest\.tsv: sample S2 has no file"):
        check_manifest_files(man, "dxa", "dxa.manifest.tsv")
    man = _manifest(
        {"S1": _nifti(tmp_path / "d1.nii.gz", (6, 12, 1)), "S3": str(tmp_path / "x.nii.gz")}
    )
    with pytest.raises(InputError, match=r"sample S3.*x\.nii\.gz: does not exist"):
        check_manifest_files(man, "dxa", "dxa.manifest.tsv")
