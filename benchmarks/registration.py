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

``--vxm-steps`` may list several ascending budgets (``500 1500 3000``): one training run is
resumed from its checkpoint to each and the held-out pairs are scored after each, so a Dice
curve costs one run of the largest budget. ``--vxm-variant '{learning_rate: 0.003, lambda:
0.5}'`` (repeatable, brain.voxelmorph keys, and ``steps: [240, 500]`` for budgets of its own)
trains one model per variant on the same data.
``--vxm-n-train`` trains on the first k training subjects only (the affine stage of the
others is skipped: in 3D it costs seconds per subject). Every timing is given as wall and
CPU seconds (``time.process_time``, this process and its ITK/torch threads) with the 1-minute
load average at its start and end; the table is rewritten (``--json``) after each row.

Timing on a shared machine says nothing about the method: run it on an idle one, or read
the CPU seconds and the load averages beside the wall times.
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
import yaml

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


def load1() -> float:
    """The 1-minute load average (the machine may be shared: read timings beside it)."""
    return round(os.getloadavg()[0], 2)


class Clock:
    """Wall and CPU seconds (this process, all its threads) and the load at start and end."""

    def __enter__(self):
        self.load_start = load1()
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.w0
        self.cpu = time.process_time() - self.c0
        self.load_end = load1()


def variant(text: str) -> dict:
    """A ``--vxm-variant``: a YAML/JSON mapping of brain.voxelmorph keys."""
    value = yaml.safe_load(text) or {}
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"--vxm-variant {text!r}: not a mapping")
    return value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dims", type=int, nargs="+", default=[2], choices=[2, 3])
    ap.add_argument("--n-train", type=int, default=200, help="VoxelMorph training subjects")
    ap.add_argument("--n-test", type=int, default=20, help="held-out pairs (subject, template)")
    ap.add_argument("--methods", nargs="+", default=[*METHODS, "VoxelMorph"])
    ap.add_argument(
        "--vxm-steps", type=int, nargs="+", default=[2000], help="ascending: scored after each"
    )
    ap.add_argument(
        "--vxm-variant", type=variant, action="append", help="brain.voxelmorph keys (YAML)"
    )
    ap.add_argument("--vxm-n-train", type=int, help="train on the first k training subjects")
    ap.add_argument("--vxm-batch", type=int, default=8)
    ap.add_argument("--vxm-lr", type=float, default=1e-3)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=1, help="ITK and torch threads")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--sim-dir",
        help="keep the simulated cohort in DIR/{2,3}d and reuse it on a later run with the same "
        "dims, subject count and seed (3D: minutes per run saved)",
    )
    ap.add_argument("--json", help="write the table (and settings) here")
    args = ap.parse_args()
    steps_list = sorted(set(args.vxm_steps))
    variants = args.vxm_variant or [{}]
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(args.threads)
    import torch

    from regwas.config import section
    from regwas.register.image import classical, metrics, stores
    from regwas.register.image import voxelmorph as vm

    torch.set_num_threads(args.threads)
    import ants  # noqa: F401  (imported here: its import is not timed with the first pair)

    rows = []

    def save() -> None:
        if args.json:
            from regwas.io.atomic import atomic_path

            settings = {**vars(args), "vxm_variant": variants}
            with atomic_path(args.json) as tmp:
                tmp.write_text(
                    json.dumps({"settings": settings, "rows": rows}, indent=1, default=float)
                )

    for dims in args.dims:
        with tempfile.TemporaryDirectory(prefix="regwas-bench-reg-") as tmp:
            tmp = Path(tmp)
            n = args.n_train + args.n_test
            sim = Path(args.sim_dir) / f"{dims}d" if args.sim_dir else tmp
            man_path, stamp = sim / "brain.manifest.tsv", sim / "simulated.json"
            want = {"dims": dims, "n": n, "seed": args.seed}
            if man_path.exists() and stamp.exists():
                if json.loads(stamp.read_text()) != want:
                    raise SystemExit(f"{stamp}: not {want}; another --sim-dir")
                print(f"{dims}D: reusing the {n} subjects simulated in {sim}")
            else:
                with Clock() as clk:
                    man_path = simulate(n, dims, args.seed, sim)
                stamp.write_text(json.dumps(want))
                print(f"{dims}D: simulated {n} in {clk.wall:.0f} s wall, {clk.cpu:.0f} s CPU")
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
                """(result, space, CPU seconds) per subject, and the Clock of the whole group."""
                kind, space = METHODS[method]
                acfg = dict(cfg["ants"], affine_transform=kind, syn_transform=kind)
                out = []
                with Clock() as group_clk:
                    for s in group:
                        c0 = time.process_time()
                        with classical.ants_session(args.seed, args.threads):
                            res = classical.register_ants(
                                template, t_labels, grid, s.image, s.grid, s.labels, [space],
                                acfg, s.native,
                            )  # fmt: skip
                        out.append((res, space, time.process_time() - c0))
                return out, group_clk

            def record(method, seconds, cpu, dice, ncc, fold, clk, extra=None, dims=dims):
                rows.append(
                    {
                        "dims": dims,
                        "method": method,
                        "device": "cpu" if method != "VoxelMorph" else args.device,
                        "n_pairs": len(dice),
                        "s_per_pair": float(np.mean(seconds)),
                        # CPU of the whole call (ANTs: with its conversions and QC metrics)
                        "cpu_s_per_pair": float(np.mean(cpu)),
                        "dice": float(np.mean(dice)),
                        "dice_sd": float(np.std(dice)),
                        "ncc": float(np.mean(ncc)),
                        "pct_nonpos_jac": float(np.nanmean(fold)) if len(fold) else float("nan"),
                        "load_start": clk.load_start,
                        "load_end": clk.load_end,
                        **(extra or {}),
                    }
                )
                print(rows[-1], flush=True)
                save()

            rows.append(
                {
                    "dims": dims,
                    "method": "none (native)",
                    "n_pairs": len(test),
                    "dice": float(np.mean([metrics.mean_dice(s.native_labels, t_labels) for s in test])),
                    "ncc": float(np.mean([metrics.ncc(s.native, template, mask) for s in test])),
                }
            )  # fmt: skip
            print(rows[-1], flush=True)
            save()
            affine_test = None
            for method in [m for m in args.methods if m in METHODS]:
                res, clk = run_ants(method, test)
                qc = [r.qc[sp] for r, sp, _ in res]
                if method == "Affine":
                    affine_test = res
                record(
                    method,
                    [q["seconds"] for q in qc],
                    [c for _, _, c in res],
                    [q["dice_after"] for q in qc],
                    [q["ncc_after"] for q in qc],
                    [q.get("pct_nonpos_jac", 0.0) for q in qc],
                    clk,
                )
            if "VoxelMorph" not in args.methods:
                continue
            if affine_test is None:
                affine_test = run_ants("Affine", test)[0]
            vxm_train = train[: args.vxm_n_train] if args.vxm_n_train else train
            affine_train, clk = run_ants("Affine", vxm_train)
            print(
                f"{dims}D: affine stage of {len(vxm_train)} training subjects: "
                f"{clk.wall:.0f} s wall, {clk.cpu:.0f} s CPU",
                flush=True,
            )
            train_rows = np.stack([r.rows["ants_affine"] for r, _, _ in affine_train])
            del affine_train
            affine_s = np.mean([r.qc["ants_affine"]["seconds"] for r, _, _ in affine_test])
            affine_cpu = np.mean([c for _, _, c in affine_test])
            for k, var in enumerate(variants):
                var = dict(var)
                budgets = sorted(set(var.pop("steps", steps_list)))
                base = {
                    "device": args.device,
                    "batch_size": args.vxm_batch,
                    "learning_rate": args.vxm_lr,
                    **var,
                }
                out = tmp / f"vxm{k}.pt"
                train_wall = train_cpu = 0.0
                done = 0
                for steps in budgets:
                    vcfg = section(
                        "brain.voxelmorph",
                        {
                            **base,
                            "steps": steps,
                            "log_every": max(1, steps // 10),
                            "checkpoint_every": steps,
                        },
                    )
                    with Clock() as tclk:  # resumes the checkpoint of the previous budget
                        vm.train(train_rows, template, vcfg, args.seed, out)
                    train_wall += tclk.wall
                    train_cpu += tclk.cpu
                    device = vm.pick_device(vcfg)
                    model = vm.load_model(out, device).to(device)
                    seconds, cpu, dice, ncc, fold = [], [], [], [], []
                    with Clock() as iclk:
                        for r, _, _ in affine_test:
                            row = r.rows["ants_affine"][None]
                            vm.register_rows(model, row, template, device)  # warm-up (CUDA)
                            if device.type == "cuda":
                                torch.cuda.synchronize()
                            t0, c0 = time.perf_counter(), time.process_time()
                            warped, disp = vm.register_rows(model, row, template, device)
                            seconds.append(time.perf_counter() - t0)
                            cpu.append(time.process_time() - c0)
                            lab = vm.warp_labels(r.labels["ants_affine"][None], disp)[0]
                            det = metrics.jacobian_determinant(disp[0])
                            dice.append(metrics.mean_dice(lab, t_labels))
                            ncc.append(metrics.ncc(warped[0], template, mask))
                            fold.append(metrics.pct_nonpositive(det, mask))
                    images = (steps - done) * min(args.vxm_batch, len(train_rows))
                    record(
                        "VoxelMorph",
                        seconds,
                        cpu,
                        dice,
                        ncc,
                        fold,
                        iclk,
                        {
                            "variant": json.dumps(var, sort_keys=True),
                            "s_per_pair_with_affine": float(np.mean(seconds) + affine_s),
                            "cpu_s_per_pair_with_affine": float(np.mean(cpu) + affine_cpu),
                            "vxm_steps": steps,
                            "vxm_batch": vcfg["batch_size"],
                            "learning_rate": vcfg["learning_rate"],
                            "n_train": len(train_rows),
                            "train_s": train_wall,
                            "train_cpu_s": train_cpu,
                            # this budget's segment of training (since the previous one)
                            "train_s_per_step": tclk.wall / (steps - done),
                            "train_cpu_s_per_step": tclk.cpu / (steps - done),
                            "train_images_per_s": images / tclk.wall,
                            "train_load_start": tclk.load_start,
                            "train_load_end": tclk.load_end,
                        },
                    )
                    done = steps
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print(table.round(4).to_string(index=False))
    save()


if __name__ == "__main__":
    main()
