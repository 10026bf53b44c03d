"""DropFuse: per-modality encoders into one shared d-dimensional space.

Each modality has an encoder and a decoder of the autoencoder family
(regwas.represent.autoencoder). Trained on the people who have every modality, with

- a **symmetric InfoNCE** loss per pair of modalities: cosine similarities of the batch's
  L2-normalised codes times a learnable scale (1 / temperature; starts at 1 /
  represent.dropfuse.temperature, default 1, capped at 100, its logarithm learned at its own
  rate), cross-entropy of A→B and of B→A with **all** other people of the batch as negatives,
  averaged (the reference implementation swapped the arguments and used 3 negatives). Not
  CLIP's start at 1/0.07: where the modalities share little (demo ECG and cine: even the
  planted factors, linearly matched, give a best batch-32 InfoNCE of ~3.26 against ln 32 =
  3.47, at a scale near 1), every informative code scores worse at scale 14 than codes that
  are all alike (exactly ln 32), so training collapsed the codes and retrieval was at chance;
- codes batch-normalised per coordinate (:func:`build_encoder`), so the cosine compares people
  rather than a shared offset and the modalities' codes are on one scale for the fusion;
- **dropout fusion**: each latent coordinate of the fused code is taken from one modality,
  drawn at random per person and coordinate, so every decoder learns to reconstruct its
  modality from any mix of codes (cross-modal reconstruction: ECG → brain and back);
- per-modality decoders, mean squared error in standardised units.

Every encoder is saved on its own (:meth:`DropFuse.save_encoder`) with its standardisation,
and :class:`DropFuseEncoder` embeds the people of one modality's store, including people
without the other modalities.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from regwas.config.schema import section
from regwas.errors import InputError
from regwas.io.arraystore import ArrayStore
from regwas.io.atomic import atomic_path, config_digest, sha256_file
from regwas.io.embeddings import write_embeddings
from regwas.represent.autoencoder import build_network, feature_stats, input_layout

log = logging.getLogger(__name__)

#: the InfoNCE's scale (1 / temperature): its start (represent.dropfuse.temperature), its cap,
#: and the learning rate of its logarithm (its own AdamW group, no weight decay)
INIT_SCALE, MAX_SCALE, SCALE_LR = 1.0, 100.0, 0.05


def build_encoder(dims: int, in_channels: int, latent_dim: int, cfg: dict):
    """(encoder, decoder) of the autoencoder family (:func:`build_network`) for DropFuse: the
    encoder's codes pass a BatchNorm1d without affine parameters (batch statistics in training,
    running ones when embedding), so each code coordinate is centred and of unit variance.

    Why: the family's codes carry an offset shared by everyone (a linear head over pooled
    features after GELUs): on the demo's deepcycle cine, two people's untrained codes had a
    mean cosine of 0.93 (median-beat ECG 0.63), and after training without the norm the cine
    codes' mean was 50x their spread between people and 10-25x the ECG codes' scale, so dropout
    fusion mixed incommensurable coordinates. The plain autoencoder is unchanged."""
    from torch import nn

    enc, dec = build_network(dims, in_channels, latent_dim, cfg)

    class NormedEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = enc
            self.norm = nn.BatchNorm1d(latent_dim, affine=False)

        def forward(self, x):
            z, sizes = self.net(x)
            return self.norm(z), sizes

    return NormedEncoder(), dec


def info_nce(za, zb, logit_scale):
    """Symmetric InfoNCE of paired codes (row i of ``za`` and ``zb`` is one person): the mean of
    the cross-entropies A→B and B→A over cosine similarities x ``logit_scale``, every other
    row of the batch a negative."""
    import torch
    from torch.nn import functional as F

    za, zb = F.normalize(za.float(), dim=1), F.normalize(zb.float(), dim=1)
    logits = logit_scale * za @ zb.T
    labels = torch.arange(len(za), device=za.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def retrieval_accuracy(za: np.ndarray, zb: np.ndarray, ks=(1, 5)) -> dict[str, float]:
    """Cross-modal retrieval of paired codes by cosine similarity: the share of people whose
    own code in the other modality ranks within the top k, A→B and B→A averaged. Ties are
    broken at random, in expectation: with g others strictly more similar and t others exactly
    as similar, a person counts (k - g) / (t + 1), clipped to [0, 1], so identical (collapsed)
    codes score chance, k / n, not 1."""
    a = za / np.linalg.norm(za, axis=1, keepdims=True).clip(1e-12)
    b = zb / np.linalg.norm(zb, axis=1, keepdims=True).clip(1e-12)
    sim = a @ b.T
    out = {}
    for k in ks:
        hits = []
        for s in (sim, sim.T):
            own = np.diag(s)[:, None]
            above = (s > own).sum(axis=1)
            ties = (s == own).sum(axis=1) - 1  # not the person's own code
            hits.append(np.clip((k - above) / (ties + 1), 0, 1).mean())
        out[f"top{k}"] = float(np.mean(hits))
    return out


def dropout_fusion(codes: list, generator=None):
    """Fuse codes of several modalities: each coordinate of each person from one modality,
    drawn uniformly (training); the mean of the codes without a generator (evaluation)."""
    import torch

    stack = torch.stack(codes)  # modalities x batch x d
    if generator is None:
        return stack.mean(0)
    pick = torch.randint(len(codes), stack.shape[1:], generator=generator)
    return stack.gather(0, pick.unsqueeze(0).to(stack.device)).squeeze(0)


class DropFuse:
    """Encoders and decoders of several modalities into one latent space."""

    def __init__(self, modalities: list[str], cfg: dict, seed: int, conv_dims: dict[str, int]):
        if len(modalities) < 2:
            raise InputError("DropFuse needs at least two modalities")
        self.modalities = list(modalities)
        self.cfg, self.seed, self.conv_dims = cfg, int(seed), conv_dims
        self.latent_dim = int(cfg["latent_dim"])
        # the autoencoder family's architecture and optimiser; DropFuse's own batch (its
        # in-batch negatives) and input scaling
        df = cfg.get("dropfuse", {})
        self.ae = {
            **cfg["autoencoder"],
            **{k: df[k] for k in ("batch_size", "scaling") if k in df},
        }

    def _batch(self, m: str, store: ArrayStore, rows: np.ndarray):
        import torch

        x = np.asarray(store.data.reshape(store.n, -1)[rows], dtype=np.float32)
        x = (x - self.mean[m]) / self.scale[m]
        return torch.from_numpy(x.reshape(len(rows), self.channels[m], *self.spatial[m]))

    def fit(
        self,
        stores: dict[str, ArrayStore],
        steps: int | None = None,
        recon_weight=1.0,
        temperature: float = 1 / INIT_SCALE,
    ):
        """Train on the people in every store (seeded split by person); returns self with
        ``history`` and ``retrieval`` (held-out top-1/top-5 of the first two modalities).
        ``temperature``: the InfoNCE's initial temperature (then learned)."""
        import torch

        ae = self.ae
        ids = {m: stores[m].sample_ids.astype(str) for m in self.modalities}
        both = sorted(set.intersection(*(set(v) for v in ids.values())))
        if len(both) < ae["min_people"]:
            raise InputError(
                f"DropFuse: {len(both)} people have {', '.join(self.modalities)}; too few to "
                f"split (represent.autoencoder.min_people = {ae['min_people']})"
            )
        rng = np.random.default_rng([self.seed, 3])
        people = np.array(both)[rng.permutation(len(both))]
        n_val = max(2, int(round(ae["val_fraction"] * len(people))))
        self.val_people, train_people = np.sort(people[:n_val]), np.sort(people[n_val:])
        self.n_train = len(train_people)
        pos = {m: {s: i for i, s in enumerate(ids[m])} for m in self.modalities}

        def rows(m, who):
            return np.array([pos[m][s] for s in who])

        torch.manual_seed(self.seed)
        self.channels, self.spatial, self.mean, self.scale = {}, {}, {}, {}
        self.encoders, self.decoders = {}, {}
        for m in self.modalities:
            dims = int(self.conv_dims[m])
            self.channels[m], self.spatial[m] = input_layout(stores[m].row_shape, dims, f"{m}: ")
            self.mean[m], self.scale[m] = feature_stats(
                stores[m], np.sort(rows(m, train_people)), scaling=self.ae["scaling"]
            )
            enc, dec = build_encoder(dims, self.channels[m], self.latent_dim, ae)
            self.encoders[m], self.decoders[m] = enc, dec
        if not temperature > 0:
            raise InputError(f"DropFuse: the temperature must be positive, not {temperature}")
        self.log_scale = torch.nn.Parameter(torch.tensor(math.log(min(1 / temperature, MAX_SCALE))))
        params = []
        for m in self.modalities:
            params += [*self.encoders[m].parameters(), *self.decoders[m].parameters()]
        groups = [
            {"params": params},
            {"params": [self.log_scale], "lr": SCALE_LR, "weight_decay": 0.0},
        ]
        opt = torch.optim.AdamW(groups, lr=ae["learning_rate"], weight_decay=ae["weight_decay"])
        gen = torch.Generator().manual_seed(self.seed)
        steps = steps or ae["steps"]
        bs = min(ae["batch_size"], len(train_people))
        self.history = []
        import sys

        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc="DropFuse", disable=not sys.stderr.isatty())
        for step in range(steps):
            brng = np.random.default_rng([self.seed, 4, step])
            who = np.sort(brng.choice(train_people, size=bs, replace=False))
            xs, zs, sizes = {}, {}, {}
            for m in self.modalities:
                xs[m] = self._batch(m, stores[m], rows(m, who))
                zs[m], sizes[m] = self.encoders[m](xs[m])
            scale = self.log_scale.exp().clamp(max=MAX_SCALE)
            pairs = list(itertools.combinations(self.modalities, 2))
            contrast = sum(info_nce(zs[a], zs[b], scale) for a, b in pairs) / len(pairs)
            fused = dropout_fusion([zs[m] for m in self.modalities], gen)
            recon = sum(
                torch.mean((self.decoders[m](fused, sizes[m]) - xs[m]) ** 2)
                for m in self.modalities
            ) / len(self.modalities)
            loss = contrast + recon_weight * recon
            if not torch.isfinite(loss):
                raise RuntimeError(f"DropFuse: non-finite loss at step {step} on {who.tolist()}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                self.log_scale.clamp_(max=math.log(MAX_SCALE))
            self.history.append(
                {"step": step + 1, "infonce": float(contrast.detach()), "recon_mse": float(recon.detach()),
                 "scale": float(scale.detach())}
            )  # fmt: skip
            bar.update(1)
            if (step + 1) % ae["eval_every"] == 0 or step + 1 == steps:
                h = self.history[-1]
                log.info(
                    "DropFuse step %d/%d: InfoNCE %.4f, fused reconstruction MSE %.4f, scale %.1f",
                    step + 1, steps, h["infonce"], h["recon_mse"], h["scale"],
                )  # fmt: skip
        bar.close()
        a, b = self.modalities[:2]
        self.retrieval = retrieval_accuracy(
            self.encoder(a).embed(stores[a], rows(a, self.val_people)),
            self.encoder(b).embed(stores[b], rows(b, self.val_people)),
        )
        log.info("DropFuse held-out retrieval %s -> %s: %s", a, b, self.retrieval)
        return self

    def encoder(self, m: str) -> DropFuseEncoder:
        return DropFuseEncoder(
            self.encoders[m], self.mean[m], self.scale[m], self.channels[m], self.spatial[m],
            int(self.conv_dims[m]), self.latent_dim, self.ae, m,
        )  # fmt: skip

    def save_encoder(self, m: str, path: str | os.PathLike) -> None:
        self.encoder(m).save(path)


class DropFuseEncoder:
    """One modality's DropFuse encoder on its own: embeds a store of that modality alone."""

    def __init__(self, net, mean, scale, channels, spatial, dims, latent_dim, ae, modality):
        self.net, self.mean, self.scale = net, mean, scale
        self.channels, self.spatial, self.dims = channels, tuple(spatial), dims
        self.latent_dim, self.ae, self.modality = latent_dim, ae, modality

    def embed(self, store: ArrayStore, rows: np.ndarray | None = None) -> np.ndarray:
        """Codes (N x d, float32) of the store's rows (all, or ``rows``), in that order."""
        import torch

        layout = input_layout(store.row_shape, self.dims, f"{store.dir}: ")
        if layout != (self.channels, self.spatial):
            raise InputError(
                f"{store.dir}: rows of shape {store.row_shape}; the {self.modality} DropFuse "
                f"encoder takes {(self.channels, *self.spatial)}"
            )
        rows = np.arange(store.n) if rows is None else np.asarray(rows)
        flat = store.data.reshape(store.n, -1)
        out = []
        self.net.eval()
        with torch.no_grad():
            for a in range(0, len(rows), self.ae["eval_batch_size"]):
                r = rows[a : a + self.ae["eval_batch_size"]]
                x = (np.asarray(flat[r], dtype=np.float32) - self.mean) / self.scale
                z, _ = self.net(torch.from_numpy(x.reshape(len(r), self.channels, *self.spatial)))
                out.append(z.numpy())
        self.net.train()
        return np.concatenate(out).astype(np.float32)

    def save(self, path: str | os.PathLike) -> None:
        import torch

        with atomic_path(path) as tmp:
            torch.save(
                {
                    "encoder": self.net.state_dict(), "mean": self.mean, "scale": self.scale,
                    "channels": self.channels, "spatial": self.spatial, "dims": self.dims,
                    "latent_dim": self.latent_dim, "autoencoder": self.ae,
                    "modality": self.modality,
                },
                tmp,
            )  # fmt: skip

    @classmethod
    def load(cls, path: str | os.PathLike) -> DropFuseEncoder:
        import torch

        s = torch.load(path, map_location="cpu", weights_only=False)
        if "norm.running_mean" not in s["encoder"]:
            raise InputError(
                f"{path}: a DropFuse encoder saved before its codes were batch-normalised "
                "(an older regwas, whose training collapsed the codes); train DropFuse again"
            )
        net, _ = build_encoder(s["dims"], s["channels"], s["latent_dim"], s["autoencoder"])
        net.load_state_dict(s["encoder"])
        return cls(
            net, s["mean"], s["scale"], s["channels"], s["spatial"], s["dims"],
            s["latent_dim"], s["autoencoder"], s["modality"],
        )  # fmt: skip


SPACE = "dropfuse"


def fuse_stores(
    stores: Mapping[str, str | os.PathLike],
    model_dir: str | os.PathLike,
    out_dirs: Mapping[str, str | os.PathLike],
    cfg: dict | None,
    seed: int,
) -> DropFuse:
    """Train DropFuse on the array stores (modality -> store folder), then embed everyone in
    each store with that modality's encoder alone.

    Writes, in ``model_dir``: ``{modality}_encoder.pt`` per modality, ``training_log.tsv``
    (InfoNCE, fused reconstruction MSE and temperature per step) and ``retrieval.json``
    (held-out cross-modal top-1/top-5 of the first two modalities, the people, the steps). In
    each ``out_dirs[modality]``: ``embeddings.parquet`` (method dropfuse, the encoder's checksum
    and the config digest in its metadata) and ``samples.tsv`` (the people embedded, as an
    array store's row list, so that comparisons of spaces treat the space like the others).
    """
    cfg = section("represent", cfg)
    modalities = list(stores)
    missing = [m for m in modalities if m not in out_dirs]
    if missing:
        raise InputError(f"DropFuse: no output folder for {', '.join(missing)}")
    arrays = {m: ArrayStore(d) for m, d in stores.items()}
    df = cfg["dropfuse"]
    model = DropFuse(modalities, cfg, seed, cfg["autoencoder"]["conv_dims"])
    unknown = [m for m in modalities if m not in model.conv_dims]
    if unknown:
        raise InputError(
            f"DropFuse: represent.autoencoder.conv_dims has no entry for {', '.join(unknown)}"
        )
    model.fit(
        arrays,
        steps=df["steps"],
        recon_weight=float(df["recon_weight"]),
        temperature=float(df["temperature"]),
    )
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(model_dir / "training_log.tsv") as tmp:
        pd.DataFrame(model.history).to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    a, b = modalities[:2]
    summary = {
        "modalities": modalities,
        "inputs": {m: str(d) for m, d in stores.items()},
        "retrieval": {"from": a, "to": b, **model.retrieval},
        "n_trained_people": int(len(model.val_people) + model.n_train),
        "n_validation_people": int(len(model.val_people)),
        "steps": len(model.history),
        "latent_dim": model.latent_dim,
        "seed": int(seed),
    }
    with atomic_path(model_dir / "retrieval.json", suffix=".json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    digest = config_digest({"represent": cfg, "inputs": summary["inputs"]})
    for m in modalities:
        path = model_dir / f"{m}_encoder.pt"
        model.save_encoder(m, path)
        z = model.encoder(m).embed(arrays[m])
        out = Path(out_dirs[m])
        out.mkdir(parents=True, exist_ok=True)
        meta = {
            "modality": m,
            "space": SPACE,
            "method": SPACE,
            "latent_dim": str(model.latent_dim),
            "model_checksum": sha256_file(path),
            "config_digest": digest,
            "dropfuse_modalities": ",".join(modalities),
            "dropfuse_input": str(stores[m]),
            "retrieval_top1": f"{model.retrieval['top1']:.4g}",
            "retrieval_top5": f"{model.retrieval['top5']:.4g}",
        }
        write_embeddings(arrays[m].sample_ids, z, out / "embeddings.parquet", meta)
        with atomic_path(out / "samples.tsv") as tmp:
            pd.DataFrame({"sample_id": arrays[m].sample_ids}).to_csv(tmp, sep="\t", index=False)
    log.info("DropFuse over %s: retrieval %s", ", ".join(modalities), model.retrieval)
    return model
