"""Benchmark: seconds to sample 1000 images from each shipped model, and to compute the likelihood bounds.

    .venv/bin/python scripts/bench_sampling.py [--n 1000] [--device cpu]     # about 4 minutes on 2 CPU cores

Notebook 06 times the full DDPM chain on 100 images and scales it to 1000; this script times
all 1000, to check that scaling. Prints one table; the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tutorial_lib import families, metrics  # noqa: E402
from tutorial_lib.data import load_dataset  # noqa: E402
from tutorial_lib.utils import get_device, load_checkpoint  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="images per model (default 1000)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto")
    parser.add_argument("--checkpoints", default=str(ROOT / "checkpoints"))
    args = parser.parse_args()
    device, n, folder = get_device(args.device), args.n, Path(args.checkpoints)
    runs = {
        name: load_checkpoint(folder / name) for name in ("gan", "vae", "ddpm", "ddpm-conditional")
    }
    models = {}  # name -> (family, model on device, config)
    for name, checkpoint in runs.items():
        family = families.get(checkpoint["kind"])
        model, cfg = family.from_checkpoint(checkpoint)
        models[name] = (family, model.to(device), cfg)
    test = load_dataset("digits", split="test")

    def draw(name, **options):
        family, model, cfg = models[name]
        return family.sample(model, cfg, n, torch.Generator().manual_seed(0), device, **options)

    labels = torch.arange(n) % models["ddpm-conditional"][2].num_classes
    ddim = dict(sampler="ddim", steps=50)
    jobs = [
        (f"GAN, {n} samples", lambda: draw("gan")),
        (f"VAE, {n} samples", lambda: draw("vae")),
        (f"DDPM, DDIM 50 steps, {n} samples", lambda: draw("ddpm", **ddim)),
        (
            f"conditional DDPM, w = 2, DDIM 50, {n} samples",
            lambda: draw("ddpm-conditional", labels=labels, guidance=2.0, **ddim),
        ),
        (
            f"DDPM, full chain 1000 steps, {n} samples",
            lambda: draw("ddpm", sampler="ddpm", progress=True),
        ),
        (
            f"VAE -ELBO and IWAE (K=500), {len(test)} test images",
            lambda: metrics.likelihood(runs["vae"], test.images, device=device),
        ),
        (
            f"DDPM bound, 1000 terms, {len(test)} test images",
            lambda: metrics.likelihood(
                runs["ddpm"], test.images, torch.Generator().manual_seed(0), device, progress=True
            ),
        ),
    ]
    rows = []
    for name, job in jobs:
        start = time.perf_counter()
        job()
        if device.type == "cuda":
            torch.cuda.synchronize()
        rows.append((name, time.perf_counter() - start))
        print(f"{name}: {rows[-1][1]:.2f} s", file=sys.stderr, flush=True)
    print(
        f"\n{'task (' + str(device) + ', ' + str(torch.get_num_threads()) + ' threads)':<52}{'seconds':>10}"
    )
    print("-" * 62)
    for name, seconds in rows:
        print(f"{name:<52}{seconds:>10.2f}")


if __name__ == "__main__":
    main()
