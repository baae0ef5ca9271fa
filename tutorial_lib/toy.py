"""Two-dimensional toy distributions for the maths notebooks.

Each has ``sample(n, generator)`` returning (n, 2) float32 points. The ring of
Gaussians also has its exact ``log_prob`` and its modes, which is what makes
mode collapse measurable. Points are scaled to lie roughly in [-2.5, 2.5]^2.

Two more models with exact answers serve as oracles: ``LinearGaussian`` (probabilistic PCA),
whose log p(x), posterior and ELBO are closed forms that check the VAE's bound (notebook 02),
and ``gaussian_denoiser`` and ``gaussian_mixture_denoiser``, the exact optimal noise predictors
of a Gaussian and of a Gaussian mixture (such as the ring), which check the diffusion samplers
without any training (notebooks 04 and 05), and ``gaussian_velocity``, the exact velocity field
of flow matching for a Gaussian, which checks the ODE solvers (notebook 07).

Introduced in notebook 00.
"""

from __future__ import annotations

import math

import torch
from torch import distributions as D

from .diffusion import Model, Schedule
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


# ---------------------------------------------------------------- oracle denoisers
def gaussian_denoiser(mean: torch.Tensor, cov: torch.Tensor, schedule: Schedule) -> Model:
    """The exact optimal eps-predictor when the data are N(mean, cov) (d-dimensional points):

        E[eps | x_t] = sqrt(1 - alpha_bar_t) (alpha_bar_t cov + (1 - alpha_bar_t) I)^{-1} (x_t - sqrt(alpha_bar_t) mean).

    It minimises the simple loss, so it lets the samplers be checked without any training.
    """
    d = mean.shape[0]
    eye = torch.eye(d, dtype=torch.float64)

    def model(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        alpha_bar = schedule.alpha_bar[t.cpu()].view(-1, 1, 1)  # (B, 1, 1)
        precision = torch.linalg.inv(alpha_bar * cov.double() + (1 - alpha_bar) * eye)  # (B, d, d)
        centred = x_t.double().cpu() - alpha_bar.sqrt().view(-1, 1) * mean.double()
        out = (1 - alpha_bar).sqrt().view(-1, 1) * torch.einsum("bij,bj->bi", precision, centred)
        return out.to(x_t.dtype).to(x_t.device)

    return model


def gaussian_mixture_denoiser(
    means: torch.Tensor, cov: torch.Tensor, weights: torch.Tensor, schedule: Schedule
) -> Model:
    """The optimal eps-predictor for a mixture sum_k w_k N(means[k], cov) of d-dimensional points:

        E[eps | x_t] = sum_k r_k(x_t) E_k[eps | x_t],
        r_k proportional to w_k N(x_t; sqrt(alpha_bar_t) mu_k, alpha_bar_t cov + (1 - alpha_bar_t) I),

    where E_k is ``gaussian_denoiser`` of component k. means (K, d), cov (d, d), weights (K,).
    """
    components = [gaussian_denoiser(m, cov, schedule) for m in means]
    d = means.shape[1]

    def model(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        alpha_bar = schedule.alpha_bar[t.cpu()].view(-1, 1, 1)  # (B, 1, 1)
        marginal_cov = alpha_bar * cov.double() + (1 - alpha_bar) * torch.eye(
            d, dtype=torch.float64
        )
        log_r = (
            torch.stack(
                [
                    torch.distributions.MultivariateNormal(
                        alpha_bar.sqrt().view(-1, 1) * m.double(), marginal_cov
                    ).log_prob(x_t.double().cpu())
                    for m in means
                ],
                dim=1,
            )
            + weights.double().log()
        )  # (B, K)
        r = torch.softmax(log_r, dim=1)
        eps = torch.stack([c(x_t, t).double().cpu() for c in components], dim=1)  # (B, K, d)
        return (r.unsqueeze(-1) * eps).sum(1).to(x_t.dtype).to(x_t.device)

    return model


def gaussian_velocity(mean: torch.Tensor, cov: torch.Tensor) -> Model:
    """The exact optimal velocity of flow matching (``flow``) when the data are N(mean, cov):
    on the path x_t = (1 - t) x_0 + t eps, x_t ~ N(m_t, C_t) with m_t = (1 - t) mean and
    C_t = (1 - t)^2 cov + t^2 I, and

        v*(x, t) = E[eps - x_0 | x_t = x] = -mean + (t I - (1 - t) cov) C_t^{-1} (x - m_t).

    It minimises the flow-matching loss, and its ODE carries x_1 to x_0 = mean + cov^{1/2} x_1
    (all C_t share cov's eigenvectors). x (B, d), t (B,) floats in [0, 1] -> (B, d).
    """
    d = mean.shape[0]
    eye = torch.eye(d, dtype=torch.float64)

    def model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = t.double().cpu().view(-1, 1, 1)  # (B, 1, 1)
        c_t = (1 - t) ** 2 * cov.double() + t**2 * eye
        gain = (t * eye - (1 - t) * cov.double()) @ torch.linalg.inv(c_t)  # (B, d, d)
        centred = x.double().cpu() - (1 - t.view(-1, 1)) * mean.double()
        out = -mean.double() + torch.einsum("bij,bj->bi", gain, centred)
        return out.to(x.dtype).to(x.device)

    return model


# ---------------------------------------------------------------- a latent model with exact answers
class LinearGaussian:
    """Probabilistic PCA (Tipping & Bishop 1999): a latent model whose log p(x) is exact.

        z ~ N(0, I_k),   x | z ~ N(W z + b, s^2 I_d),   so   p(x) = N(b, W W^T + s^2 I).

    The posterior is Gaussian too: p(z | x) = N(M^-1 W^T (x - b), s^2 M^-1), M = W^T W + s^2 I.
    W: (d, k), b: (d,), x: (B, d).
    """

    def __init__(self, W: torch.Tensor, b: torch.Tensor, s: float):
        self.W, self.b, self.s = W, b, s

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        cov = self.W @ self.W.T + self.s**2 * torch.eye(self.W.shape[0], dtype=self.W.dtype)
        return D.MultivariateNormal(self.b, cov).log_prob(x)

    def posterior(self, x: torch.Tensor) -> D.MultivariateNormal:
        k = self.W.shape[1]
        M = self.W.T @ self.W + self.s**2 * torch.eye(k, dtype=self.W.dtype)
        M_inv = torch.linalg.inv(M)
        mean = (x - self.b) @ self.W @ M_inv.T  # (B, k)
        return D.MultivariateNormal(mean, self.s**2 * M_inv)

    def elbo(self, x: torch.Tensor, q: D.MultivariateNormal) -> torch.Tensor:
        """The ELBO for a Gaussian q(z) = N(m, S) in closed form, (B,):

        E_q[log p(x | z)] = -d/2 log(2 pi s^2) - (|x - b - W m|^2 + tr(W S W^T)) / (2 s^2),
        minus KL(q || N(0, I)).
        """
        d, k = self.W.shape
        m, S = q.mean, q.covariance_matrix
        residual = ((x - self.b - m @ self.W.T) ** 2).sum(-1)
        trace = torch.einsum("ij,...jk,ik->...", self.W, S, self.W)
        expected_log_lik = -0.5 * d * math.log(2 * math.pi * self.s**2) - (residual + trace) / (
            2 * self.s**2
        )
        prior = D.MultivariateNormal(
            torch.zeros(k, dtype=self.W.dtype), torch.eye(k, dtype=self.W.dtype)
        )
        return expected_log_lik - D.kl_divergence(q, prior)
