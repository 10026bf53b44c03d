"""One bad brain record in a real run: an image that passes the up-front checks (a whole,
readable NIfTI on the common grid) but is blank fails its registration; the run completes, the
subject is excluded from every brain space's comparison, and the exclusion table names it and
the registration's error (issue: one bad record never sinks a run)."""

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_helpers import snakemake, tiny_simulated_config

pytestmark = pytest.mark.slow

N = 40
CONFIG = tiny_simulated_config(
    "brain-bad-record",
    9,
    N,
    {"brain": ["native", "ants_affine"]},
    brain={"chunk_size": 20},
    represent={"latent_dim": 4},
    covariates=["age", "sex", "PC1", "PC2"],
    probes={"continuous": ["age"], "folds": 3},
)


def test_a_blank_brain_image_is_excluded_and_reported(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    args = ("--configfile", str(config), "--cores", "2")
    snakemake(tmp_path, *args, "results/simulated/brain.manifest.tsv", timeout=900)
    man = pd.read_csv(tmp_path / "results/simulated/brain.manifest.tsv", sep="\t", dtype=str)
    bad = man.iloc[3]
    path = Path(bad["path"])
    path = path if path.is_absolute() else tmp_path / "results/simulated" / path
    img = nib.load(path)
    blank = nib.Nifti1Image(np.zeros(img.shape, dtype=np.float32), img.affine, img.header)
    nib.save(blank, path)
    snakemake(tmp_path, *args, "results/comparison.tsv", timeout=900)
    res = tmp_path / "results"
    qc = pd.read_csv(res / "brain/ants_affine/qc.tsv", sep="\t", dtype={"sample_id": str})
    row = qc.set_index("sample_id").loc[bad["sample_id"]]
    assert not bool(row["ok"]) and isinstance(row["error"], str) and row["error"]
    excl = pd.read_csv(res / "brain/exclusions.tsv", sep="\t", dtype=str)
    hit = excl[excl["sample_id"] == bad["sample_id"]]
    assert list(hit["space"]) == ["ants_affine"] and hit["reason"].iloc[0] == row["error"]
    comp = pd.read_csv(res / "comparison.tsv", sep="\t")
    brain = comp[comp["modality"] == "brain"]
    assert (brain["n_excluded"] == 1).all() and (brain["n_compared"] == N - 1).all()
