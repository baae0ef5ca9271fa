"""Checks for the exercises of notebook 05 (classifier-free guidance)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from .. import diffusion
from .core import Case, _generator, _run


def combine_guidance(student: Callable, points: float = 2, hidden: Sequence[Case] = ()) -> float:
    """Exercise: eps_tilde = (1 + w) eps_cond - w eps_uncond, the signature of
    ``diffusion.combine_guidance(eps_cond, eps_uncond, w)``."""
    g = _generator()
    a, b = torch.randn(8, 1, 4, 4, generator=g), torch.randn(8, 1, 4, 4, generator=g)
    cases = [
        ("w = 2", (a, b, 2.0)),
        ("w = 0 (the plain conditional model)", (a, b, 0.0)),
        ("w = 0.5", (a, b, 0.5)),
    ]

    return _run(
        "combine_guidance",
        student,
        diffusion.combine_guidance,
        "diffusion.combine_guidance",
        cases,
        mistakes=[
            (
                "this is the other convention, w eps_cond + (1 - w) eps_uncond, in which w = 1 is "
                "the plain conditional model. The course (and Ho & Salimans' Eq. 6) writes "
                "(1 + w) eps_cond - w eps_uncond, so that w = 0 is the conditional model.",
                lambda c, u, w: w * c + (1 - w) * u,
            ),
            (
                "the guidance points the wrong way: move AWAY from the unconditional prediction, "
                "(1 + w) eps_cond - w eps_uncond.",
                lambda c, u, w: (1 + w) * u - w * c,
            ),
            (
                "the conditional prediction needs the weight 1 + w, not w: "
                "(1 + w) eps_cond - w eps_uncond.",
                lambda c, u, w: w * c - w * u,
            ),
        ],
        points=points,
        hidden=hidden,
    )


def drop_labels(student: Callable, points: float = 2, hidden: Sequence[Case] = ()) -> float:
    """Exercise: replace each label y_i by null_label where u_i < p_uncond; arguments (y, p_uncond, null_label, u)."""
    g = _generator()
    y = torch.randint(0, 10, (200,), generator=g)
    u = torch.rand(200, generator=g)

    def reference(y, p, null, u):
        return torch.where(u < p, torch.full_like(y, null), y)

    cases = [
        ("p_uncond = 0.1", (y, 0.1, 10, u)),
        ("p_uncond = 0 (keep every label)", (y, 0.0, 10, u)),
        ("p_uncond = 1 (drop every label)", (y, 1.0, 10, u)),
    ]
    return _run(
        "drop_labels",
        student,
        reference,
        "diffusion.drop_labels",
        cases,
        mistakes=[
            (
                "you drop the labels where u >= p_uncond, i.e. with probability 1 - p_uncond. Drop "
                "them where u < p_uncond, so that only a fraction p_uncond become 'no label'.",
                lambda y, p, null, u: torch.where(u >= p, torch.full_like(y, null), y),
            ),
            (
                "the dropped labels are set to 0, which is the digit 0, not 'no label'. Use "
                "null_label (= num_classes), the extra token the network reserves for it.",
                lambda y, p, null, u: torch.where(u < p, torch.zeros_like(y), y),
            ),
        ],
        points=points,
        hidden=hidden,
    )
