"""Equal-capacity DenseNet-style convolutional autoencoders (``represent.method: autoencoder``).

One family for every modality: 1D multichannel signals (ECG rows C x L, native 12 x 5000 or
median beat 12 x 600), 2D images (H x W or C x H x W) and 3D volumes, chosen by
``represent.autoencoder.conv_dims`` per modality.

Equal capacity across the spaces of a modality: the network has a fixed number of
stride-2 stages whatever the input size, and an **adaptive average pooling to a fixed grid**
(``pool_size`` per axis) before the linear bottleneck, so no weight's shape depends on the
input's length or height/width. The decoder maps the latent back to that grid, and resizes
(parameter-free interpolation) to each encoder stage's size and finally to the input's size.
Only the first and last convolutions see the input's channel count. So two spaces of one
modality with the same channel count (ECG native vs median beat: 12; brain slices: 1) have
exactly the same parameter count (tested); spaces whose channel counts differ by c differ by
the stem and head convolutions only. The training budget (steps, batch size, AdamW,
warm-up + cosine schedule, early stopping) comes from the same config section for every space.

Training streams the array store: each step reads its batch rows from the memory-mapped
``data.npy`` (indices drawn from ``np.random.default_rng([seed, step])``, so a resumed run
draws the same batches as an uninterrupted one). Features are standardised with a per-feature
mean and scale computed, block by block, on the training people.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from regwas.errors import InputError
from regwas.io.arraystore import ArrayStore
from regwas.io.atomic import atomic_path, config_digest, sha256_file
from regwas.represent.base import Embedder

log = logging.getLogger(__name__)

MODEL, CHECKPOINT = "model.pt", ".autoencoder.ckpt.pt"
TRAINING_LOG, RECON_QC = "training_log.tsv", "reconstruction_qc.tsv"
RECON_EXAMPLES = "reconstruction_examples.npz"
N_EXAMPLES = 3


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss); names the step and the batch's sample ids."""


class TrainingInterrupted(RuntimeError):
    """Raised by ``fit(stop_at=...)``: training stopped after a checkpoint, as if killed."""


# --- the network --------------------------------------------------------------------------


def _torch():
    import torch

    return torch


def build_network(dims: int, in_channels: int, latent_dim: int, cfg: dict):
    """(encoder, decoder) torch modules for ``dims``-D inputs with ``in_channels`` channels."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dims]
    pool = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}[dims]
    adaptive = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}[dims]
    mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[dims]
    g, n_layers, n_blocks = cfg["growth_rate"], cfg["layers_per_block"], cfg["blocks"]
    grid = (cfg["pool_size"],) * dims
    stem_k = 7 if dims == 1 else 3

    def norm(c):
        return nn.GroupNorm(1, c)

    class DenseLayer(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.body = nn.Sequential(norm(c), nn.GELU(), conv(c, g, 3, padding=1))

        def forward(self, x):
            return torch.cat([x, self.body(x)], dim=1)

    def dense_block(c):
        return nn.Sequential(*(DenseLayer(c + i * g) for i in range(n_layers))), c + n_layers * g

    def resize(x, size):
        return x if tuple(x.shape[2:]) == tuple(size) else F.interpolate(x, size=size, mode=mode)

    # channel plan: stem c0, each stage a dense block then a 1x1 transition (compression)
    chans = [cfg["stem_channels"]]
    for _ in range(n_blocks):
        chans.append(max(1, int((chans[-1] + n_layers * g) * cfg["compression"])))
    flat = chans[-1] * int(np.prod(grid))

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = conv(in_channels, chans[0], stem_k, stride=2, padding=stem_k // 2)
            stages = []
            for b in range(n_blocks):
                block, c = dense_block(chans[b])
                stages.append(
                    nn.Sequential(
                        block, norm(c), nn.GELU(), conv(c, chans[b + 1], 1), pool(2, ceil_mode=True)
                    )
                )
            self.stages = nn.ModuleList(stages)
            self.pool = adaptive(grid)
            self.head = nn.Linear(flat, latent_dim)

        def forward(self, x):
            """(latent, spatial sizes before each stage: what the decoder resizes back to)."""
            sizes = [tuple(x.shape[2:])]
            x = self.stem(x)
            for stage in self.stages:
                sizes.append(tuple(x.shape[2:]))
                x = stage(x)
            sizes.append(tuple(x.shape[2:]))
            return self.head(torch.flatten(self.pool(x), 1)), sizes

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(latent_dim, flat)
            stages = []
            for b in reversed(range(n_blocks)):
                block, c = dense_block(chans[b + 1])
                stages.append(nn.Sequential(block, norm(c), nn.GELU(), conv(c, chans[b], 1)))
            self.stages = nn.ModuleList(stages)
            self.out = nn.Sequential(
                norm(chans[0]), nn.GELU(), conv(chans[0], in_channels, stem_k, padding=stem_k // 2)
            )

        def forward(self, z, sizes):
            x = self.head(z).view(z.shape[0], chans[-1], *grid)
            x = resize(x, sizes[-1])
            for k, stage in enumerate(self.stages):
                x = resize(stage(x), sizes[-2 - k])
            return resize(self.out(x), sizes[0])

    return Encoder(), Decoder()


def count_parameters(module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def input_layout(row_shape: tuple[int, ...], dims: int, where: str = "") -> tuple[int, tuple]:
    """(channels, spatial shape) of a store row for a ``dims``-D network: a row has ``dims``
    axes (one channel) or ``dims + 1`` (channels first); anything else is a clear error."""
    if len(row_shape) == dims:
        return 1, tuple(row_shape)
    if len(row_shape) == dims + 1:
        return int(row_shape[0]), tuple(row_shape[1:])
    raise InputError(
        f"{where}rows of shape {row_shape} do not fit a {dims}-D autoencoder "
        f"(represent.autoencoder.conv_dims): need {dims} axes, or {dims + 1} with channels first"
    )


# --- the embedder --------------------------------------------------------------------------


def split_people(sample_ids: np.ndarray, val_fraction: float, seed: int, min_people: int):
    """Seeded split of the store's rows by person: (train rows, validation rows), each sorted.

    Rows of one person (repeated sample ids) stay on one side."""
    people = np.unique(sample_ids.astype(str))
    if len(people) < min_people:
        raise InputError(
            f"{len(people)} people: too few to split for autoencoder training "
            f"(represent.autoencoder.min_people = {min_people})"
        )
    rng = np.random.default_rng([seed, 1])
    order = people[rng.permutation(len(people))]
    n_val = max(1, int(round(val_fraction * len(people))))
    val_people = set(order[:n_val])
    is_val = np.array([s in val_people for s in sample_ids.astype(str)])
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def feature_stats(store: ArrayStore, rows: np.ndarray, chunk: int = 256, scaling: str = "feature"):
    """Per-feature mean and scale over ``rows``, streamed in float64. ``scaling``: feature
    (each feature's sd, 1 where constant) or global (one scale for all features: the root mean
    square of their sds, so relative variances are kept; 1 when every feature is constant)."""
    if scaling not in ("feature", "global"):
        raise ValueError(f"scaling must be feature or global, not {scaling!r}")
    flat = store.data.reshape(store.n, -1)
    s = np.zeros(store.n_features)
    sq = np.zeros(store.n_features)
    for a in range(0, len(rows), chunk):
        block = np.asarray(flat[rows[a : a + chunk]], dtype=np.float64)
        if not np.isfinite(block).all():
            bad = rows[a : a + chunk][~np.isfinite(block).all(axis=1)]
            who = ", ".join(map(str, store.sample_ids[bad[:5]]))
            raise InputError(f"{store.dir / 'data.npy'}: the rows of samples {who} hold NaN or inf")
        s += block.sum(axis=0)
        sq += (block**2).sum(axis=0)
    mean = s / len(rows)
    sd = np.sqrt(np.maximum(sq / len(rows) - mean**2, 0.0))
    if scaling == "global":
        rms = float(np.sqrt(np.mean(sd**2)))
        sd = np.full_like(sd, rms if rms > 1e-8 else 1.0)
    return mean.astype(np.float32), np.where(sd > 1e-8, sd, 1.0).astype(np.float32)


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up then cosine decay to 5% of the base rate."""
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


class AutoencoderEmbedder(Embedder):
    """A DenseNet-style conv autoencoder per space; the latent bottleneck is the embedding."""

    method = "autoencoder"

    #: the reconstruction loss (tests replace it to provoke a non-finite loss)
    loss_fn: Callable | None = None

    def __init__(self, cfg: dict, seed: int, modality: str = "", out_dir=None):
        super().__init__(cfg, seed, modality=modality, out_dir=out_dir)
        self.ae = dict(cfg["autoencoder"])
        dims = self.ae["conv_dims"]
        if modality and modality not in dims:
            raise InputError(
                f"represent.autoencoder.conv_dims has no entry for modality {modality!r} "
                f"({', '.join(sorted(dims))})"
            )
        self.dims = int(dims.get(modality, 1 if not modality else dims[modality]))
        self.history: list[dict] = []
        self.qc: dict[str, float] = {}

    # -- helpers ---------------------------------------------------------------------------
    def _device(self):
        torch = _torch()
        want = self.ae["device"]
        if want == "cuda" and not torch.cuda.is_available():
            raise InputError("represent.autoencoder.device is cuda but no CUDA device is visible")
        if want == "auto":
            want = "cuda" if torch.cuda.is_available() else "cpu"
        return torch.device(want)

    def _batch(self, store: ArrayStore, rows: np.ndarray):
        torch = _torch()
        x = np.asarray(store.data.reshape(store.n, -1)[rows], dtype=np.float32)
        x = (x - self.mean) / self.scale
        return torch.from_numpy(x.reshape(len(rows), self.channels, *self.spatial))

    def _fingerprint(self, store: ArrayStore) -> str:
        return config_digest(
            {
                "cfg": self.cfg,
                "seed": self.seed,
                "dims": self.dims,
                "shape": [store.n, *store.row_shape],
                "ids": config_digest(store.sample_ids.astype(str).tolist()),
            }
        )

    def _forward(self, x):
        z, sizes = self.encoder(x)
        return z, self.decoder(z, sizes)

    def _mse(self, store: ArrayStore, rows: np.ndarray) -> tuple[float, float]:
        """(autoencoder MSE, mean-predictor MSE) over ``rows``, standardised units."""
        per, base, _ = self._per_row(store, rows)
        return float(per.mean()), float(base.mean())

    def _per_row(self, store: ArrayStore, rows: np.ndarray, want_z: bool = False):
        torch = _torch()
        self.encoder.eval()
        self.decoder.eval()
        mse, base, zs = [], [], []
        bs = self.ae["eval_batch_size"]
        with torch.no_grad(), self._autocast():
            for a in range(0, len(rows), bs):
                x = self._batch(store, rows[a : a + bs]).to(self.device)
                z, xr = self._forward(x)
                mse.append(((xr.float() - x) ** 2).flatten(1).mean(1).cpu().numpy())
                base.append((x**2).flatten(1).mean(1).cpu().numpy())  # the mean predicts 0
                if want_z:
                    zs.append(z.float().cpu().numpy())
        self.encoder.train()
        self.decoder.train()
        return np.concatenate(mse), np.concatenate(base), np.concatenate(zs) if want_z else None

    def _autocast(self):
        import contextlib

        torch = _torch()
        if self.device.type == "cuda" and self.ae["amp"]:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _path(self, name: str) -> Path | None:
        return None if self.out_dir is None else Path(self.out_dir) / name

    def _save_checkpoint(self, state: dict) -> None:
        path = self._path(CHECKPOINT)
        if path is None:
            return
        with atomic_path(path) as tmp:
            _torch().save(state, tmp)

    # -- the interface ---------------------------------------------------------------------
    def fit(self, store: ArrayStore, stop_at: int | None = None) -> AutoencoderEmbedder:
        """Train (or resume) on the store; ``stop_at`` stops after that step's checkpoint by
        raising :class:`TrainingInterrupted` (the test of resuming a killed job)."""
        torch = _torch()
        ae = self.ae
        self.channels, self.spatial = input_layout(store.row_shape, self.dims, f"{store.dir}: ")
        self.device = self._device()
        train, val = split_people(store.sample_ids, ae["val_fraction"], self.seed, ae["min_people"])
        self.train_rows, self.val_rows = train, val
        self.mean, self.scale = feature_stats(store, train, scaling=ae["scaling"])
        torch.manual_seed(self.seed)
        self.encoder, self.decoder = build_network(self.dims, self.channels, self.latent_dim, ae)
        self.encoder.to(self.device)
        self.decoder.to(self.device)
        params = [*self.encoder.parameters(), *self.decoder.parameters()]
        opt = torch.optim.AdamW(params, lr=ae["learning_rate"], weight_decay=ae["weight_decay"])
        total = ae["steps"]
        warmup = max(1, int(ae["warmup_fraction"] * total))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total, warmup))
        fingerprint = self._fingerprint(store)
        step, best, bad, best_state = 0, math.inf, 0, None
        ckpt = self._path(CHECKPOINT)
        if ckpt is not None and ckpt.exists():
            state = torch.load(ckpt, map_location=self.device, weights_only=False)
            if state.get("fingerprint") == fingerprint:
                self.encoder.load_state_dict(state["encoder"])
                self.decoder.load_state_dict(state["decoder"])
                opt.load_state_dict(state["opt"])
                sched.load_state_dict(state["sched"])
                step, best, bad = state["step"], state["best"], state["bad"]
                best_state, self.history = state["best_state"], state["history"]
                log.info("resuming autoencoder training from %s at step %d", ckpt, step)
            else:
                log.warning("%s: checkpoint of another config or store; training afresh", ckpt)
        loss_fn = self.loss_fn or (lambda xr, x: torch.mean((xr.float() - x) ** 2))
        bs = min(ae["batch_size"], len(train))
        n_params = count_parameters(self.encoder) + count_parameters(self.decoder)
        log.info(
            "autoencoder %dD, input %s x %s, latent %d, %d parameters, %d train / %d validation "
            "people, device %s, up to %d steps of batch %d",
            self.dims,
            self.channels,
            self.spatial,
            self.latent_dim,
            n_params,
            len(train),
            len(val),
            self.device,
            total,
            bs,
        )
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=step, desc="autoencoder", disable=not sys.stderr.isatty())
        t0, seen, running = time.perf_counter(), 0, []
        stopped_early = False
        while step < total and not stopped_early:
            rng = np.random.default_rng([self.seed, 2, step])
            rows = np.sort(rng.choice(train, size=bs, replace=False))
            x = self._batch(store, rows).to(self.device)
            with self._autocast():
                _, xr = self._forward(x)
                loss = loss_fn(xr, x)
            if not torch.isfinite(loss):
                ids = store.sample_ids[rows].tolist()
                raise TrainingError(
                    f"{store.dir}: non-finite autoencoder loss at step {step} on the batch of "
                    f"{', '.join(map(str, ids))}; the last good checkpoint "
                    f"({ckpt if ckpt and ckpt.exists() else 'none'}) is kept"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if ae["grad_clip"] is not None:
                torch.nn.utils.clip_grad_norm_(params, float(ae["grad_clip"]))
            opt.step()
            sched.step()
            step += 1
            seen += bs
            running.append(float(loss.detach()))
            bar.update(1)
            if step % ae["eval_every"] == 0 or step == total:
                val_mse, base_mse = self._mse(store, val)
                elapsed = time.perf_counter() - t0
                self.history.append(
                    {
                        "step": step,
                        "lr": sched.get_last_lr()[0],
                        "train_mse": float(np.mean(running)),
                        "val_mse": val_mse,
                        "val_mean_predictor_mse": base_mse,
                        "samples_per_s": seen / max(elapsed, 1e-9),
                    }
                )
                running = []
                if val_mse < best * (1 - 1e-4):
                    best, bad = val_mse, 0
                    best_state = {
                        "encoder": copy.deepcopy(self.encoder.state_dict()),
                        "decoder": copy.deepcopy(self.decoder.state_dict()),
                        "step": step,
                    }
                else:
                    bad += 1
                    stopped_early = bad >= ae["patience"]
                log.info(
                    "step %d: train MSE %.4f, validation MSE %.4f (mean predictor %.4f), "
                    "%.1f samples/s",
                    step,
                    self.history[-1]["train_mse"],
                    val_mse,
                    base_mse,
                    self.history[-1]["samples_per_s"],
                )
                self._save_checkpoint(
                    {
                        "fingerprint": fingerprint,
                        "encoder": self.encoder.state_dict(),
                        "decoder": self.decoder.state_dict(),
                        "opt": opt.state_dict(),
                        "sched": sched.state_dict(),
                        "step": step if not stopped_early else total,
                        "best": best,
                        "bad": bad,
                        "best_state": best_state,
                        "history": self.history,
                    }
                )
                if stop_at is not None and step >= stop_at and step < total:
                    bar.close()
                    raise TrainingInterrupted(f"stopped after step {step}")
        bar.close()
        if best_state is not None:
            self.encoder.load_state_dict(best_state["encoder"])
            self.decoder.load_state_dict(best_state["decoder"])
        self.best_step = best_state["step"] if best_state else step
        self.n_parameters = n_params
        val_mse, base_mse = self._mse(store, val)
        self.qc = {"val_mse": val_mse, "val_mean_predictor_mse": base_mse}
        log.info(
            "autoencoder: best step %d, held-out MSE %.4f vs mean predictor %.4f (%.1f%%)",
            self.best_step,
            val_mse,
            base_mse,
            100 * val_mse / base_mse if base_mse else float("nan"),
        )
        self._write_model()
        return self

    def _write_model(self) -> None:
        if self.out_dir is None:
            return
        torch = _torch()
        out = Path(self.out_dir)
        with atomic_path(out / MODEL) as tmp:
            torch.save(
                {
                    "encoder": self.encoder.state_dict(),
                    "decoder": self.decoder.state_dict(),
                    "mean": self.mean,
                    "scale": self.scale,
                    "dims": self.dims,
                    "channels": self.channels,
                    "spatial": self.spatial,
                    "latent_dim": self.latent_dim,
                    "autoencoder": self.ae,
                    "modality": self.modality,
                    "seed": self.seed,
                },
                tmp,
            )
        with atomic_path(out / TRAINING_LOG) as tmp:
            pd.DataFrame(self.history).to_csv(tmp, sep="\t", index=False)
        self._path(CHECKPOINT).unlink(missing_ok=True)

    def transform(self, store: ArrayStore) -> np.ndarray:
        channels, spatial = input_layout(store.row_shape, self.dims, f"{store.dir}: ")
        if (channels, spatial) != (self.channels, self.spatial):
            raise InputError(
                f"{store.dir}: rows of shape {store.row_shape}; the autoencoder was trained on "
                f"{(self.channels, *self.spatial)}"
            )
        rows = np.arange(store.n)
        mse, base, z = self._per_row(store, rows, want_z=True)
        self.recon = pd.DataFrame(
            {"sample_id": store.sample_ids, "mse": mse, "mean_predictor_mse": base}
        )
        if self.out_dir is not None:
            in_val = np.isin(store.sample_ids.astype(str), store.sample_ids[self.val_rows])
            self.recon.insert(1, "split", np.where(in_val, "validation", "train"))
            with atomic_path(Path(self.out_dir) / RECON_QC) as tmp:
                self.recon.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
            self.write_examples(store, Path(self.out_dir) / RECON_EXAMPLES)
        return z.astype(np.float32)

    def reconstruct(self, store: ArrayStore, rows: np.ndarray) -> np.ndarray:
        """Reconstructions of ``rows`` in the store's units and row shape (float32)."""
        torch = _torch()
        self.encoder.eval()
        self.decoder.eval()
        with torch.no_grad(), self._autocast():
            _, xr = self._forward(self._batch(store, rows).to(self.device))
        self.encoder.train()
        self.decoder.train()
        xr = xr.float().cpu().numpy().reshape(len(rows), -1) * self.scale + self.mean
        return xr.reshape(len(rows), *store.row_shape).astype(np.float32)

    def write_examples(self, store: ArrayStore, path: str | os.PathLike) -> None:
        """Inputs and reconstructions of the first N_EXAMPLES validation people (by store
        order): the figure of inputs vs reconstructions draws from this file."""
        rows = np.sort(np.asarray(self.val_rows))[:N_EXAMPLES]
        if len(rows) == 0:
            rows = np.arange(min(N_EXAMPLES, store.n))
        per = self.recon.set_index("sample_id")["mse"]
        ids = store.sample_ids[rows].astype(str)
        with atomic_path(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(
                    fh,
                    sample_id=ids,
                    input=np.asarray(store.data[rows], dtype=np.float32),
                    reconstruction=self.reconstruct(store, rows),
                    mse=per.loc[ids].to_numpy(np.float64),
                    dims=np.int64(self.dims),
                )

    def parameters(self) -> dict[str, np.ndarray]:
        out = {"mean": self.mean, "scale": self.scale}
        for part, module in (("encoder", self.encoder), ("decoder", self.decoder)):
            for k, v in module.state_dict().items():
                out[f"{part}.{k}"] = v.detach().cpu().numpy()
        return out

    def info(self) -> dict[str, str]:
        out = {
            "n_parameters": str(self.n_parameters),
            "best_step": str(self.best_step),
            "device": str(self.device),
            **{k: f"{v:.6g}" for k, v in self.qc.items()},
        }
        model = self._path(MODEL)
        if model is not None and model.exists():
            out["model_file"] = MODEL
            out["model_sha256"] = sha256_file(model)
        return out


def load_model(path: str | os.PathLike):
    """(encoder, decoder, saved dict) of a model.pt written by :class:`AutoencoderEmbedder`."""
    torch = _torch()
    saved = torch.load(path, map_location="cpu", weights_only=False)
    enc, dec = build_network(
        saved["dims"], saved["channels"], saved["latent_dim"], saved["autoencoder"]
    )
    enc.load_state_dict(saved["encoder"])
    dec.load_state_dict(saved["decoder"])
    return enc.eval(), dec.eval(), saved
