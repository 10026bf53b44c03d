"""Benchmark of the latent GWAS: kernel and end-to-end variants/s vs statsmodels MANOVA and plink2.

Generates a PLINK .bed (bed_reader) of N samples x M variants (HWE genotypes, MAF 1-50%, 10% of
variants with 1% missing calls), random embeddings of d = 32 and d = 256 dimensions and 12
covariates, then times, in one run:
  kernel      regwas.gwas_kernel.additive_test on in-memory int8 blocks (numpy; torch CPU too)
  end to end  regwas.gwas.gwas_chromosome from the .bed (QC, read, test, Parquet)
  statsmodels MANOVA per variant (a few variants, extrapolated)
  plink2      --glm with one linear test per latent dimension (a subset, extrapolated)

    .venv/bin/python benchmarks/bench_gwas.py --n 10000 --variants 50000 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def make_bed(prefix: Path, n: int, m: int, seed: int) -> list[str]:
    """Write the synthetic .bed with bed_reader (in chunks of variants held in memory once)."""
    from bed_reader import to_bed

    rng = np.random.default_rng(seed)
    freqs = rng.uniform(0.01, 0.5, m)
    val = np.empty((n, m), dtype=np.int8)
    for s in range(0, m, 5000):
        e = min(s + 5000, m)
        g = rng.binomial(2, freqs[s:e], size=(n, e - s)).astype(np.int8)
        cols = rng.random(e - s) < 0.1
        miss = (rng.random((n, e - s)) < 0.01) & cols[None, :]
        g[miss] = -127
        val[:, s:e] = g
    ids = [f"s{i:06d}" for i in range(n)]
    to_bed(
        f"{prefix}.bed",
        val,
        properties={
            "fid": ids,
            "iid": ids,
            "sid": [f"v{j}" for j in range(m)],
            "chromosome": ["1"] * m,
            "bp_position": list(range(1000, 1000 + 100 * m, 100)),
            "allele_1": ["A"] * m,
            "allele_2": ["G"] * m,
        },
        count_A1=True,
        num_threads=2,
    )
    return ids


def make_inputs(tmp: Path, ids: list[str], d: int, seed: int) -> tuple[Path, pd.DataFrame]:
    from regwas.io.embeddings import write_embeddings

    rng = np.random.default_rng(seed + d)
    n = len(ids)
    emb = tmp / f"emb{d}.parquet"
    write_embeddings(ids, rng.normal(size=(n, d)), emb)
    cov = pd.DataFrame(
        {"sample_id": ids, "age": rng.normal(55, 8, n), "sex_male": rng.integers(0, 2, n)}
    )
    for i in range(1, 11):
        cov[f"PC{i}"] = rng.normal(size=n)
    return emb, cov


def bench_kernel(basis, G: np.ndarray, backend_name: str, threads: int, block: int) -> float:
    """Variants/s of QC-free testing of in-memory blocks (counts + GEMM + statistics)."""
    from threadpoolctl import threadpool_limits

    from regwas import gwas_kernel as K

    backend = K.make_backend(backend_name, basis.stacked)
    if backend_name == "torch":
        import torch

        torch.set_num_threads(threads)
    with threadpool_limits(threads):
        t = time.perf_counter()
        for s in range(0, G.shape[0], block):
            blk = G[s : s + block]
            K.additive_test(blk, K.genotype_counts(blk), basis, backend)
        return G.shape[0] / (time.perf_counter() - t)


def bench_statsmodels(Y: np.ndarray, C: np.ndarray, G: np.ndarray, n_variants: int) -> float:
    """Seconds per variant of statsmodels MANOVA (Pillai of the genotype term)."""
    from statsmodels.multivariate.manova import MANOVA

    t = time.perf_counter()
    for j in range(n_variants):
        g = G[j].astype(float)
        g[g < 0] = g[g >= 0].mean()
        exog = np.column_stack([C, g])
        L = np.zeros((1, exog.shape[1]))
        L[0, -1] = 1
        MANOVA(Y, exog).mv_test(hypotheses=[("g", L)])
    return (time.perf_counter() - t) / n_variants


def bench_plink2(
    prefix: Path,
    tmp: Path,
    ids: list[str],
    Y: np.ndarray,
    cov: pd.DataFrame,
    n_variants: int,
    threads: int,
) -> float | None:
    """Seconds per variant of plink2 --glm with one linear test per latent dimension."""
    plink2 = shutil.which("plink2")
    if plink2 is None:
        return None
    pheno = pd.DataFrame(Y, columns=[f"z{i:03d}" for i in range(Y.shape[1])])
    pheno.insert(0, "IID", ids)
    pheno.insert(0, "#FID", ids)
    pheno.to_csv(tmp / "pheno.txt", sep="\t", index=False, float_format="%.8g")
    c = cov.rename(columns={"sample_id": "IID"})
    c.insert(0, "#FID", ids)
    c.to_csv(tmp / "covar.txt", sep="\t", index=False, float_format="%.8g")
    cmd = [
        plink2,
        "--bfile",
        str(prefix),
        "--pheno",
        str(tmp / "pheno.txt"),
        "--covar",
        str(tmp / "covar.txt"),
        "--glm",
        "hide-covar",
        "--from",
        "v0",
        "--to",
        f"v{n_variants - 1}",
        "--threads",
        str(threads),
        "--out",
        str(tmp / "plink"),
    ]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return (time.perf_counter() - t) / n_variants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--variants", type=int, default=50_000)
    parser.add_argument("--dims", default="32,256")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--block-size", type=int, default=2048)
    parser.add_argument("--statsmodels-variants", type=int, default=3)
    parser.add_argument("--plink2-variants", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write results here")
    args = parser.parse_args()

    from regwas import gwas
    from regwas import gwas_kernel as K
    from regwas.config import defaults
    from regwas.covariates import design_matrix
    from regwas.io.embeddings import read_embeddings
    from regwas.io.plink import BedReader

    results: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "threads_used": args.threads,
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_avg_at_start": os.getloadavg(),
        },
        "n": args.n,
        "variants": args.variants,
        "rows": [],
    }
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        t = time.perf_counter()
        ids = make_bed(tmp / "bench", args.n, args.variants, args.seed)
        print(
            f"wrote {args.variants} x {args.n} .bed in {time.perf_counter() - t:.1f} s", flush=True
        )
        with BedReader(tmp / "bench") as r:
            t = time.perf_counter()
            G = r.read(0, min(args.variants, 20_000))
            read_rate = G.shape[0] / (time.perf_counter() - t)
        results["pgenlib_read_variants_per_s"] = round(read_rate)
        for d in (int(x) for x in args.dims.split(",")):
            emb, cov = make_inputs(tmp, ids, d, args.seed)
            _, Y, _ = read_embeddings(emb)
            cols = defaults("gwas.covariates")
            C, _, _ = design_matrix(cov, cols)
            basis = K.prepare_basis(Y, C)
            row: dict = {"d": d, "covariate_columns": len(cols) + 1}
            row["kernel_numpy_variants_per_s"] = round(
                bench_kernel(basis, G, "numpy", args.threads, args.block_size)
            )
            row["kernel_torch_cpu_variants_per_s"] = round(
                bench_kernel(basis, G[:8192], "torch", args.threads, args.block_size)
            )
            t = time.perf_counter()
            counts = gwas.gwas_chromosome(
                emb,
                tmp / "bench",
                tmp / f"out{d}.parquet",
                {"block_size": args.block_size},
                cov,
                args.threads,
            )
            el = time.perf_counter() - t
            row["end_to_end_seconds"] = round(el, 2)
            row["end_to_end_variants_per_s"] = round(args.variants / el)
            row["variants_tested"] = counts["n_tested"]
            t = time.perf_counter()
            gwas.gwas_chromosome(
                emb,
                tmp / "bench",
                tmp / f"mixed{d}.parquet",
                {"block_size": args.block_size, "precision": "mixed"},
                cov,
                args.threads,
            )
            el_mixed = time.perf_counter() - t
            row["end_to_end_mixed_seconds"] = round(el_mixed, 2)
            row["end_to_end_mixed_variants_per_s"] = round(args.variants / el_mixed)
            sm = bench_statsmodels(Y, C, G, args.statsmodels_variants)
            row["statsmodels_s_per_variant"] = round(sm, 4)
            row["speedup_vs_statsmodels_end_to_end"] = round(sm * args.variants / el)
            row["speedup_vs_statsmodels_mixed"] = round(sm * args.variants / el_mixed)
            pv = bench_plink2(tmp / "bench", tmp, ids, Y, cov, args.plink2_variants, args.threads)
            if pv is not None:
                row["plink2_glm_s_per_variant"] = round(pv, 5)
                row["plink2_glm_variants_per_s"] = round(1 / pv, 1)
                row["speedup_vs_plink2_end_to_end"] = round(pv * args.variants / el, 1)
            print(json.dumps(row), flush=True)
            results["rows"].append(row)
    results["machine"]["load_avg_at_end"] = os.getloadavg()
    print(json.dumps(results, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
