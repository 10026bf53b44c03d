"""The workflow's own lint gates, as `make lint` runs them: snakefmt and `snakemake --lint`.

`snakemake --lint` exits non-zero when it prints any lint (missing log/conda directives,
absolute paths, mixed rules and functions ...); snakefmt --check exits non-zero when a file
would be reformatted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_snakefmt_check():
    """Snakefile and every .smk file are formatted as snakefmt would format them."""
    targets = [str(ROOT / "Snakefile")] + [
        str(p) for p in sorted((ROOT / "workflow").rglob("*.smk"))
    ]
    proc = subprocess.run(
        [str(BIN / "snakefmt"), "--check", *targets],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.parametrize("configfile", ["config/config.yaml", "config/test.yaml"])
def test_snakemake_lint(configfile):
    """`snakemake --lint` finds nothing to complain about, for the demo and the test config."""
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "--configfile", configfile],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "Lints for" not in out, out[-4000:]
