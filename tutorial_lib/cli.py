"""The command line: ``python -m tutorial_lib <command>``.

``show`` and ``train`` share the options ``--dataset``, ``--data-root``, ``--no-download``,
``--split``, ``--device`` and ``--seed``; ``evaluate`` takes all but ``--split`` (it reads
both), ``sample`` only ``--device`` and ``--seed``. ``train NAME`` exists for every family in
``families``, with that family's options. Errors in the user's input,
including an ``--out``, run folder or data path that cannot be created or read, print
one line starting with ``error:`` and exit with status 2, with no traceback.

Introduced in notebook 00.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from . import __version__
from .utils import CHECKPOINT_NAME, CourseError


def option_groups() -> tuple[argparse.ArgumentParser, ...]:
    """The shared options, as parent parsers: (data set, split, device and seed)."""
    data, split, run = (argparse.ArgumentParser(add_help=False) for _ in range(3))
    data.add_argument(
        "--dataset",
        default="mnist10k",
        help="mnist10k (default: MNIST's test split at 28x28, bundled), digits (8x8, bundled), "
        "mnist, fashion-mnist, or a path to an .npz file",
    )
    data.add_argument(
        "--data-root",
        default=None,
        help="folder with MNIST / Fashion-MNIST raw IDX files (default: $TUTORIAL_LIB_DATA "
        "or ~/.cache/tutorial_lib)",
    )
    data.add_argument(
        "--no-download", action="store_true", help="never download; read --data-root only"
    )
    split.add_argument(
        "--split", default="train", help="train (default), test; digits also val and all"
    )
    run.add_argument("--device", default="auto", help="auto (default), cpu, cuda or mps")
    run.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return data, split, run


def cmd_datasets(args) -> int:
    from .data import dataset_table

    rows = dataset_table(args.data_root)
    print(
        f"{'name':<15}{'image shape':<13}{'levels':>7}  {'images per split':<30}{'offline now':<12}source"
    )
    for r in rows:
        shape = "x".join(map(str, r["shape"]))
        counts = ", ".join(f"{k} {v}" for k, v in r["counts"].items())
        print(
            f"{r['name']:<15}{shape:<13}{r['levels']:>7}  {counts:<30}{'yes' if r['offline'] else 'no':<12}{r['source']}"
        )
    print(
        "\nAlso accepted as --dataset: a path to an .npz file with 'images' (uint8, N x H x W [x C]) "
        "and optional 'labels'."
    )
    return 0


def cmd_show(args) -> int:
    import torch

    from .plotting import save_images

    data = _load_data(args)
    if args.n < 1:
        raise CourseError(f"--n must be at least 1, got {args.n}")
    g = torch.Generator().manual_seed(args.seed)
    idx = torch.randperm(len(data), generator=g)[: args.n]
    path = save_images(data.images[idx], args.out, nrow=args.nrow)
    print(
        f"saved {len(idx)} images of {data.name} ({data.split}, {'x'.join(map(str, data.shape))}) to {path}"
    )
    return 0


def _load_data(args, split: str | None = None):
    """The data set named by --dataset, --data-root and --no-download; split defaults to --split."""
    from .data import load_dataset

    return load_dataset(
        args.dataset, split=split or args.split, root=args.data_root, download=not args.no_download
    )


def add_family(families, common, name: str):
    """The subcommand ``train NAME``: the shared options, --out, and the family's OPTIONS, each
    with its type and default read from the family's Config."""
    import inspect
    from dataclasses import MISSING, fields

    from .families import get

    family = get(name)
    p = families.add_parser(name, parents=common, help=family.SUMMARY)
    p.add_argument("--out", required=True, help="run folder for checkpoint.pt and samples.png")
    defaults = {f.name: f.default for f in fields(family.Config) if f.default is not MISSING}
    for field, text in family.OPTIONS.items():
        p.add_argument(
            "--" + field.replace("_", "-"),
            dest=field,
            type=type(defaults[field]),
            help=f"{text} (default {defaults[field]})",
        )
    if "conditional" in inspect.signature(family.config_for).parameters:
        p.add_argument(
            "--conditional",
            action="store_true",
            help="condition on the data's labels (a conditional model, notebook 05)",
        )
    if "condition" in inspect.signature(family.config_for).parameters:
        p.add_argument(
            "--condition",
            default=None,
            help="labels (as --conditional) or captions: on captions such as 'a thick, slanted "
            "seven', built from the labels and measured thickness and slant (notebook 08)",
        )
    if "latent_of" in inspect.signature(family.config_for).parameters:
        p.add_argument(
            "--latent-of",
            default=None,
            metavar="VAE_RUN",
            help="learn the codes of this VAE run (train vae on the same data set) instead of "
            "pixels, and sample by decoding them: latent diffusion (notebook 07)",
        )
    p.set_defaults(func=cmd_train, options=list(family.OPTIONS))
    return p


def parse_labels(text: str):
    """ "0-9" or "1,3,5" or "2-4,7" -> a sorted list of distinct class indices."""
    labels = set()
    try:
        for part in text.split(","):
            if "-" in part:
                lo, hi = (int(v) for v in part.split("-"))
                labels.update(range(lo, hi + 1))
            else:
                labels.add(int(part))
    except ValueError:
        raise CourseError(f"cannot read --labels {text!r}; write e.g. 0-9 or 1,3,5") from None
    if not labels:
        raise CourseError(f"--labels {text!r} names no class")
    return sorted(labels)


def draw(kind: str, model, cfg, n: int, generator, device, labels=None, **options):
    """n samples (n, C, H, W) in [-1, 1] from a model of any family (its kind), and the labels (n,) they were
    drawn for: every class in turn by default for a conditional model, else None.

    options (sampler, solver, steps, guidance, prompt) must be keywords of the family's ``sample``. A
    caption model draws each digit in turn ("a zero", "a one", ...) unless given a prompt, and
    the labels returned are then the prompt's digit."""
    import inspect

    import torch

    from .families import get, names

    family = get(kind)

    def takes(module, option: str) -> bool:
        return option in inspect.signature(module.sample).parameters

    for option, value in options.items():
        if value is not None and not takes(family, option):
            able = [n for n in names() if hasattr(get(n), "sample") and takes(get(n), option)]
            raise CourseError(
                f"--{option} applies to {' and '.join(able)} models; this checkpoint holds "
                f"a {kind!r} model"
            )
    options = {k: v for k, v in options.items() if v is not None}
    captioned = bool(getattr(cfg, "vocabulary", ()))
    if "prompt" in options and labels is not None:
        raise CourseError("give --prompt or --labels, not both: the prompt names the digit")
    if captioned and "prompt" in options:  # the labels saved with the samples: the prompt's digit
        from .captions import parse

        prompts = options["prompt"]
        prompts = [prompts] * n if isinstance(prompts, str) else prompts
        drawn_for = torch.tensor([parse(p)[0] for p in prompts])
    else:
        if (getattr(cfg, "num_classes", 0) > 0 or captioned) and labels is None:
            labels = torch.arange(n) % (cfg.num_classes or 10)
        if labels is not None:
            options["labels"] = labels
        drawn_for = labels
    if takes(family, "progress"):
        options["progress"] = True
    return family.sample(model.to(device), cfg, n, generator, device, **options), drawn_for


def cmd_train(args) -> int:
    import time

    from .families import get
    from .plotting import save_images
    from .utils import get_device, load_checkpoint, save_checkpoint, seed_everything

    family = get(args.family)
    device = get_device(args.device)
    data = _load_data(args)
    options = {k: getattr(args, k) for k in args.options if getattr(args, k) is not None}
    if getattr(args, "conditional", False):
        options["conditional"] = True
    if getattr(args, "condition", None) is not None:
        options["condition"] = args.condition
    if getattr(args, "latent_of", None) is not None:
        options["latent_of"] = args.latent_of
    cfg = family.config_for(data, **options)  # bad options fail now, before any training
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)  # and so does an unusable --out
    generator = seed_everything(args.seed)
    print(
        f"training a {args.family.upper()} on {data.name} ({len(data)} images of "
        f"{'x'.join(map(str, data.shape))}) on {device}"
    )
    start = time.perf_counter()
    run = family.train(data, cfg, device, generator)
    seconds = time.perf_counter() - start
    extra = dict(
        dataset=data.name, levels=data.levels, seed=args.seed, seconds=seconds, history=run.history
    )
    path = save_checkpoint(out / CHECKPOINT_NAME, run.model, args.family, run.config, **extra)
    model, cfg = family.from_checkpoint(load_checkpoint(path, kind=args.family))  # as saved
    said = f"done in {seconds:.0f} s"
    if hasattr(family, "report"):  # e.g. the classifier's accuracy on the held-out split
        held_out = _load_data(args, split="test")
        for key, value in family.report(model, cfg, held_out, device).items():
            said += f"; {key.replace('_', ' ')} ({held_out.split} split) {value:.4g}"
    said += f"; saved {path}"
    if hasattr(family, "sample"):
        preview = getattr(family, "PREVIEW", {})
        images, _ = draw(args.family, model, cfg, 100, generator, device, **preview)
        said += f" and {save_images(images, out / 'samples.png', nrow=10)}"
    print(said)
    return 0


def cmd_sample(args) -> int:
    import torch

    from .data import to_uint8
    from .families import get
    from .samples import save_samples
    from .utils import get_device, load_checkpoint

    if args.n < 1:
        raise CourseError(f"--n must be at least 1, got {args.n}")
    ckpt = load_checkpoint(args.run)
    family = get(ckpt["kind"])
    if not hasattr(family, "sample"):
        raise CourseError(f"a {ckpt['kind']} is not a generative model; there is nothing to sample")
    model, cfg = family.from_checkpoint(ckpt)
    labels = None
    if args.labels is not None or args.guidance is not None:
        if getattr(cfg, "num_classes", 0) == 0 and not getattr(cfg, "vocabulary", ()):
            raise CourseError(
                f"--labels and --guidance need a model trained with --conditional; "
                f"this {ckpt['kind']} model is unconditional"
            )
    if args.labels is not None:
        classes = parse_labels(args.labels)
        if args.n < len(classes):
            raise CourseError(f"--n {args.n} is fewer than the {len(classes)} labels asked for")
        labels = torch.tensor(classes).repeat_interleave(-(-args.n // len(classes)))[: args.n]
    images, labels = draw(
        ckpt["kind"],
        model,
        cfg,
        args.n,
        torch.Generator().manual_seed(args.seed),
        get_device(args.device),
        labels,
        sampler=args.sampler,
        solver=args.solver,
        steps=args.steps,
        guidance=args.guidance,
        prompt=args.prompt,
    )
    out = save_samples(args.out, to_uint8(images, ckpt["extra"]["levels"]), labels)
    print(
        f"wrote {args.n} samples of a {ckpt['kind']} trained on {ckpt['extra']['dataset']} to {out}"
    )
    return 0


def cmd_evaluate(args) -> int:
    import json

    import torch

    from . import metrics
    from .data import from_uint8
    from .samples import load_samples
    from .utils import get_device, load_checkpoint

    if args.likelihood_images is not None and args.likelihood_images < 1:
        raise CourseError(f"--likelihood-images must be at least 1, got {args.likelihood_images}")
    data, train = _load_data(args, split="test"), _load_data(args, split="train")
    images, labels = load_samples(args.samples, like=data)
    if len(images) < 10:
        raise CourseError(
            f"{args.samples} holds {len(images)} images; the metrics need at least 10"
        )
    device = get_device(args.device)
    generator = torch.Generator().manual_seed(args.seed)
    model = None if args.model is None else load_checkpoint(args.model)
    if model is not None:
        metrics.likelihood_family(model["kind"])  # a GAN has none: say so before any work
        if model["extra"]["dataset"] != data.name:
            raise CourseError(
                f"{args.model} was trained on {model['extra']['dataset']}, not {data.name}; "
                f"pass --dataset {model['extra']['dataset']}"
            )
    if not args.classifier:
        print(
            f"training the course's classifier on {train.name} (seed {args.seed}); "
            "pass --classifier RUN_DIR to reuse one",
            file=sys.stderr,
        )
    classifier = metrics.course_classifier(args.classifier, train, generator)
    classifier = classifier.to(device)
    x = from_uint8(images, data.levels).to(device)
    n = min(len(x), len(train))
    baseline = train.random_subset(n, generator).to(device)
    result = metrics.evaluate(
        x[:n],
        data.images.to(device),
        baseline,
        classifier,
        len(data.classes),
        None if labels is None else torch.from_numpy(labels[:n]).to(device),
    )
    result = {
        "samples_file": str(args.samples),
        "dataset": data.name,
        "reference": f"{data.split} split",
        **result,
    }
    if model is not None:  # bounds on -log p(held-out images), where the model defines one
        torch.manual_seed(args.seed)
        held_out = data.images[: args.likelihood_images]
        result["likelihood_model"] = f"{model['kind']} from {args.model}"
        result["likelihood_images"] = len(held_out)
        # a fresh generator: the bound of the same images, whatever ran before
        fresh = torch.Generator().manual_seed(args.seed)
        result.update(metrics.likelihood(model, held_out, fresh, device, not args.json))
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{'metric':<34}value")
    for key, value in result.items():
        print(f"{key:<34}{value:.4f}" if isinstance(value, float) else f"{key:<34}{value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .families import names

    parser = argparse.ArgumentParser(
        prog="python -m tutorial_lib",
        description="Deep generative models for images, built from scratch: the course's command line.",
    )
    parser.add_argument("--version", action="version", version=f"tutorial_lib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    data, split, run = option_groups()
    common = [data, split, run]

    p = sub.add_parser(
        "datasets", help="list the data sets, their shapes, and whether they load offline now"
    )
    p.add_argument(
        "--data-root", default=None, help="folder to look in for MNIST / Fashion-MNIST IDX files"
    )
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("show", parents=common, help="save a grid of real images from a data set")
    p.add_argument("--out", required=True, help="PNG file to write, e.g. grid.png")
    p.add_argument("--n", type=int, default=64, help="number of images (default 64)")
    p.add_argument("--nrow", type=int, default=None, help="images per row (default: square grid)")
    p.set_defaults(func=cmd_show)

    train = sub.add_parser(
        "train", help="train a model family and save a checkpoint and a sample grid in --out"
    )
    families = train.add_subparsers(dest="family", metavar="FAMILY", required=True)
    for name in names():
        add_family(families, common, name)

    p = sub.add_parser(
        "evaluate",
        parents=[data, run],
        help="measure a samples.npz against a data set: Fréchet distance, precision, recall, ...",
    )
    p.add_argument("samples", help="a samples.npz written by `sample`")
    p.add_argument(
        "--classifier",
        default=None,
        help="a run folder from `train classifier` (default: train one now)",
    )
    p.add_argument(
        "--model",
        default=None,
        help="a run folder whose family bounds a likelihood (VAE, DDPM): also report its bounds "
        "on the test split",
    )
    p.add_argument(
        "--likelihood-images",
        type=int,
        default=None,
        help="with --model: bound only the first N test images (default: all; the DDPM's bound "
        "runs the network T times on each)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "sample", parents=[run], help="draw samples from a trained run into samples.npz"
    )
    p.add_argument("run", help="a run folder written by `train` (or its checkpoint.pt)")
    p.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("--out", default="samples.npz", help="output file (default samples.npz)")
    p.add_argument(
        "--sampler", default=None, help="diffusion models: ddpm (default, all T steps) or ddim"
    )
    p.add_argument(
        "--solver", default=None, help="flow models: euler (default) or heun, the ODE solver"
    )
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="diffusion models: DDIM steps (default 50); flow models: solver steps (default 20; "
        "heun calls the network twice a step)",
    )
    p.add_argument(
        "--labels",
        default=None,
        help="conditional models: classes to draw, e.g. 0-9 or 1,3,5; the N samples are spread evenly over them",
    )
    p.add_argument(
        "--guidance",
        type=float,
        default=None,
        help="conditional diffusion models: guidance scale w of Ho & Salimans 2022 (default: "
        "ddpm.DEFAULT_GUIDANCE; 0 is the plain conditional model)",
    )
    p.add_argument(
        "--prompt",
        default=None,
        help="caption models (train ddpm --condition captions): a caption such as 'a thin three' "
        "for all N samples",
    )
    p.set_defaults(func=cmd_sample)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    warnings.showwarning = _show_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CourseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # an --out, RUN_DIR or data path that cannot be created, written or read
        where = f" {e.filename}" if e.filename else ""
        print(
            f"error: cannot use{where}: {e.strerror or e}; choose a path you can read and write",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing was overwritten", file=sys.stderr)
        return 130
