"""The workflow under a real single-node SLURM (Debian slurm-wlm + munge), as on a cluster.

.ci/slurm/setup.sh starts munged, slurmctld and slurmd (installing the packages with apt-get
when missing), with one fake GPU; the tests run snakemake with the SLURM executor plugin and
the CI profile derived from workflow/profiles/slurm (.ci/slurm/ci_profile.py), and
.ci/slurm/teardown.sh stops every daemon by PID afterwards. Checks:

1. a toy workflow's jobs run as SLURM jobs (their output carries the SLURM job id);
2. a GPU rule (resources gpu=1) is submitted with --gpus=1 and SLURM records gres/gpu;
3. a deliberately failing job makes snakemake exit non-zero, and the log names the rule
   and the failed SLURM job, which SLURM itself reports as FAILED;
4. the workflow's tiny test config (config/test.yaml) runs to completion.

Needs root (slurmd/munged) and either the slurm binaries or apt-get; skipped otherwise.
One cluster at a time on this machine (fixed ports, /etc/slurm): a file lock serialises
pytest-xdist workers.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / ".ci" / "slurm"
TOY = Path(__file__).resolve().parent / "slurm" / "Snakefile"
STATE = Path(os.environ.get("REGWAS_SLURM_DIR", "/tmp/regwas-slurm-pytest"))
LOCK = Path("/tmp/regwas-slurm.lock")


def _skip_reason() -> str | None:
    if not sys.platform.startswith("linux"):
        return "SLURM test cluster needs Linux"
    if os.geteuid() != 0:
        return "starting slurmd and munged needs root"
    have = all(shutil.which(b) for b in ("slurmctld", "slurmd", "munged", "sbatch"))
    if not have and not shutil.which("apt-get"):
        return "slurm-wlm/munge are not installed and apt-get is not available to install them"
    return None


pytestmark = [
    pytest.mark.slurm,
    pytest.mark.slow,
    # with `pytest -n N --dist loadgroup` all these tests share one worker and one cluster
    pytest.mark.xdist_group("slurm"),
    pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or ""),
]


def _run(cmd: list[str], timeout: int, **kw) -> subprocess.CompletedProcess:
    """Run a command, output merged into .stdout; a hang fails the test instead of CI."""
    try:
        return subprocess.run(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout, **kw
        )
    except subprocess.TimeoutExpired as err:
        out = err.stdout.decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
        pytest.fail(f"{cmd[:4]} timed out after {timeout}s:\n{out[-4000:]}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A running one-node SLURM; yields the environment for its clients and a CI profile."""
    LOCK.touch(exist_ok=True)
    with LOCK.open() as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            setup = _run(["bash", str(CI / "setup.sh"), str(STATE)], timeout=300)
            if setup.returncode != 0:
                pytest.fail(f"setup.sh failed ({setup.returncode}):\n{setup.stdout[-4000:]}")
            env = dict(os.environ, SLURM_CONF=str(STATE / "slurm.conf"))
            profile = tmp_path_factory.mktemp("ci_profile")
            made = _run(
                [
                    sys.executable,
                    str(CI / "ci_profile.py"),
                    str(ROOT / "workflow/profiles/slurm"),
                    str(profile),
                ],
                timeout=60,
            )
            assert made.returncode == 0, made.stdout
            yield {"env": env, "profile": profile}
        finally:
            _run(["bash", str(CI / "teardown.sh"), str(STATE)], timeout=120)
            fcntl.flock(lock, fcntl.LOCK_UN)


def _snakemake(cluster, args: list[str], cwd: Path, timeout: int = 240):
    cmd = [sys.executable, "-m", "snakemake", "--profile", str(cluster["profile"]), *args]
    return _run(cmd, timeout=timeout, cwd=cwd, env=cluster["env"])


def _job_state(cluster, jobid: str) -> str:
    out = _run(["squeue", "-h", "--states=all", "-j", jobid, "-o", "%T"], 30, env=cluster["env"])
    return out.stdout.strip()


@pytest.fixture(scope="module")
def toy(cluster, tmp_path_factory):
    """The toy workflow's default target (an ordinary job and a GPU job), run once."""
    wd = tmp_path_factory.mktemp("toy")
    shutil.copy(TOY, wd / "Snakefile")
    proc = _snakemake(cluster, ["--workflow-profile", "none", "--verbose"], cwd=wd)
    return wd, proc


def test_jobs_run_as_slurm_jobs(cluster, toy):
    wd, proc = toy
    assert proc.returncode == 0, proc.stdout[-4000:]
    text = (wd / "out" / "ok.txt").read_text()
    jobid = re.search(r"job=(\d+)", text)
    assert jobid, f"ok.txt has no SLURM job id: {text!r}"
    assert _job_state(cluster, jobid.group(1)) == "COMPLETED"


def test_gpu_rule_is_submitted_with_gpus(cluster, toy):
    wd, proc = toy
    assert proc.returncode == 0, proc.stdout[-4000:]
    calls = [ln for ln in proc.stdout.splitlines() if ln.startswith("sbatch call:")]
    gpu_calls = [c for c in calls if "--comment rule_gpu" in c]
    other = [c for c in calls if "--comment rule_ok" in c]
    assert gpu_calls and "--gpus=1" in gpu_calls[0], calls
    assert other and "--gpus" not in other[0], other
    # what SLURM recorded for the job (22.05: TresPerJob=gres:gpu:1; newer: gres/gpu:1)
    shown = (wd / "out" / "gpu.txt").read_text()
    assert re.search(r"TresPerJob=gres[:/]gpu[:=]1", shown), shown
    assert "CUDA_VISIBLE_DEVICES=0" in shown


def test_failing_job_is_reported(cluster, tmp_path):
    shutil.copy(TOY, tmp_path / "Snakefile")
    proc = _snakemake(cluster, ["--workflow-profile", "none", "fail"], cwd=tmp_path)
    assert proc.returncode != 0, proc.stdout[-4000:]
    assert "Error in rule fail" in proc.stdout, proc.stdout[-4000:]
    failed = re.search(r"SLURM-job '(\d+)' failed, SLURM status is: '(\w+)'", proc.stdout)
    assert failed, proc.stdout[-4000:]
    assert failed.group(2) == "FAILED"
    assert _job_state(cluster, failed.group(1)) == "FAILED"
    assert not (tmp_path / "out" / "fail.txt").exists()
    assert "failing on purpose" in (tmp_path / "logs" / "fail.log").read_text()


# Group jobs cut the SLURM round trips of the test config from ~30 to 4 (one per stage:
# cohort, each space's chain, the summary); each job still runs through sbatch + srun.
GROUPS = {
    "cohort": ["simulate", "cohort", "hwe_groups"],
    "space": [
        "ecg_native",
        "ecg_median_beat",
        "embed",
        "adjust",
        "phewas",
        "gwas_chrom",
        "gwas_merge",
        "gwas_leads",
        "plot_manhattan",
        "plot_phewas",
    ],
    # everything that reads both spaces (or everything): the comparison people, the probes on
    # them, the comparison, the summaries
    "summary": [
        "comparison_samples",
        "probes",
        "gwas_ssf",
        "plot_miami",
        "plot_qq",
        "compare",
        "headline",
        "report_tables",
        "resource_usage",
    ],
}


def test_test_config_runs_under_slurm(cluster, tmp_path):
    groups = [f"{rule}={group}" for group, rules in GROUPS.items() for rule in rules]
    proc = _snakemake(
        cluster,
        [
            "--workflow-profile",
            "workflow/profiles/default",
            "--configfile",
            "config/test.yaml",
            "--directory",
            str(tmp_path),
            # one CPU per job: the two spaces' chains then run side by side on a 2-CPU node
            "--max-threads",
            "1",
            "--cores",
            "1",
            "--groups",
            *groups,
            "--group-components",
            "summary=12",
        ],
        cwd=ROOT,
        timeout=420,
    )
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert (tmp_path / "results" / "comparison.tsv").stat().st_size > 0
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", proc.stdout)
    assert submitted, proc.stdout[-4000:]
    states = {j: _job_state(cluster, j) for j in submitted}
    assert set(states.values()) == {"COMPLETED"}, states
