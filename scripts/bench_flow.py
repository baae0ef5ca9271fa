"""Benchmark: sample quality against network calls, flow matching against the DDPM (notebook 07).

    .venv/bin/python scripts/bench_flow.py [--n 1000] [--device cpu]    # about 15 minutes on 2 CPU cores

Compares two shipped checkpoints trained by the CLI at its defaults on mnist10k, with the same
UNet, 4000 steps of 64, on the same 2-core CPU: checkpoints/flow (flow matching) and
checkpoints/ddpm-default (the DDPM). For 1, 2, 5, 10, 20 and 50 network calls it draws --n
samples with each sampler,

    flow, Euler          flow.solve, one call a step
    flow, Heun           flow.solve, two calls a step (even numbers of calls only)
    DDPM, DDIM           diffusion.ddim_sample (eta = 0), one call a step
    DDPM, chain          the DDPM's own stochastic chain on the schedule respaced to that many
                         steps (Nichol & Dhariwal 2021; sigma^2 = beta_tilde, as ddpm.inpaint)

and measures their Fréchet distance to the test split in the shipped classifier's features
(metrics.evaluate). It also measures how far the trajectories bend (flow.straightness, 50
steps, in each sampler's own x_t) and the training time of each checkpoint, and prints
Markdown tables. The numbers depend on the machine; the ranking should not.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tutorial_lib import diffusion, flow, metrics  # noqa: E402
from tutorial_lib.data import load_dataset  # noqa: E402
from tutorial_lib.ddpm import in_slices  # noqa: E402
from tutorial_lib.families import get  # noqa: E402
from tutorial_lib.utils import get_device, load_checkpoint  # noqa: E402

CALLS = (1, 2, 5, 10, 20, 50)


def load(path: Path, device):
    checkpoint = load_checkpoint(path)
    model, cfg = get(checkpoint["kind"]).from_checkpoint(checkpoint)
    return model.to(device), cfg, checkpoint["extra"].get("seconds")


def samplers(flow_model, flow_cfg, ddpm_model, ddpm_cfg, device):
    """{name: draw(noise, calls) -> images, or None where the sampler cannot use that many calls}."""
    shape = flow_cfg.image_shape
    v, eps = in_slices(flow_model, shape), in_slices(ddpm_model, shape)
    schedule = diffusion.Schedule(ddpm_cfg.T, ddpm_cfg.schedule)

    def ddim(noise, calls):
        g = torch.Generator().manual_seed(0)
        return diffusion.ddim_sample(
            eps, noise.shape, schedule, calls, generator=g, device=device, clip_x0=True
        )[0]

    def chain(noise, calls):
        respaced, taus = schedule.respaced(calls)
        g = torch.Generator().manual_seed(0)
        return diffusion.ddpm_sample(
            diffusion.respaced_model(eps, taus),
            noise.shape,
            respaced,
            g,
            device,
            variance="beta_tilde",
            clip_x0=True,
        )[0]

    return {
        "flow, Euler": lambda noise, calls: flow.solve(v, noise, flow.times(calls))[0],
        "flow, Heun": lambda noise, calls: (
            flow.solve(v, noise, flow.times(calls // 2), "heun")[0] if calls % 2 == 0 else None
        ),
        "DDPM, DDIM": ddim,
        "DDPM, chain": chain,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="samples per point (default 1000)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto")
    parser.add_argument("--flow", default=str(ROOT / "checkpoints" / "flow"))
    parser.add_argument("--ddpm", default=str(ROOT / "checkpoints" / "ddpm-default"))
    parser.add_argument("--classifier", default=str(ROOT / "checkpoints" / "classifier"))
    args = parser.parse_args()
    device, n = get_device(args.device), args.n
    torch.set_grad_enabled(False)
    flow_model, flow_cfg, flow_seconds = load(Path(args.flow), device)
    ddpm_model, ddpm_cfg, ddpm_seconds = load(Path(args.ddpm), device)
    classifier = metrics.course_classifier(args.classifier).to(device)
    test, train = load_dataset("mnist10k", split="test"), load_dataset("mnist10k", split="train")
    baseline = train.images[torch.randperm(len(train), generator=torch.Generator().manual_seed(1))]

    def fd(images):
        return metrics.evaluate(
            images, test.images.to(device), baseline[:n].to(device), classifier, 10
        )["frechet_distance"]

    noise = torch.randn(n, *flow_cfg.image_shape, generator=torch.Generator().manual_seed(0))
    draw = samplers(flow_model, flow_cfg, ddpm_model, ddpm_cfg, device)
    table, seconds = {}, {}
    for name, sampler in draw.items():
        for calls in CALLS:
            start = time.perf_counter()
            images = sampler(noise.to(device), calls)
            if images is None:
                continue
            seconds[name, calls] = time.perf_counter() - start
            table[name, calls] = fd(images.clamp(-1, 1))
            print(f"{name:<12} {calls:>3} calls: FD {table[name, calls]:7.1f} "
                  f"({seconds[name, calls]:.1f} s)", file=sys.stderr, flush=True)  # fmt: skip

    print(f"\nFréchet distance of {n} samples to the test split (real against real: "
          f"{metrics.evaluate(baseline[:n], test.images, baseline[n:2 * n], classifier, 10)['frechet_distance']:.1f})\n")  # fmt: skip
    print("| network calls | " + " | ".join(draw) + " |")
    print("|---" * (len(draw) + 1) + "|")
    for calls in CALLS:
        cells = [f"{table[name, calls]:.1f}" if (name, calls) in table else "" for name in draw]
        print(f"| {calls} | " + " | ".join(cells) + " |")

    few = 100
    _, flow_path = flow.solve(
        in_slices(flow_model, flow_cfg.image_shape), noise[:few].to(device), flow.times(50),
        keep=True,
    )  # fmt: skip
    schedule = diffusion.Schedule(ddpm_cfg.T, ddpm_cfg.schedule)
    taus = diffusion.ddim_timesteps(schedule, 50)
    x, kept = diffusion.ddim_sample(
        in_slices(ddpm_model, ddpm_cfg.image_shape), (few, *ddpm_cfg.image_shape), schedule, 50,
        generator=torch.Generator().manual_seed(0), device=device, clip_x0=True, keep=tuple(taus),
    )  # fmt: skip
    ddpm_path = torch.stack([kept[t][0] for t in taus] + [x.cpu()])
    print("\n| checkpoint | training seconds (CLI default, 2-core CPU) | FD at 20 calls | FD at 50 "
          "calls | trajectories' bend (50 steps, median) |")  # fmt: skip
    print("|---|---|---|---|---|")
    for name, secs, path, key in [
        ("flow", flow_seconds, flow_path, "flow, Euler"),
        ("ddpm-default", ddpm_seconds, ddpm_path, "DDPM, DDIM"),
    ]:
        bend = flow.straightness(path.double()).median().item()
        print(f"| {name} ({key}) | {secs:.0f} | {table[key, 20]:.1f} | {table[key, 50]:.1f} "
              f"| {bend:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
