"""How well a representation reads a simulated cohort's planted factors, space by space.

Embeds one stored space of a finished run (its array store under results/) with PCA or the
autoencoder (represent's defaults, overridden by --set), then reports the 5-fold
cross-validated ridge R2 of each planted factor of the modality (the simulator's
results/simulated/truth/factors.tsv) from the embedding, and their mean:
    python benchmarks/factor_recovery.py brain/ants_affine [--results results]
        [--method autoencoder] [--set '{"steps": 1200, "batch_size": 8}'] [--threads 1]
One JSON line: the space, method, overrides, CPU and wall seconds, the held-out MSE as a share
of the mean predictor's (autoencoder), the best step, R2 per factor and their mean.
"""

import argparse
import json
import time

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import cross_val_score

from regwas.config import section
from regwas.io.arraystore import ArrayStore
from regwas.represent.base import make_embedder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("space", help="modality/space, e.g. brain/ants_affine")
    ap.add_argument("--results", default="results")
    ap.add_argument("--method", default="autoencoder", choices=["autoencoder", "pca"])
    ap.add_argument("--set", default="{}", help="JSON of represent.autoencoder overrides")
    ap.add_argument("--latent-dim", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    modality = args.space.split("/")[0]
    over = json.loads(args.set)
    cfg = section(
        "represent", {"method": args.method, "latent_dim": args.latent_dim, "autoencoder": over}
    )
    store = ArrayStore(f"{args.results}/{args.space}")
    cpu0, wall0 = time.process_time(), time.time()
    embedder = make_embedder(cfg, 1, modality, None).fit(store)
    z = embedder.transform(store)
    cpu, wall = time.process_time() - cpu0, time.time() - wall0
    factors = pd.read_csv(
        f"{args.results}/simulated/truth/factors.tsv", sep="\t", index_col="sample_id"
    )
    factors = factors[[c for c in factors.columns if c.startswith(modality + ".")]]
    factors = factors.loc[store.sample_ids.astype(str)]
    ridge = RidgeCV(alphas=np.logspace(-3, 3, 7))
    r2 = {
        c.split(".", 1)[1]: round(
            float(cross_val_score(ridge, z, factors[c].to_numpy(), cv=5, scoring="r2").mean()), 3
        )
        for c in factors.columns
    }
    qc = getattr(embedder, "qc", {}) or {}
    ratio = qc["val_mse"] / qc["val_mean_predictor_mse"] if qc else None
    print(
        json.dumps(
            {
                "space": args.space,
                "method": args.method,
                "set": over,
                "cpu_s": round(cpu, 1),
                "wall_s": round(wall, 1),
                "val_mse_of_mean_predictor": None if ratio is None else round(ratio, 3),
                "best_step": getattr(embedder, "best_step", None),
                "r2": r2,
                "mean_r2": round(float(np.mean(list(r2.values()))), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
