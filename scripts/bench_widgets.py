"""Benchmark: how long each step-by-step explorer takes to build, to redraw after a control
moves, and to render its animation, with the inputs the notebooks give it.

    .venv/bin/python scripts/bench_widgets.py     # about half a minute on 2 CPU cores

Every explorer is built from the shipped checkpoints (or, for the GAN's 2-D snapshots and
the latent grid, from inputs of the notebooks' sizes); then its main control is moved to 12
positions and each redraw is timed. Prints one table; the numbers depend on the machine.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tutorial_lib import ddpm, diffusion, flow, vae, widgets  # noqa: E402
from tutorial_lib.data import load_dataset  # noqa: E402
from tutorial_lib.toy import make_toy  # noqa: E402
from tutorial_lib.utils import load_checkpoint, shipped_checkpoints  # noqa: E402


def timed(build):
    start = time.perf_counter()
    result = build()
    return result, time.perf_counter() - start


def main() -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    data = load_dataset("mnist10k", split="train")
    folder = shipped_checkpoints()
    model, ddpm_cfg = ddpm.from_checkpoint(load_checkpoint(folder / "ddpm-small"))
    cddpm, cddpm_cfg = ddpm.from_checkpoint(load_checkpoint(folder / "ddpm-conditional-small"))
    schedule = diffusion.Schedule(ddpm_cfg.T, ddpm_cfg.schedule)
    ring = make_toy("ring")
    vae2 = vae.VAE(vae.VAEConfig(z_dim=2))  # untrained: decoding costs the same

    def chain():
        _, trajectory = diffusion.ddpm_sample(
            model, (100, *data.shape), schedule, g, clip_x0=True, keep=(999, *range(0, 1000, 10))
        )
        return widgets.ReverseChain(trajectory, n=16)

    def gan_2d():
        snaps = {
            s: (ring.sample(1000, g), torch.rand(121, 121, generator=g), (8, 0.5))
            for s in range(100, 2001, 100)
        }
        return widgets.GANTraining(snaps, modes=ring.modes)

    builders = {
        "ForwardProcess (notebook 03)": (
            lambda: widgets.ForwardProcess(data.images[0], make_toy("moons").sample(2000, g)),
            "t",
        ),
        "ReverseChain, DDPM 1000 steps (04)": (chain, "t"),
        "GANTraining, 2-D ring (01)": (gan_2d, "step"),
        "GANTraining, digit grid (01)": (
            lambda: widgets.GANTraining({s: torch.rand(10, 1, 8, 8) for s in range(0, 1001, 50)}),
            "step",
        ),
        "LatentExplorer (02)": (
            lambda: widgets.LatentExplorer(
                lambda z: vae2.decode_mean(z),
                n=41,
                codes=torch.randn(447, 2),
                labels=torch.randint(0, 10, (447,)),
            ),
            "z1",
        ),
        "Guidance (05)": (
            lambda: widgets.Guidance.from_model(
                cddpm, cddpm_cfg, [0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0], n=10
            ),
            "w",
        ),
        "Trajectories (07)": (
            lambda: widgets.Trajectories.from_models(
                *flow.from_checkpoint(load_checkpoint(folder / "flow")),
                *ddpm.from_checkpoint(load_checkpoint(folder / "ddpm-default")),
                n=6,
                steps=20,
            ),
            "step",
        ),
    }
    print(
        f"{'explorer':<38}{'build s':>9}{'redraw median s':>17}{'redraw max s':>14}{'animation s':>13}{'GIF KB':>8}"
    )
    for name, (build, control_name) in builders.items():
        explorer, build_seconds = timed(build)
        control = explorer.controls[control_name]
        if hasattr(control, "options"):
            values = list(control.options)
        else:
            values = torch.linspace(control.min, control.max, 12).tolist()
            values = [round(v) for v in values] if isinstance(control.value, int) else values
        positions = values[:: max(1, len(values) // 12)][:12]
        times = []
        for value in positions:
            control.value = value
            times.append(explorer.last_redraw_seconds)
        gif, gif_seconds = timed(explorer.gif)
        print(
            f"{name:<38}{build_seconds:>9.2f}{statistics.median(times):>17.3f}{max(times):>14.3f}"
            f"{gif_seconds:>13.2f}{len(gif) / 1024:>8.0f}"
        )


if __name__ == "__main__":
    main()
