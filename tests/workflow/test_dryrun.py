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


def test_cardiac_and_dxa_spaces_are_planned(tmp_path):
    """cardiac (native, deepcycle) and dxa (native, rigid) go through the spine: their stores,
    every per-space result, overlays and comparison are planned; the simulation declares the
    cine's true phase, which DeepCycle's QC reads."""
    changes = {
        "modalities": ["cardiac", "dxa"],
        "spaces": {"cardiac": ["native", "deepcycle"], "dxa": ["native", "rigid"]},
        "simulate": {
            "modalities": ["cardiac", "dxa"],
            "imaged_fraction": {"cardiac": 0.5, "dxa": 0.5},
            "factors": {"causal_per_modality": {"cardiac": 1, "dxa": 1}},
        },
    }
    code, out = dry_run(tmp_path, changes)
    assert code == 0, out[-3000:]
    for rule in ("dxa_native", "dxa_rigid", "cardiac_native", "cardiac_deepcycle"):
        assert f"\nrule {rule}:" in out, rule
    assert "truth/cardiac_phase.tsv" in job_block(out, "simulate")
    assert "truth/cardiac_phase.tsv" in job_block(out, "cardiac_deepcycle")
    for target in (
        "results/cardiac/deepcycle/gwas.tsv.gz",
        "results/dxa/rigid/probes.tsv",
        "results/plots/cardiac/overlays.png",
        "results/plots/dxa/rigid_vs_native.miami.png",
    ):
        assert target in out, target
