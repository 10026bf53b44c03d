"""The cohort stage's checks of the files a manifest names. Which checks a manifest gets
follows its modality: ecg records are checked as WFDB records (against cohort_qc.ecg_fs /
ecg_leads and each other), brain, cardiac and DXA files as images; each modality's planted bad
file is named with its sample, column and problem, and a manifest of another modality is
refused. A cine without a time axis or frame interval, a DXA image of the wrong shape and a
manifest row with no file each stop the stage with one error naming the sample and the file."""

from __future__ import annotations

import re

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import wfdb

from regwas.cohort.checks import check_manifest_files
from regwas.errors import InputError


def _record(folder, name, fs=100, leads=("I", "II"), n=200):
    rng = np.random.default_rng(len(name))
    wfdb.wrsamp(
        name,
        fs=fs,
        units=["mV"] * len(leads),
        sig_name=list(leads),
        p_signal=rng.normal(size=(n, len(leads))),
        fmt=["16"] * len(leads),
        write_dir=str(folder),
    )
    return str(folder / name)


def _nifti(path, shape, zooms=None):
    img = nib.Nifti1Image(np.ones(shape, np.float32), np.eye(4))
    if zooms is not None:
        img.header.set_zooms(zooms)
    nib.save(img, path)
    return str(path)


def _truncated_dat(folder, name):
    record = _record(folder, name)
    dat = folder / f"{name}.dat"
    dat.write_bytes(dat.read_bytes()[:100])
    return record


def _truncated_nii(folder, name):
    path = folder / f"{name}.nii"
    _nifti(path, (10, 10, 10))
    path.write_bytes(path.read_bytes()[:1000])
    return str(path)


GOOD = {
    "ecg": lambda d, i: _record(d, f"r{i}"),
    "brain": lambda d, i: _nifti(d / f"b{i}.nii.gz", (10, 10, 10)),
    "cardiac": lambda d, i: _nifti(d / f"c{i}.nii.gz", (8, 8, 1, 6), (2, 2, 8, 40)),
    "dxa": lambda d, i: _nifti(d / f"d{i}.nii.gz", (6, 12, 1)),
}
BAD = {
    # 200 samples x 2 leads x 2 bytes; a 352-byte header + 10^3 float32 voxels
    "ecg": (
        lambda d: _truncated_dat(d, "bad"),
        r"bad: truncated WFDB signal file \S*bad\.dat: 100 bytes, expected 800",
    ),
    "brain": (
        lambda d: _truncated_nii(d, "bad"),
        r"bad\.nii: truncated NIfTI: 1000 bytes, expected 4352",
    ),
    "cardiac": (lambda d: _nifti(d / "bad.nii.gz", (8, 8, 6)), r"bad\.nii\.gz: a cine needs"),
    "dxa": (lambda d: _nifti(d / "bad.nii.gz", (6, 12, 4)), r"bad\.nii\.gz: a DXA image must"),
}


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


@pytest.mark.parametrize("modality", sorted(GOOD))
def test_each_modality_names_its_bad_file(tmp_path, modality):
    paths = {f"S{i}": GOOD[modality](tmp_path, i) for i in range(3)}
    check_manifest_files(_manifest(paths), modality, f"{modality}.manifest.tsv")
    make_bad, problem = BAD[modality]
    paths["S7"] = make_bad(tmp_path)
    with pytest.raises(InputError) as err:
        check_manifest_files(_manifest(paths), modality, f"{modality}.manifest.tsv")
    msg = str(err.value)
    assert msg.startswith(f"{modality} manifest {modality}.manifest.tsv: 1 of 4 files")
    assert len(msg.splitlines()) == 2  # the bad file, and only it
    head = r"\n  sample S7, column 'path': \S*"
    assert re.search(head + problem, msg), msg


def test_the_ecg_settings_apply_to_ecg_records_only(tmp_path):
    """cohort_qc.ecg_fs / ecg_leads refuse records at another rate or with other leads; the
    images of the other modalities are not records and pass with the same settings."""
    ecg = {f"S{i}": GOOD["ecg"](tmp_path, i) for i in range(2)}
    settings = {"ecg_fs": 500.0, "ecg_leads": ["I", "II", "III"]}
    with pytest.raises(InputError) as err:
        check_manifest_files(_manifest(ecg), "ecg", "ecg.manifest.tsv", **settings)
    msg = str(err.value)
    assert "2 of 2 files" in msg and msg.count("100 Hz, but cohort_qc.ecg_fs is 500 Hz") == 2
    assert "leads (I,II), but cohort_qc.ecg_leads is (I,II,III)" in msg
    check_manifest_files(_manifest(ecg), "ecg", "ecg.manifest.tsv", ecg_fs=100.0)
    for modality in ("brain", "cardiac", "dxa"):
        images = {f"S{i}": GOOD[modality](tmp_path, i) for i in range(2)}
        check_manifest_files(_manifest(images), modality, f"{modality}.manifest.tsv", **settings)


def test_records_that_disagree_are_named_with_the_usual_one(tmp_path):
    paths = {f"S{i}": GOOD["ecg"](tmp_path, i) for i in range(3)}
    paths["S8"] = _record(tmp_path, "long", n=300)
    with pytest.raises(InputError) as err:
        check_manifest_files(_manifest(paths), "ecg", "ecg.manifest.tsv")
    assert (
        "sample S8, column 'path': " + str(tmp_path / "long") + ": 100 Hz, 300 samples, 2 leads "
        "(I,II); the other records have 100 Hz, 200 samples, 2 leads (I,II)"
    ) in str(err.value)


def test_a_manifest_of_another_modality_is_refused(tmp_path):
    man = _manifest({"S1": GOOD["brain"](tmp_path, 1)})
    with pytest.raises(InputError, match=r"^eeg manifest eeg\.manifest\.tsv: unknown modality"):
        check_manifest_files(man, "eeg", "eeg.manifest.tsv")
