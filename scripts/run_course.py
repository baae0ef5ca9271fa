"""Execute every course notebook in order, headless, and report how long each took.

    python scripts/run_course.py                     # the offline default (digits, auto device)
    python scripts/run_course.py --dataset mnist --data-root ../shared/data/mnist --device cuda
    python scripts/run_course.py --only 00 --no-html  # one notebook, timings only (the benchmark)
    python scripts/run_course.py --only 04 --store    # maintainers: re-execute and store the outputs

Each notebook runs in a fresh kernel with ``notebooks/`` as its working folder.
Parameters given here are injected after the cell tagged ``parameters``, as
papermill does. The executed notebooks are written as HTML to ``build/course/``
and every figure they draw is saved as a PNG under ``build/course/figures/``; the animations
of the step-by-step explorers go to ``build/course/animations/`` as GIFs.
Exits non-zero if any notebook fails.
"""

from __future__ import annotations

import argparse
import base64
import re
import shutil
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

ROOT = Path(__file__).resolve().parents[1]


def inject_parameters(nb, params: dict) -> None:
    """Insert a cell assigning ``params`` right after the cell tagged ``parameters``."""
    if not params:
        return
    source = "# Injected by run_course.py\n" + "\n".join(f"{k} = {v!r}" for k, v in params.items())
    for i, cell in enumerate(nb.cells):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            nb.cells.insert(
                i + 1, nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
            )
            return
    nb.cells.insert(
        0, nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    )


ANIMATION = re.compile(
    r'data-animation="([\w-]+)"[^>]*src="data:image/gif;base64,([A-Za-z0-9+/=]+)"'
)


def save_figures(nb, folder: Path, animations: Path | None = None) -> int:
    """Write every PNG output of an executed notebook to ``folder``, and every explorer's
    animation (``tutorial_lib.widgets``) to ``animations`` as NAME.gif; returns how many files."""
    for path in (folder, animations):
        if path is not None and path.exists():
            shutil.rmtree(path)  # nothing stale from an earlier run
    folder.mkdir(parents=True)
    count = 0
    for i, cell in enumerate(nb.cells):
        for j, out in enumerate(cell.get("outputs", [])):
            data = out.get("data", {})
            if "image/png" in data:
                (folder / f"cell{i:02d}_{j}.png").write_bytes(base64.b64decode(data["image/png"]))
                count += 1
            for name, gif in ANIMATION.findall(data.get("text/html", "")) if animations else []:
                animations.mkdir(parents=True, exist_ok=True)
                path, k = animations / f"{name}.gif", 1
                while path.exists():  # a second explorer of the same kind in one notebook
                    k += 1
                    path = animations / f"{name}_{k}.gif"
                path.write_bytes(base64.b64decode(gif))
                count += 1
    return count


# A tqdm bar in a notebook is a widget; without a live kernel only its text is shown, and that
# text is the bar as it was drawn, empty: "fit:   0%|          | 0/600 [00:00<?, ?it/s]".
EMPTY_BAR = re.compile(r"^(?P<desc>.*?)\s*0%\|\s*\| 0/(?P<total>\d+) \[00:00<\?, \?it/s\]$")


def finish_progress_bars(nb) -> int:
    """Redraw each progress bar of a notebook that ran without errors as finished, "fit: 100%|...|
    600/600 [done]", for readers without a kernel (the HTML, the stored notebooks); returns how
    many. nbval masks a bar's numbers and times (notebooks/nbval_sanitize.cfg)."""
    if any(
        out.get("output_type") == "error" for cell in nb.cells for out in cell.get("outputs", [])
    ):
        return 0
    count = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            match = EMPTY_BAR.match(data.get("text/plain", ""))
            if match and "application/vnd.jupyter.widget-view+json" in data:
                total = match["total"]
                data["text/plain"] = f"{match['desc']} 100%|{'█' * 10}| {total}/{total} [done]"
                count += 1
    return count


def compact_figures(nb, colours: int = 256) -> tuple[int, int]:
    """Re-encode each PNG figure of a notebook with a palette of at most ``colours`` colours (median
    cut, no dithering) where that is smaller: about half the bytes, and a figure of lines, text,
    grey digits and colour maps looks the same. For the stored notebooks (--store), which are kept
    under 8 MB; returns the bytes (before, after)."""
    import io

    from PIL import Image

    before = after = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" not in data:
                continue
            raw = base64.b64decode(data["image/png"])
            image = Image.open(io.BytesIO(raw)).convert("RGB")
            buffer = io.BytesIO()
            image.quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
                buffer, format="PNG", optimize=True
            )
            before += len(raw)
            if len(buffer.getvalue()) < len(raw):
                data["image/png"] = base64.b64encode(buffer.getvalue()).decode("ascii")
                raw = buffer.getvalue()
            after += len(raw)
    return before, after


def run(
    path: Path, out_dir: Path | None, params: dict, timeout: int, store: bool = False
) -> tuple[float, str]:
    nb = nbformat.read(path, as_version=4)
    inject_parameters(nb, params)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=False,  # so that the HTML shows each explorer's animation, which needs no kernel
    )
    start = time.perf_counter()
    status = "ok"
    try:
        client.execute()
    except CellTimeoutError:
        status = f"FAILED: a cell ran longer than {timeout} s"
    except CellExecutionError as e:
        lines = [line for line in str(e).strip().splitlines() if line.strip()]
        status = "FAILED: " + (lines[-1] if lines else "cell error")
    seconds = time.perf_counter() - start
    if status == "ok":
        finish_progress_bars(nb)
        if store:  # only a run without errors replaces the stored outputs
            compact_figures(nb)
            nbformat.write(nb, path)
    if out_dir is not None:
        from nbconvert import HTMLExporter

        out_dir.mkdir(parents=True, exist_ok=True)
        html, _ = HTMLExporter().from_notebook_node(nb)
        (out_dir / f"{path.stem}.html").write_text(html, encoding="utf-8")
        save_figures(nb, out_dir / "figures" / path.stem, out_dir / "animations" / path.stem)
    return seconds, status


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", help="inject DATASET (default: the notebooks' own, digits)")
    p.add_argument(
        "--data-root", help="inject DATA_ROOT, a folder of MNIST / Fashion-MNIST IDX files"
    )
    p.add_argument("--device", help="inject DEVICE: auto, cpu, cuda or mps")
    p.add_argument(
        "--only", nargs="*", default=None, help="run only notebooks whose names start with these"
    )
    p.add_argument("--out", default=str(ROOT / "build" / "course"), help="folder for the HTML")
    p.add_argument("--no-html", action="store_true", help="time the notebooks without writing HTML")
    p.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell")
    p.add_argument(
        "--store",
        action="store_true",
        help="maintainers: write the outputs back into notebooks/ (each notebook only if it ran without errors)",
    )
    args = p.parse_args(argv)
    if args.store and (args.dataset or args.data_root or args.device):
        p.error(
            "--store keeps the notebooks' own defaults: leave out --dataset, --data-root and --device"
        )

    params = {
        k.upper(): v
        for k, v in (
            ("dataset", args.dataset),
            ("data_root", args.data_root),
            ("device", args.device),
        )
        if v is not None
    }
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        notebooks = [nb for nb in notebooks if any(nb.name.startswith(o) for o in args.only)]
    if not notebooks:
        print("no notebooks matched", file=sys.stderr)
        return 2
    out_dir = None if args.no_html else Path(args.out)
    rows, failed = [], 0
    for path in notebooks:
        print(f"running {path.name} ...", flush=True)
        seconds, status = run(path, out_dir, params, args.timeout, args.store)
        failed += status != "ok"
        rows.append((path.name, seconds, status))
    width = max(len(r[0]) for r in rows)
    print(f"\n{'notebook':<{width}}  {'seconds':>8}  status")
    for name, seconds, status in rows:
        print(f"{name:<{width}}  {seconds:8.1f}  {status}")
    print(
        f"{'total':<{width}}  {sum(r[1] for r in rows):8.1f}  "
        f"{'ok' if not failed else f'{failed} failed'}"
    )
    if out_dir is not None:
        print(f"HTML in {out_dir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
