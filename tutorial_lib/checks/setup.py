"""Checks for the exercises of notebook 00 (images as numbers, a mixture density, a training step)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import distributions as D

from .. import vae
from .core import Case, _generator, _run


def to_levels(student: Callable, points: float = 2, hidden: Sequence[Case] = ()) -> float:
    """Exercise: images x in [-1, 1] (any shape) -> the nearest grey level v in {0, ..., L-1},
    as integers; values outside [-1, 1] go to the nearest end. Arguments (x, levels)."""
    g = _generator()
    grid = torch.linspace(-1, 1, 256)
    cases = [
        ("every grey level of MNIST exactly", (grid, 256)),
        ("the 17 levels of the 8x8 digits", (torch.linspace(-1, 1, 17), 17)),
        (
            "a model's output, a little off the levels",
            (grid.clamp(-1, 1) + 0.3 / 255 * (2 * torch.rand(256, generator=g) - 1), 256),
        ),
        ("images of shape (2, 1, 3, 3)", (torch.rand(2, 1, 3, 3, generator=g) * 2 - 1, 256)),
        ("outputs beyond [-1, 1], as a tanh-free network gives", (torch.tensor([-1.7, 1.2]), 17)),
    ]

    def integers(x, levels):
        v = student(x, levels)
        if torch.is_tensor(v) and v.is_floating_point():
            raise TypeError("it returned floats; grey levels are integers (.long())")
        return v

    return _run(
        "to_levels",
        integers,
        vae.to_levels,
        "vae.to_levels",
        cases,
        mistakes=[
            (
                "the levels are spread over L - 1 steps, not L: v = (x + 1) / 2 * (L - 1), so "
                "that x = 1 is level L - 1 (255 for MNIST).",
                lambda x, L: torch.round((x.clamp(-1, 1) + 1) * L / 2).clamp(0, L - 1).long(),
            ),
            (
                "you cut off the fraction (int(), .long() or floor) instead of rounding to the "
                "NEAREST level: torch.round before the conversion to integers.",
                lambda x, L: ((x.clamp(-1, 1) + 1) * (L - 1) / 2).long(),
            ),
            (
                "values outside [-1, 1] give levels outside {0, ..., L-1}: clamp x to [-1, 1] "
                "(or the levels to [0, L-1]).",
                lambda x, L: torch.round((x + 1) * (L - 1) / 2).long(),
            ),
        ],
        points=points,
        hidden=hidden,
    )


def _mixture(means: torch.Tensor, std: float) -> D.MixtureSameFamily:
    weights = D.Categorical(logits=torch.zeros(means.shape[0], dtype=means.dtype))
    return D.MixtureSameFamily(weights, D.Independent(D.Normal(means, std), 1))


def mixture_log_prob(student: Callable, points: float = 3, hidden: Sequence[Case] = ()) -> float:
    """Exercise: log p(x) of the equal-weight mixture of K isotropic Gaussians N(mu_k, std^2 I),
    for points x (N, 2), means (K, 2) and a float std. Checked against torch.distributions."""
    g = _generator()
    angles = torch.arange(8) * 2 * math.pi / 8
    ring = 2 * torch.stack([angles.cos(), angles.sin()], 1)
    cases = [
        ("points near the ring of 8", (torch.randn(50, 2, generator=g) * 2, ring, 0.05)),
        ("two Gaussians, a wider std", (torch.randn(20, 2, generator=g), ring[:2], 0.7)),
        (
            "points far from every mode (the density underflows to 0 in float32)",
            (torch.tensor([[10.0, 10.0], [0.0, 0.0], [-6.0, 3.0]]), ring, 0.05),
        ),
    ]

    def reference(x, means, std):
        return _mixture(means, std).log_prob(x)

    def component(x, means, std):
        return D.Independent(D.Normal(means, std), 1).log_prob(x[:, None])  # (N, K)

    return _run(
        "mixture_log_prob",
        student,
        reference,
        "torch.distributions.MixtureSameFamily",
        cases,
        mistakes=[
            (
                "the weights 1/K are missing: log p(x) = logsumexp_k log N(x; mu_k, std^2 I) - log K.",
                lambda x, m, s: torch.logsumexp(component(x, m, s), 1),
            ),
            (
                "you use std where the variance std^2 belongs (or the other way round): "
                "N(x; mu, std^2 I) has log-density -|x - mu|^2 / (2 std^2) - d log(std) - d/2 log(2 pi).",
                lambda x, m, s: _mixture(m, s**2).log_prob(x),
            ),
            (
                "the normalising constant of the Gaussian is missing: each component's log-density "
                "has - d log(std) - d/2 log(2 pi), d = 2.",
                lambda x, m, s: (
                    torch.logsumexp(-((x[:, None] - m[None]) ** 2).sum(-1) / (2 * s**2), 1)
                    - math.log(m.shape[0])
                ),
            ),
            (
                "you take the maximum over the components, the density of the nearest mode only; "
                "the mixture sums all K of them (logsumexp, not max).",
                lambda x, m, s: component(x, m, s).max(1).values - math.log(m.shape[0]),
            ),
        ],
        properties=[
            lambda args, got: (
                None
                if torch.isfinite(got).all()
                else "log p(x) is -inf or NaN far from the modes: the density underflows before "
                "you take its log. Stay in log space: torch.logsumexp over the components' "
                "log-densities, minus log K."
            )
        ],
        points=points,
        hidden=hidden,
    )


class _Gaussian(torch.nn.Module):
    """The notebook's 2-D Gaussian N(mu, L L^T), started from a fixed, non-trivial point."""

    def __init__(self):
        super().__init__()
        self.mu = torch.nn.Parameter(torch.tensor([0.3, -0.2]))
        self.raw_scale = torch.nn.Parameter(torch.tensor([[0.1, 0.0], [0.4, -0.3]]))

    def distribution(self) -> D.MultivariateNormal:
        diag = torch.nn.functional.softplus(self.raw_scale.diagonal()) + 1e-4
        return D.MultivariateNormal(self.mu, scale_tril=self.raw_scale.tril(-1) + torch.diag(diag))


def _reference_ml_step(model, optimizer, x):
    loss = -model.distribution().log_prob(x).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def ml_step(student: Callable, points: float = 3, hidden: Sequence[Case] = ()) -> float:
    """Exercise: one step of maximum likelihood, step(model, optimizer, x) -> the loss as a float:
    the mean negative log-likelihood of the batch x (B, 2) under model.distribution(), one
    gradient step on it, and the loss before the step. Checked over two steps in a row."""

    def run(step: Callable, x: torch.Tensor, lr: float) -> dict[str, torch.Tensor]:
        model = _Gaussian()
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        losses = [step(model, optimizer, x), step(model, optimizer, x)]
        if not all(isinstance(v, float) for v in losses):
            raise TypeError(
                f"step returned {type(losses[0]).__name__}; return the loss as a float (loss.item())"
            )
        return {
            "the loss it returns": torch.tensor(losses),
            "the parameters after two steps": torch.cat(
                [p.detach().flatten() for p in model.parameters()]
            ),
        }

    def mistake(loss_of: Callable, zero: bool = True, step: bool = True) -> Callable:
        def wrong(model, optimizer, x):
            loss = loss_of(model.distribution(), x)
            if zero:
                optimizer.zero_grad()
            loss.backward()
            if step:
                optimizer.step()
            return loss.item()

        return lambda x, lr: run(wrong, x, lr)

    nll = lambda d, x: -d.log_prob(x).mean()  # noqa: E731
    g = _generator()
    cases = [
        ("a batch of 64 points, SGD with lr 0.1", (torch.randn(64, 2, generator=g) + 1, 0.1)),
        ("a batch of 7 points, SGD with lr 0.02", (torch.randn(7, 2, generator=g) * 3, 0.02)),
    ]
    return _run(
        "ml_step",
        lambda x, lr: run(student, x, lr),
        lambda x, lr: run(_reference_ml_step, x, lr),
        "the notebook's step",
        cases,
        mistakes=[
            (
                "the gradients are never reset, so each step adds to the old ones: call "
                "optimizer.zero_grad() before loss.backward().",
                mistake(nll, zero=False),
            ),
            (
                "the sign is flipped: the optimizer MINIMISES, so give it the negative "
                "log-likelihood, -log_prob(x).mean().",
                mistake(lambda d, x: d.log_prob(x).mean()),
            ),
            (
                "you sum the log-likelihood over the batch; average it (mean), so that the step "
                "size does not grow with the batch.",
                mistake(lambda d, x: -d.log_prob(x).sum()),
            ),
            (
                "the parameters never move: after loss.backward(), call optimizer.step().",
                mistake(nll, step=False),
            ),
        ],
        points=points,
        hidden=hidden,
    )
