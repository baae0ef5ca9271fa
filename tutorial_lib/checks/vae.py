"""Checks for the exercises of notebook 02 (the VAE)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from .. import vae
from .core import Case, _close, _generator, _run


def reparameterize(student: Callable, points: float = 2, hidden: Sequence[Case] = ()) -> float:
    """Exercise: z = mu + std * eps, given mu, std and the noise eps."""
    g = _generator()
    cases = [
        (
            "a batch of 16 codes of dimension 8",
            (
                torch.randn(16, 8, generator=g),
                torch.rand(16, 8, generator=g) + 0.1,
                torch.randn(16, 8, generator=g),
            ),
        ),
        (
            "std far from 1",
            (
                torch.randn(4, 3, generator=g),
                torch.full((4, 3), 3.0),
                torch.randn(4, 3, generator=g),
            ),
        ),
        (
            "eps = 0 (z must equal mu)",
            (
                torch.randn(4, 3, generator=g),
                torch.rand(4, 3, generator=g) + 0.5,
                torch.zeros(4, 3),
            ),
        ),
    ]
    return _run(
        "reparameterize",
        student,
        vae.reparameterize,
        "vae.reparameterize",
        cases,
        mistakes=[
            (
                "you multiply eps by the variance std**2; the noise is scaled by the standard "
                "deviation: z = mu + std * eps.",
                lambda mu, std, eps: mu + std**2 * eps,
            ),
            (
                "mu and std are swapped: z = mu + std * eps.",
                lambda mu, std, eps: std + mu * eps,
            ),
            (
                "you multiply where you should add: z = mu + std * eps.",
                lambda mu, std, eps: mu * std * eps,
            ),
            (
                "the std is missing: z = mu + std * eps.",
                lambda mu, std, eps: mu + eps,
            ),
        ],
        properties=[
            lambda args, got: (
                "the answer ignores the eps you are given (did you draw new noise "
                "with torch.randn?). Use eps: the randomness must come from outside, so that "
                "gradients flow to mu and std only."
                if not _close(student(*args), got)
                else None
            )
        ],
        points=points,
        hidden=hidden,
    )


def kl_standard_normal(student: Callable, points: float = 2, hidden: Sequence[Case] = ()) -> float:
    """Exercise: KL(N(mu, diag exp(log_var)) || N(0, I)) per example, summed over the last dimension."""
    g = _generator()
    cases = [
        (
            "a batch of 16 posteriors in 8 dimensions",
            (torch.randn(16, 8, generator=g), torch.randn(16, 8, generator=g)),
        ),
        ("small variances (log_var = -3)", (torch.zeros(4, 5), torch.full((4, 5), -3.0))),
        ("the prior itself (KL must be 0)", (torch.zeros(3, 4), torch.zeros(3, 4))),
        ("large means", (torch.full((2, 3), 4.0), torch.zeros(2, 3))),
    ]

    def flipped_log_var(mu, lv):
        return 0.5 * (lv.exp() + mu**2 - 1 + lv).sum(-1)

    return _run(
        "kl_standard_normal",
        student,
        vae.kl_diagonal_gaussians,
        "vae.kl_diagonal_gaussians",
        cases,
        mistakes=[
            (
                "it comes out negative for small variances: the sign of log sigma^2 is flipped. "
                "KL = 1/2 sum (sigma^2 + mu^2 - 1 - log sigma^2), with MINUS log sigma^2.",
                flipped_log_var,
            ),
            (
                "the factor 1/2 is missing: KL = 1/2 sum (sigma^2 + mu^2 - 1 - log sigma^2).",
                lambda mu, lv: (lv.exp() + mu**2 - 1 - lv).sum(-1),
            ),
            (
                "log_var is the log of the variance: sigma^2 = exp(log_var), not log_var itself.",
                lambda mu, lv: 0.5 * (lv + mu**2 - 1 - lv).sum(-1),
            ),
            (
                "the -1 is missing, so the KL of the prior with itself is not 0: "
                "KL = 1/2 sum (sigma^2 + mu^2 - 1 - log sigma^2).",
                lambda mu, lv: 0.5 * (lv.exp() + mu**2 - lv).sum(-1),
            ),
            (
                "you use exp(log_var / 2), the standard deviation, where the variance belongs.",
                lambda mu, lv: 0.5 * ((lv / 2).exp() + mu**2 - 1 - lv).sum(-1),
            ),
        ],
        properties=[
            lambda args, got: (
                f"the KL came out negative ({got.min().item():.3g}); a KL divergence "
                "is never negative. Check the sign of each term, log sigma^2 first."
                if (got < -1e-6).any()
                else None
            )
        ],
        points=points,
        hidden=hidden,
    )
