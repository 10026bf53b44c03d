"""Dry runs (`snakemake -n`, nothing executes) of configs that change what the workflow
plans: the simulation without rendering, and the one source of the chromosome list."""

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def dry_run(tmp_path: Path, changes: dict, *args: str) -> tuple[int, str]:
    """`snakemake -n -p` of config/test.yaml with ``changes`` merged in (section by section)."""
    config = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    for section, values in changes.items():
        if isinstance(values, dict):
            config.setdefault(section, {}).update(values)
        elif values is None:
            config.pop(section, None)
        else:
            config[section] = values
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path / "wd")]
    result = subprocess.run(
        [*cmd, "--configfile", str(path), "-n", "-p", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result.returncode, result.stdout + result.stderr


def job_block(output: str, rule: str) -> str:
    return output.split(f"\nrule {rule}:", 1)[1].split("\n\n", 1)[0]


def test_simulation_without_rendering_declares_no_manifests(tmp_path):
    """simulate.render: false writes no manifests, so the rule declares none: the simulation
    alone plans fine, and the whole workflow stops before any job, naming the key."""
    code, out = dry_run(tmp_path, {"simulate": {"render": False}}, "results/simulated/samples.tsv")
    assert code == 0, out[-3000:]
    block = job_block(out, "simulate")
    assert "manifest" not in block and "genotypes/chr22.bed" in block
    code, out = dry_run(tmp_path, {"simulate": {"render": False}})
    assert code != 0
    assert "simulate.render is false" in out and "results/cohort" not in out.split("Error")[0]


def test_a_modality_that_is_not_simulated_stops_the_plan(tmp_path):
    code, out = dry_run(tmp_path, {"simulate": {"modalities": ["brain"]}})
    assert code != 0 and "modalities ['ecg'] are not simulated" in out


def test_chromosomes_default_to_the_simulated_ones(tmp_path):
    """Without `chromosomes`, a simulated cohort analyses every simulated chromosome
    (simulate.genotypes.n_chromosomes is the one source); naming one that is not simulated is
    an error before anything runs."""
    code, out = dry_run(
        tmp_path, {"chromosomes": None, "simulate": {"genotypes": {"n_chromosomes": 2}}}
    )
    assert code == 0, out[-3000:]
    gwas = [b for b in out.split("\nrule ")[1:] if b.startswith("gwas_chrom:")]
    assert sorted({b.split("chrom=")[1].split()[0] for b in gwas}) == ["1", "2"]
    assert len(gwas) == 4  # 2 spaces x 2 chromosomes
    assert "genotypes/chr3.bed" not in job_block(out, "simulate")
    code, out = dry_run(
        tmp_path, {"chromosomes": [1, 3], "simulate": {"genotypes": {"n_chromosomes": 2}}}
    )
    assert code != 0 and "chromosomes ['3'] are not simulated" in out


def test_voxelmorph_spaces_plan_with_the_autoencoder(tmp_path):
    """The VoxelMorph spaces plan training, inference, the affine-stage labels and the warp
    grid, and their registration model is not confused with the autoencoder's model.pt of the
    voxelmorph space (represent.method: autoencoder, as config/gpu.yaml sets)."""
    changes = {
        "modalities": ["brain"],
        "spaces": {"brain": ["native", "ants_affine", "voxelmorph", "voxelmorph_jac"]},
        "simulate": {"modalities": ["brain"]},
        "represent": {"method": "autoencoder"},
    }
    code, out = dry_run(tmp_path, changes)
    assert code == 0, out[-3000:]
    for rule in ("brain_voxelmorph_train", "brain_voxelmorph_apply", "brain_warp_example"):
        assert f"rule {rule}:" in out, rule
    assert "results/brain/ants_affine_labels/data.npy" in out
    assert "results/plots/brain/warp_grid.png" in out
    # the autoencoder of the voxelmorph space and the registration model are different files
    assert "results/brain/voxelmorph/model.pt" in out
    assert "results/brain/voxelmorph/registration_model.pt" in out
