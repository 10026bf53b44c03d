"""Brain registration on the same held-out pairs: ANTs Affine, SyN, SyNQuick and VoxelMorph.

Simulates a small cohort with the demo's brain settings (2D slices or 3D volumes at 2 mm),
registers the held-out subjects (moving) to the MNI152 template (fixed) with each method and
reports per method the time per pair, Dice of nearest-neighbour-warped tissue labels (mean of
CSF, GM, WM, ventricles), NCC with the template inside its brain mask and % of voxels with
det J <= 0. VoxelMorph is trained on the *other* subjects' affinely aligned images (ANTs
Affine, as in the workflow) and applied to the held-out subjects' affine images: its time per
pair is reported for the network alone and with the affine stage.

    python benchmarks/registration.py --dims 2 --n-train 200 --n-test 20 --vxm-steps 2000 \\
        [--device cuda] [--threads 2] [--json out.json]

Timing on a shared machine says nothing about the method: run it on an idle one.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

METHODS = {  # name: (ANTs transform type, the space whose output is scored)
    "Affine": ("Affine", "ants_affine"),
    "SyN": ("SyN", "ants_syn"),
    "SyNQuick": ("antsRegistrationSyNQuick[s]", "ants_syn"),
}


def simulate(n: int, dims: int, seed: int, out: Path) -> Path:
    """n subjects with the demo's pose, deformation and scanner nuisance; returns a manifest."""
    from regwas.simulate import brain

    rng = np.random.default_rng(seed)
    people = pd.DataFrame(
        {
            "sample_id": [f"B{i:05d}" for i in range(n)],
            "age": rng.uniform(45, 80, n),
            "sex": rng.choice(["F", "M"], n),
            "site": rng.choice(["site1", "site2", "site3"], n),
        }
    )
    factors = pd.DataFrame(
        rng.standard_normal((n, len(brain.FACTORS))),
        columns=brain.FACTORS,
        index=people["sample_id"],
    )
    table = brain.render_brain(people, factors, {"dims": dims}, seed=seed, out_dir=out)
    path = out / "brain.manifest.tsv"
    table[["sample_id", "path", "t2_path", "label_path"]].to_csv(path, sep="\t", index=False)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dims", type=int, nargs="+", default=[2], choices=[2, 3])
    ap.add_argument("--n-train", type=int, default=200, help="VoxelMorph training subjects")
    ap.add_argument("--n-test", type=int, default=20, help="held-out pairs (subject, template)")
    ap.add_argument("--methods", nargs="+", default=[*METHODS, "VoxelMorph"])
    ap.add_argument("--vxm-steps", type=int, default=2000)
    ap.add_argument("--vxm-batch", type=int, default=8)
    ap.add_argument("--vxm-lr", type=float, default=1e-3)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=1, help="ITK and torch threads")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="write the table (and settings) here")
    args = ap.parse_args()
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(args.threads)
    import torch

    from regwas.config import section
    from regwas.register.image import classical, metrics, stores
    from regwas.register.image import voxelmorph as vm

    torch.set_num_threads(args.threads)
    rows = []
    for dims in args.dims:
        with tempfile.TemporaryDirectory(prefix="regwas-bench-reg-") as tmp:
            tmp = Path(tmp)
            t0 = time.perf_counter()
            man_path = simulate(args.n_train + args.n_test, dims, args.seed, tmp)
            print(
                f"{dims}D: simulated {args.n_train + args.n_test} in {time.perf_counter() - t0:.0f} s"
            )
            cfg = stores.brain_config({})
            stores.build_template(man_path, cfg, args.seed, tmp / "template")
            template, t_labels, grid = stores.read_template(tmp / "template")
            mask = t_labels > 0
            man = stores.read_manifest(man_path, cfg)
            subjects = [stores.Subject(r, grid, cfg) for r in man.itertuples()]
            train, test = subjects[: args.n_train], subjects[args.n_train :]

            def run_ants(
                method: str, group, template=template, t_labels=t_labels, grid=grid, cfg=cfg
            ):
                kind, space = METHODS[method]
                acfg = dict(cfg["ants"], affine_transform=kind, syn_transform=kind)
                out = []
                for s in group:
                    with classical.ants_session(args.seed, args.threads):
                        res = classical.register_ants(
                            template, t_labels, grid, s.image, s.grid, s.labels, [space], acfg,
                            s.native,
                        )  # fmt: skip
                    out.append((res, space))
                return out

            def record(method, seconds, dice, ncc, fold, extra=None, dims=dims):
                rows.append(
                    {
                        "dims": dims,
                        "method": method,
                        "device": "cpu" if method != "VoxelMorph" else args.device,
                        "n_pairs": len(dice),
                        "s_per_pair": float(np.mean(seconds)),
                        "dice": float(np.mean(dice)),
                        "dice_sd": float(np.std(dice)),
                        "ncc": float(np.mean(ncc)),
                        "pct_nonpos_jac": float(np.nanmean(fold)) if len(fold) else float("nan"),
                        **(extra or {}),
                    }
                )
                print(rows[-1], flush=True)

            rows.append(
                {
                    "dims": dims,
                    "method": "none (native)",
                    "n_pairs": len(test),
                    "dice": float(np.mean([metrics.mean_dice(s.native_labels, t_labels) for s in test])),
                    "ncc": float(np.mean([metrics.ncc(s.native, template, mask) for s in test])),
                }
            )  # fmt: skip
            affine_test = None
            for method in [m for m in args.methods if m in METHODS]:
                res = run_ants(method, test)
                qc = [r.qc[sp] for r, sp in res]
                if method == "Affine":
                    affine_test = res
                record(
                    method,
                    [q["seconds"] for q in qc],
                    [q["dice_after"] for q in qc],
                    [q["ncc_after"] for q in qc],
                    [q.get("pct_nonpos_jac", 0.0) for q in qc],
                )
            if "VoxelMorph" in args.methods:
                if affine_test is None:
                    affine_test = run_ants("Affine", test)
                affine_train = run_ants("Affine", train)
                train_rows = np.stack([r.rows["ants_affine"] for r, _ in affine_train])
                vcfg = section(
                    "brain.voxelmorph",
                    {
                        "device": args.device,
                        "steps": args.vxm_steps,
                        "batch_size": args.vxm_batch,
                        "learning_rate": args.vxm_lr,
                        "log_every": max(1, args.vxm_steps // 10),
                        "checkpoint_every": args.vxm_steps,
                    },
                )
                t0 = time.perf_counter()
                vm.train(train_rows, template, vcfg, args.seed, tmp / "vxm.pt")
                train_s = time.perf_counter() - t0
                device = vm.pick_device(vcfg)
                model = vm.load_model(tmp / "vxm.pt", device).to(device)
                seconds, dice, ncc, fold = [], [], [], []
                for r, _ in affine_test:
                    row = r.rows["ants_affine"][None]
                    vm.register_rows(model, row, template, device)  # warm-up (CUDA kernels)
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    t0 = time.perf_counter()
                    warped, disp = vm.register_rows(model, row, template, device)
                    seconds.append(time.perf_counter() - t0)
                    lab = vm.warp_labels(r.labels["ants_affine"][None], disp)[0]
                    det = metrics.jacobian_determinant(disp[0])
                    dice.append(metrics.mean_dice(lab, t_labels))
                    ncc.append(metrics.ncc(warped[0], template, mask))
                    fold.append(metrics.pct_nonpositive(det, mask))
                affine_s = np.mean([r.qc["ants_affine"]["seconds"] for r, _ in affine_test])
                record(
                    "VoxelMorph",
                    seconds,
                    dice,
                    ncc,
                    fold,
                    {
                        "s_per_pair_with_affine": float(np.mean(seconds) + affine_s),
                        "train_s": train_s,
                        "train_images_per_s": args.vxm_steps * args.vxm_batch / train_s,
                        "vxm_steps": args.vxm_steps,
                        "n_train": args.n_train,
                    },
                )
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(4).to_string(index=False))
    if args.json:
        Path(args.json).write_text(
            json.dumps({"settings": vars(args), "rows": rows}, indent=1, default=float)
        )


if __name__ == "__main__":
    main()
