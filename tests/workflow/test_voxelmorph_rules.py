"""The VoxelMorph brain spaces in the workflow, on a tiny config: the plan (dry run) has the
training, inference and warp-example jobs; running them gives stores with one row per person,
qc.tsv rows with NCC before/after, Dice, folding and seconds, the training log, the warp-grid
figure; an interrupted training resumes from its checkpoint."""

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_helpers import snakemake, tiny_simulated_config

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("voxelmorph_rules")]

N = 24
CONFIG = tiny_simulated_config(
    "vxm-test",
    5,
    N,
    {"brain": ["native", "ants_affine", "ants_syn_jac", "voxelmorph", "voxelmorph_jac"]},
    brain={
        "chunk_size": 12,
        "voxelmorph": {
            "device": "cpu",
            "steps": 12,
            "batch_size": 4,
            "enc": [4, 8],
            "dec": [8, 8, 4],
            "log_every": 4,
            "checkpoint_every": 4,
            "batch_infer": 10,
        },
    },
)
TARGETS = [
    "results/brain/voxelmorph/qc_summary.tsv",
    "results/brain/voxelmorph_jac/data.npy",
    "results/plots/brain/warp_grid.png",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("vxm")
    config = workdir / "config.yaml"
    config.write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    args = ("--configfile", str(config), "--cores", "2")
    plan = snakemake(workdir, *args, "-n", *TARGETS, timeout=900).stdout
    snakemake(workdir, *args, *TARGETS, timeout=900)
    return workdir, args, plan


def test_dry_run_plans_training_inference_and_the_warp_figure(run):
    _, _, plan = run
    for rule in ("brain_voxelmorph_train", "brain_voxelmorph_apply", "brain_warp_example"):
        assert f"rule {rule}:" in plan or f"localrule {rule}:" in plan, rule
    assert "plot_warp_grid" in plan


def test_stores_and_qc(run):
    workdir, _, _ = run
    res = workdir / "results/brain"
    ids = list(pd.read_csv(res / "ants_affine/samples.tsv", sep="\t", dtype=str)["sample_id"])
    assert len(ids) == N
    affine = np.load(res / "ants_affine/data.npy", mmap_mode="r")
    labels = np.load(res / "ants_affine_labels/data.npy", mmap_mode="r")
    assert labels.dtype == np.uint8 and labels.shape == affine.shape
    assert set(np.unique(labels)) <= {0, 1, 2, 3, 4}
    for space in ("voxelmorph", "voxelmorph_jac"):
        data = np.load(res / f"{space}/data.npy", mmap_mode="r")
        assert data.shape == affine.shape and np.isfinite(data).all()
        order = pd.read_csv(res / f"{space}/samples.tsv", sep="\t", dtype=str)["sample_id"]
        assert list(order) == ids
        qc = pd.read_csv(res / f"{space}/qc.tsv", sep="\t", dtype={"sample_id": str})
        assert list(qc["sample_id"]) == ids and qc["ok"].all()
        cols = ["seconds", "ncc_before", "ncc_after", "dice_before", "dice_after"]
        assert qc[[*cols, "pct_nonpos_jac", "ncc_input", "dice_input"]].notna().all().all()
        # before = native (as for the ANTs spaces); input = the affine stage's image and labels
        aqc = pd.read_csv(res / "ants_affine/qc.tsv", sep="\t", dtype={"sample_id": str})
        np.testing.assert_allclose(qc["ncc_before"], aqc["ncc_before"], rtol=1e-6)
        np.testing.assert_allclose(qc["ncc_input"], aqc["ncc_after"], rtol=1e-4)
        np.testing.assert_allclose(qc["dice_input"], aqc["dice_after"], rtol=1e-4)
        assert (qc["dice_after"] > qc["dice_before"]).mean() > 0.9
        summary = pd.read_csv(res / f"{space}/qc_summary.tsv", sep="\t")
        assert {"dice_after", "ncc_after", "pct_nonpos_jac"} <= set(summary["metric"])
    # the warped image is the affine image warped by the field whose log det J is stored
    jac = np.load(res / "voxelmorph_jac/data.npy", mmap_mode="r")
    assert np.abs(jac).max() > 0


def test_training_log_checkpoint_and_figure(run):
    workdir, _, _ = run
    res = workdir / "results"
    hist = pd.read_csv(res / "brain/voxelmorph/registration_training.tsv", sep="\t")
    assert list(hist["step"]) == list(range(1, 13)) and hist["seconds"].is_monotonic_increasing
    log = (res / "logs/brain_voxelmorph_train.log").read_text()
    assert "step 12/12" in log and "step 4/12" in log
    assert "\r" not in log  # no progress bar in the log (stderr is not a terminal)
    assert (res / "brain/voxelmorph/registration_model.ckpt").exists()
    with np.load(res / "brain/warp_example.npz") as z:
        assert [str(m) for m in z["methods"]] == ["ants_syn", "voxelmorph"]
        assert z["disp_ants_syn"].shape == (2, *z["template"].shape)
        assert np.abs(z["disp_ants_syn"]).max() > 0.1  # SyN moved something
    assert (res / "plots/brain/warp_grid.pdf").stat().st_size > 1000


def test_longer_training_resumes_from_the_checkpoint(run):
    """More steps in the config: the training job reruns and continues from step 12."""
    workdir, _, _ = run
    longer = {**CONFIG, "brain": {**CONFIG["brain"]}}
    longer["brain"]["voxelmorph"] = {**CONFIG["brain"]["voxelmorph"], "steps": 16}
    config = workdir / "longer.yaml"
    config.write_text(yaml.safe_dump(longer, sort_keys=False))
    snakemake(
        workdir,
        "--configfile",
        str(config),
        "--cores",
        "2",
        "results/brain/voxelmorph/registration_model.pt",
        timeout=900,
    )
    log = (workdir / "results/logs/brain_voxelmorph_train.log").read_text()
    assert "resumed VoxelMorph training" in log and "at step 12" in log
    hist = pd.read_csv(workdir / "results/brain/voxelmorph/registration_training.tsv", sep="\t")
    assert list(hist["step"]) == list(range(1, 17))
