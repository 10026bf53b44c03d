"""Learned registration: a diffeomorphic VoxelMorph (Balakrishnan et al. 2019; Dalca et al. 2019)
in PyTorch, 2D and 3D.

A UNet reads (moving, fixed) and outputs a stationary velocity field v (voxel units); the
displacement is exp(v) by scaling and squaring (v / 2^K, then K self-compositions), and the
moving image is warped with ``grid_sample``. With ``velocity_downsize`` f = 2^k the decoder
stops k levels short of full resolution: v is predicted and integrated on that coarse grid
(as VoxelMorph's ``int_downsize``, which also integrates at 1/2), and the displacement is
upsampled (linearly, align_corners) to the image grid and rescaled to its voxels; the
full-resolution convolutions, most of a 3D step's cost, are skipped. Loss = similarity
(monai LNCC or MSE) + ``lambda`` x regulariser on v (monai DiffusionLoss or
BendingEnergyLoss). Every subject is registered to one template (atlas-based, as in the
paper); the inputs are the affinely aligned images (the ``ants_affine`` store), so the network
learns the non-rigid part only.

Training is seeded (torch, numpy), checkpointed every ``checkpoint_every`` steps (model,
optimiser, step, RNG states) and resumes from the checkpoint; CUDA when present with mixed
precision (bfloat16 autocast), CPU otherwise. A progress bar shows only on a terminal and each
logged step goes to the log.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from regwas.errors import InputError

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- geometry


def _identity(shape: tuple[int, ...], device) -> torch.Tensor:
    """Voxel coordinates (D, *shape) of a grid."""
    axes = [torch.arange(s, device=device, dtype=torch.float32) for s in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"))


def warp(image: torch.Tensor, disp: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Pull back ``image`` (B, C, *S) through displacement ``disp`` (B, D, *S, voxel units):
    out(x) = image(x + disp(x)); zero outside."""
    shape = disp.shape[2:]
    d = len(shape)
    coords = _identity(shape, disp.device)[None] + disp
    # grid_sample wants (B, *S, D) normalised to [-1, 1] with the last axis first
    norm = torch.stack([2 * coords[:, i] / max(shape[i] - 1, 1) - 1 for i in range(d)], dim=-1)
    grid = norm.flip(-1)
    return F.grid_sample(
        image, grid.to(image.dtype), mode=mode, padding_mode="zeros", align_corners=True
    )


def scaling_and_squaring(velocity: torch.Tensor, steps: int = 7) -> torch.Tensor:
    """exp(v): the displacement of the diffeomorphism integrated from a stationary velocity."""
    disp = velocity / (2**steps)
    for _ in range(steps):
        disp = disp + warp(disp, disp)
    return disp


def upsample_displacement(disp: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """A displacement (B, D, *s) in voxels of a coarse grid s on a finer grid ``shape`` spanning
    the same extent (corner voxel centres aligned: coarse i at fine i (S-1)/(s-1)), in the
    fine grid's voxels."""
    coarse = disp.shape[2:]
    if tuple(coarse) == tuple(shape):
        return disp
    mode = "bilinear" if len(shape) == 2 else "trilinear"
    up = F.interpolate(disp, size=tuple(shape), mode=mode, align_corners=True)
    scale = [(n - 1) / max(c - 1, 1) for n, c in zip(shape, coarse, strict=True)]
    return up * torch.tensor(scale, dtype=up.dtype, device=up.device).view(1, -1, *[1] * len(shape))


# --------------------------------------------------------------------------- network


def _levels_skipped(downsize: int, enc) -> int:
    k = int(downsize).bit_length() - 1
    if downsize < 1 or 2**k != downsize or k >= len(enc):
        raise InputError(
            f"voxelmorph velocity_downsize: {downsize} is not a power of 2 below "
            f"2^{len(enc)} (the encoder has {len(enc)} levels)"
        )
    return k


class UNet(nn.Module):
    """The VoxelMorph UNet: strided-conv encoder, upsampling decoder with skips, a flow head.
    ``downsize`` 2^k: the decoder ends k levels above full resolution (the flow is coarse)."""

    def __init__(
        self, dims: int, enc=(16, 32, 32, 32), dec=(32, 32, 32, 32, 16, 16), downsize: int = 1
    ):
        super().__init__()
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        n_up = len(enc) - _levels_skipped(downsize, enc)
        self.dims = dims
        self.down = nn.ModuleList()
        ch = 2
        for c in enc:
            self.down.append(nn.Sequential(conv(ch, c, 3, stride=2, padding=1), nn.LeakyReLU(0.2)))
            ch = c
        self.up = nn.ModuleList()
        skips = [2, *enc[:-1]][::-1]
        for k, c in enumerate(dec[:n_up]):
            self.up.append(nn.Sequential(conv(ch + skips[k], c, 3, padding=1), nn.LeakyReLU(0.2)))
            ch = c
        self.extra = nn.ModuleList()
        for c in dec[len(enc) :]:
            self.extra.append(nn.Sequential(conv(ch, c, 3, padding=1), nn.LeakyReLU(0.2)))
            ch = c
        self.flow = conv(ch, dims, 3, padding=1)
        nn.init.normal_(self.flow.weight, 0.0, 1e-5)
        nn.init.zeros_(self.flow.bias)

    def forward(self, moving: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
        x = torch.cat([moving, fixed], dim=1)
        feats = [x]
        for layer in self.down:
            x = layer(x)
            feats.append(x)
        feats.pop()
        mode = "bilinear" if self.dims == 2 else "trilinear"
        for layer in self.up:
            skip = feats.pop()
            x = F.interpolate(x, size=skip.shape[2:], mode=mode, align_corners=False)
            x = layer(torch.cat([x, skip], dim=1))
        for layer in self.extra:
            x = layer(x)
        return self.flow(x)


class VoxelMorph(nn.Module):
    """UNet velocity + scaling and squaring: returns (warped moving, displacement, velocity);
    the displacement on the image grid, the velocity on the flow's (coarse when ``downsize``
    > 1, in its own voxels)."""

    def __init__(
        self,
        dims: int,
        steps: int = 7,
        enc=(16, 32, 32, 32),
        dec=(32, 32, 32, 32, 16, 16),
        downsize: int = 1,
    ):
        super().__init__()
        self.unet = UNet(dims, tuple(enc), tuple(dec), downsize)
        self.steps = steps

    def forward(self, moving: torch.Tensor, fixed: torch.Tensor):
        velocity = self.unet(moving, fixed).float()
        disp = scaling_and_squaring(velocity, self.steps)
        disp = upsample_displacement(disp, tuple(moving.shape[2:]))
        return warp(moving.float(), disp), disp, velocity


def build(dims: int, cfg: dict) -> VoxelMorph:
    """The model a brain.voxelmorph config describes (a saved config without
    ``velocity_downsize`` predates it: full resolution)."""
    return VoxelMorph(
        dims, cfg["integration_steps"], cfg["enc"], cfg["dec"], cfg.get("velocity_downsize", 1)
    )


# --------------------------------------------------------------------------- training


def pick_device(cfg: dict) -> torch.device:
    """CUDA when present and allowed (``device: auto|cuda|cpu``)."""
    want = cfg.get("device", "auto")
    if want == "cuda" or (want == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def _losses(cfg: dict, dims: int):
    from monai.losses import BendingEnergyLoss, DiffusionLoss, LocalNormalizedCrossCorrelationLoss

    if cfg["similarity"] == "lncc":
        sim = LocalNormalizedCrossCorrelationLoss(spatial_dims=dims, kernel_size=cfg["lncc_window"])
    else:
        sim = nn.MSELoss()
    reg = DiffusionLoss() if cfg["regulariser"] == "diffusion" else BendingEnergyLoss()
    return sim, reg


def _to_tensor(rows: np.ndarray, device) -> torch.Tensor:
    # a copy: rows may be a read-only memory map, which torch does not accept as storage
    return torch.from_numpy(np.array(rows, dtype=np.float32)).to(device)[:, None]


def train(
    data: np.ndarray,
    template: np.ndarray,
    cfg: dict,
    seed: int,
    out: str | os.PathLike,
    train_rows: np.ndarray | None = None,
    fingerprint: dict | None = None,
    template_index: np.ndarray | None = None,
) -> dict:
    """Train VoxelMorph to register rows of ``data`` (N x *S, memory-mapped is fine) to
    ``template`` (*S). With ``template_index`` (N integers) ``template`` is a stack (K, *S) of
    fixed images and row i is registered to ``template[template_index[i]]`` (the cine: each
    frame to the exemplar's frame of the same phase). ``cfg`` is ``brain.voxelmorph`` (or
    ``cardiac.voxelmorph``). Saves ``out`` (model + config) and a
    resumable checkpoint beside it (``out`` with suffix .ckpt); returns the training history
    (step, loss, sim, reg, seconds since the start). A checkpoint is resumed only when its
    ``fingerprint`` (what the training depends on: data, template, seed, config other than the
    step count) equals this run's; otherwise training starts afresh."""
    out = Path(out)
    ckpt_path = out.with_suffix(".ckpt")
    device = pick_device(cfg)
    per_row = template_index is not None
    dims = template.ndim - int(per_row)
    if per_row and len(template_index) != len(data):
        raise InputError(
            f"VoxelMorph training: {len(template_index)} template indices for {len(data)} rows"
        )
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build(dims, cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["learning_rate"])
    sim_loss, reg_loss = _losses(cfg, dims)
    fixed_all = torch.as_tensor(np.array(template, np.float32), device=device)
    rows = np.arange(len(data)) if train_rows is None else np.asarray(train_rows)
    step, history, elapsed = 0, [], 0.0
    fingerprint = {"seed": int(seed), **(fingerprint or {}), "cfg": _train_key(cfg)}
    state = None
    if ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        if state.get("fingerprint") != fingerprint:
            log.warning(
                "checkpoint %s is from another training (data, template, seed or config "
                "differ): starting afresh",
                ckpt_path,
            )
            state = None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, history = state["step"], [tuple(h) for h in state["history"]]
        elapsed = history[-1][4] if history and len(history[-1]) > 4 else 0.0
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        log.info("resumed VoxelMorph training from %s at step %d", ckpt_path, step)
    amp = device.type == "cuda"
    batch = cfg["batch_size"]
    # the bar shows only on a terminal (disable=None: off when stderr is not a tty); the log
    # gets one line every log_every steps
    bar = tqdm(total=cfg["steps"], initial=step, desc="VoxelMorph", disable=None)
    t0 = time.perf_counter()
    done_before = step
    while step < cfg["steps"]:
        pick = np.sort(rng.choice(rows, size=min(batch, len(rows)), replace=False))
        moving = _to_tensor(data[pick], device)
        if per_row:
            fixed = fixed_all[torch.as_tensor(np.asarray(template_index)[pick], device=device)]
            fixed = fixed[:, None]
        else:
            fixed = fixed_all[None, None].expand_as(moving)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            warped, _, velocity = model(moving, fixed)
        sim = sim_loss(warped.float(), fixed)
        reg = reg_loss(velocity.float())
        loss = sim + cfg["lambda"] * reg
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        history.append(
            (step, loss.item(), sim.item(), reg.item(), elapsed + time.perf_counter() - t0)
        )
        bar.update(1)
        if step % cfg["log_every"] == 0 or step == cfg["steps"]:
            log.info(
                "step %d/%d loss %.5f sim %.5f reg %.5f (%.2f s/step)",
                step,
                cfg["steps"],
                loss.item(),
                sim.item(),
                reg.item(),
                (time.perf_counter() - t0) / max(1, step - done_before),
            )
        if step % cfg["checkpoint_every"] == 0 or step == cfg["steps"]:
            from regwas.io.atomic import atomic_path

            with atomic_path(ckpt_path, ".ckpt") as tmp:
                torch.save(
                    {
                        "model": model.state_dict(),
                        "optimizer": opt.state_dict(),
                        "step": step,
                        "history": history,
                        "numpy_rng": rng.bit_generator.state,
                        "torch_rng": torch.get_rng_state(),
                        "fingerprint": fingerprint,
                    },
                    tmp,
                )
    bar.close()
    from regwas.io.atomic import atomic_path

    with atomic_path(out, ".pt") as tmp:
        torch.save({"model": model.state_dict(), "cfg": dict(cfg), "dims": dims}, tmp)
    return {"history": history, "device": device.type}


# config keys that do not change what training computes (the step count may grow: a longer
# run resumes a shorter one's checkpoint)
_NOT_TRAINING = (
    "steps",
    "log_every",
    "checkpoint_every",
    "batch_infer",
    "device",
    "gpu",
    "on_failure",
)


def _train_key(cfg: dict) -> dict:
    return {
        k: (list(v) if isinstance(v, tuple) else v)
        for k, v in sorted(cfg.items())
        if k not in _NOT_TRAINING
    }


HISTORY_COLUMNS = ["step", "loss", "similarity", "regulariser", "seconds"]


def load_model(path: str | os.PathLike, device=None) -> VoxelMorph:
    state = torch.load(path, map_location=device or "cpu", weights_only=False)
    model = build(state["dims"], state["cfg"])
    model.load_state_dict(state["model"])
    return model.eval()


@torch.no_grad()
def register_rows(
    model: VoxelMorph, rows: np.ndarray, template: np.ndarray, device=None
) -> tuple[np.ndarray, np.ndarray]:
    """(warped rows, displacement fields (N, D, *S) in voxels) for a batch of moving rows
    (N, *S), registered to one ``template`` (*S) or each to its own fixed image (``template``
    of the rows' shape, (N, *S))."""
    device = device or next(model.parameters()).device
    moving = _to_tensor(rows, device)
    template = np.asarray(template, np.float32)
    if template.ndim == moving.ndim - 1:  # one fixed image per row
        fixed = torch.as_tensor(template, device=device)[:, None]
    else:
        fixed = torch.as_tensor(template, device=device)[None, None].expand_as(moving)
    warped, disp, _ = model.to(device)(moving, fixed)
    return warped[:, 0].cpu().numpy(), disp.cpu().numpy()


def warp_labels(labels: np.ndarray, disp: np.ndarray) -> np.ndarray:
    """Nearest-neighbour warp of label rows (N, *S) by displacements (N, D, *S)."""
    lab = torch.as_tensor(np.asarray(labels, np.float32))[:, None]
    out = warp(lab, torch.as_tensor(disp), mode="nearest")
    return out[:, 0].round().numpy().astype(np.int16)


def n_params(model: nn.Module) -> int:
    return int(sum(math.prod(p.shape) for p in model.parameters()))


# --------------------------------------------------------------------------- workflow entry


def _store_fingerprint(store, template: np.ndarray, rows: int = 64) -> dict:
    """What a training run depends on, cheaply: the sample ids, the shape and a digest of up to
    ``rows`` evenly spaced rows of the store, and the template's digest."""
    import hashlib

    h = hashlib.sha256()
    h.update("\n".join(map(str, store.sample_ids)).encode())
    h.update(str(store.data.shape).encode())
    for i in np.unique(np.linspace(0, store.n - 1, min(rows, store.n)).astype(int)):
        h.update(np.ascontiguousarray(store.data[i]).tobytes())
    t = hashlib.sha256(np.ascontiguousarray(template, np.float32).tobytes()).hexdigest()
    return {"data": h.hexdigest(), "template": t}


def train_on_store(
    store_dir: str | os.PathLike,
    template_dir: str | os.PathLike,
    cfg: dict | None,
    seed: int,
    out: str | os.PathLike,
    history_path: str | os.PathLike | None = None,
) -> dict:
    """Train on every row of an array store (the ants_affine images) to the template; write the
    model to ``out`` and the per-step training history (step, loss, similarity, regulariser,
    seconds) to ``history_path`` (TSV). A checkpoint beside ``out`` from an interrupted run of
    the same training is resumed."""
    from regwas.config.schema import section
    from regwas.io.arraystore import ArrayStore
    from regwas.register.image.stores import read_template

    cfg = section("brain.voxelmorph", cfg)
    store = ArrayStore(store_dir)
    template = read_template(template_dir)[0]
    if store.row_shape != template.shape:
        raise InputError(
            f"{store.dir}: images of shape {store.row_shape}, the template's is {template.shape}"
        )
    model = build(template.ndim, cfg)
    log.info(
        "VoxelMorph: %d images %s, %d steps of %d, %d parameters, device %s, %d torch threads",
        store.n,
        store.row_shape,
        cfg["steps"],
        cfg["batch_size"],
        n_params(model),
        pick_device(cfg),
        torch.get_num_threads(),
    )
    t0 = time.perf_counter()
    res = train(
        store.data, template, cfg, seed, out, fingerprint=_store_fingerprint(store, template)
    )
    log_training(res, "VoxelMorph", t0, history_path)
    return res


def log_training(res: dict, what: str, t0: float, history_path=None) -> None:
    """Log the first and last losses and the time of a :func:`train` result; write its per-step
    history (step, loss, similarity, regulariser, seconds) to ``history_path`` (TSV)."""
    import pandas as pd

    from regwas.io.atomic import atomic_path

    hist = pd.DataFrame(res["history"], columns=HISTORY_COLUMNS)
    if len(hist) >= 20:
        first, last = hist["loss"].iloc[:10].mean(), hist["loss"].iloc[-10:].mean()
        log.info("loss (mean of 10 steps): first %.5f, last %.5f", first, last)
    log.info("%s trained in %.1f s (this run)", what, time.perf_counter() - t0)
    if history_path is not None:
        with atomic_path(history_path) as tmp:
            hist.to_csv(tmp, sep="\t", index=False, float_format="%.6g")


def _read_qc(store_dir) -> dict[str, dict]:
    """qc.tsv of a store by sample id (empty when it has none)."""
    from regwas.io.arraystore import ArrayStore

    qc = ArrayStore(store_dir).qc() if (Path(store_dir) / "qc.tsv").exists() else None
    return {} if qc is None else {str(r["sample_id"]): r for r in qc.to_dict("records")}


def apply_to_store(
    store_dir: str | os.PathLike,
    template_dir: str | os.PathLike,
    model_path: str | os.PathLike,
    cfg: dict | None,
    out_dirs: dict[str, str | os.PathLike],
    labels_dir: str | os.PathLike | None = None,
    on_failure: str = "exclude",
) -> None:
    """Register every row of a store (the ants_affine images) with a trained model: stores
    ``voxelmorph`` (warped image) and ``voxelmorph_jac`` (log det J of the displacement), each
    with qc.tsv and qc_summary.tsv.

    QC per subject: ``ncc_before``/``dice_before`` are the input store's (for ants_affine, the
    native image's, as for the ANTs spaces); ``ncc_input``/``dice_input`` those of the image the
    network reads (the affine stage's); ``ncc_after``/``dice_after`` after VoxelMorph, Dice from
    the tissue labels in ``labels_dir`` (the ants_affine_labels store) warped with nearest
    neighbour by the same displacement; ``pct_nonpos_jac``; ``seconds`` is VoxelMorph's own
    time per subject (its batch's time / batch size; the affine stage is not included). People
    the input store left out are recorded as left out with its error; a subject whose output is
    not finite is left out (``on_failure: exclude``) or stops the job (``error``).
    """
    import contextlib

    from regwas.config.schema import section
    from regwas.io.arraystore import ArrayStore, ArrayStoreWriter
    from regwas.register.image.metrics import (
        jacobian_determinant,
        mean_dice,
        ncc,
        pct_nonpositive,
        safe_log,
    )
    from regwas.register.image.stores import QC_COLUMNS, read_template, write_qc_summary

    cfg = section("brain.voxelmorph", cfg)
    store = ArrayStore(store_dir)
    template, t_labels, _ = read_template(template_dir)
    if store.row_shape != template.shape:
        raise InputError(
            f"{store.dir}: images of shape {store.row_shape}, the template's is {template.shape}"
        )
    mask = None if t_labels is None else t_labels > 0
    labels = None
    if labels_dir is not None:
        labels = ArrayStore(labels_dir)
        if list(labels.sample_ids) != list(store.sample_ids):
            raise InputError(f"{labels.dir}: its samples differ from those of {store.dir}")
        if t_labels is None:
            raise InputError(f"{template_dir}: the template has no labels (Dice QC)")
    in_qc = _read_qc(store_dir)
    device = pick_device(cfg)
    model = load_model(model_path, device).to(device)
    log.info("VoxelMorph inference: %d images on %s", store.n, device)
    position = {sid: k for k, sid in enumerate(store.sample_ids)}
    excluded = 0
    columns = [*QC_COLUMNS, "ncc_input", "dice_input"]
    with contextlib.ExitStack() as stack:
        writers = {
            sp: stack.enter_context(
                ArrayStoreWriter(d, store.row_shape, len(in_qc) or store.n, qc_columns=columns)
            )
            for sp, d in out_dirs.items()
        }

        def before(rec: dict) -> dict:
            keep = ("ncc_before", "dice_before")
            return {k: rec[k] for k in keep if k in rec and not _isna(rec[k])}

        # people the input store left out (failed affine registration) stay left out here, in
        # the input's qc order
        order = iter(in_qc)

        def flush(until: str | None) -> None:
            for sid in order:
                if sid == until:
                    return
                if sid not in position:
                    rec = in_qc[sid]
                    for w in writers.values():
                        w.exclude(
                            sid, str(rec.get("error") or "not in the input store"), before(rec)
                        )

        batches = range(0, store.n, cfg["batch_infer"])
        for start in tqdm(batches, desc="VoxelMorph inference", disable=None):
            rows = np.asarray(store.data[start : start + cfg["batch_infer"]], np.float32)
            t0 = time.perf_counter()
            warped, disp = register_rows(model, rows, template, device)
            seconds = (time.perf_counter() - t0) / len(rows)
            lab_in = lab_out = None
            if labels is not None:
                lab_in = np.asarray(labels.data[start : start + len(rows)])
                lab_out = warp_labels(lab_in, disp)
            for k, sid in enumerate(store.sample_ids[start : start + len(rows)]):
                if str(sid) in in_qc:
                    flush(str(sid))
                qc = before(in_qc.get(str(sid), {}))
                det = jacobian_determinant(disp[k])
                if not (np.isfinite(warped[k]).all() and np.isfinite(det).all()):
                    if on_failure == "error":
                        raise RuntimeError(f"VoxelMorph: non-finite output for sample {sid}")
                    excluded += 1
                    for w in writers.values():
                        w.exclude(sid, "VoxelMorph: non-finite output", qc)
                    continue
                qc.update(
                    seconds=round(seconds, 5),
                    ncc_input=ncc(rows[k], template, mask),
                    ncc_after=ncc(warped[k], template, mask),
                    pct_nonpos_jac=pct_nonpositive(det, mask),
                )
                if lab_out is not None:
                    qc["dice_input"] = mean_dice(lab_in[k], t_labels)
                    qc["dice_after"] = mean_dice(lab_out[k], t_labels)
                if "voxelmorph" in writers:
                    writers["voxelmorph"].append(sid, warped[k], qc)
                if "voxelmorph_jac" in writers:
                    writers["voxelmorph_jac"].append(sid, safe_log(det), qc)
        flush(None)
    log.info("VoxelMorph: %d subjects registered, %d left out", store.n - excluded, excluded)
    for d in out_dirs.values():
        write_qc_summary(d)


def _isna(value) -> bool:
    try:
        return bool(np.isnan(value))
    except TypeError:
        return value is None


# --------------------------------------------------------------------------- warp examples

WARP_METHODS = ("ants_syn", "voxelmorph")


def warp_example(
    manifest_path: str | os.PathLike,
    template_dir: str | os.PathLike,
    cfg: dict | None,
    seed: int,
    out: str | os.PathLike,
    methods: Iterable[str],
    affine_dir: str | os.PathLike | None = None,
    model_path: str | os.PathLike | None = None,
) -> str:
    """The non-rigid warp of one subject to the template by each method, for the template /
    warp-grid figure: ``out`` (.npz) holds ``template``, ``sample_id``, ``methods`` and per
    method ``disp_<method>`` (D, *S) in template voxels (out(x) = image(x + u(x))).

    The subject is the first of the ``affine_dir`` store (ants_affine; else of the manifest).
    ``ants_syn`` registers it again with the configured SyN (the same settings and seed; not
    checked to be bit-identical to its chunk job) and keeps the SyN stage's field;
    ``voxelmorph`` runs the trained model at ``model_path`` on its ants_affine image. Both fields are the non-rigid part after the same
    kind of affine stage. Returns the sample id."""
    from regwas.io.arraystore import ArrayStore
    from regwas.io.atomic import atomic_path
    from regwas.register.image.classical import ants_session, register_ants
    from regwas.register.image.stores import Subject, brain_config, read_manifest, read_template

    cfg = brain_config(cfg)
    methods = [m for m in methods if m in WARP_METHODS]
    if not methods:
        raise InputError(f"warp example: no method among {WARP_METHODS}")
    template, t_labels, grid = read_template(template_dir)
    man = read_manifest(manifest_path, cfg)
    affine = None if affine_dir is None else ArrayStore(affine_dir)
    sid = str(affine.sample_ids[0]) if affine is not None else str(man["sample_id"].iloc[0])
    arrays: dict[str, np.ndarray] = {"template": template}
    if "ants_syn" in methods:
        row = next(man[man["sample_id"] == sid].itertuples())
        s = Subject(row, grid, cfg)
        with ants_session(seed, cfg["ants"]["threads"]):
            res = register_ants(
                template,
                None,
                grid,
                s.image,
                s.grid,
                None,
                ["ants_syn"],
                cfg["ants"],
                keep_warp=True,
            )
        arrays["disp_ants_syn"] = res.displacement
    if "voxelmorph" in methods:
        if affine is None or model_path is None:
            raise InputError("warp example: voxelmorph needs the ants_affine store and a model")
        model = load_model(model_path)
        arrays["disp_voxelmorph"] = register_rows(model, affine.data[:1], template)[1][0]
    with atomic_path(out, ".npz") as tmp:
        np.savez_compressed(tmp, sample_id=np.array(sid), methods=np.array(methods), **arrays)
    log.info("warp example of %s by %s written to %s", sid, ", ".join(methods), out)
    return sid
