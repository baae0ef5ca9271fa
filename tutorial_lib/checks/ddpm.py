"""Checks for the exercises of notebooks 03 and 04 (the DDPM forward and reverse processes)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from .. import diffusion
from .core import Case, _generator, _run


def _diffusion_cases() -> list[Case]:
    g = _generator()
    s = diffusion.Schedule(1000, "linear")
    x = torch.randn(6, 1, 4, 4, generator=g)
    other = torch.randn(6, 1, 4, 4, generator=g)
    return [
        ("random images at random steps", (x, torch.randint(0, 1000, (6,), generator=g), other, s)),
        ("the first step, t = 0", (x, torch.zeros(6, dtype=torch.long), other, s)),
        ("the last step, t = T - 1", (x, torch.full((6,), 999), other, s)),
        (
            "the cosine schedule",
            (
                x,
                torch.tensor([0, 10, 100, 500, 900, 999]),
                other,
                diffusion.Schedule(1000, "cosine"),
            ),
        ),
    ]


def q_sample(student: Callable, points: float = 2, hidden: Sequence[Case] = ()) -> float:
    """Exercise: x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, with the arguments (x_0, t, eps, schedule)."""

    def with_variances(x0, t, eps, s):
        return s.at(s.alpha_bar, t, x0) * x0 + s.at(1 - s.alpha_bar, t, x0) * eps

    def one_step(x0, t, eps, s):
        return s.at(s.alpha.sqrt(), t, x0) * x0 + s.at(s.beta.sqrt(), t, x0) * eps

    return _run(
        "q_sample",
        student,
        diffusion.q_sample,
        "diffusion.q_sample",
        _diffusion_cases(),
        mistakes=[
            (
                "you use the variances alpha_bar_t and 1 - alpha_bar_t as the coefficients; they "
                "are variances, and the coefficients are their square roots (standard deviations): "
                "x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps.",
                with_variances,
            ),
            (
                "this is ONE step of the forward chain (alpha_t, beta_t). q(x_t | x_0) jumps from "
                "x_0 to x_t at once with the cumulative product alpha_bar_t = prod_{s<=t} alpha_s.",
                one_step,
            ),
            (
                "the two coefficients are swapped: x_0 gets sqrt(alpha_bar_t), the noise "
                "sqrt(1 - alpha_bar_t).",
                lambda x0, t, eps, s: diffusion.q_sample(eps, t, x0, s),
            ),
            (
                "the timestep is off by one: the schedule's arrays are indexed by t directly "
                "(t = 0 is the first noising step), so use alpha_bar[t], not alpha_bar[t + 1] or "
                "alpha_bar[t - 1].",
                lambda x0, t, eps, s: diffusion.q_sample(x0, (t + 1).clamp(max=s.T - 1), eps, s),
            ),
            (
                "the timestep is off by one: the schedule's arrays are indexed by t directly "
                "(t = 0 is the first noising step), so use alpha_bar[t], not alpha_bar[t - 1].",
                lambda x0, t, eps, s: diffusion.q_sample(x0, (t - 1).clamp(min=0), eps, s),
            ),
        ],
        points=points,
        hidden=hidden,
    )


def q_posterior_mean(student: Callable, points: float = 2, hidden: Sequence[Case] = ()) -> float:
    """Exercise: the mean of q(x_{t-1} | x_t, x_0), Ho et al. Eq. (7), with the arguments (x_0, x_t, t, schedule)."""

    def reference(x0, xt, t, s):
        return diffusion.q_posterior(x0, xt, t, s)[0]

    def swapped(x0, xt, t, s):
        return diffusion.q_posterior(xt, x0, t, s)[0]

    cases = [(d, (x, other, t, s)) for d, (x, t, other, s) in _diffusion_cases()]
    return _run(
        "q_posterior_mean",
        student,
        reference,
        "diffusion.q_posterior",
        cases,
        mistakes=[
            (
                "the coefficients of x_0 and x_t are swapped: x_0 is multiplied by "
                "sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t), x_t by "
                "sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t).",
                swapped,
            ),
            (
                "you use alpha_bar_t where alpha_bar_{t-1} belongs (schedule.alpha_bar_prev holds "
                "it, with alpha_bar_{-1} = 1 for the first step).",
                lambda x0, xt, t, s: (
                    s.at(s.alpha_bar.sqrt() * s.beta / (1 - s.alpha_bar), t, xt) * x0
                    + s.at(s.alpha.sqrt() * (1 - s.alpha_bar) / (1 - s.alpha_bar), t, xt) * xt
                ),
            ),
        ],
        points=points,
        hidden=hidden,
    )


def predict_x0(student: Callable, points: float = 2, hidden: Sequence[Case] = ()) -> float:
    """Exercise: x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps_hat) / sqrt(alpha_bar_t), arguments (x_t, t, eps_hat, schedule)."""
    return _run(
        "predict_x0",
        student,
        diffusion.predict_x0,
        "diffusion.predict_x0",
        _diffusion_cases(),
        mistakes=[
            (
                "you use the variances 1 - alpha_bar_t and alpha_bar_t; take their square roots: "
                "x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps_hat) / sqrt(alpha_bar_t).",
                lambda xt, t, e, s: (
                    (xt - s.at(1 - s.alpha_bar, t, xt) * e) / s.at(s.alpha_bar, t, xt)
                ),
            ),
            (
                "you multiply by sqrt(alpha_bar_t) where you should divide: invert "
                "x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps for x_0.",
                lambda xt, t, e, s: (
                    (xt - s.at((1 - s.alpha_bar).sqrt(), t, xt) * e)
                    * s.at(s.alpha_bar.sqrt(), t, xt)
                ),
            ),
            (
                "the noise is added instead of subtracted: x0_hat = (x_t - sqrt(1 - alpha_bar_t) "
                "eps_hat) / sqrt(alpha_bar_t).",
                lambda xt, t, e, s: (
                    (xt + s.at((1 - s.alpha_bar).sqrt(), t, xt) * e)
                    / s.at(s.alpha_bar.sqrt(), t, xt)
                ),
            ),
        ],
        points=points,
        hidden=hidden,
    )


def ddpm_step(student: Callable, points: float = 2, hidden: Sequence[Case] = ()) -> float:
    """Exercise: one reverse step of Algorithm 2 with sigma_t^2 = beta_t, the signature of
    ``diffusion.ddpm_step(x_t, t, eps_hat, schedule, noise)``."""
    g = _generator(1)
    cases = []
    for d, (x, t, e, s) in _diffusion_cases():
        cases.append((d, (x, t, e, s, torch.randn(x.shape, generator=g))))

    def mean_only(xt, t, e, s, z):
        return diffusion.ddpm_step(xt, t, e, s, torch.zeros_like(z))

    def noise_at_zero(xt, t, e, s, z):
        return mean_only(xt, t, e, s, z) + s.at(s.beta.sqrt(), t, xt) * z

    def variance_for_std(xt, t, e, s, z):
        return mean_only(xt, t, e, s, z) + s.at(s.beta, t, xt) * (t > 0).view(-1, 1, 1, 1) * z

    def alpha_bar_for_alpha(xt, t, e, s, z):
        mean = (xt - s.at(s.beta / (1 - s.alpha_bar).sqrt(), t, xt) * e) / s.at(
            s.alpha_bar.sqrt(), t, xt
        )
        return mean + s.at(s.beta.sqrt(), t, xt) * (t > 0).view(-1, 1, 1, 1) * z

    return _run(
        "ddpm_step",
        student,
        diffusion.ddpm_step,
        "diffusion.ddpm_step",
        cases,
        mistakes=[
            (
                "the noise term sigma_t z is missing; without it the sampler is not Algorithm 2 "
                "(and its samples are too smooth). Add sqrt(beta_t) z, except at the last step.",
                mean_only,
            ),
            (
                "noise is added at the last step too. Algorithm 2 sets z = 0 when t = 0 (the "
                "paper's t = 1): the last step returns the mean.",
                noise_at_zero,
            ),
            (
                "the noise is scaled by the variance beta_t; scale it by the standard deviation "
                "sigma_t = sqrt(beta_t).",
                variance_for_std,
            ),
            (
                "you divide by sqrt(alpha_bar_t); one reverse step divides by sqrt(alpha_t), the "
                "single step's coefficient.",
                alpha_bar_for_alpha,
            ),
        ],
        points=points,
        hidden=hidden,
    )
