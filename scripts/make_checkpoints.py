"""Maintainers: regenerate the shipped checkpoints and their manifest.

    .venv/bin/python scripts/make_checkpoints.py                 # about 10 minutes on 2 CPU cores
    .venv/bin/python scripts/make_checkpoints.py --metrics-only  # remeasure, keep the weights
    .venv/bin/python scripts/make_checkpoints.py ddpm-small      # retrain only these; keep the others

Every checkpoint is produced by the course's own CLI with a fixed seed. Afterwards each
generator draws a fixed set of samples, which `evaluate` measures with the shipped
classifier, and the likelihood bounds of the runs in WITH_BOUNDS are computed
(`evaluate --model`); the command lines, the files' SHA-256 and those metrics are written to
checkpoints/manifest.json. tests/test_checkpoints.py reloads every checkpoint, checks its
hash, repeats the sampling and compares the metrics with the manifest.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
import tempfile
import time
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
SEED = 0
N_SAMPLES = 300
# the checkpoints whose likelihood bounds the manifest records, and on how many test images: the
# DDPM's bound runs the network T = 1000 times per image, so it is measured on the first 100
# (as in notebook 06), the VAE's on the whole test split
WITH_BOUNDS = {"vae": [], "ddpm": ["--likelihood-images", "100"]}
RUNS = {  # name: (train arguments, sample arguments)
    "classifier": (["train", "classifier", "--dataset", "digits"], None),
    "gan": (["train", "gan", "--dataset", "digits"], []),
    "vae": (["train", "vae", "--dataset", "digits"], []),
    "ddpm": (["train", "ddpm", "--dataset", "digits"], ["--sampler", "ddim", "--steps", "50"]),
    "ddpm-conditional": (
        ["train", "ddpm", "--conditional", "--dataset", "digits"],
        ["--sampler", "ddim", "--steps", "50", "--labels", "0-9"],
    ),
    # the narrower models of notebooks 04 and 05: a quarter of the cost per network call,
    # so that their 1000-step chains and guidance sweeps run in seconds on a laptop
    "ddpm-small": (
        ["train", "ddpm", "--dataset", "digits", "--width", "16", "--batch-size", "64"],
        ["--sampler", "ddim", "--steps", "50"],
    ),
    "ddpm-conditional-small": (
        [
            "train",
            "ddpm",
            "--conditional",
            "--dataset",
            "digits",
            "--width",
            "16",
            "--batch-size",
            "64",
        ],
        ["--sampler", "ddim", "--steps", "50", "--labels", "0-9"],
    ),
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sample_metrics(name: str, sample_args: list[str], folder: Path = FOLDER) -> dict:
    """Draw the manifest's samples from a shipped checkpoint and measure them with the shipped
    classifier, and the likelihood bounds of the runs in WITH_BOUNDS."""
    with tempfile.TemporaryDirectory() as tmp:
        samples = Path(tmp) / "samples.npz"
        run = ["sample", str(folder / name), "--n", str(N_SAMPLES), "--seed", str(SEED)]
        if main([*run, "--device", "cpu", *sample_args, "--out", str(samples)]) != 0:
            raise RuntimeError(f"sampling {name} failed")
        evaluate = ["evaluate", str(samples), "--dataset", "digits", "--device", "cpu", "--json"]
        evaluate += ["--classifier", str(folder / "classifier")]
        if name in WITH_BOUNDS:
            evaluate += ["--model", str(folder / name), *WITH_BOUNDS[name]]
        out = StringIO()
        with redirect_stdout(out):
            if main(evaluate) != 0:
                raise RuntimeError(f"evaluating {name} failed")
    result = json.loads(out.getvalue())
    return {k: v for k, v in result.items() if isinstance(v, float)}


def measure(name: str, entry: dict, folder: Path = FOLDER) -> dict:
    """The manifest's metrics of one checkpoint: the family's report on the test split (the
    classifier's accuracy), or the metrics of its samples."""
    checkpoint = load_checkpoint(folder / name)
    family = families.get(checkpoint["kind"])
    if not hasattr(family, "sample"):
        model, cfg = family.from_checkpoint(checkpoint)
        return family.report(model, cfg, load_dataset("digits", split="test"))
    return sample_metrics(name, entry["sample_args"], folder)


def build(retrain: bool = True, only: list[str] | None = None) -> dict:
    """Train every checkpoint (or, with retrain=False, keep the files and their recorded
    training times) and measure it; write the manifest. With ``only``, retrain and remeasure
    just those names and keep the other entries as they are."""
    manifest_path = FOLDER / "manifest.json"
    old = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"checkpoints": {}}
    unknown = sorted(set(only or []) - set(RUNS))
    if unknown:
        raise SystemExit(f"unknown checkpoint name(s) {unknown}; choose from {sorted(RUNS)}")
    manifest = {"seed": SEED, "n_samples": N_SAMPLES, "checkpoints": {}}
    for name, (train_args, sample_args) in RUNS.items():
        if only and name not in only:
            manifest["checkpoints"][name] = old["checkpoints"][name]
            continue
        command = [*train_args, "--seed", str(SEED), "--device", "cpu", "--out", str(FOLDER / name)]
        if retrain:
            start = time.perf_counter()
            if main(command) != 0:
                raise RuntimeError(f"training {name} failed")
            seconds = round(time.perf_counter() - start, 1)
        else:
            seconds = old["checkpoints"][name]["train_seconds"]
        path = FOLDER / name / "checkpoint.pt"
        entry = {
            "command": "python -m tutorial_lib " + shlex.join(command).replace(str(ROOT) + "/", ""),
            "file": str(path.relative_to(ROOT)),
            "sha256": sha256(path),
            "bytes": path.stat().st_size,
            "train_seconds": seconds,
        }
        if sample_args is not None:
            entry["sample_args"] = sample_args
        entry["metrics"] = measure(name, entry)
        manifest["checkpoints"][name] = entry
        print(json.dumps({name: entry}, indent=1), flush=True)
    (FOLDER / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


if __name__ == "__main__":
    args = sys.argv[1:]
    build(retrain="--metrics-only" not in args, only=[a for a in args if not a.startswith("--")])
