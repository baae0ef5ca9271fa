"""One model, four parameterisations: the Gaussian paths x_t = a_t x_0 + s_t eps.

Every process of the course mixes an image and noise linearly, x_t = a_t x_0 + s_t eps,
eps ~ N(0, I); only the two coefficients differ:

    DDPM (notebook 03)            a = sqrt(alpha_bar_t),  s = sqrt(1 - alpha_bar_t),  t = 0 .. T-1
    flow matching (notebook 07)   a = 1 - t,              s = t,                      t in [0, 1]

At a given t and x_t, a network that predicts one of the noise eps, the clean image x_0, the
score grad log p_t(x_t) or the velocity v = dx_t/dt predicts them all, through affine maps:

    x_0   = (x_t - s eps) / a                   eps = (x_t - a x_0) / s
    score = -eps / s                            eps = -s score       (Tweedie: E[eps | x_t] = -s score)
    v     = a' x_0 + s' eps                     eps = (a v - a' x_t) / (a s' - a' s)

with a' = da/dt and s' = ds/dt in the path's own clock. The flow's clock is t: a' = -1,
s' = 1, so v = eps - x_0. The DDPM's clock is discrete; read it as the angle phi with
a = cos phi, s = sin phi (a^2 + s^2 = 1), so that a' = -s, s' = a and v = a eps - s x_0:
the "v-prediction" of Salimans & Ho (2022) is the DDPM's velocity in that clock.

``Point`` holds (a, s, a', s') at one t, shaped to broadcast against x_t; ``flow_point`` and
``ddpm_point`` build it. The conversions take it as their last argument.

The probability-flow ODE (Song et al. 2021) of a path is dx/dt = E[v | x_t]: the velocity
that a trained model predicts. In the variables xbar = x_t / a and sigma = s / a every
path becomes xbar = x_0 + sigma eps, and its ODE is d xbar / d sigma = E[eps | x_t];
DDIM (Song, Meng & Ermon 2021, Sec. 4.3) is Euler's method on it (``probability_flow``).

Introduced in notebook 07.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .diffusion import Model, Schedule, ddim_timesteps
from .utils import CourseError

PARAMETERISATIONS = ("eps", "x0", "score", "velocity")


class Point(NamedTuple):
    """The coefficients of x_t = a x_0 + s eps at one t, and their clock derivatives a', s';
    each (B, 1, ..., 1) or a float, broadcasting against x_t (B, ...)."""

    a: torch.Tensor
    s: torch.Tensor
    da: torch.Tensor
    ds: torch.Tensor


def _column(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.to(like.device, like.dtype).view(-1, *([1] * (like.ndim - 1)))


def flow_point(t: torch.Tensor, like: torch.Tensor) -> Point:
    """The flow-matching path at t (B,) in [0, 1]: a = 1 - t, s = t, a' = -1, s' = 1."""
    t = _column(t, like)
    return Point(1 - t, t, -torch.ones_like(t), torch.ones_like(t))


def ddpm_point(schedule: Schedule, t: torch.Tensor, like: torch.Tensor) -> Point:
    """The DDPM's path at integer steps t (B,), in the angle clock phi (a = cos phi, s = sin phi):
    a = sqrt(alpha_bar_t), s = sqrt(1 - alpha_bar_t), a' = -s, s' = a."""
    a = _column(schedule.alpha_bar[t.cpu()].sqrt(), like)
    s = _column((1 - schedule.alpha_bar[t.cpu()]).sqrt(), like)
    return Point(a, s, -s, a)


# ---------------------------------------------------------------- the four parameterisations
def x0_from_eps(x_t: torch.Tensor, eps: torch.Tensor, p: Point) -> torch.Tensor:
    """x_0 = (x_t - s eps) / a: the image the noise estimate points back to (shape of x_t)."""
    return (x_t - p.s * eps) / p.a


def eps_from_x0(x_t: torch.Tensor, x_0: torch.Tensor, p: Point) -> torch.Tensor:
    """eps = (x_t - a x_0) / s."""
    return (x_t - p.a * x_0) / p.s


def score_from_eps(eps: torch.Tensor, p: Point) -> torch.Tensor:
    """score = grad log p_t(x_t) = -E[eps | x_t] / s (Tweedie's formula; Vincent 2011)."""
    return -eps / p.s


def eps_from_score(score: torch.Tensor, p: Point) -> torch.Tensor:
    """eps = -s score."""
    return -p.s * score


def velocity_from_eps(x_t: torch.Tensor, eps: torch.Tensor, p: Point) -> torch.Tensor:
    """v = a' x_0 + s' eps with x_0 = (x_t - s eps) / a: the velocity dx_t/dt of the path
    through x_t (for the flow, eps - x_0)."""
    return p.da * x0_from_eps(x_t, eps, p) + p.ds * eps


def eps_from_velocity(x_t: torch.Tensor, v: torch.Tensor, p: Point) -> torch.Tensor:
    """eps = (a v - a' x_t) / (a s' - a' s), from v = (a'/a) x_t + (s' - a' s / a) eps
    (for the flow, eps = x_t + (1 - t) v)."""
    return (p.a * v - p.da * x_t) / (p.a * p.ds - p.da * p.s)


_TO_EPS = {
    "eps": lambda x, pred, p: pred,
    "x0": eps_from_x0,
    "score": lambda x, pred, p: eps_from_score(pred, p),
    "velocity": eps_from_velocity,
}
_FROM_EPS = {
    "eps": lambda x, eps, p: eps,
    "x0": x0_from_eps,
    "score": lambda x, eps, p: score_from_eps(eps, p),
    "velocity": velocity_from_eps,
}


def convert(prediction: torch.Tensor, source: str, target: str, x_t: torch.Tensor, p: Point):
    """A prediction of ``source`` at x_t turned into one of ``target`` (both among
    ``PARAMETERISATIONS``), through eps. Shapes: prediction and x_t (B, ...)."""
    for name in (source, target):
        if name not in PARAMETERISATIONS:
            raise CourseError(
                f"unknown parameterisation {name!r}; choose one of {', '.join(PARAMETERISATIONS)}"
            )
    return _FROM_EPS[target](x_t, _TO_EPS[source](x_t, prediction, p), p)


# ---------------------------------------------------------------- the DDPM as an ODE
def probability_flow(model: Model, schedule: Schedule, steps: int):
    """The DDPM's probability-flow ODE in the variables of DDIM (Song, Meng & Ermon 2021, Eq. 14):

        xbar = x_t / sqrt(alpha_bar_t) = x_0 + sigma eps,   sigma = sqrt(1 / alpha_bar_t - 1),
        d xbar / d sigma = eps_theta(x_t, t).

    A solver that walks sigma down the returned grid from sigma_{T-1} to 0 samples the DDPM;
    Euler's step, xbar' = xbar + (sigma' - sigma) eps_theta, is DDIM's (eta = 0) exactly.

    model: eps_theta(x_t, t) with t (B,) integer steps. Returns (velocity, sigmas):
    velocity(xbar, sigma) -> eps_theta at the step whose sigma that is (sigma (B,) on the grid),
    and sigmas (steps + 1,) float64, decreasing: the ``diffusion.ddim_timesteps`` and then 0.
    Start from xbar = x_T sqrt(1 + sigma_0^2), x_T ~ N(0, I); the end, at sigma = 0, is x_0.
    """
    taus = torch.tensor(ddim_timesteps(schedule, steps))
    table = (1 / schedule.alpha_bar - 1).sqrt()  # sigma of every step, increasing in t
    sigmas = torch.cat([table[taus], torch.zeros(1, dtype=table.dtype)])

    def velocity(xbar: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        t = (table[None, :] - sigma.double().cpu()[:, None]).abs().argmin(1)  # (B,) the step
        alpha_bar = _column(schedule.alpha_bar[t], xbar)
        return model(xbar * alpha_bar.sqrt(), t.to(xbar.device))

    return velocity, sigmas
