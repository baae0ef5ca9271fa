"""Two-dimensional toy distributions for the maths notebooks.

Each has ``sample(n, generator)`` returning (n, 2) float32 points. The ring of
Gaussians also has its exact ``log_prob`` and its modes, which is what makes
mode collapse measurable. Points are scaled to lie roughly in [-2.5, 2.5]^2.

Introduced in notebook 00.
"""

from __future__ import annotations

import math

import torch
from torch import distributions as D

from .utils import CourseError


class Toy2D:
    """A 2-D distribution: ``sample`` always, ``log_prob`` where it exists in closed form."""

    name = "toy"
    has_log_prob = False

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:  # (n, 2)
        raise NotImplementedError

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:  # (n, 2) -> (n,)
        raise NotImplementedError(
            f"{self.name} has no closed-form density; only the ring of Gaussians does"
        )


class RingOfGaussians(Toy2D):
    """A mixture of ``n_modes`` equal-weight isotropic Gaussians on a circle:

        p(x) = (1/K) sum_k N(x; mu_k, sigma^2 I),   mu_k = r (cos 2 pi k / K, sin 2 pi k / K).

    The standard mode-collapse benchmark (Metz et al. 2017 used K = 8, r = 2).
    """

    name = "ring"
    has_log_prob = True

    def __init__(self, n_modes: int = 8, radius: float = 2.0, std: float = 0.05):
        self.n_modes, self.radius, self.std = n_modes, radius, std
        angles = torch.arange(n_modes) * (2 * math.pi / n_modes)
        self.modes = radius * torch.stack([angles.cos(), angles.sin()], dim=1)  # (K, 2)

    @property
    def distribution(self) -> D.MixtureSameFamily:
        components = D.Independent(D.Normal(self.modes, self.std), 1)
        return D.MixtureSameFamily(D.Categorical(torch.ones(self.n_modes)), components)

    def sample(self, n, generator=None):
        k = torch.randint(self.n_modes, (n,), generator=generator)
        return self.modes[k] + self.std * torch.randn(n, 2, generator=generator)

    def log_prob(self, x):
        return self.distribution.log_prob(x)


class TwoMoons(Toy2D):
    """Two interleaved half circles with Gaussian noise (as scikit-learn's ``make_moons``), centred."""

    name = "moons"

    def __init__(self, noise: float = 0.05):
        self.noise = noise

    def sample(self, n, generator=None):
        theta = math.pi * torch.rand(n, generator=generator)
        upper = torch.rand(n, generator=generator) < 0.5
        x = torch.where(upper, theta.cos(), 1 - theta.cos())
        y = torch.where(upper, theta.sin(), 0.5 - theta.sin())
        points = torch.stack([x - 0.5, y - 0.25], dim=1) * 1.6
        return points + self.noise * torch.randn(n, 2, generator=generator)


class SwissRoll(Toy2D):
    """The 2-D swiss roll: t ~ U(1.5 pi, 4.5 pi), x = (t cos t, t sin t) / 6, plus Gaussian noise."""

    name = "swiss-roll"

    def __init__(self, noise: float = 0.05):
        self.noise = noise

    def sample(self, n, generator=None):
        t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator))
        points = torch.stack([t * t.cos(), t * t.sin()], dim=1) / 6.0
        return points + self.noise * torch.randn(n, 2, generator=generator)


TOYS = {"ring": RingOfGaussians, "moons": TwoMoons, "swiss-roll": SwissRoll}


def make_toy(name: str, **kwargs) -> Toy2D:
    """``make_toy("ring" | "moons" | "swiss-roll", **options)``."""
    if name not in TOYS:
        raise CourseError(f"unknown toy distribution {name!r}; choose one of {', '.join(TOYS)}")
    return TOYS[name](**kwargs)
