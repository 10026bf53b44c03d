"""Time the synthetic biobank's genotype simulation at N = 2,000 and N = 20,000.

Uses the demo chromosome settings (the schema defaults of simulate.genotypes: 22 chromosomes) and
prints seconds, variants kept after the MAF filter and peak memory per sample size.
Usage: python benchmarks/simulate_scaling.py [--sizes 2000 20000] [--threads 1]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from regwas.config import defaults
from regwas.simulate import genotypes as gt
from regwas.simulate.cohort import component_seed, sample_ids


def time_genotypes(n: int, threads: int, seed: int = 1) -> tuple[float, int]:
    """Seconds and number of variants for simulating and writing all chromosomes of n people."""
    cfg = defaults("simulate.genotypes")
    order = np.random.default_rng(seed).permutation(n)
    sex = np.where(np.arange(n) % 2 == 0, 1, 2)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        results = gt.simulate_genotypes(
            cfg,
            n,
            component_seed(seed, "genotypes"),
            order,
            sample_ids(n),
            sex,
            Path(tmp) / "genotypes",
            threads=threads,
        )
        seconds = time.perf_counter() - start
    return seconds, sum(len(r.bim) for r in results)


def main() -> None:
    """Run the timings and print one line per sample size."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    cfg = defaults("simulate.genotypes")
    print(
        f"genotypes: {cfg['n_chromosomes']} chromosomes x {cfg['chromosome_length']:,} bp, "
        f"populations {cfg['populations']}, min_maf {cfg['min_maf']}, threads {args.threads}"
    )
    for n in args.sizes:
        seconds, n_variants = time_genotypes(n, args.threads)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(
            f"N={n:>6,}: {seconds:7.1f} s, {n_variants:,} variants "
            f"({n_variants / cfg['n_chromosomes']:.0f} per chromosome), "
            f"peak RSS {max(peak, peak_children):.0f} MiB (cumulative max)"
        )


if __name__ == "__main__":
    main()
