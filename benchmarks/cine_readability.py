"""How readable are the planted cardiac factors from each cine space's embeddings?

Simulates a cardiac-only cohort, builds the workflow's cine stores with the workflow's own
functions (``native``; ``deepcycle`` without and with its rigid step, ``cardiac.deepcycle.rigid``;
``voxelmorph`` and ``voxelmorph_jac`` from the rigid + time store, ``cardiac.voxelmorph``, whose
training and inference CPU seconds go to ``voxelmorph_seconds.json``) and embeds each with PCA (``represent``, latent 16) with the pixels standardised (the old
default) and only centred (``represent.standardize_by_modality: {cardiac: false}``). Each
planted factor (``truth/factors.tsv``) is then predicted from the embeddings by a ridge
regression (alpha by generalised cross-validation inside each training fold), and the table
reports the 5-fold cross-validated R² (folds seeded). ``--all-pixels`` adds a ridge on all the
store's pixels (the information the store holds, whatever the representation keeps).

    PYTHONPATH=src .venv/bin/python benchmarks/cine_readability.py --n 300 --out /tmp/cine

README, "Cardiac cine and DXA", reports its numbers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold
from sklearn.preprocessing import StandardScaler

from regwas.io.arraystore import ArrayStore
from regwas.io.embeddings import read_embeddings
from regwas.register.cine.stores import build_cardiac_deepcycle, build_cardiac_native
from regwas.represent.base import embed_store
from regwas.simulate.cohort import simulate

ALPHAS = np.logspace(-3, 6, 19)


def simulate_cardiac_cohort(sim: Path, n: int, seed: int) -> None:
    """A cardiac-only simulated cohort of ``n`` people in ``sim`` (kept when already there):
    2 short chromosomes, one causal variant per factor, no diseases."""
    if (sim / "samples.tsv").exists():
        return
    cfg = {
        "n_samples": n,
        "modalities": ["cardiac"],
        "genotypes": {"n_chromosomes": 2, "chromosome_length": 300_000},
        "factors": {"causal_per_factor": 1, "min_causal_distance": 0, "min_causal_maf": 0.01},
        "diseases": [],
    }
    simulate(cfg, seed, sim)


def cv_r2(x: np.ndarray, y: np.ndarray, seed: int, scale: bool = True) -> float:
    """5-fold cross-validated R² of a ridge regression of y on x (seeded folds)."""
    pred = np.empty_like(y)
    for train, test in KFold(5, shuffle=True, random_state=seed).split(x):
        sc = StandardScaler(with_std=scale).fit(x[train])
        model = RidgeCV(alphas=ALPHAS).fit(sc.transform(x[train]), y[train])
        pred[test] = model.predict(sc.transform(x[test]))
    return float(1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def build_voxelmorph(
    deepcycle: Path, samples: Path, cfg: dict, seed: int, out: dict[str, Path]
) -> dict:
    """The voxelmorph stores from the rigid + time store; CPU (and wall) seconds of each step
    and the stores' mean QC."""
    import time

    from regwas.register.cine.voxelmorph import apply_cardiac_voxelmorph, train_cardiac_voxelmorph

    model = out["voxelmorph"] / "registration_model.pt"
    model.parent.mkdir(parents=True, exist_ok=True)
    c0, w0 = time.process_time(), time.perf_counter()
    train_cardiac_voxelmorph(deepcycle, samples, cfg, seed, model)
    c1, w1 = time.process_time(), time.perf_counter()
    apply_cardiac_voxelmorph(deepcycle, samples, model, cfg, out)
    c2, w2 = time.process_time(), time.perf_counter()
    qc = pd.read_csv(out["voxelmorph"] / "qc.tsv", sep="\t")
    return {
        "train_cpu_s": round(c1 - c0, 1),
        "train_wall_s": round(w1 - w0, 1),
        "apply_cpu_s": round(c2 - c1, 1),
        "apply_wall_s": round(w2 - w1, 1),
        "ncc_before": round(float(qc["ncc_before"].mean()), 3),
        "ncc_after": round(float(qc["ncc_after"].mean()), 3),
        "pct_nonpos_jac": round(float(qc["pct_nonpos_jac"].mean()), 4),
        "cfg": cfg,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--all-pixels", action="store_true")
    ap.add_argument(
        "--voxelmorph",
        default="{}",
        help="cardiac.voxelmorph settings as JSON (default: the schema's)",
    )
    args = ap.parse_args()
    sim = args.out / "sim"
    simulate_cardiac_cohort(sim, args.n, args.seed)
    manifest, truth = sim / "cardiac.manifest.tsv", sim / "truth" / "cardiac_phase.tsv"
    stores = {
        "native": args.out / "native",
        "deepcycle, time only": args.out / "deepcycle_time",
        "deepcycle, rigid + time": args.out / "deepcycle_rigid",
    }
    if not (stores["native"] / "data.npy").exists():
        build_cardiac_native(manifest, {}, stores["native"])
    for name, rigid in [("deepcycle, time only", False), ("deepcycle, rigid + time", True)]:
        if not (stores[name] / "data.npy").exists():
            build_cardiac_deepcycle(
                manifest,
                {"deepcycle": {"rigid": rigid}},
                args.seed,
                stores[name],
                true_phase=truth,
                samples_path=sim / "samples.tsv",
            )
    vxm = {"voxelmorph": args.out / "voxelmorph", "voxelmorph_jac": args.out / "voxelmorph_jac"}
    if not (vxm["voxelmorph"] / "data.npy").exists():
        seconds = build_voxelmorph(
            stores["deepcycle, rigid + time"],
            sim / "samples.tsv",
            json.loads(args.voxelmorph),
            args.seed,
            vxm,
        )
        (args.out / "voxelmorph_seconds.json").write_text(json.dumps(seconds))
    print(json.loads((args.out / "voxelmorph_seconds.json").read_text()))
    stores.update(vxm)
    factors = pd.read_csv(sim / "truth" / "factors.tsv", sep="\t", dtype={"sample_id": str})
    factors = factors.set_index("sample_id")
    factors.columns = [c.split(".", 1)[1] for c in factors.columns]
    rows = []
    for name, d in stores.items():
        reps = {}
        for label, std in [("PCA 16, standardised", True), ("PCA 16, centred", False)]:
            out = d / f"emb_{int(std)}.parquet"
            cfg = {"latent_dim": 16, "standardize_by_modality": {"cardiac": std}}
            embed_store(d, out, cfg, args.seed, modality="cardiac", space=name)
            ids, z, _ = read_embeddings(out)
            reps[label] = (list(ids), np.asarray(z, float), True)
        if args.all_pixels:
            store = ArrayStore(d)
            x = np.asarray(store.data, float).reshape(store.n, -1)
            reps["ridge on all pixels"] = (list(store.sample_ids), x, False)
        for label, (ids, x, scale) in reps.items():
            y = factors.loc[ids]
            r2 = {c: cv_r2(x, y[c].to_numpy(float), args.seed, scale) for c in y.columns}
            rows.append({"space": name, "representation": label, **r2})
    table = pd.DataFrame(rows)
    samples = pd.read_csv(sim / "samples.tsv", sep="\t", dtype={"sample_id": str})
    samples = samples.set_index("sample_id").loc[factors.index]
    # the pixels hold the systolic fraction of RR, not the duration: its R² bounds what any
    # pixel-only store can read of the (heart-rate-corrected) systolic_duration factor
    ceiling = (
        np.corrcoef(np.log(samples["cine_systolic_fraction"]), factors["systolic_duration"])[0, 1]
        ** 2
    )
    table.to_csv(args.out / "readability.tsv", sep="\t", index=False, float_format="%.3f")
    print(table.round(2).to_markdown(index=False))
    print(json.dumps({"systolic_fraction_r2_ceiling": round(float(ceiling), 3)}))


if __name__ == "__main__":
    main()
