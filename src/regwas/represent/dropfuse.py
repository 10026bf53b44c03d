"""DropFuse: per-modality encoders into one shared d-dimensional space.

Each modality has an encoder and a decoder of the autoencoder family
(regwas.represent.autoencoder). Trained on the people who have every modality, with

- a **symmetric InfoNCE** loss per pair of modalities: cosine similarities of the batch's
  L2-normalised codes times a learnable scale (CLIP: initialised to 1/0.07, capped at 100),
  cross-entropy of A→B and of B→A with **all** other people of the batch as negatives,
  averaged (the reference implementation swapped the arguments and used 3 negatives);
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

INIT_SCALE, MAX_SCALE = 1 / 0.07, 100.0


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
    own code in the other modality ranks within the top k, A→B and B→A averaged."""
    a = za / np.linalg.norm(za, axis=1, keepdims=True).clip(1e-12)
    b = zb / np.linalg.norm(zb, axis=1, keepdims=True).clip(1e-12)
    sim = a @ b.T
    out = {}
    for k in ks:
        hits = []
        for s in (sim, sim.T):
            own = np.diag(s)
            rank = (s > own[:, None]).sum(axis=1)  # others strictly more similar
            hits.append((rank < k).mean())
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
        self.ae = cfg["autoencoder"]

    def _batch(self, m: str, store: ArrayStore, rows: np.ndarray):
        import torch

        x = np.asarray(store.data.reshape(store.n, -1)[rows], dtype=np.float32)
        x = (x - self.mean[m]) / self.scale[m]
        return torch.from_numpy(x.reshape(len(rows), self.channels[m], *self.spatial[m]))

    def fit(self, stores: dict[str, ArrayStore], steps: int | None = None, recon_weight=1.0):
        """Train on the people in every store (seeded split by person); returns self with
        ``history`` and ``retrieval`` (held-out top-1/top-5 of the first two modalities)."""
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
            enc, dec = build_network(dims, self.channels[m], self.latent_dim, ae)
            self.encoders[m], self.decoders[m] = enc, dec
        self.log_scale = torch.nn.Parameter(torch.tensor(math.log(INIT_SCALE)))
        params = [self.log_scale]
        for m in self.modalities:
            params += [*self.encoders[m].parameters(), *self.decoders[m].parameters()]
        opt = torch.optim.AdamW(params, lr=ae["learning_rate"], weight_decay=ae["weight_decay"])
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
        net, _ = build_network(s["dims"], s["channels"], s["latent_dim"], s["autoencoder"])
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
    model.fit(arrays, steps=df["steps"], recon_weight=float(df["recon_weight"]))
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
