"""Autoencoder training throughput (samples/s) per input shape on this machine's CPU (or GPU).

Times full training steps (forward, backward, AdamW) of the default represent.autoencoder
architecture and batch size on random inputs of each demo space's row shape, after one warm-up
step:
    python benchmarks/autoencoder_throughput.py [--threads 1] [--steps 5] [--device cpu]
        [--config config/gpu.yaml]
--config takes represent (the architecture, batch size) from a config file instead of the
schema's defaults, e.g. to size config/gpu.yaml's network.
"""

import argparse
import time

import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from regwas.config import section
from regwas.represent.autoencoder import build_network, count_parameters

SHAPES = {  # space: (conv dims, channels, spatial shape)
    "ecg/native": (1, 12, (5000,)),
    "ecg/median_beat": (1, 12, (600,)),
    "brain/2d slice": (2, 1, (99, 117)),
    "cardiac/cine x y t": (3, 1, (32, 32, 25)),
    "dxa/image": (2, 1, (96, 192)),
    "brain/3d 2mm volume": (3, 1, (99, 117, 95)),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=None, help="default: the config's batch_size")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--config", default=None, help="a config file whose represent section to use")
    ap.add_argument("--skip-3d", action="store_true", help="skip the 3D brain volume (slow on CPU)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    represent = {"method": "autoencoder"}
    if args.config:
        with open(args.config) as fh:
            represent = {**(yaml.safe_load(fh) or {}).get("represent", {}), **represent}
    cfg = section("represent", represent, source=args.config or "defaults")["autoencoder"]
    args.batch = args.batch or cfg["batch_size"]
    dev = torch.device(args.device)
    print("space\tparameters\tgflop_per_sample\tsamples_per_s")
    for name, (dims, ch, shape) in SHAPES.items():
        if name.startswith("brain/3d") and args.skip_3d:
            continue
        enc, dec = build_network(dims, ch, 16, cfg)
        enc.to(dev), dec.to(dev)
        opt = torch.optim.AdamW([*enc.parameters(), *dec.parameters()], lr=1e-3)
        x = torch.randn(args.batch, ch, *shape, device=dev)
        with FlopCounterMode(display=False) as flops:  # one training step's convolutions, matmuls
            z, s = enc(x[:1])
            ((dec(z, s) - x[:1]) ** 2).mean().backward()
        gflop = flops.get_total_flops() / 1e9
        amp = torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" else None
        for k in range(args.steps + 1):
            if k == 1:
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                t = time.perf_counter()
            if amp:
                with amp:
                    z, s = enc(x)
                    loss = ((dec(z, s).float() - x) ** 2).mean()
            else:
                z, s = enc(x)
                loss = ((dec(z, s) - x) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        rate = args.steps * args.batch / (time.perf_counter() - t)
        n_par = count_parameters(enc) + count_parameters(dec)
        print(f"{name}\t{n_par}\t{gflop:.3f}\t{rate:.1f}", flush=True)


if __name__ == "__main__":
    main()
