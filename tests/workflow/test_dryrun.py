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


def gwas_shards(output: str) -> list[str]:
    """The chromosome groups of the planned gwas_chrom jobs (wildcard chroms)."""
    blocks = [b for b in output.split("\nrule ")[1:] if b.startswith("gwas_chrom:")]
    return sorted({b.split("chroms=")[1].split()[0].rstrip(",") for b in blocks})


def test_chromosomes_default_to_the_simulated_ones(tmp_path):
    """Without `chromosomes`, a simulated cohort analyses every simulated chromosome
    (simulate.genotypes.n_chromosomes is the one source); naming one that is not simulated is
    an error before anything runs."""
    code, out = dry_run(
        tmp_path, {"chromosomes": None, "simulate": {"genotypes": {"n_chromosomes": 2}}}
    )
    assert code == 0, out[-3000:]
    assert gwas_shards(out) == ["1_2"]  # config/test.yaml: 2 chromosomes per GWAS job
    assert len([b for b in out.split("\nrule ")[1:] if b.startswith("gwas_chrom:")]) == 2
    assert "genotypes/chr3.bed" not in job_block(out, "simulate")
    code, out = dry_run(
        tmp_path, {"chromosomes": [1, 3], "simulate": {"genotypes": {"n_chromosomes": 2}}}
    )
    assert code != 0 and "chromosomes ['3'] are not simulated" in out


def test_gwas_jobs_group_chromosomes(tmp_path):
    """gwas.chromosomes_per_job chromosomes in a row per GWAS job (the last group may be
    shorter), and each space's merge reads exactly its groups."""
    for per_job, shards in ((1, ["1", "2", "3"]), (2, ["1_2", "3"]), (5, ["1_2_3"])):
        code, out = dry_run(tmp_path, {"gwas": {"chromosomes_per_job": per_job}})
        assert code == 0, out[-3000:]
        assert gwas_shards(out) == shards
        merge = job_block(out, "gwas_merge")
        inputs = merge.split("input: ")[1].split("\n")[0].split(", ")
        assert sorted(inputs) == sorted(
            f"results/ecg/{space}/gwas/chr{s}.parquet"
            for s in shards
            for space in [merge.split("results/ecg/")[1].split("/")[0]]
        )
        assert "results/cohort/hwe_groups.tsv" in job_block(out, "gwas_chrom")
