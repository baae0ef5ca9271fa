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

from tutorial_lib import diffusion, gan, metrics, vae  # noqa: E402
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
    G, _, gan_cfg = gan.from_checkpoint(runs["gan"])
    vae_model, _ = vae.from_checkpoint(runs["vae"])
    ddpm, ddpm_cfg = diffusion.from_checkpoint(runs["ddpm"])
    cddpm, cddpm_cfg = diffusion.from_checkpoint(runs["ddpm-conditional"])
    G, vae_model, ddpm, cddpm = (m.to(device) for m in (G, vae_model, ddpm, cddpm))
    labels = torch.arange(n) % cddpm_cfg.num_classes
    test = load_dataset("digits", split="test")

    def g():
        return torch.Generator().manual_seed(0)

    jobs = [
        (f"GAN, {n} samples", lambda: gan.sample(G, n, gan_cfg.z_dim, g(), device)),
        (f"VAE, {n} samples", lambda: vae.sample(vae_model, n, g(), device)),
        (
            f"DDPM, DDIM 50 steps, {n} samples",
            lambda: diffusion.sample(ddpm, ddpm_cfg, n, "ddim", 50, g(), device),
        ),
        (
            f"conditional DDPM, w = 2, DDIM 50, {n} samples",
            lambda: diffusion.sample(
                cddpm, cddpm_cfg, n, "ddim", 50, g(), device, labels=labels, guidance=2.0
            ),
        ),
        (
            f"DDPM, full chain 1000 steps, {n} samples",
            lambda: diffusion.sample(ddpm, ddpm_cfg, n, "ddpm", None, g(), device, progress=True),
        ),
        (
            f"VAE -ELBO and IWAE (K=500), {len(test)} test images",
            lambda: metrics.likelihood(runs["vae"], test.images, device=device),
        ),
        (
            f"DDPM bound, 1000 terms, {len(test)} test images",
            lambda: metrics.likelihood(runs["ddpm"], test.images, g(), device, progress=True),
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
