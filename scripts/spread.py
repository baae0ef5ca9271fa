"""How far the course's chaotic claims move with the seed and the CPU's rounding (make test-machines).

A claim about a model trained from scratch, or about a long sampling chain, is only as good as
its margin over the spread of the value it asserts. This script measures that spread: it reruns

- every ``assert`` of the chosen notebooks, with SEED set to each seed in the parameters cell
  (the notebook's own code, cell by cell, in this process; each assert is recorded, not raised),
- the tests listed in ``TESTS`` (the ones that train a model), with their seed as an argument,

under each kernel setting: ``ATEN_CPU_CAPABILITY`` = default (scalar) and avx2, times
``OMP_NUM_THREADS`` = 1 and 2. Then it prints, for each claim, in how many runs it held and the
range of the numbers it compares. A claim that fails in any run is listed first.

    python scripts/spread.py                       # every notebook with a chaotic cell, seeds 0-4
    python scripts/spread.py --notebooks 01 --seeds 0-1 --settings default/1,avx2/2
    python scripts/spread.py --tests-only

About 4 hours on 2 cores for the default grid (20 runs of each notebook; 07 and 08 take 3-4 minutes a run).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the notebooks that train or sample at length
NOTEBOOKS = ("00", "01", "02", "03", "04", "05", "07", "08")
SETTINGS = ("default/1", "default/2", "avx2/1", "avx2/2")  # ATEN_CPU_CAPABILITY/OMP_NUM_THREADS


# ---------------------------------------------------------------- the tests' measurements
def _from_tests(module: str, name: str):
    """A measuring function of a test module (tests/ is not a package)."""
    sys.path.insert(0, str(ROOT / "tests"))
    return getattr(__import__(module), name)


def ring_gan(seed: int, gp_weight: float) -> dict[str, float]:
    modes, quality = _from_tests("test_gan", "ring_coverage")(seed, gp_weight)
    return {"modes": modes, "quality": quality}


def small_vae(seed: int) -> dict[str, float]:
    _, history = _from_tests("test_vae", "train_small_vae")(seed)
    return {"-ELBO fall, first to last 20 steps": _from_tests("test_vae", "loss_fall")(history)}


def logistic_vae(seed: int) -> dict[str, float]:
    run, _ = _from_tests("test_likelihoods", "train_logistic_vae")(seed)
    return {"-ELBO fall, first to last 20 steps": _from_tests("test_vae", "loss_fall")(run.history)}


TESTS = {  # the tests that train a model, each measuring what it asserts, as a function of the seed
    "test_gan: ring, plain GAN": lambda seed: ring_gan(seed, 0.0),
    "test_gan: ring, gradient penalty": lambda seed: ring_gan(seed, 0.1),
    "test_gan: |D - D*| after training D": lambda seed: {
        "largest error": _from_tests("test_gan", "discriminator_error")(seed)
    },
    "test_vae: the 8x8 VAE's loss falls": small_vae,
    "test_likelihoods: the logistic VAE's loss falls": logistic_vae,
    "test_guidance: the classifier's accuracy": lambda seed: {
        "held-out accuracy": _from_tests("test_guidance", "classifier_accuracy")(seed)[1]
    },
}


# ---------------------------------------------------------------- running a notebook's asserts
class _Asserts(ast.NodeTransformer):
    """``assert test, msg`` -> ``__record__(cell, line, "msg", lambda: test, lambda: operands)``."""

    def __init__(self, cell: int):
        self.cell = cell

    def visit_Assert(self, node: ast.Assert):
        compares = [n for n in ast.walk(node.test) if isinstance(n, ast.Compare)]
        operands = ast.List(
            elts=[ast.List(elts=[c.left, *c.comparators], ctx=ast.Load()) for c in compares],
            ctx=ast.Load(),
        )
        message = node.msg if node.msg is not None else ast.Constant(ast.unparse(node.test))
        call = ast.Call(
            func=ast.Name("__record__", ast.Load()),
            args=[
                ast.Constant(self.cell),
                ast.Constant(ast.unparse(node.test)),
                message,
                ast.Lambda(_no_args(), node.test),
                ast.Lambda(_no_args(), operands),
            ],
            keywords=[],
        )
        return ast.copy_location(ast.Expr(call), node)


def _no_args() -> ast.arguments:
    return ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[])


def _number(v):
    try:
        return float(v)
    except Exception:
        return None


def run_notebook(number: str, seed: int) -> list[dict]:
    """Execute notebook ``number`` with SEED = seed; one record per assert that ran."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.show = lambda *a, **k: plt.close("all")
    path = next((ROOT / "notebooks").glob(f"{number}_*.ipynb"))
    cells = json.loads(path.read_text())["cells"]
    records: list[dict] = []

    def record(cell, test, message, check, operands):
        try:
            holds = bool(check())
        except Exception as e:  # noqa: BLE001  a claim that cannot be evaluated did not hold
            holds = False
            message = f"{message} (raised {type(e).__name__}: {e})"
        try:
            values = [[_number(v) for v in group] for group in operands()]
        except Exception:  # noqa: BLE001
            values = []
        records.append(
            {
                "claim": f"{number} cell {cell}: {message}",
                "test": test,
                "holds": holds,
                "values": values,
            }
        )

    scope = {"__record__": record, "__name__": "__main__"}
    os.chdir(tempfile.mkdtemp(prefix=f"spread-{number}-"))
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        if i == 1:  # the parameters cell
            source = source.replace("SEED = 0", f"SEED = {seed}")
        tree = ast.fix_missing_locations(_Asserts(i).visit(ast.parse(source)))
        try:
            exec(compile(tree, f"{path.name}, cell {i}", "exec"), scope)
        except Exception as e:  # noqa: BLE001
            records.append(
                {
                    "claim": f"{number} cell {i} raised",
                    "test": f"{type(e).__name__}: {e}"[:200],
                    "holds": False,
                    "values": [],
                }
            )
        plt.close("all")
    return records


def run_test(name: str, seed: int) -> list[dict]:
    values = TESTS[name](seed)
    return [
        {
            "claim": name,
            "test": "measured",
            "holds": None,
            "values": [[float(v)] for v in values.values()],
            "names": list(values),
        }
    ]


# ---------------------------------------------------------------- the grid
def worker(args) -> None:
    out = (
        run_notebook(args.job, args.seed)
        if args.job in NOTEBOOKS
        else run_test(args.job, args.seed)
    )
    print("SPREAD-JSON " + json.dumps(out))
    # each finished run is kept, even if the grid is stopped before it prints its table
    capability, threads = (
        os.environ.get("ATEN_CPU_CAPABILITY", "?"),
        os.environ.get("OMP_NUM_THREADS", "?"),
    )
    (ROOT / "build").mkdir(exist_ok=True)
    with open(ROOT / "build" / "spread-runs.jsonl", "a") as f:
        setting = f"{capability}/{threads}"
        f.write(json.dumps([args.job, args.seed, setting, out, None]) + "\n")


def launch(job: str, seed: int, setting: str) -> tuple[str, int, str, list[dict], float]:
    capability, threads = setting.split("/")
    env = {
        **os.environ,
        "ATEN_CPU_CAPABILITY": capability,
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "TQDM_DISABLE": "1",
        "MPLBACKEND": "Agg",
        "PYTHONHASHSEED": "0",
    }
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--worker", job, "--seed", str(seed)],
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if line.startswith("SPREAD-JSON ")]
    if done.returncode or not lines:
        return (
            job,
            seed,
            setting,
            [{"claim": f"{job} crashed", "test": done.stderr[-300:], "holds": False, "values": []}],
            seconds,
        )
    return job, seed, setting, json.loads(lines[-1][len("SPREAD-JSON ") :]), seconds


def seeds_from(text: str) -> list[int]:
    if "-" in text:
        a, b = map(int, text.split("-"))
        return list(range(a, b + 1))
    return [int(s) for s in text.split(",")]


def table(results) -> str:
    claims: dict[str, dict] = {}
    for _job, seed, setting, records, _ in results:
        seen = set()
        for r in records:
            key = r["claim"]
            while key in seen:  # an assert inside a loop runs several times
                key += " (again)"
            seen.add(key)
            c = claims.setdefault(key, {"runs": [], "test": r["test"], "names": r.get("names")})
            c["runs"].append((seed, setting, r["holds"], r["values"]))
    lines = []
    order = sorted(
        claims.items(), key=lambda kv: (all(h is not False for _, _, h, _ in kv[1]["runs"]), kv[0])
    )
    for claim, c in order:
        runs = c["runs"]
        held = sum(h is True for _, _, h, _ in runs)
        failed = [(s, st) for s, st, h, _ in runs if h is False]
        status = "measured" if all(h is None for _, _, h, _ in runs) else f"held {held}/{len(runs)}"
        lines.append(f"{status:>12}  {claim}")
        if c["test"] not in ("measured",):
            lines.append(f"{'':>14}assert {c['test'][:150]}")
        groups = max((len(v) for _, _, _, v in runs), default=0)
        for g in range(groups):
            width = max(len(v[g]) for _, _, _, v in runs if len(v) > g)
            for k in range(width):
                nums = sorted(
                    v[g][k]
                    for _, _, _, v in runs
                    if len(v) > g and len(v[g]) > k and v[g][k] is not None
                )
                if not nums:
                    continue
                label = c["names"][g] if c["names"] else f"operand {g + 1}.{k + 1}"
                lines.append(
                    f"{'':>14}{label}: min {nums[0]:.4g}  median {statistics.median(nums):.4g}  "
                    f"max {nums[-1]:.4g}  (n = {len(nums)})"
                )
        if failed:
            lines.append(f"{'':>14}FAILED for (seed, setting): {failed}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--notebooks", default=",".join(NOTEBOOKS), help="e.g. 01,04 (default: %(default)s)"
    )
    parser.add_argument("--seeds", default="0-4", help="e.g. 0-4 or 0,3 (default: %(default)s)")
    parser.add_argument(
        "--settings", default=",".join(SETTINGS), help="capability/threads, comma-separated"
    )
    parser.add_argument("--tests-only", action="store_true", help="only the tests' measurements")
    parser.add_argument(
        "--tests",
        default="",
        help="only the tests whose name contains one of these, comma-separated; 'none' for none",
    )
    parser.add_argument(
        "--jobs", type=int, default=2, help="processes at once (a 2-thread run counts as 2)"
    )
    parser.add_argument("--out", default="build/spread.json", help="all records as JSON")
    parser.add_argument(
        "--table", help="print the table of a finished or stopped grid from its .json or .jsonl"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.job = args.worker
        return worker(args)
    if args.table:
        text = Path(args.table).read_text()
        runs = (
            json.loads(text)
            if args.table.endswith(".json")
            else [json.loads(line) for line in text.splitlines()]
        )
        return print(table(runs))
    wanted = [w for w in args.tests.split(",") if w]
    tests = [t for t in TESTS if not wanted or any(w in t for w in wanted)]
    jobs = tests + ([] if args.tests_only else [n for n in args.notebooks.split(",") if n])
    unknown = [j for j in jobs if j not in TESTS and j not in NOTEBOOKS]
    if unknown:
        sys.exit(f"unknown notebook {unknown[0]!r}; choose among {', '.join(NOTEBOOKS)}")
    settings = args.settings.split(",")
    grid = [(j, s, st) for st in settings for j in jobs for s in seeds_from(args.seeds)]
    print(
        f"{len(grid)} runs: {len(jobs)} jobs x {len(seeds_from(args.seeds))} seeds x {len(settings)} settings",
        flush=True,
    )
    # one-thread runs go two at a time; two-thread runs one at a time
    results = []
    for threads in ("1", "2"):
        part = [g for g in grid if g[2].endswith("/" + threads)]
        with ThreadPoolExecutor(max(1, args.jobs // int(threads))) as pool:
            for r in pool.map(lambda g: launch(*g), part):
                results.append(r)
                print(f"  {r[0]:<36} seed {r[1]} {r[2]:<10} {r[4]:6.1f} s", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps([list(r) for r in results]))
    print()
    print(table(results))


if __name__ == "__main__":
    main()
