"""Checks for the exercises of notebook 02 (the VAE)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from .. import vae
from .core import Case, _close, _generator, _run, _seeded


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

    def with_gradients(f: Callable) -> Callable:
        """z = f(mu, std, eps), and the gradients of sum(z) that reach mu and std."""

        def run(mu, std, eps):
            mu, std = mu.clone().requires_grad_(), std.clone().requires_grad_()
            z = f(mu, std, eps)
            if not torch.is_tensor(z):
                return z
            grads = (
                torch.autograd.grad(z.sum(), [mu, std], allow_unused=True)
                if z.requires_grad
                else (None, None)
            )
            grads = [
                torch.zeros_like(v) if gr is None else gr
                for gr, v in zip(grads, (mu, std), strict=True)
            ]
            return {
                "z": z.detach(),
                "the gradients that reach mu and std": torch.cat([gr.flatten() for gr in grads]),
            }

        return run

    return _run(
        "reparameterize",
        with_gradients(student),
        with_gradients(vae.reparameterize),
        "vae.reparameterize",
        cases,
        mistakes=[
            (
                "no gradient reaches mu and std: z is cut off from them (.detach(), .data, "
                "torch.no_grad or a new tensor). The trick exists so that gradients flow through "
                "z = mu + std * eps to the encoder.",
                with_gradients(lambda mu, std, eps: (mu + std * eps).detach()),
            ),
            (
                "you multiply eps by the variance std**2; the noise is scaled by the standard "
                "deviation: z = mu + std * eps.",
                with_gradients(lambda mu, std, eps: mu + std**2 * eps),
            ),
            (
                "mu and std are swapped: z = mu + std * eps.",
                with_gradients(lambda mu, std, eps: std + mu * eps),
            ),
            (
                "you multiply where you should add: z = mu + std * eps.",
                with_gradients(lambda mu, std, eps: mu * std * eps),
            ),
            (
                "the std is missing: z = mu + std * eps.",
                with_gradients(lambda mu, std, eps: mu + eps),
            ),
        ],
        properties=[
            lambda args, got: (
                "the answer ignores the eps you are given (did you draw new noise "
                "with torch.randn?). Use eps: the randomness must come from outside, so that "
                "gradients flow to mu and std only."
                if got.shape == args[0].shape and not _close(student(*args).detach(), got)
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


def _small_vae(decoder: str) -> vae.VAE:
    cfg = vae.VAEConfig(
        image_shape=(1, 4, 4), levels=17, z_dim=3, hidden=16, dropout=0.0, decoder=decoder
    )
    return _seeded(lambda: vae.VAE(cfg)).eval()


def _reference_negative_elbo(model: vae.VAE, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    q = model.encode(x)
    z = q.mean + q.stddev * eps
    log_px = model.decode(z).log_prob(vae.to_levels(x, model.cfg.levels).flatten(1))
    return -(log_px - torch.distributions.kl_divergence(q, model.prior(x.shape[0])))


def negative_elbo(student: Callable, points: float = 4, hidden: Sequence[Case] = ()) -> float:
    """Exercise: the negative ELBO of each image of a batch, negative_elbo(model, x, eps) -> (B,)
    nats, with one reparameterised sample z = mu + sigma * eps of q(z | x)."""
    g = _generator()
    x = torch.rand(6, 1, 4, 4, generator=g) * 2 - 1
    eps = torch.randn(6, 3, generator=g)
    cases = [
        ("a categorical decoder over 17 levels", (_small_vae("categorical"), x, eps)),
        ("a discretised logistic decoder", (_small_vae("logistic"), x, eps)),
        ("z = mu (eps = 0)", (_small_vae("logistic"), x[:2], torch.zeros(2, 3))),
    ]

    def terms(model, x, eps, z=None):
        q = model.encode(x)
        z = q.mean + q.stddev * eps if z is None else z
        log_px = model.decode(z).log_prob(vae.to_levels(x, model.cfg.levels).flatten(1))
        return q, z, log_px, torch.distributions.kl_divergence(q, model.prior(x.shape[0]))

    def with_variance(model, x, eps):
        q = model.encode(x)
        _, _, log_px, kl = terms(model, x, eps, z=q.mean + q.variance * eps)
        return kl - log_px

    return _run(
        "negative_elbo",
        student,
        _reference_negative_elbo,
        "the ELBO of vae.elbo",
        cases,
        mistakes=[
            (
                "the sign is flipped: this is the ELBO, log p(x | z) - KL. The loss to minimise is "
                "its negative, -log p(x | z) + KL.",
                lambda m, x, e: -_reference_negative_elbo(m, x, e),
            ),
            (
                "the KL term is missing: -ELBO = -log p(x | z) + KL(q(z | x) || p(z)). Without it "
                "the code is free to carry anything, and the number is no bound.",
                lambda m, x, e: -terms(m, x, e)[2],
            ),
            (
                "the KL term has the wrong sign: -ELBO = -log p(x | z) + KL, and KL >= 0 is a cost.",
                lambda m, x, e: -terms(m, x, e)[2] - terms(m, x, e)[3],
            ),
            (
                "z ignores eps: z = mu is the encoder's mean, not a sample. Draw z = mu + sigma * "
                "eps (exercise 2.1), so that the bound is an expectation over q(z | x).",
                lambda m, x, e: _reference_negative_elbo(m, x, torch.zeros_like(e)),
            ),
            (
                "z = mu + sigma^2 * eps uses the variance; the noise is scaled by the standard "
                "deviation sigma (q.stddev).",
                with_variance,
            ),
            (
                "log p(x | z) is evaluated on unrounded values; the decoder's distribution is over "
                "the integer grey levels 0..L-1: pass vae.to_levels(x, L).flatten(1).",
                lambda m, x, e: (
                    -(
                        m.decode(terms(m, x, e)[1]).log_prob(((x + 1) / 2 * 16).flatten(1))
                        - terms(m, x, e)[3]
                    )
                ),
            ),
        ],
        points=points,
        hidden=hidden,
    )
