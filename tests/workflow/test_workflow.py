"""End to end: the workflow on config/test.yaml (local executor), its outputs and contracts;
what a config change reruns; a run killed with SIGKILL that resumes to identical outputs; and
a real-cohort run with a bad table that must stop with the file, line and column named."""

import hashlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_helpers import TEST_CONFIG, output, snakemake, snakemake_command

from regwas.io.embeddings import read_embeddings

# one worker runs the whole module, so the workflow fixture runs once under xdist
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("workflow")]


def flatten_first_ecg(results: Path) -> str:
    """Zero the samples of the first ECG record of the simulated manifest (a flat recording:
    no beats, so median-beat QC excludes it while the native space keeps it)."""
    manifest = pd.read_csv(results / "simulated/ecg.manifest.tsv", sep="\t", dtype=str)
    sample_id, path = manifest.iloc[0]["sample_id"], Path(manifest.iloc[0]["path"])
    dat = (path if path.is_absolute() else results / "simulated" / path).with_suffix(".dat")
    dat.write_bytes(bytes(dat.stat().st_size))
    return sample_id


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """The workflow on config/test.yaml with one flat ECG record: it must still complete."""
    workdir = tmp_path_factory.mktemp("workflow")
    args = ("--configfile", str(TEST_CONFIG), "--cores", "2")
    snakemake(workdir, *args, "results/simulated/samples.tsv")
    (workdir / "flat_record").write_text(flatten_first_ecg(workdir / "results"))
    snakemake(workdir, *args)
    return workdir / "results"


def test_one_flat_record_is_excluded_from_the_comparison_and_reported(run):
    flat = (run.parent / "flat_record").read_text()
    excluded = pd.read_csv(run / "ecg/exclusions.tsv", sep="\t", dtype=str)
    row = excluded[excluded["sample_id"] == flat]
    assert row[["step", "space"]].values.tolist() == [["register", "median_beat"]]
    assert "beats" in row["reason"].iloc[0]
    people = pd.read_csv(run / "ecg/comparison_samples.tsv", sep="\t", dtype=str)["sample_id"]
    native = pd.read_csv(run / "ecg/native/samples.tsv", sep="\t", dtype=str)["sample_id"]
    assert flat in set(native) and flat not in set(people)
    table = pd.read_csv(run / "comparison.tsv", sep="\t")
    assert (table["n_compared"] == len(people)).all()
    assert (table["n_excluded"] == excluded["sample_id"].nunique()).all()
    for space in ("native", "median_beat"):
        probes = pd.read_csv(run / f"ecg/{space}/probes.tsv", sep="\t")
        assert (probes["n"] <= len(people)).all()
    assert "left out of the comparison" in (run / "logs/compare.log").read_text()


def test_comparison_has_one_row_per_space_with_truth_columns(run):
    table = pd.read_csv(run / "comparison.tsv", sep="\t")
    assert list(table["space"]) == ["native", "median_beat"]
    for col in (
        "lambda_gc",
        "lead_loci",
        "causal_recovered",
        "causal_total",
        "false_loci",
        "phewas_hits",
        "disease_links_recovered",
        "probe_qt_r2",
        "lambda_gc_outside_causal",
    ):
        assert col in table.columns, col
    causal = pd.read_csv(run / "simulated/truth/causal_variants.tsv", sep="\t")
    # only causal variants on the analysed chromosomes (1-3 of the 22 simulated; X has none) count
    assert "X" not in set(causal["chromosome"].astype(str))
    analysed = causal["chromosome"].astype(str).isin(["1", "2", "3"])
    assert (table["causal_total"] == ((causal["modality"] == "ecg") & analysed).sum()).all()
    assert table["lambda_gc"].between(0.7, 1.5).all()
    assert table["lambda_gc_outside_causal"].between(0.7, 1.3).all()
    probes = pd.read_csv(run / "probe_comparison.tsv", sep="\t")
    assert set(probes["space"]) == {"median_beat"}


def test_registration_array_stores_and_embeddings(run):
    samples = pd.read_csv(run / "cohort/samples.tsv", sep="\t")
    native = np.load(run / "ecg/native/data.npy", mmap_mode="r")
    beats = np.load(run / "ecg/median_beat/data.npy", mmap_mode="r")
    assert native.shape == (len(samples), 12, 5000) and native.dtype == np.float32
    assert beats.shape[1:] == (12, 600) and beats.shape[0] >= 0.95 * len(samples)
    qc = pd.read_csv(run / "ecg/median_beat/qc.tsv", sep="\t")
    assert qc["ok"].mean() > 0.95 and qc.loc[qc["ok"], "corr_mean"].median() > 0.9
    dims = set()
    for space in ("native", "median_beat"):
        ids, z, meta = read_embeddings(run / f"ecg/{space}/embeddings.parquet")
        assert meta["space"] == space and meta["modality"] == "ecg"
        order = pd.read_csv(run / f"ecg/{space}/samples.tsv", sep="\t", dtype=str)["sample_id"]
        assert list(ids) == list(order)
        dims.add(z.shape[1])
    assert dims == {8}  # the same latent size in every space (config/test.yaml)
    assert {f"PC{i}" for i in range(1, 11)} <= set(samples.columns)
    # relatedness (king_cutoff 0.35 in config/test.yaml): each planted duplicate's later copy
    # is removed from the cohort, and only those (the trio's kinship 0.25 stays below)
    truth = pd.read_csv(run / "simulated/truth/relatives.tsv", sep="\t")
    removed = pd.read_csv(run / "cohort/related_removed.tsv", sep="\t")
    dups = truth[truth["relationship"] == "duplicate"]
    assert len(dups) == 2 and set(removed["sample_id"]) == set(dups["sample_id_2"])
    assert not set(removed["sample_id"]) & set(samples["sample_id"])


def test_summary_statistics_and_plots(run):
    gwas = pd.read_csv(run / "ecg/median_beat/gwas.tsv.gz", sep="\t")
    assert list(gwas.columns) == [
        "chromosome",
        "base_pair_location",
        "variant_id",
        "effect_allele",
        "other_allele",
        "effect_allele_frequency",
        "n",
        "pillai",
        "f_stat",
        "df1",
        "df2",
        "p_value",
        "neg_log10_p",
        "note",
    ]
    assert set(gwas["chromosome"].astype(str)) == {"1", "2", "3", "X"}
    assert gwas["chromosome"].astype(str).iloc[-1] == "X"  # sorted after the autosomes
    assert np.isfinite(gwas["neg_log10_p"]).all()
    # chromosome X passes the default QC (HWE among women): about as many variants per base pair
    # as an autosome, not the handful a pooled HWE test leaves
    per_chrom = gwas["chromosome"].astype(str).value_counts()
    assert per_chrom["X"] > 0.5 * per_chrom[["1", "2", "3"]].mean()
    phewas = pd.read_csv(run / "ecg/median_beat/phewas.tsv", sep="\t")
    assert {"phecode", "beta", "p_value", "significant", "auc_projection"} <= set(phewas.columns)
    for name in ("native.manhattan", "median_beat_vs_native.miami", "qq", "native.phewas_qq"):
        for ext in ("png", "pdf"):
            assert (run / f"plots/ecg/{name}.{ext}").stat().st_size > 1000


def test_rerun_has_nothing_to_do(run):
    result = snakemake(run.parent, "--configfile", str(TEST_CONFIG), "-n")
    assert "Nothing to be done" in output(result)


def planned_jobs(output: str) -> dict[str, int]:
    """rule -> job count from the "Job stats" table of a (dry) run's output."""
    table = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    jobs = {}
    for line in table.splitlines()[3:]:
        rule, count = line.split()
        if rule != "total":
            jobs[rule] = int(count)
    return jobs


# every job of config/test.yaml (2 spaces x 2 GWAS jobs: chromosomes 1-2 and 3, X)
ALL_JOBS = {
    "simulate": 1,
    "cohort": 1,
    "ecg_native": 1,
    "ecg_median_beat": 1,
    "embed": 2,
    "adjust": 2,
    "hwe_groups": 1,
    "gwas_chrom": 4,
    "gwas_merge": 2,
    "gwas_leads": 2,
    "phewas": 2,
    "probes": 2,
    "compare": 1,
    "plot_manhattan": 2,
    "plot_miami": 1,
    "plot_qq": 1,
    "plot_phewas": 2,
    "comparison_samples": 1,
    "gwas_ssf": 2,
    "headline": 1,
    "report_tables": 1,
    "resource_usage": 1,
    "all": 1,
}
PLOTS = {"plot_manhattan": 2, "plot_miami": 1, "plot_qq": 1, "plot_phewas": 2}
# the run's summaries: the resource table reads every job's benchmark, the report tables it
SUMMARY = {"resource_usage": 1, "report_tables": 1}


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("simulate", ("people", "bmi_log_sd"), 0.16, ALL_JOBS),
        (
            "cohort_qc",
            ("pca", "n_iter"),
            8,
            {k: v for k, v in ALL_JOBS.items() if k != "simulate"},
        ),
        (
            "gwas",
            ("clump", "window_kb"),
            400,
            {
                "gwas_leads": 2,
                "plot_manhattan": 2,
                "compare": 1,
                "headline": 1,
                **SUMMARY,
                "all": 1,
            },
        ),
        (
            # one job per chromosome: 4 new shards per space (chr1, chr2, chr3, chrX)
            "gwas",
            ("chromosomes_per_job",),
            1,
            {
                "gwas_chrom": 8,
                "gwas_merge": 2,
                "gwas_leads": 2,
                "gwas_ssf": 2,
                "plot_manhattan": 2,
                "plot_miami": 1,
                "plot_qq": 1,
                "compare": 1,
                "headline": 1,
                **SUMMARY,
                "all": 1,
            },
        ),
        ("plots", ("dpi",), 150, {**PLOTS, **SUMMARY, "all": 1}),
    ],
    ids=["simulate", "cohort_qc", "gwas.clump", "gwas.chromosomes_per_job", "plots"],
)
def test_a_config_change_reruns_exactly_what_depends_on_it(
    run, tmp_path, section, key, value, expected
):
    """Config values reach the rules as params (the section, or the keys a step reads), so a
    change plans exactly the dependent jobs: a dry run on the finished test run, per change."""
    config = yaml.safe_load(TEST_CONFIG.read_text())
    node = config.setdefault(section, {})
    for part in key[:-1]:
        node = node.setdefault(part, {})
    node[key[-1]] = value
    path = tmp_path / "changed.yaml"
    # keys in the file's order: params are compared as text, so a reordered section is a change
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = snakemake(run.parent, "--configfile", str(path), "-n")
    assert planned_jobs(output(result)) == expected


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


COMPARED = [
    "ecg/native/gwas.tsv.gz",
    "ecg/median_beat/gwas.tsv.gz",
    "ecg/native/probes.tsv",
    "ecg/median_beat/probes.tsv",
    "comparison.tsv",
]


def test_a_killed_run_resumes_to_identical_outputs(run, tmp_path):
    """SIGKILL to snakemake in the middle of the GWAS; its running jobs finish as orphans. The
    same command then stops on the stale lock (snakemake cannot tell a dead run from a live
    one: README "Interrupted runs"); after --unlock the same command resumes, reruns the jobs
    whose outputs are marked incomplete (rerun-incomplete in the workflow profile) and ends
    with outputs byte-identical to the uninterrupted run."""
    workdir = tmp_path / "killed"
    args = ("--configfile", str(TEST_CONFIG), "--cores", "2")
    same = [*snakemake_command(workdir), *args]
    # the same inputs as the uninterrupted run: one flat ECG record
    snakemake(workdir, *args, "results/simulated/samples.tsv")
    flatten_first_ecg(workdir / "results")
    with open(tmp_path / "first.log", "w") as out:
        first = subprocess.Popen(same, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    started = workdir / "results/logs/gwas"  # the first GWAS job has begun
    deadline = time.monotonic() + 1200
    while not (started.exists() and any(started.iterdir())):
        assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "the GWAS never started"
        time.sleep(0.5)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    # jobs it started keep running (same process group); wait for them, as the README says
    deadline = time.monotonic() + 600
    while True:
        try:
            os.killpg(first.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "orphaned jobs still running"
        time.sleep(0.5)
    assert not (workdir / "results/comparison.tsv").exists()
    assert list((workdir / ".snakemake/locks").iterdir()), "no stale lock after SIGKILL"
    # the jobs cut off are marked incomplete: without rerun-incomplete the rerun would stop
    incomplete = workdir / ".snakemake/incomplete"
    assert any(p.is_file() for p in incomplete.rglob("*")), "no job marked incomplete"

    again = snakemake(workdir, *args, check=False)
    assert again.returncode != 0
    assert "LockException" in output(again)
    unlock = snakemake(workdir, *args, "--unlock", check=False, timeout=300)
    assert unlock.returncode == 0, unlock.stderr[-3000:]
    resumed = snakemake(workdir, *args, check=False)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "simulate" not in planned_jobs(output(resumed))  # resumed, not restarted
    for name in COMPARED:
        assert sha256(workdir / "results" / name) == sha256(run / name), name


def test_real_cohort_with_a_bad_table_stops_and_names_it(run, tmp_path):
    cohort = tmp_path / "cohort"
    shutil.copytree(run / "simulated", cohort)
    samples = (cohort / "samples.tsv").read_text().splitlines()
    fields = samples[5].split("\t")
    fields[1] = "sixty"  # age of the person on line 6
    samples[5] = "\t".join(fields)
    (cohort / "samples.tsv").write_text("\n".join(samples) + "\n")
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config.update(
        cohort="files",
        inputs={
            "genotypes": str(cohort / "genotypes/chr{chrom}"),
            "samples": str(cohort / "samples.tsv"),
            "diagnoses": str(cohort / "diagnoses.tsv"),
            "manifests": {"ecg": str(cohort / "ecg.manifest.tsv")},
        },
    )
    config_path = tmp_path / "real.yaml"
    config_path.write_text(yaml.safe_dump(config))
    workdir = tmp_path / "work"
    result = snakemake(
        workdir,
        "--configfile",
        str(config_path),
        "--cores",
        "1",
        "results/cohort/samples.tsv",
        check=False,
    )
    assert result.returncode != 0
    log = (workdir / "results/logs/cohort.log").read_text()
    assert "samples.tsv: line 6" in log and "column 'age'" in log and "sixty" in log
    assert not (workdir / "results/cohort/samples.tsv").exists()
    leftovers = (
        [p for p in (workdir / "results/cohort").glob("*")]
        if (workdir / "results/cohort").exists()
        else []
    )
    assert leftovers == []


def test_config_typo_stops_before_any_job(tmp_path):
    bad = yaml.safe_load(TEST_CONFIG.read_text())
    bad["represent"]["latent_dm"] = 4
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(bad))
    result = snakemake(tmp_path, "--configfile", str(path), "-n", check=False)
    assert result.returncode != 0
    assert "latent_dm" in output(result)
    assert not (tmp_path / "results").exists()


def test_gpu_is_requested_only_for_the_torch_backend(tmp_path):
    """gwas.backend torch: each GWAS job asks for a GPU (the slurm executor turns gpu=1 into
    sbatch --gpus=1) and runs in the torch env; the default numpy backend asks for none."""
    config = str(TEST_CONFIG)

    def gwas_jobs(*extra):
        out = snakemake(tmp_path, "--configfile", config, "-n", "-p", *extra).stdout
        blocks = [b for b in out.split("\nrule ") if b.startswith("gwas_chrom:")]
        assert len(blocks) == 4  # 2 spaces x 2 groups of chromosomes (1_2, 3_X)
        return blocks

    assert all("gpu=1" in b for b in gwas_jobs("--config", "gwas={backend: torch}"))
    assert all("gpu=0" in b for b in gwas_jobs())
