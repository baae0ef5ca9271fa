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
    DDPM, Heun on its ODE  Heun on paths.probability_flow, DDIM's grid, the last step Euler's
                         (Karras et al. 2022): one call fewer than asked at even numbers

and measures their Fréchet distance to the test split in the shipped classifier's features
(metrics.evaluate). Then notebook 07's three models, checkpoints/flow-latent included, at their
samplers, in the format of the README's quality table; and how far the trajectories bend
(flow.straightness, 50 steps, in each sampler's own x_t) beside each checkpoint's training
time. Prints Markdown tables. The numbers depend on the machine; the ranking should not.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tutorial_lib import ddpm, diffusion, flow, metrics, paths  # noqa: E402
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

    def ddpm_heun(noise, calls):
        """Heun on the DDPM's probability-flow ODE (paths.probability_flow), on DDIM's grid, with
        the last step, to sigma = 0, Euler's (Karras et al. 2022): 2K - 1 calls for K steps, so
        one call fewer than asked at an even number."""
        if calls < 3:
            return None
        velocity, sigmas = paths.probability_flow(eps, schedule, (calls + 1) // 2)
        xbar = noise * (1 + sigmas[0] ** 2).sqrt().item()
        xbar, _ = flow.solve(velocity, xbar, sigmas[:-1], "heun")
        return flow.solve(velocity, xbar, sigmas[-2:], "euler")[0]

    return {
        "flow, Euler": lambda noise, calls: flow.solve(v, noise, flow.times(calls))[0],
        "flow, Heun": lambda noise, calls: (
            flow.solve(v, noise, flow.times(calls // 2), "heun")[0] if calls % 2 == 0 else None
        ),
        "DDPM, DDIM": ddim,
        "DDPM, chain": chain,
        "DDPM, Heun on its ODE": ddpm_heun,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="samples per point (default 1000)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto")
    parser.add_argument("--checkpoints", default=str(ROOT / "checkpoints"))
    args = parser.parse_args()
    device, n, folder = get_device(args.device), args.n, Path(args.checkpoints)
    torch.set_grad_enabled(False)
    flow_model, flow_cfg, flow_seconds = load(folder / "flow", device)
    ddpm_model, ddpm_cfg, ddpm_seconds = load(folder / "ddpm-default", device)
    latent_model, latent_cfg, latent_seconds = load(folder / "flow-latent", device)
    classifier = metrics.course_classifier(folder / "classifier").to(device)
    test, train = load_dataset("mnist10k", split="test"), load_dataset("mnist10k", split="train")
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(1))
    baseline = train.images[order[:n]].to(device)

    def measure(images, labels=None):
        return metrics.evaluate(
            images.clamp(-1, 1).to(device), test.images.to(device), baseline, classifier, 10, labels
        )

    noise = torch.randn(n, *flow_cfg.image_shape, generator=torch.Generator().manual_seed(0))
    draw = samplers(flow_model, flow_cfg, ddpm_model, ddpm_cfg, device)
    table = {}
    for name, sampler in draw.items():
        for calls in CALLS:
            start = time.perf_counter()
            images = sampler(noise.to(device), calls)
            if images is None:
                continue
            seconds = time.perf_counter() - start
            table[name, calls] = measure(images)["frechet_distance"]
            print(
                f"{name}, {calls} calls: FD {table[name, calls]:.1f} ({seconds:.1f} s)", flush=True
            )
    real = measure(train.images[order[n : 2 * n]])["frechet_distance"]

    print(f"\nFréchet distance of {n} samples to the test split (real against real: {real:.1f})\n")
    print("| network calls | " + " | ".join(draw) + " |")
    print("|---" * (len(draw) + 1) + "|")
    for calls in CALLS:
        cells = [f"{table[name, calls]:.1f}" if (name, calls) in table else "" for name in draw]
        print(f"| {calls} | " + " | ".join(cells) + " |")

    # notebook 07's models in the format of the README's quality table
    labels = torch.arange(n) % 10
    rows = {
        "`flow`, Euler, 20 steps": lambda: flow.sample(flow_model, flow_cfg, n, seed(), device),
        "`flow`, Heun, 10 steps (20 calls)": lambda: flow.sample(
            flow_model, flow_cfg, n, seed(), device, solver="heun", steps=10
        ),
        "`ddpm-default`, DDIM, 50 steps": lambda: ddpm.sample(
            ddpm_model, ddpm_cfg, n, seed(), device, sampler="ddim", steps=50
        ),
        "`flow-latent`, no label, Euler, 20 steps": lambda: flow.sample(
            latent_model, latent_cfg, n, seed(), device
        ),
        "`flow-latent`, labels 0-9, w = 2": lambda: flow.sample(
            latent_model, latent_cfg, n, seed(), device, labels=labels
        ),
    }
    print(
        f"\n| samples ({n}) | Fréchet distance (real: {real:.1f}) | precision | recall "
        "| classified as asked | seconds to sample |"
    )
    print("|---|---|---|---|---|---|")
    for name, sample in rows.items():
        start = time.perf_counter()
        images = sample()
        seconds = time.perf_counter() - start
        r = measure(images, labels if "labels" in name else None)
        asked = f"{r['conditional_accuracy']:.1%}" if "conditional_accuracy" in r else ""
        print(
            f"| {name} | {r['frechet_distance']:.1f} | {r['precision']:.2f} | {r['recall']:.2f} "
            f"| {asked} | {seconds:.1f} |"
        )

    few = noise[:100].to(device)
    _, flow_path = flow.solve(
        in_slices(flow_model, flow_cfg.image_shape), few, flow.times(50), keep=True
    )
    schedule = diffusion.Schedule(ddpm_cfg.T, ddpm_cfg.schedule)
    taus = diffusion.ddim_timesteps(schedule, 50)
    x, kept = diffusion.ddim_sample(
        in_slices(ddpm_model, ddpm_cfg.image_shape),
        few.shape,
        schedule,
        50,
        generator=torch.Generator().manual_seed(0),
        device=device,
        clip_x0=True,
        keep=tuple(taus),
    )
    ddpm_path = torch.stack([kept[t][0] for t in taus] + [x.cpu()])
    print(
        "\n| checkpoint | training seconds (2-core CPU) | FD, 20 calls | FD, 50 calls "
        "| trajectories' bend (50 steps, median of 100) |"
    )
    print("|---|---|---|---|---|")
    for name, secs, path, key in [
        ("`flow` (Euler)", flow_seconds, flow_path, "flow, Euler"),
        ("`ddpm-default` (DDIM)", ddpm_seconds, ddpm_path, "DDPM, DDIM"),
    ]:
        bend = flow.straightness(path.double()).median().item()
        print(f"| {name} | {secs:.0f} | {table[key, 20]:.1f} | {table[key, 50]:.1f} | {bend:.3f} |")
    print(f"| `flow-latent` | {latent_seconds:.0f} | | | |")


def seed() -> torch.Generator:
    return torch.Generator().manual_seed(0)


if __name__ == "__main__":
    main()
