"""Benchmark: the command line at its defaults on a data set, one family after another.

    .venv/bin/python scripts/bench_cli.py [--dataset mnist10k] [--device cpu] [--out build/bench_cli]
    # mnist10k on 2 CPU cores: about 30 minutes, most of it `train ddpm`

Trains every registered family with `python -m tutorial_lib train NAME` (its default options),
draws 1000 samples from each generative one (the DDPM with DDIM-50) and 100 with the DDPM's
full 1000-step chain, measures the samples with `evaluate` and the trained classifier, and prints
one table of seconds and metrics. The numbers depend on the machine; nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tutorial_lib import families  # noqa: E402
from tutorial_lib.cli import main as cli  # noqa: E402

SAMPLING = {"ddpm": ["--sampler", "ddim", "--steps", "50"]}  # the rest sample at their defaults


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    with redirect_stdout(StringIO()):
        if cli(argv) != 0:
            raise SystemExit(f"failed: python -m tutorial_lib {' '.join(argv)}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist10k")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(ROOT / "build" / "bench_cli"))
    args = parser.parse_args()
    out, common = Path(args.out), ["--dataset", args.dataset, "--device", args.device]
    rows = []
    names = sorted(families.names(), key=lambda n: hasattr(families.get(n), "sample"))
    for name in names:  # the classifier first: it measures the others
        seconds = timed(["train", name, *common, "--out", str(out / name)])
        rows.append((f"train {name}", seconds, {}))
        print(f"train {name}: {seconds:.0f} s", file=sys.stderr, flush=True)
        if not hasattr(families.get(name), "sample"):
            continue
        samples = out / f"{name}.npz"
        run = ["sample", str(out / name), "--device", args.device, "--n", "1000"]
        seconds = timed([*run, *SAMPLING.get(name, []), "--out", str(samples)])
        result = StringIO()
        evaluate = ["evaluate", str(samples), *common, "--json"]
        with redirect_stdout(result):
            cli([*evaluate, "--classifier", str(out / "classifier")])
        rows.append((f"sample 1000, {name}", seconds, json.loads(result.getvalue())))
        print(f"sample {name}: {seconds:.0f} s", file=sys.stderr, flush=True)
    if "ddpm" in names:
        run = ["sample", str(out / "ddpm"), "--device", args.device, "--n", "100"]
        seconds = timed([*run, "--sampler", "ddpm", "--out", str(out / "chain.npz")])
        rows.append(("sample 100, ddpm, full 1000-step chain", seconds, {}))

    print(f"\n{args.dataset}, {args.device}; FD: Fréchet distance in the classifier's features")
    header = f"{'task':<42}{'seconds':>9}{'FD':>8}{'FD real':>9}{'precision':>11}{'recall':>8}"
    print(header + "\n" + "-" * len(header))
    for task, seconds, m in rows:
        metrics = ""
        if m:
            metrics = (
                f"{m['frechet_distance']:>8.1f}{m['frechet_distance_real_baseline']:>9.1f}"
                f"{m['precision']:>11.2f}{m['recall']:>8.2f}"
            )
        print(f"{task:<42}{seconds:>9.1f}{metrics}")


if __name__ == "__main__":
    main()
