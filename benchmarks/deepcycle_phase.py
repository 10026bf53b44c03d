"""How close is DeepCycle's phase to the simulator's true cycle phase, against frame index?

Simulates a cardiac-only cohort (seeded), aligns every cine rigidly as the ``deepcycle``
store does (``load_cines_rigid``), trains DeepCycle on the store's seeded subset of
``train_subjects`` cines with the given settings (one torch thread) and reports, over all
cines, the mean absolute error against the true phase after one cohort-wide offset (degrees),
the share winding once and the median concordance, for: frame index 2 pi t / T (the
baseline), the encoder's per-frame theta (``phase_harmonics: null``), and the phase read
from all of a cine's frames with 0, 1 and 2 harmonics of warp (``smooth_phase``); plus the
training CPU seconds (``time.process_time``).

    PYTHONPATH=src .venv/bin/python benchmarks/deepcycle_phase.py --n 300 --seed 7 \\
        --out /tmp/dcphase

README, "Cardiac cine and DXA", reports its numbers.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from cine_readability import simulate_cardiac_cohort  # this folder: run as a script

from regwas.register.cine import deepcycle as dc
from regwas.register.cine.stores import cardiac_config, load_cines_rigid, read_true_phase


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--deepcycle", default="{}", help="JSON overrides of cardiac.deepcycle (e.g. steps)"
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    sim = args.out / "sim"
    simulate_cardiac_cohort(sim, args.n, args.seed)
    cfg = cardiac_config({"deepcycle": json.loads(args.deepcycle)})
    d = cfg["deepcycle"]
    cache = args.out / f"rigid_cines_{cfg['size']}.npz"
    if not cache.exists():
        ids, cines, _, _, _ = load_cines_rigid(
            sim / "cardiac.manifest.tsv", sim / "samples.tsv", cfg["size"], args.seed
        )
        np.savez(cache, ids=np.array(ids), cines=cines)
    z = np.load(cache)
    ids, cines = [str(i) for i in z["ids"]], z["cines"]
    if d["size"] != cfg["size"]:
        cines = np.stack([dc.prepare(c, d["size"]) for c in cines])
    n, t = cines.shape[:2]
    true = read_true_phase(sim / "truth" / "cardiac_phase.tsv", ids, t)
    rng = np.random.default_rng([args.seed, 0xDC])  # the store's subset
    pick = np.sort(rng.choice(n, min(n, d["train_subjects"]), replace=False))
    c0 = time.process_time()
    model, _ = dc.train(
        cines[pick],
        stage1_steps=d["stage1_steps"],
        stage2_steps=d["stage2_steps"],
        batch=d["batch_size"],
        lr=d["learning_rate"],
        seed=args.seed,
        width=d["width"],
        harmonics=d["harmonics"],
    )
    cpu = time.process_time() - c0
    theta = dc.phases(model, cines)
    variants = {
        "frame index (baseline)": dc.frame_index_phase(n, t),
        "per-frame theta (phase_harmonics null)": theta,
        **{f"phase_harmonics {k}": dc.smooth_phase(theta, k)[0] for k in (0, 1, 2)},
    }
    print(f"{n} cines, training {len(pick)} cines: {cpu:.1f} CPU s; settings {json.dumps(d)}")
    print("| phase | error vs true phase (deg) | winding 1 | median concordance |")
    print("|---|---|---|---|")
    for name, phase in variants.items():
        q = dc.phase_qc(phase, true)
        print(
            f"| {name} | {q['error_deg'].mean():.1f} | {(q['winding'] == 1).mean():.3f} "
            f"| {np.median(q['concordance']):.3f} |"
        )


if __name__ == "__main__":
    main()
