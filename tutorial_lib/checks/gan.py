"""Checks for the exercises of notebook 01 (GAN losses)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from .. import gan
from .core import Case, _generator, _run


def _logit_cases() -> list[Case]:
    g = _generator()
    return [
        ("random logits", (torch.randn(64, generator=g) * 2, torch.randn(64, generator=g) * 2)),
        (
            "a confident discriminator (logits of +-20)",
            (torch.full((8,), 20.0), torch.full((8,), -20.0)),
        ),
        ("a fooled discriminator", (torch.full((8,), -5.0), torch.full((8,), 5.0))),
        (
            "a confidently wrong discriminator (logits of -+100)",
            (torch.full((8,), -100.0), torch.full((8,), 100.0)),
        ),
        ("batches of different sizes", (torch.randn(5, generator=g), torch.randn(3, generator=g))),
    ]


def _finite_loss(args, got) -> str | None:
    """A GAN loss must stay finite for confident logits (the ``log(sigmoid(...))`` mistake)."""
    if torch.isfinite(got).all():
        return None
    return (
        "the loss is infinite or NaN for confident logits: compute log sigmoid(l) as "
        "-softplus(-l) (F.logsigmoid), not log(sigmoid(l))."
    )


def d_loss(student: Callable, points: float = 2, hidden: Sequence[Case] = ()) -> float:
    """Exercise: the discriminator's loss -[mean log D(x) + mean log(1 - D(G(z)))] from logits."""
    return _run(
        "d_loss",
        student,
        gan.d_loss,
        "gan.d_loss",
        _logit_cases(),
        mistakes=[
            (
                "the sign is flipped. The discriminator MAXIMISES V(D, G), so the loss it "
                "minimises is -V: -mean log D(x) - mean log(1 - D(G(z))).",
                lambda r, f: -gan.d_loss(r, f),
            ),
            (
                "real and generated logits are swapped: D should output 1 on data (log D(x)) "
                "and 0 on samples (log(1 - D(G(z)))).",
                lambda r, f: gan.d_loss(f, r),
            ),
            (
                "you sum over the batch; average instead (mean), so the loss does not grow "
                "with the batch size.",
                lambda r, f: F.softplus(-r).sum() + F.softplus(f).sum(),
            ),
            (
                "you apply the sigmoid to the logits twice, or treat D's output as a "
                "probability already: the inputs are logits, and D(x) = sigmoid(logit).",
                lambda r, f: (
                    F.softplus(-torch.sigmoid(r)).mean() + F.softplus(torch.sigmoid(f)).mean()
                ),
            ),
        ],
        properties=[_finite_loss],
        points=points,
        hidden=hidden,
    )


def g_loss_non_saturating(
    student: Callable, points: float = 2, hidden: Sequence[Case] = ()
) -> float:
    """Exercise: the non-saturating generator loss -mean log D(G(z)) from D's logits on samples."""
    cases = [(d, (args[1],)) for d, args in _logit_cases()]
    return _run(
        "g_loss_non_saturating",
        student,
        gan.g_loss_non_saturating,
        "gan.g_loss_non_saturating",
        cases,
        mistakes=[
            (
                "this is the saturating minimax loss, mean log(1 - D(G(z))). The non-saturating "
                "loss is -mean log D(G(z)): the generator maximises the log-probability that D "
                "is fooled.",
                gan.g_loss_minimax,
            ),
            (
                "the sign is flipped: minimising it would make D's job easier. The generator "
                "minimises -mean log D(G(z)).",
                lambda f: -gan.g_loss_non_saturating(f),
            ),
            (
                "you sum over the batch; average instead (mean).",
                lambda f: F.softplus(-f).sum(),
            ),
        ],
        properties=[_finite_loss],
        points=points,
        hidden=hidden,
    )
