"""Derive the CI profile from the site profile (workflow/profiles/slurm/config.yaml).

The CI runs the site profile as shipped, changed only where the one-node test cluster of
.ci/slurm/setup.sh differs from a real site: its partition ("debug"), no account, no
slurmdbd (status via squeue; MinJobAge=600 there), no conda (the jobs use the running
Python), 2 CPUs (max-threads, cpus_per_gpu capped), fast status checks, no retries (the
failing-job check must fail at once), and SLURM logs kept for the GPU check.

Usage: python .ci/slurm/ci_profile.py SITE_PROFILE_DIR OUT_DIR
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml


def ci_profile(site: dict, cpus: int) -> dict:
    """The site profile dict with the CI cluster's overrides applied."""
    prof = dict(site)
    res = dict(prof.get("default-resources") or {})
    res["slurm_partition"] = "debug"
    res.pop("slurm_account", None)
    prof["default-resources"] = res
    prof["slurm-no-account"] = True
    prof["slurm-status-command"] = "squeue"
    prof["slurm-init-seconds-before-status-checks"] = 2
    prof["slurm-keep-successful-logs"] = True
    prof.pop("slurm-partition-config", None)
    prof.pop("software-deployment-method", None)
    prof["retries"] = 0
    prof["latency-wait"] = 5
    prof["jobs"] = 4
    prof["max-threads"] = cpus
    for values in (prof.get("set-resources") or {}).values():
        for key in ("cpus_per_gpu", "cpus_per_task"):
            if isinstance(values.get(key), int):
                values[key] = min(values[key], cpus)
    return prof


def main(argv: list[str]) -> int:
    """Write OUT_DIR/config.yaml from SITE_PROFILE_DIR/config.yaml."""
    site_dir, out_dir = Path(argv[1]), Path(argv[2])
    site = yaml.safe_load((site_dir / "config.yaml").read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    prof = ci_profile(site, os.cpu_count() or 1)
    (out_dir / "config.yaml").write_text(yaml.safe_dump(prof, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
