"""What the workflow tests share: the checkout, its test config, and running snakemake on the
checkout's Snakefile in a work directory of the test's own (imported by the test modules of
this folder, which pytest puts on sys.path; not collected: its name is not test_*)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
TEST_CONFIG = ROOT / "config/test.yaml"


def snakemake_command(workdir: Path) -> list[str]:
    """snakemake on the checkout's Snakefile with ``workdir`` as its working directory (where
    results/ and .snakemake/ go); the caller appends config, cores and targets."""
    return [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "--directory", str(workdir)]


def snakemake(
    workdir: Path, *args: str, check: bool = True, timeout: float = 1500
) -> subprocess.CompletedProcess:
    """Run snakemake (``snakemake_command``) with ``args``, output captured as text. With
    ``check`` a non-zero exit fails the test with the end of snakemake's stdout and stderr."""
    result = subprocess.run(
        [*snakemake_command(workdir), *args], capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


def output(result: subprocess.CompletedProcess) -> str:
    """stdout and stderr of a run together (what a test looks for may be in either)."""
    return result.stdout + result.stderr


def tiny_simulated_config(
    name: str, seed: int, n: int, spaces: dict[str, list[str]], **sections
) -> dict:
    """A tiny simulated cohort's config: ``n`` people, 2 chromosomes of 1 Mb, one causal variant
    per factor, the modalities of ``spaces`` only, relatedness QC off (2 chromosomes make KING
    too noisy to find relatives; none are planted). ``sections`` adds or replaces top-level
    sections (e.g. ``brain={...}``)."""
    modalities = list(spaces)
    return {
        "name": name,
        "seed": seed,
        "cohort": "simulate",
        "modalities": modalities,
        "spaces": spaces,
        "simulate": {
            "n_samples": n,
            "modalities": modalities,
            "genotypes": {"n_chromosomes": 2},
            "factors": {"causal_per_factor": 1},
        },
        "cohort_qc": {"relatedness": {"enabled": False}},
        **sections,
    }
