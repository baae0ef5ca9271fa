"""The registry of model families: one name, one module, one interface.

A family is a module (``gan``, ``vae``, ``ddpm``, ``flow``, and the classifier in ``metrics``)
that exposes:

    Config                    a dataclass: everything needed to rebuild the model and repeat its
                              training; a conditional model has ``num_classes`` > 0 (0: unconditional)
    OPTIONS                   {Config field: help text}: the options of ``train NAME``; each field
                              has an int, float or str default, which ``--help`` shows
    SUMMARY                   one line for ``train --help``, naming the notebook
    config_for(data, **options) -> Config
                              the Config for an ``data.ImageData`` set (its shape, grey levels, classes);
                              a ``conditional`` keyword makes ``train NAME --conditional`` exist,
                              a ``condition`` keyword ``train NAME --condition KIND``
    build(cfg) -> nn.Module   the untrained model
    train(data, cfg, device, generator, progress) -> Run
    from_checkpoint(checkpoint) -> (model, cfg)

and, where the family has them:

    sample(model, cfg, n, generator, device, **options) -> (n, *image_shape) samples in [-1, 1]
                              ``python -m tutorial_lib sample`` passes the keywords among labels,
                              sampler, solver, steps, guidance, prompt and progress that this
                              function takes, and refuses --labels, --sampler, --solver,
                              --steps, --guidance, --prompt where it takes none
    likelihood_bounds(model, cfg, images, levels, generator, device, progress) -> {name: nats}
                              bounds on -log p(x) of held-out images, averaged (``evaluate --model``)
    NO_LIKELIHOOD             without likelihood_bounds: why, for ``evaluate --model``'s error
                              (default "a NAME model defines no likelihood")
    PREVIEW                   keyword options of ``sample`` for the grid ``train`` saves (the DDPM's:
                              DDIM, 50 steps)
    report(model, cfg, held_out, device) -> {name: value}
                              what ``train`` prints on the held-out split (the classifier's accuracy)

``train NAME`` saves the model with ``utils.save_checkpoint`` under its family's name as the
checkpoint's kind, with the data set's name and grey levels in its ``extra``. The command line,
``metrics.likelihood``, scripts/make_checkpoints.py, scripts/bench_sampling.py and the tests reach
a family only through ``get``. A new family is a module and one line in
``FAMILIES``; README.md, "How to add a model family", walks through it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from .utils import CourseError

FAMILIES: dict[str, str | ModuleType] = {  # the checkpoint's "kind" -> its module
    "gan": "tutorial_lib.gan",
    "vae": "tutorial_lib.vae",
    "ddpm": "tutorial_lib.ddpm",
    "flow": "tutorial_lib.flow",
    "classifier": "tutorial_lib.metrics",
}


@dataclass
class Run:
    """What ``train`` returns: the trained model (eval mode), its config, and the loss history
    ({name: [value per step]})."""

    model: Any
    config: Any
    history: dict[str, list[float]] = field(default_factory=dict)


def names() -> list[str]:
    return list(FAMILIES)


def get(name: str) -> ModuleType:
    """The module of the family called ``name`` (a checkpoint's kind)."""
    if name not in FAMILIES:
        raise CourseError(f"unknown model family {name!r}; the course knows {', '.join(FAMILIES)}")
    module = FAMILIES[name]
    return importlib.import_module(module) if isinstance(module, str) else module


def with_likelihood() -> list[str]:
    """The families that define a likelihood (a GAN does not)."""
    return [name for name in FAMILIES if hasattr(get(name), "likelihood_bounds")]
