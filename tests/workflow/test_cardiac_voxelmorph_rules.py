"""The cardiac VoxelMorph spaces in the workflow, on a tiny simulated cardiac cohort: the rigid +
DeepCycle store, then training (log, checkpoint) and inference give voxelmorph and
voxelmorph_jac stores with one row per deepcycle cine, in its order, of its shape, with QC
(NCC before/after with the median-BMI exemplar, folding, seconds)."""

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_helpers import snakemake, tiny_simulated_config

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cardiac_voxelmorph_rules")]

N = 24
CONFIG = tiny_simulated_config(
    "cine-vxm-test",
    5,
    N,
    {"cardiac": ["native", "deepcycle", "voxelmorph", "voxelmorph_jac"]},
    cardiac={
        "size": 16,
        "deepcycle": {"size": 8, "stage1_steps": 5, "stage2_steps": 0, "threads": 1},
        "voxelmorph": {
            "device": "cpu",
            "steps": 12,
            "batch_size": 8,
            "train_subjects": 6,
            "enc": [4, 8],
            "dec": [8, 8, 4],
            "velocity_downsize": 1,
            "log_every": 4,
            "checkpoint_every": 4,
            "batch_infer": 100,
        },
    },
)
CONFIG["simulate"]["diseases"] = []
TARGETS = [
    "results/cardiac/voxelmorph/qc_summary.tsv",
    "results/cardiac/voxelmorph_jac/qc_summary.tsv",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("cine_vxm")
    config = workdir / "config.yaml"
    config.write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    snakemake(workdir, "--configfile", str(config), "--cores", "2", *TARGETS, timeout=900)
    return workdir


def test_stores_follow_the_deepcycle_store_with_qc(run):
    res = run / "results/cardiac"
    dc = np.load(res / "deepcycle/data.npy", mmap_mode="r")
    ids = list(pd.read_csv(res / "deepcycle/samples.tsv", sep="\t", dtype=str)["sample_id"])
    assert dc.shape[1:3] == (16, 16) and len(ids) == dc.shape[0] > 0
    for space in ("voxelmorph", "voxelmorph_jac"):
        data = np.load(res / f"{space}/data.npy", mmap_mode="r")
        assert data.shape == dc.shape and np.isfinite(data).all()
        order = pd.read_csv(res / f"{space}/samples.tsv", sep="\t", dtype=str)["sample_id"]
        assert list(order) == ids
        qc = pd.read_csv(res / f"{space}/qc.tsv", sep="\t", dtype={"sample_id": str})
        ok = qc[qc["ok"].astype(bool)]
        assert list(ok["sample_id"]) == ids
        cols = ["seconds", "ncc_before", "ncc_after", "pct_nonpos_jac"]
        assert ok[cols].notna().all().all() and ok["ncc_after"].between(-1, 1).all()
        summary = pd.read_csv(res / f"{space}/qc_summary.tsv", sep="\t")
        assert set(cols) <= set(summary["metric"])
    # the exemplar (median BMI, the deepcycle rigid step's too) starts identical to itself
    qc = pd.read_csv(res / "voxelmorph/qc.tsv", sep="\t", dtype={"sample_id": str})
    assert qc["ncc_before"].max() == pytest.approx(1.0, abs=1e-6)
    assert np.abs(np.load(res / "voxelmorph_jac/data.npy")).max() > 0


def test_training_log_and_checkpoint(run):
    res = run / "results"
    hist = pd.read_csv(res / "cardiac/voxelmorph/registration_training.tsv", sep="\t")
    assert list(hist["step"]) == list(range(1, 13))
    log = (res / "logs/cardiac_voxelmorph_train.log").read_text()
    assert "step 12/12" in log and "step 4/12" in log and "exemplar" in log
    assert (res / "cardiac/voxelmorph/registration_model.ckpt").exists()


def test_longer_training_resumes_and_reruns_no_deepcycle(run):
    """More VoxelMorph steps: the training reruns from its step-12 checkpoint, inference after
    it; the deepcycle store (whose params leave cardiac.voxelmorph out) does not."""
    longer = {**CONFIG, "cardiac": {**CONFIG["cardiac"]}}
    longer["cardiac"]["voxelmorph"] = {**CONFIG["cardiac"]["voxelmorph"], "steps": 16}
    config = run / "longer.yaml"
    config.write_text(yaml.safe_dump(longer, sort_keys=False))
    args = ("--configfile", str(config), "--cores", "2", *TARGETS)
    plan = snakemake(run, *args, "-n").stdout
    assert "cardiac_voxelmorph_train" in plan and "cardiac_voxelmorph_apply" in plan
    assert "cardiac_deepcycle" not in plan
    snakemake(run, *args, timeout=900)
    log = (run / "results/logs/cardiac_voxelmorph_train.log").read_text()
    assert "resumed VoxelMorph training" in log and "at step 12" in log
    hist = pd.read_csv(run / "results/cardiac/voxelmorph/registration_training.tsv", sep="\t")
    assert list(hist["step"]) == list(range(1, 17))
