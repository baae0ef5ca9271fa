"""The GAN family (Goodfellow et al. 2014): losses, one training step, training, sampling.

The discriminator D outputs a logit a, with D(x) = sigmoid(a). The value function is

    V(D, G) = E_x~p_data[log D(x)] + E_z~p_z[log(1 - D(G(z)))],      min_G max_D V(D, G),

and in terms of logits log D = -softplus(-a) and log(1 - D) = -softplus(a).

The networks (MLPs for points, DCGAN-style for images) are in ``nets``. This module is a
family of ``families``: ``Config``, ``build``, ``train``, ``sample``, ``from_checkpoint``.

Introduced in notebook 01.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .families import Run
from .nets import ImageDiscriminator, ImageGenerator, PointDiscriminator, PointGenerator
from .utils import CourseError, check_positive

SUMMARY = "a DCGAN-style GAN (notebook 01)"
G_LOSSES = ("non-saturating", "minimax")


@dataclass
class GANConfig:
    """Everything needed to rebuild a GAN and repeat its training (defaults: DCGAN-style on digits).

    image_shape: (C, H, W) of the data, or (2,) for points in the plane.
    g_loss: "non-saturating" (-log D(G(z)), the default of Goodfellow et al.) or "minimax" (log(1 - D(G(z)))).
    gp_weight: weight of the gradient penalty (Gulrajani et al. 2017); 0 turns it off.

    Adam's betas and the batch size are DCGAN's (Radford et al. 2016); the learning
    rate is 1e-3 rather than DCGAN's 2e-4, because with 2e-4 the GAN collapsed onto a
    single digit within 2000 steps on the 8x8 digits (measured in this course).
    """

    image_shape: tuple[int, ...] = (1, 8, 8)
    z_dim: int = 32
    width: int = 32
    g_loss: str = "non-saturating"
    gp_weight: float = 0.0
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.999)
    batch_size: int = 128
    steps: int = 4000

    def __post_init__(self):
        self.image_shape, self.betas = tuple(self.image_shape), tuple(self.betas)
        check_positive(self, "z_dim", "width", "lr_g", "lr_d", "batch_size", "steps")
        if self.g_loss not in G_LOSSES:
            raise CourseError(
                f"unknown generator loss {self.g_loss!r}; choose one of {', '.join(G_LOSSES)}"
            )
        if len(self.image_shape) == 3 and self.image_shape[1] % 4:
            raise CourseError(
                f"image height {self.image_shape[1]} must be divisible by 4 for the DCGAN networks"
            )


Config = GANConfig  # the name every family gives its config
OPTIONS = {  # the options of `python -m tutorial_lib train gan`; their defaults come from GANConfig
    "steps": "training steps",
    "batch_size": "batch size",
    "lr_g": "generator learning rate",
    "lr_d": "discriminator learning rate",
    "g_loss": f"generator loss, one of {', '.join(G_LOSSES)}",
    "gp_weight": "gradient penalty weight, Gulrajani et al. 2017",
}


class GAN(nn.Module):
    """The two players, G and D, as one module (its state dict holds G.* and D.*)."""

    def __init__(self, G: nn.Module, D: nn.Module):
        super().__init__()
        self.G, self.D = G, D


def build(cfg: GANConfig) -> GAN:
    """G and D for ``cfg``: MLPs for points (image_shape == (2,)), DCGAN networks for images."""
    if cfg.image_shape == (2,):
        return GAN(PointGenerator(cfg.z_dim, cfg.width), PointDiscriminator(cfg.width))
    if len(cfg.image_shape) != 3:
        raise CourseError(f"image_shape must be (C, H, W) or (2,), got {cfg.image_shape}")
    return GAN(
        ImageGenerator(cfg.image_shape, cfg.z_dim, cfg.width),
        ImageDiscriminator(cfg.image_shape, cfg.width),
    )


def config_for(data, **options) -> GANConfig:
    """The GANConfig for an ``ImageData`` set, with the given options."""
    return GANConfig(image_shape=data.shape, **options)


# ---------------------------------------------------------------- losses
def optimal_discriminator(log_p_data: torch.Tensor, log_p_g: torch.Tensor) -> torch.Tensor:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)) (Goodfellow et al. 2014, Proposition 1).

    Computed from log-densities as sigmoid(log p_data - log p_g), which never divides 0 by 0.
    """
    return torch.sigmoid(log_p_data - log_p_g)


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-V(D, G) estimated on a batch: -mean log D(x) - mean log(1 - D(G(z))) (binary cross-entropy).

    real_logits: (B,) D's logits on data; fake_logits: (B,) on generated samples.
    """
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_loss_minimax(fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's side of the minimax game: mean log(1 - D(G(z))), minimised.

    Saturates: its gradient with respect to the logit is -D(G(z)), which vanishes
    exactly when D confidently rejects the samples, early in training.
    """
    return -F.softplus(fake_logits).mean()


def g_loss_non_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss of Goodfellow et al. 2014: -mean log D(G(z)).

    Same fixed point as the minimax loss, but its gradient -(1 - D(G(z))) is largest
    when D rejects the samples.
    """
    return F.softplus(-fake_logits).mean()


def _draw(sampler, shape, generator, device) -> torch.Tensor:
    """sampler(shape) from ``generator`` (on its own device) moved to ``device``."""
    on = generator.device if generator is not None else device
    return sampler(shape, generator=generator, device=on).to(device)


def gradient_penalty(
    D: nn.Module, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Gradient penalty of Gulrajani et al. 2017, Eq. (3): E[(||grad_x a(x_hat)||_2 - 1)^2],

    at random points x_hat = u x + (1 - u) G(z) between data and samples, u ~ U(0, 1).
    a is D's output: for WGAN-GP the critic, here the logit, D(x) = sigmoid(a(x)) (as in
    the non-saturating GAN with penalty of Kurach et al. 2019). real, fake: (B, ...);
    u is drawn from ``generator`` (the global stream if None). Keeps a 1-Lipschitz, so its
    gradient keeps pointing G towards every part of the data, which counters mode collapse.
    """
    u = _draw(torch.rand, (real.shape[0], *([1] * (real.ndim - 1))), generator, real.device)
    x_hat = (u * real + (1 - u) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


# ---------------------------------------------------------------- training and sampling
def make_optimizers(G: nn.Module, D: nn.Module, cfg: GANConfig):
    """Adam for each player, with the DCGAN betas (0.5, 0.999) by default."""
    return (
        torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas),
        torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas),
    )


def train_step(
    G, D, opt_g, opt_d, real: torch.Tensor, cfg: GANConfig, generator: torch.Generator | None = None
) -> dict[str, float]:
    """One alternating update (Goodfellow et al. 2014, Algorithm 1 with k = 1).

    real: (B, ...) a batch of data. First D ascends V on real and fresh fake samples
    (plus the gradient penalty if ``cfg.gp_weight`` > 0), then G descends its loss on new samples.
    The noise z and the penalty's u are drawn from ``generator`` (the global stream if None).
    Returns the losses and the mean D(x), D(G(z)) for the progress bar.
    """
    z = _draw(torch.randn, (real.shape[0], cfg.z_dim), generator, real.device)
    fake = G(z)
    real_logits, fake_logits = D(real), D(fake.detach())
    loss_d = d_loss(real_logits, fake_logits)
    if cfg.gp_weight > 0:
        loss_d = loss_d + cfg.gp_weight * gradient_penalty(D, real, fake, generator)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()

    fake_logits = D(G(_draw(torch.randn, (real.shape[0], cfg.z_dim), generator, real.device)))
    loss_g = (
        g_loss_minimax(fake_logits)
        if cfg.g_loss == "minimax"
        else g_loss_non_saturating(fake_logits)
    )
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    return {
        "loss D": loss_d.item(),
        "loss G": loss_g.item(),
        "D(x)": torch.sigmoid(real_logits).mean().item(),
        "D(G(z))": torch.sigmoid(fake_logits).mean().item(),
    }


@torch.no_grad()
def sample(
    model: nn.Module,
    cfg: GANConfig,
    n: int,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """n samples G(z), z ~ N(0, I): (n, C, H, W) images in [-1, 1], or (n, 2) points.

    model: a ``GAN`` or its generator G alone; G is put in eval mode.
    """
    G = model.G if isinstance(model, GAN) else model
    G.eval()
    return G(torch.randn(n, cfg.z_dim, generator=generator).to(device))


def mode_coverage(
    samples: torch.Tensor, modes: torch.Tensor, std: float, min_share: float = 0.01
) -> tuple[int, float]:
    """How well samples (N, 2) cover a mixture with the given modes (K, 2) and component std.

    A sample is high quality if it lies within 3 std of its nearest mode; a mode is
    covered if at least ``min_share`` of all samples are high-quality samples of it
    (the measure of Srivastava et al. 2017, VEEGAN).
    Returns (modes covered, fraction of high-quality samples).
    """
    d = torch.cdist(samples.float(), modes.float())  # (N, K)
    dist, nearest = d.min(dim=1)
    good = dist <= 3 * std
    counts = torch.bincount(nearest[good], minlength=modes.shape[0])
    return int((counts >= min_share * samples.shape[0]).sum()), float(good.float().mean())


def from_checkpoint(checkpoint: dict) -> tuple[GAN, GANConfig]:
    """Rebuild (GAN, config) from a checkpoint written by ``train gan`` (weights loaded, eval mode)."""
    from .utils import load_weights

    cfg = GANConfig(**checkpoint["config"])
    return load_weights(build(cfg), checkpoint).eval(), cfg


def train_gan(
    images: torch.Tensor,
    cfg: GANConfig,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
    progress: bool = True,
    snapshot_every: int = 0,
    fixed_z: torch.Tensor | None = None,
):
    """Train a GAN on data (N, ...) with ``train_loop``; returns (G, D, history, snapshots).

    snapshots: {step: G(fixed_z)} every ``snapshot_every`` steps (none if 0), the same
    noise decoded as training goes on.
    """
    from .training import random_batches, train_loop

    gan = build(cfg).to(device)
    G, D = gan.G, gan.D
    opt_g, opt_d = make_optimizers(G, D, cfg)
    if fixed_z is None:
        fixed_z = torch.randn(64, cfg.z_dim, generator=generator)
    snapshots: dict[int, torch.Tensor] = {}

    def snapshot(i):
        if snapshot_every and ((i + 1) % snapshot_every == 0 or i == 0):
            G.eval()
            with torch.no_grad():
                snapshots[i + 1] = G(fixed_z.to(device)).cpu()
            G.train()

    batches = random_batches(images, batch_size=cfg.batch_size, generator=generator)
    history = train_loop(
        lambda b: train_step(G, D, opt_g, opt_d, b[0].to(device), cfg, generator),
        batches,
        cfg.steps,
        desc="GAN",
        progress=progress,
        callback=snapshot,
    )
    return G.eval(), D.eval(), history, snapshots


def train(data, cfg: GANConfig, device="cpu", generator=None, progress: bool = True) -> Run:
    """The family interface: ``train_gan`` on an ``ImageData`` set, as a ``Run`` of one GAN."""
    G, D, history, _ = train_gan(data.images, cfg, device, generator, progress)
    return Run(GAN(G, D).eval(), cfg, history)
