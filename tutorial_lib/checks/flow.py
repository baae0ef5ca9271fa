"""Checks for the exercises of notebook 07 (flow matching, ODE solvers, parameterisations)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from .. import flow, paths
from .core import Case, _generator, _run


def _column(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """t (B,) shaped to broadcast against x (B, ...)."""
    return t.to(x.dtype).view(-1, *([1] * (x.ndim - 1)))


def _toy_velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A fixed, smooth stand-in for v_theta(x_t, t), t in [0, 1]: the checks need a network, not a
    good one."""
    t = _column(t, x)
    return torch.tanh(x) * (1 + t) - 0.5 * t


def _batch(shape, seed):
    g = _generator(seed)
    x_0 = torch.rand(shape, generator=g) * 2 - 1
    eps = torch.randn(shape, generator=g)
    t = torch.rand(shape[0], generator=g)
    return x_0, t, eps


def flow_matching_loss(student: Callable, points: float = 2, hidden: Sequence[Case] = ()) -> float:
    """Exercise: flow_matching_loss(model, x_0, t, eps) -> a scalar tensor: the mean over the
    batch and the dimensions of (model(x_t, t) - (eps - x_0))^2, x_t = (1 - t) x_0 + t eps."""

    def loss(model, x_0, t, eps, x_t=None, target=None, reduce=torch.mean):
        x_t = flow.interpolate(x_0, eps, t) if x_t is None else x_t
        target = eps - x_0 if target is None else target
        return reduce((model(x_t, t) - target) ** 2)

    def reversed_path(model, x_0, t, eps):  # x_t = t x_0 + (1 - t) eps
        return loss(model, x_0, t, eps, x_t=flow.interpolate(eps, x_0, t))

    cases = [
        ("8 points in 2-D", (_toy_velocity, *_batch((8, 2), 0))),
        ("4 images of 1x4x4", (_toy_velocity, *_batch((4, 1, 4, 4), 1))),
        ("t = 0 and t = 1 at the ends", (_toy_velocity, *_ends())),
    ]
    return _run(
        "flow_matching_loss",
        student,
        flow.flow_matching_loss,
        "flow.flow_matching_loss",
        cases,
        mistakes=[
            (
                "the target points the wrong way: along x_t = (1 - t) x_0 + t eps, dx_t/dt = "
                "eps - x_0, from the data towards the noise.",
                lambda m, x_0, t, eps: loss(m, x_0, t, eps, target=x_0 - eps),
            ),
            (
                "the path is the wrong way round: here the data sit at t = 0 and the noise at "
                "t = 1, x_t = (1 - t) x_0 + t eps.",
                reversed_path,
            ),
            (
                "the target is the noise eps, as in the DDPM; flow matching regresses on the "
                "velocity eps - x_0.",
                lambda m, x_0, t, eps: loss(m, x_0, t, eps, target=eps),
            ),
            (
                "the loss is a sum; average it over the batch and the dimensions (.mean()), so "
                "that it does not grow with the batch size.",
                lambda m, x_0, t, eps: loss(m, x_0, t, eps, reduce=torch.sum),
            ),
        ],
        points=points,
        hidden=hidden,
    )


def _ends():
    x_0, _, eps = _batch((4, 3), 2)
    return x_0, torch.tensor([0.0, 1.0, 0.0, 1.0]), eps


def sample_ode(student: Callable, points: float = 3, hidden: Sequence[Case] = ()) -> float:
    """Exercise: sample_ode(velocity, x_1, steps, solver) -> x_0: integrate dx/dt = velocity(x, t)
    from t = 1 to t = 0 on the grid flow.times(steps) with Euler's method (solver "euler") or
    Heun's ("heun"); velocity takes t as a (B,) tensor."""

    def reference(velocity, x_1, steps, solver):
        return flow.solve(velocity, x_1, flow.times(steps), solver)[0]

    def wrong(velocity, x_1, steps, solver, forward=False, same_time=False, corrector_only=False):
        grid, x = flow.times(steps), x_1
        for i in range(steps):
            t, t_next = grid[i].item(), grid[i + 1].item()
            h = t - t_next if forward else t_next - t
            v = velocity(x, torch.full((x.shape[0],), t))
            if solver == "euler":
                x = x + h * v
                continue
            guess = x + h * v
            v_next = velocity(guess, torch.full((x.shape[0],), t if same_time else t_next))
            x = x + h * v_next if corrector_only else x + h / 2 * (v + v_next)
        return x

    x = torch.randn(6, 2, generator=_generator(3))
    images = torch.randn(2, 1, 4, 4, generator=_generator(4))
    cases = [
        ("Euler, 10 steps, 6 points", (_toy_velocity, x, 10, "euler")),
        ("Euler, one step", (_toy_velocity, x, 1, "euler")),
        ("Heun, 5 steps, 6 points", (_toy_velocity, x, 5, "heun")),
        ("Heun, 3 steps, 2 images of 1x4x4", (_toy_velocity, images, 3, "heun")),
    ]
    return _run(
        "sample_ode",
        student,
        reference,
        "flow.solve",
        cases,
        mistakes=[
            (
                "it integrates forwards in time. Sampling goes from t = 1 (noise) to t = 0 "
                "(data), so the step h = t_next - t is negative: x + h v moves against v.",
                lambda *a: wrong(*a, forward=True),
            ),
            (
                "Heun's corrector evaluates the velocity at the predicted point but at the old "
                "time t; it belongs to the end of the step, t_next.",
                lambda *a: wrong(*a, same_time=True),
            ),
            (
                "Heun's step uses the corrector's velocity alone; it is the average of the two, "
                "x + h/2 (v(x, t) + v(x~, t_next)), the trapezoid rule.",
                lambda *a: wrong(*a, corrector_only=True),
            ),
        ],
        points=points,
        hidden=hidden,
    )


def velocity_from_eps(student: Callable, points: float = 2, hidden: Sequence[Case] = ()) -> float:
    """Exercise: velocity_from_eps(x_t, eps, t) -> the velocity eps - x_0 of the flow's path
    through x_t, for t (B,) in [0, 1): x_0 = (x_t - t eps) / (1 - t), so v = (eps - x_t) / (1 - t)."""

    def reference(x_t, eps, t):
        return paths.velocity_from_eps(x_t, eps, paths.flow_point(t, x_t))

    g = _generator(5)
    x, e = torch.randn(2, 5, 3, generator=g)
    t = torch.tensor([0.0, 0.1, 0.5, 0.9, 0.99])
    images, noise = torch.randn(2, 3, 1, 4, 4, generator=g)
    cases = [
        ("5 points in 3-D, t from 0 to 0.99", (x, e, t)),
        ("3 images of 1x4x4", (images, noise, torch.tensor([0.2, 0.5, 0.8]))),
    ]
    return _run(
        "velocity_from_eps",
        student,
        reference,
        "paths.velocity_from_eps",
        cases,
        mistakes=[
            (
                "the sign is flipped: the velocity is eps - x_0 (towards the noise as t grows), "
                "not x_0 - eps.",
                lambda x_t, eps, t: -reference(x_t, eps, t),
            ),
            (
                "x_0 is x_t - t eps: divide by 1 - t, the coefficient of x_0 in x_t = (1 - t) x_0 "
                "+ t eps.",
                lambda x_t, eps, t: eps - (x_t - _column(t, x_t) * eps),
            ),
            (
                "x_0 is not x_t / (1 - t): take the noise's share t eps off x_t first, "
                "x_0 = (x_t - t eps) / (1 - t).",
                lambda x_t, eps, t: eps - x_t / (1 - _column(t, x_t)),
            ),
        ],
        points=points,
        hidden=hidden,
    )
