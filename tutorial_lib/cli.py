"""The command line: ``python -m tutorial_lib <command>``.

The subcommands that read a data set (``show``, ``train``) share the options
``--dataset``, ``--data-root``, ``--split``, ``--device`` and ``--seed``; ``sample`` and
``evaluate`` read a run folder or a samples file instead. Errors in the user's input,
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


def shared_options() -> argparse.ArgumentParser:
    """The options every data- or model-facing subcommand takes."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--dataset",
        default="digits",
        help="digits (default, offline), mnist, fashion-mnist, or a path to an .npz file",
    )
    p.add_argument(
        "--data-root",
        default=None,
        help="folder with MNIST / Fashion-MNIST raw IDX files (default: $TUTORIAL_LIB_DATA "
        "or ~/.cache/tutorial_lib)",
    )
    p.add_argument(
        "--split", default="train", help="train (default), test; digits also val and all"
    )
    p.add_argument(
        "--no-download", action="store_true", help="never download; read --data-root only"
    )
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or mps")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return p


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


def _positive(name: str, value) -> None:
    if value is not None and value <= 0:
        raise CourseError(f"{name} must be positive, got {value}")


def _train_gan(args, data, device, generator):
    from torch import nn

    from . import gan

    cfg = gan.GANConfig(
        image_shape=data.shape,
        **_overrides(args, "steps", "batch_size", "lr_g", "lr_d", "gp_weight", "g_loss"),
    )
    G, D, history, _ = gan.train_gan(data.images, cfg, device=device, generator=generator)
    return nn.ModuleDict({"G": G, "D": D}), cfg, history


def _train_vae(args, data, device, generator):
    from . import vae

    cfg = vae.VAEConfig(
        image_shape=data.shape,
        levels=data.levels,
        **_overrides(args, "steps", "batch_size", "lr", "z_dim", "beta"),
    )
    model, history = vae.train_vae(data.images, cfg, device=device, generator=generator)
    return model, cfg, history


def _train_ddpm(args, data, device, generator):
    from . import diffusion

    options = _overrides(args, "steps", "batch_size", "lr", "width", "T", "schedule")
    labels = None
    if args.conditional:
        if data.labels is None:
            raise CourseError(
                f"{data.name} has no labels, so a conditional model cannot be trained on it"
            )
        options["num_classes"], labels = len(data.classes), data.labels
    cfg = diffusion.DDPMConfig(image_shape=data.shape, **options)
    model, _, history = diffusion.train_ddpm(
        data.images, cfg, device=device, generator=generator, labels=labels
    )
    return model, cfg, history


def _train_classifier(args, data, device, generator):
    from . import metrics

    if data.labels is None:
        raise CourseError(f"{data.name} has no labels, so no classifier can be trained on it")
    steps = args.steps or 1500
    model = metrics.train_classifier(
        data.images,
        data.labels,
        len(data.classes),
        steps=steps,
        batch_size=args.batch_size or 64,
        generator=generator,
        device=device,
    )
    cfg = {"image_shape": list(data.shape), "num_classes": len(data.classes), "steps": steps}
    return model, cfg, {}


TRAINERS = {
    "gan": _train_gan,
    "vae": _train_vae,
    "ddpm": _train_ddpm,
    "classifier": _train_classifier,
}


def _overrides(args, *names) -> dict:
    return {k: getattr(args, k) for k in names if getattr(args, k, None) is not None}


def _draw(
    checkpoint: dict, n: int, generator, device, sampler=None, steps=None, labels=None, guidance=0.0
):
    """n samples (n, C, H, W) in [-1, 1] from any model family's checkpoint, and the labels (n,)
    they were drawn for (every class in turn by default for a conditional DDPM; else None)."""
    from . import diffusion, gan, vae

    kind = checkpoint["kind"]
    if kind == "ddpm":
        model, cfg = diffusion.from_checkpoint(checkpoint)
        if labels is None and cfg.num_classes > 0:  # by default, every class in turn
            labels = torch_arange_mod(n, cfg.num_classes)
        progress = n * (cfg.T if (sampler or "ddpm") == "ddpm" else (steps or 50)) > 20000
        images = diffusion.sample(
            model.to(device),
            cfg,
            n,
            sampler or "ddpm",
            steps,
            generator,
            device,
            progress=progress,
            labels=labels,
            guidance=guidance,
        )
        return images, labels
    if sampler is not None or steps is not None or labels is not None or guidance:
        raise CourseError(
            f"--sampler, --steps, --labels and --guidance apply to diffusion models; "
            f"this checkpoint holds a {kind!r} model"
        )
    if kind == "gan":
        G, _, cfg = gan.from_checkpoint(checkpoint)
        return gan.sample(G.to(device), n, cfg.z_dim, generator, device), None
    if kind == "vae":
        model, _ = vae.from_checkpoint(checkpoint)
        return vae.sample(model.to(device), n, generator, device), None
    raise CourseError(f"the checkpoint holds a {kind!r} model, which `sample` does not know")


def torch_arange_mod(n: int, k: int):
    """Labels 0, 1, ..., k-1, 0, 1, ... for n samples: n spread evenly over k classes."""
    import torch

    return torch.arange(n) % k


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


def cmd_train(args) -> int:
    import time
    from dataclasses import asdict

    from .plotting import save_images
    from .utils import get_device, load_checkpoint, save_checkpoint, seed_everything

    for name in ("steps", "batch_size", "lr", "lr_g", "lr_d", "z_dim", "width", "T"):
        _positive("--" + name.replace("_", "-"), getattr(args, name, None))
    device = get_device(args.device)
    data = _load_data(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)  # an unusable --out fails now, not after training
    generator = seed_everything(args.seed)
    print(
        f"training a {args.family.upper()} on {data.name} ({len(data)} images of "
        f"{'x'.join(map(str, data.shape))}) on {device}"
    )
    start = time.perf_counter()
    model, cfg, history = TRAINERS[args.family](args, data, device, generator)
    seconds = time.perf_counter() - start
    extra = dict(
        dataset=data.name, levels=data.levels, seed=args.seed, seconds=seconds, history=history
    )
    config = cfg if isinstance(cfg, dict) else asdict(cfg)
    path = save_checkpoint(out / CHECKPOINT_NAME, model, args.family, config, **extra)
    if args.family == "classifier":
        from .metrics import accuracy

        held_out = _load_data(args, split="test")
        acc = accuracy(model, held_out.images.to(device), held_out.labels.to(device))
        print(
            f"done in {seconds:.0f} s; held-out ({held_out.split} split) accuracy {acc:.1%}; saved {path}"
        )
        return 0
    grid = save_images(
        _draw(load_checkpoint(path), 100, generator, device)[0], out / "samples.png", nrow=10
    )
    print(f"done in {seconds:.0f} s; saved {path} and {grid}")
    return 0


def cmd_sample(args) -> int:
    import torch

    from . import diffusion
    from .data import save_samples, to_uint8
    from .utils import get_device, load_checkpoint

    if args.n < 1:
        raise CourseError(f"--n must be at least 1, got {args.n}")
    if args.sampler is not None and args.sampler not in diffusion.SAMPLERS:
        raise CourseError(
            f"unknown sampler {args.sampler!r}; choose one of {', '.join(diffusion.SAMPLERS)}"
        )
    ckpt = load_checkpoint(args.run)
    device = get_device(args.device)
    conditional = ckpt["kind"] == "ddpm" and ckpt["config"].get("num_classes", 0) > 0
    if (
        (args.labels is not None or args.guidance is not None)
        and ckpt["kind"] == "ddpm"
        and not conditional
    ):
        raise CourseError(
            "--labels and --guidance need a model trained with --conditional; this DDPM is unconditional"
        )
    labels = None
    if args.labels is not None:
        classes = parse_labels(args.labels)
        if args.n < len(classes):
            raise CourseError(f"--n {args.n} is fewer than the {len(classes)} labels asked for")
        labels = torch.tensor(classes).repeat_interleave(-(-args.n // len(classes)))[: args.n]
    guidance = args.guidance
    if guidance is None:
        guidance = diffusion.DEFAULT_GUIDANCE if conditional else 0.0
    images, labels = _draw(
        ckpt,
        args.n,
        torch.Generator().manual_seed(args.seed),
        device,
        args.sampler,
        args.steps,
        labels,
        guidance,
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
    from .data import from_uint8, load_samples
    from .utils import get_device, load_checkpoint

    images, labels = load_samples(args.samples)
    data, train = _load_data(args, split="test"), _load_data(args, split="train")
    sample_shape = images.shape[1:] if images.ndim == 3 else (images.shape[3], *images.shape[1:3])
    expected = data.shape[1:] if data.shape[0] == 1 else data.shape
    if tuple(sample_shape) != tuple(expected):
        raise CourseError(
            f"{args.samples} holds images of {'x'.join(map(str, sample_shape))}, but {data.name} "
            f"images are {'x'.join(map(str, expected))}; evaluate against the data set the model was trained on"
        )
    if len(images) < 10:
        raise CourseError(
            f"{args.samples} holds {len(images)} images; the metrics need at least 10"
        )
    device = get_device(args.device)
    generator = torch.Generator().manual_seed(args.seed)
    model = None if args.model is None else load_checkpoint(args.model)
    if model is not None:
        metrics.check_has_likelihood(model["kind"])
        if model["extra"]["dataset"] != data.name:
            raise CourseError(
                f"{args.model} was trained on {model['extra']['dataset']}, not {data.name}; "
                f"pass --dataset {model['extra']['dataset']}"
            )
    if args.classifier:
        classifier = metrics.from_checkpoint(load_checkpoint(args.classifier, kind="classifier"))
    else:
        print(
            f"training the course's classifier on {train.name} (seed {args.seed}); "
            "pass --classifier RUN_DIR to reuse one",
            file=sys.stderr,
        )
        classifier = metrics.train_classifier(
            train.images, train.labels, len(train.classes), generator=generator, progress=False
        )
    classifier = classifier.to(device)
    x = from_uint8(images, data.levels).to(device)
    n = min(len(x), len(train))
    baseline = train.images[torch.randperm(len(train), generator=generator)[:n]].to(device)
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
        result["likelihood_model"] = f"{model['kind']} from {args.model}"
        result.update(
            metrics.likelihood(model, data.images, generator, device, progress=not args.json)
        )
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{'metric':<34}value")
    for key, value in result.items():
        print(f"{key:<34}{value:.4f}" if isinstance(value, float) else f"{key:<34}{value}")
    return 0


def add_family(families, common, name: str, help: str, steps: int, batch_size: int):
    """A `train NAME` subcommand with the options every family shares."""
    p = families.add_parser(name, parents=[common], help=help)
    p.add_argument("--out", required=True, help="run folder for checkpoint.pt and samples.png")
    p.add_argument("--steps", type=int, help=f"training steps (default {steps})")
    p.add_argument("--batch-size", type=int, help=f"batch size (default {batch_size})")
    p.set_defaults(func=cmd_train)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tutorial_lib",
        description="Deep generative models for images, built from scratch: the course's command line.",
    )
    parser.add_argument("--version", action="version", version=f"tutorial_lib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = shared_options()

    p = sub.add_parser(
        "datasets", help="list the data sets, their shapes, and whether they load offline now"
    )
    p.add_argument(
        "--data-root", default=None, help="folder to look in for MNIST / Fashion-MNIST IDX files"
    )
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("show", parents=[common], help="save a grid of real images from a data set")
    p.add_argument("--out", required=True, help="PNG file to write, e.g. grid.png")
    p.add_argument("--n", type=int, default=64, help="number of images (default 64)")
    p.add_argument("--nrow", type=int, default=None, help="images per row (default: square grid)")
    p.set_defaults(func=cmd_show)

    train = sub.add_parser(
        "train", help="train a model family and save a checkpoint and a sample grid in --out"
    )
    families = train.add_subparsers(dest="family", metavar="FAMILY", required=True)
    p = add_family(
        families, common, "gan", "a DCGAN-style GAN (notebook 01)", steps=4000, batch_size=128
    )
    p.add_argument("--lr-g", type=float, help="generator learning rate (default 1e-3)")
    p.add_argument("--lr-d", type=float, help="discriminator learning rate (default 1e-3)")
    p.add_argument(
        "--g-loss",
        choices=["non-saturating", "minimax"],
        help="generator loss (default non-saturating)",
    )
    p.add_argument(
        "--gp-weight", type=float, help="gradient penalty weight, Gulrajani et al. 2017 (default 0)"
    )

    p = add_family(
        families,
        common,
        "vae",
        "a VAE with a categorical likelihood (notebook 02)",
        steps=3000,
        batch_size=64,
    )
    p.add_argument("--lr", type=float, help="learning rate (default 1e-3)")
    p.add_argument("--z-dim", type=int, help="latent dimensions (default 16)")
    p.add_argument("--beta", type=float, help="weight of the KL term; 1 is the ELBO (default 1)")

    p = add_family(
        families,
        common,
        "ddpm",
        "a DDPM with a small UNet (notebook 04)",
        steps=2000,
        batch_size=128,
    )
    p.add_argument("--lr", type=float, help="learning rate (default 2e-3)")
    p.add_argument("--width", type=int, help="UNet channels at full resolution (default 32)")
    p.add_argument("--T", type=int, help="diffusion steps (default 1000)")
    p.add_argument("--schedule", help="linear (default, Ho et al.) or cosine (Nichol & Dhariwal)")
    p.add_argument(
        "--conditional",
        action="store_true",
        help="condition on labels, with label dropout for classifier-free guidance (notebook 05)",
    )
    p.set_defaults(func=cmd_train)

    p = add_family(
        families,
        common,
        "classifier",
        "the course's digit classifier, for the metrics (notebook 05)",
        steps=1500,
        batch_size=64,
    )

    p = sub.add_parser(
        "evaluate",
        help="measure a samples.npz against a data set: Fréchet distance, precision, recall, ...",
    )
    p.add_argument("samples", help="a samples.npz written by `sample`")
    p.add_argument(
        "--dataset", default="digits", help="the data set the model was trained on (default digits)"
    )
    p.add_argument(
        "--data-root", default=None, help="folder with MNIST / Fashion-MNIST raw IDX files"
    )
    p.add_argument("--no-download", action="store_true", help="never download")
    p.add_argument(
        "--classifier",
        default=None,
        help="a run folder from `train classifier` (default: train one now)",
    )
    p.add_argument(
        "--model",
        default=None,
        help="the run folder of a VAE or DDPM: also report its likelihood bounds on the test split",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or mps")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("sample", help="draw samples from a trained run into samples.npz")
    p.add_argument("run", help="a run folder written by `train` (or its checkpoint.pt)")
    p.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("--out", default="samples.npz", help="output file (default samples.npz)")
    p.add_argument(
        "--sampler", default=None, help="diffusion models: ddpm (default, all T steps) or ddim"
    )
    p.add_argument(
        "--steps", type=int, default=None, help="diffusion models: DDIM steps (default 50)"
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
        help="conditional models: guidance scale w of Ho & Salimans 2022 (default 2; 0 is the plain conditional model)",
    )
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or mps")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
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
