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


def _toy_conditional(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A fixed stand-in for eps_theta(x_t, t, y) whose prediction depends on the label; label 10
    is "no label"."""
    view = (-1, *([1] * (x.ndim - 1)))
    return 0.5 * torch.tanh(x) * (t.float() / 1000 + 0.5).view(view) + 0.1 * (y.float() - 4.5).view(
        view
    )


def guided_sample(student: Callable, points: float = 4, hidden: Sequence[Case] = ()) -> float:
    """Exercise: the classifier-free guided DDIM loop, guided_sample(model, y, w, shape, schedule,
    steps, generator, null_label) -> x_0: x_T = torch.randn(shape, generator=generator), then for
    each t of diffusion.ddim_timesteps(schedule, steps) the guided prediction (1 + w) eps(x, t, y) -
    w eps(x, t, null) and the deterministic DDIM step (eta = 0) to the next timestep, whose
    alpha_bar is 1 after the last."""

    def reference(y, w, shape, schedule, steps, seed):
        def eps(x, t):
            return diffusion.guided_eps(_toy_conditional, x, t, y, w, 10)

        return diffusion.ddim_sample(eps, shape, schedule, steps, generator=_generator(seed))[0]

    def with_eps(eps_of, steps_of=None, eta=0.0):
        def wrong(y, w, shape, schedule, steps, seed):
            return diffusion.ddim_sample(
                lambda x, t: eps_of(x, t, y, w),
                shape,
                schedule,
                steps,
                eta=eta,
                generator=_generator(seed),
            )[0]

        return wrong

    def consecutive(y, w, shape, schedule, steps, seed):  # alpha_bar_{t-1}, not the next tau's
        x = torch.randn(shape, generator=_generator(seed))
        for step in diffusion.ddim_timesteps(schedule, steps):
            t = torch.full((shape[0],), step, dtype=torch.long)
            e = diffusion.guided_eps(_toy_conditional, x, t, y, w, 10)
            x0 = diffusion.predict_x0(x, t, e, schedule)
            prev = float(schedule.alpha_bar_prev[step])
            x = prev**0.5 * x0 + (1 - prev) ** 0.5 * e
        return x

    g = _generator()
    cases = [
        (
            "6 points in 2-D, w = 2, 10 steps",
            (torch.arange(6), 2.0, (6, 2), diffusion.Schedule(), 10, 0),
        ),
        (
            "4 images of 1x4x4, w = 0.5, 5 steps",
            (
                torch.randint(0, 10, (4,), generator=g),
                0.5,
                (4, 1, 4, 4),
                diffusion.Schedule(),
                5,
                1,
            ),
        ),
        (
            "w = 0, the plain conditional model",
            (torch.arange(3), 0.0, (3, 2), diffusion.Schedule(), 10, 2),
        ),
    ]
    return _run(
        "guided_sample",
        lambda y, w, shape, s, steps, seed: student(
            _toy_conditional, y, w, shape, s, steps, _generator(seed), 10
        ),
        reference,
        "diffusion.ddim_sample with diffusion.guided_eps",
        cases,
        mistakes=[
            (
                "there is no guidance: every step uses eps(x, t, y) alone. Use (1 + w) eps(x, t, y) "
                "- w eps(x, t, null_label) (exercise 5.2).",
                with_eps(lambda x, t, y, w: _toy_conditional(x, t, y)),
            ),
            (
                "this is the other convention, w eps_cond + (1 - w) eps_uncond; the course's is "
                "(1 + w) eps_cond - w eps_uncond, with w = 0 the plain conditional model.",
                with_eps(
                    lambda x, t, y, w: (
                        w * _toy_conditional(x, t, y)
                        + (1 - w) * _toy_conditional(x, t, torch.full_like(y, 10))
                    )
                ),
            ),
            (
                "the step goes to alpha_bar_{t-1}, the next step of the FULL chain. DDIM jumps to "
                "the next timestep of its own subsequence: alpha_bar of the next tau (1 after the "
                "last).",
                consecutive,
            ),
            (
                "noise is added at each step (eta = 1). The DDIM sampler asked for here is the "
                "deterministic one, eta = 0: x_prev = sqrt(alpha_bar_prev) x0_hat + "
                "sqrt(1 - alpha_bar_prev) eps.",
                with_eps(
                    lambda x, t, y, w: diffusion.guided_eps(_toy_conditional, x, t, y, w, 10),
                    eta=1.0,
                ),
            ),
        ],
        points=points,
        hidden=hidden,
    )
