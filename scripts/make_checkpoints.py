"""Maintainers: regenerate the shipped checkpoints and their manifest.

    .venv/bin/python scripts/make_checkpoints.py                 # about 5 hours on 2 CPU cores
    .venv/bin/python scripts/make_checkpoints.py --device cuda --jobs 7 --train-only
                                                                 # 7 minutes on one H200; then
    .venv/bin/python scripts/make_checkpoints.py --metrics-only  # remeasure on the CPU (35 s)
    .venv/bin/python scripts/make_checkpoints.py --samples-only --device cuda   # SAMPLES (45 s)
    .venv/bin/python scripts/make_checkpoints.py ddpm-small      # retrain only these; keep the others

Every checkpoint is produced by the course's own CLI on the bundled ``mnist10k`` (28x28) with
a fixed seed, in its own process (``--jobs`` of them at a time). Afterwards each generator
draws a fixed set of samples on the CPU, which `evaluate` measures with the shipped
classifier on the test split (the last 1,000 images, which no model trains on), and the
likelihood bounds of the runs in WITH_BOUNDS are computed (`evaluate --model`). The command
lines, the device, the training times, the files' SHA-256 and those metrics are written to
checkpoints/manifest.json, after every run, so that a crash keeps the runs already done.
tests/test_checkpoints.py reloads every checkpoint, checks its hash, repeats the sampling and
compares the metrics with the manifest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tutorial_lib import families  # noqa: E402
from tutorial_lib.cli import main  # noqa: E402
from tutorial_lib.data import load_dataset  # noqa: E402
from tutorial_lib.utils import load_checkpoint  # noqa: E402

FOLDER = ROOT / "checkpoints"
DATASET = "mnist10k"
SEED = 0
N_SAMPLES = 100
# The manifest's metrics are a fingerprint that tests/test_checkpoints.py reproduces on every
# `make test`, so they are cheap: 100 samples, DDIM with 10 steps, the VAE's bounds on the first
# 200 test images and the DDPM's on the first 4 (its bound runs the network T = 1000 times per
# image). The quality of the shipped models is measured in notebook 06, on the 1000 samples of
# SAMPLES and the bounds of test_split_bounds.
WITH_BOUNDS = {"vae": ["--likelihood-images", "200"], "ddpm": ["--likelihood-images", "4"]}
FINGERPRINT = ["--sampler", "ddim", "--steps", "10"]
DDIM = ["--sampler", "ddim", "--steps", "50"]
# the DDPMs of notebook 06 train 12,000 steps of 128 (the CLI's default at 28x28 is sized for
# 20 minutes on a laptop CPU: 4000 of 64); the other runs train at the CLI's defaults. The GAN
# gets worse with longer training: 12,000 steps of 128 gave a Frechet distance of 189 on 1000
# samples, its default 4000 steps 126 (measured on mnist10k, the same seed, both on a GPU)
LONG = ["--steps", "12000", "--batch-size", "128"]
# the narrower UNets of notebooks 04 and 05: a quarter of the cost per network call, so that
# their 1000-step chains and guidance sweeps run in seconds on a laptop
SMALL = ["--width", "16", "--steps", "8000"]
# notebook 08's caption model, trained on the CPU of a laptop-class machine (2 cores, about 30 min)
CAPTIONS = ["--condition", "captions", "--steps", "6000"]
# notebook 07's models, at the CLI's defaults, on the CPU of a laptop-class machine (2 cores):
# flow matching and a DDPM with the same UNet and recipe (4000 steps of 64, about 18 minutes
# each), and a conditional flow model on the codes of the shipped VAE (about 2 minutes)
FLOW_FINGERPRINT = ["--solver", "euler", "--steps", "10"]
# the 1000 samples of each generator that notebook 06 and the README's table measure, drawn once
# with `sample` (1000 images of the full 1000-step chain take about 20 minutes on 2 CPU cores)
SAMPLES = {  # file name in checkpoints/samples/: (run, sample arguments)
    "gan": ("gan", []),
    "vae": ("vae", []),
    "ddpm-ddim50": ("ddpm", DDIM),
    "ddpm-chain1000": ("ddpm", []),
    "ddpm-conditional-ddim50": ("ddpm-conditional", [*DDIM, "--labels", "0-9"]),
    "ddpm-small-ddim50": ("ddpm-small", DDIM),
    "ddpm-conditional-small-ddim50": ("ddpm-conditional-small", [*DDIM, "--labels", "0-9"]),
}
N_SHIPPED_SAMPLES = 1000
RUNS = {  # name: (train arguments, sample arguments)
    "classifier": (["train", "classifier"], None),
    "gan": (["train", "gan"], []),
    "vae": (["train", "vae"], []),
    "ddpm": (["train", "ddpm", *LONG], FINGERPRINT),
    "ddpm-conditional": (
        ["train", "ddpm", "--conditional", *LONG],
        [*FINGERPRINT, "--labels", "0-9"],
    ),
    "ddpm-small": (["train", "ddpm", *SMALL], FINGERPRINT),
    "ddpm-conditional-small": (
        ["train", "ddpm", "--conditional", *SMALL],
        [*FINGERPRINT, "--labels", "0-9"],
    ),
    "ddpm-captions": (["train", "ddpm", *CAPTIONS], [*FINGERPRINT, "--labels", "0-9"]),
    "flow": (["train", "flow"], FLOW_FINGERPRINT),
    "flow-latent": (
        ["train", "flow", "--conditional", "--latent-of", "{folder}/vae"],
        [*FLOW_FINGERPRINT, "--labels", "0-9"],
    ),
    "ddpm-default": (["train", "ddpm"], FINGERPRINT),
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def evaluate(samples: Path, folder: Path = FOLDER, *extra: str) -> dict:
    """`evaluate --json` of a samples file with the shipped classifier on the test split, on the CPU."""
    command = ["evaluate", str(samples), "--dataset", DATASET, "--device", "cpu", "--json"]
    command += ["--classifier", str(folder / "classifier"), *extra]
    out = StringIO()
    with redirect_stdout(out):
        if main(command) != 0:
            raise RuntimeError(f"evaluating {samples} failed")
    return json.loads(out.getvalue())


def sample_metrics(
    name: str, sample_args: list[str], folder: Path = FOLDER, bounds: bool = True
) -> dict:
    """Draw the manifest's samples from a shipped checkpoint and measure them with the shipped
    classifier, and (``bounds``) the likelihood bounds of the runs in WITH_BOUNDS."""
    with tempfile.TemporaryDirectory() as tmp:
        samples = Path(tmp) / "samples.npz"
        run = ["sample", str(folder / name), "--n", str(N_SAMPLES), "--seed", str(SEED)]
        if main([*run, "--device", "cpu", *sample_args, "--out", str(samples)]) != 0:
            raise RuntimeError(f"sampling {name} failed")
        model = (
            ["--model", str(folder / name), *WITH_BOUNDS[name]]
            if bounds and name in WITH_BOUNDS
            else []
        )
        result = evaluate(samples, folder, *model)
    return {k: v for k, v in result.items() if isinstance(v, float)}


def measure(name: str, entry: dict, folder: Path = FOLDER, bounds: bool = True) -> dict:
    """The manifest's metrics of one checkpoint: the family's report on the test split (the
    classifier's accuracy), or the metrics of its samples (and, with ``bounds``, its likelihood
    bounds)."""
    checkpoint = load_checkpoint(folder / name)
    family = families.get(checkpoint["kind"])
    if not hasattr(family, "sample"):
        model, cfg = family.from_checkpoint(checkpoint)
        return family.report(model, cfg, load_dataset(DATASET, split="test"))
    return sample_metrics(name, entry["sample_args"], folder, bounds)


def device_name(device: str) -> str:
    """The device a run trains on, in words for the manifest: 'cuda (NVIDIA H200)', 'cpu (2 cores)'."""
    import torch

    if device.startswith("cuda"):
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"{device} ({os.cpu_count()} cores)"


def train(name: str, device: str, folder: Path, threads: int) -> dict:
    """Train one run with the CLI in its own process; its log goes to build/checkpoint-logs/."""
    train_args, sample_args = RUNS[name]
    train_args = [a.format(folder=folder) for a in train_args]
    command = [*train_args, "--dataset", DATASET, "--seed", str(SEED), "--device", device]
    command += ["--out", str(folder / name)]
    logs = ROOT / "build" / "checkpoint-logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    with open(logs / f"{name}.log", "w") as log:
        done = subprocess.run(
            [sys.executable, "-m", "tutorial_lib", *command], stdout=log, stderr=log, env=env
        )
    if done.returncode != 0:
        raise RuntimeError(f"training {name} failed; see {logs / name}.log")
    shown = shlex.join(command).replace(str(folder.parent) + "/", "")
    entry = {
        "command": f"python -m tutorial_lib {shown}",
        "device": device_name(device),
        "seed": SEED,
        "train_seconds": round(time.perf_counter() - start, 1),
    }
    if sample_args is not None:
        entry["sample_args"] = sample_args
    return entry


def build(
    names: list[str],
    retrain: bool = True,
    measure_too: bool = True,
    device: str = "cpu",
    jobs: int = 1,
    folder: Path = FOLDER,
) -> dict:
    """Train the runs ``names`` (``jobs`` at a time), or with retrain=False keep their files and
    recorded commands; measure them unless measure_too is False; keep the manifest's other
    entries as they are. The manifest is rewritten after every run."""
    manifest_path = folder / "manifest.json"
    old = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    manifest = {**old, "dataset": DATASET, "seed": SEED, "n_samples": N_SAMPLES, "checkpoints": {}}
    manifest["checkpoints"] = {k: v for k, v in old.get("checkpoints", {}).items() if k in RUNS}

    def record(name: str, entry: dict) -> None:
        path = folder / name / "checkpoint.pt"
        entry["file"] = str(path.relative_to(folder.parent))
        entry["sha256"] = sha256(path)
        entry["bytes"] = path.stat().st_size
        manifest["checkpoints"][name] = entry
        manifest["checkpoints"] = {
            k: manifest["checkpoints"][k] for k in RUNS if k in manifest["checkpoints"]
        }
        folder.mkdir(parents=True, exist_ok=True)
        manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
        print(json.dumps({name: entry}, indent=1), flush=True)

    if retrain:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            runs = {pool.submit(train, name, device, folder, threads): name for name in names}
            for done in as_completed(runs):
                record(runs[done], done.result())
    if measure_too:
        for name in names:
            entry = dict(manifest["checkpoints"][name])
            entry["metrics"] = measure(name, entry, folder)
            record(name, entry)
    return manifest


def draw_samples(device: str = "cpu", folder: Path = FOLDER, only: list[str] | None = None) -> dict:
    """Draw SAMPLES (or only those named) with the CLI, timed, into folder/samples/; record them
    in the manifest."""
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    (folder / "samples").mkdir(exist_ok=True)
    manifest["samples"] = {k: v for k, v in manifest.get("samples", {}).items() if only}
    for name, (run, sample_args) in SAMPLES.items():
        if only and name not in only:
            continue
        out = folder / "samples" / f"{name}.npz"
        command = ["sample", str(folder / run), "--n", str(N_SHIPPED_SAMPLES), "--seed", str(SEED)]
        command += ["--device", device, *sample_args, "--out", str(out)]
        start = time.perf_counter()
        if main(command) != 0:
            raise RuntimeError(f"sampling {name} failed")
        shown = shlex.join(command).replace(str(folder.parent) + "/", "")
        manifest["samples"][name] = {
            "command": f"python -m tutorial_lib {shown}",
            "device": device_name(device),
            "seconds": round(time.perf_counter() - start, 1),
            "file": str(out.relative_to(folder.parent)),
            "sha256": sha256(out),
        }
        manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
        print(json.dumps({name: manifest["samples"][name]}, indent=1), flush=True)
    return manifest


def quality_table(folder: Path = FOLDER) -> str:
    """The README's table: every file of SAMPLES measured by `evaluate` on the test split, with
    the bounds of test_split_bounds and the recorded sampling time, as Markdown."""
    manifest = json.loads((folder / "manifest.json").read_text())
    bounds = manifest.get("test_split_bounds", {})
    rows = [
        "| samples (1000) | Fréchet distance (real: {baseline}) | precision | recall "
        "| classified as asked | -log p bound, bits/dim | seconds to sample |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, entry in manifest["samples"].items():
        run = SAMPLES[name][0]
        r = evaluate(folder.parent / entry["file"], folder)
        bound = bounds.get(run, {}).get("metrics", {})
        bits = bound.get("neg_bound_bits_per_dim") or bound.get("neg_elbo_bits_per_dim")
        if "neg_iwae_bits_per_dim" in bound:
            bits = f"{bits:.2f} (IWAE {bound['neg_iwae_bits_per_dim']:.2f})"
        asked = r.get("conditional_accuracy")
        rows.append(
            f"| `{name}` | {r['frechet_distance']:.1f} | {r['precision']:.2f} | {r['recall']:.2f} "
            f"| {'' if asked is None else f'{asked:.1%}'} "
            f"| {bits if isinstance(bits, str) else '' if bits is None else f'{bits:.2f}'} "
            f"| {entry['seconds']} ({entry['device'].split(' (')[1].rstrip(')')}) |"
        )
        baseline = r["frechet_distance_real_baseline"]
    rows[0] = rows[0].format(baseline=f"{baseline:.1f}")
    return "\n".join(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"runs to (re)make; default all of {list(RUNS)}")
    parser.add_argument("--metrics-only", action="store_true", help="remeasure; keep the weights")
    parser.add_argument("--train-only", action="store_true", help="train; do not measure")
    parser.add_argument(
        "--samples-only", action="store_true", help="only draw the samples of checkpoints/samples/"
    )
    parser.add_argument("--device", default="cpu", help="device to train on (default cpu)")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once (default 1)")
    parser.add_argument("--folder", type=Path, default=FOLDER, help="default checkpoints/")
    parser.add_argument("--dataset", default=DATASET, help=f"default {DATASET}")
    parser.add_argument("--table", action="store_true", help="print the README's quality table")
    args = parser.parse_args()
    DATASET = args.dataset
    known = SAMPLES if args.samples_only else RUNS
    unknown = sorted(set(args.names) - set(known))
    if unknown:
        parser.error(f"unknown name(s) {unknown}; choose from {sorted(known)}")
    if args.table:
        print(quality_table(args.folder.resolve()))
        raise SystemExit(0)
    if args.samples_only:
        draw_samples(args.device, args.folder.resolve(), args.names)
        raise SystemExit(0)
    build(
        args.names or list(RUNS),
        retrain=not args.metrics_only,
        measure_too=not args.train_only,
        device=args.device,
        jobs=args.jobs,
        folder=args.folder.resolve(),
    )
    if not args.names and not args.train_only and not args.metrics_only:
        draw_samples(args.device, args.folder.resolve())
