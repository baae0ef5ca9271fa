"""Variational autoencoders (Kingma & Welling 2014): encoder, decoder, the ELBO, the IWAE bound, sampling.

For data x and latent z with prior p(z) = N(0, I), decoder p_theta(x | z) and
encoder q_phi(z | x) = N(mu_phi(x), diag sigma_phi(x)^2),

    log p(x) = ELBO + KL(q(z|x) || p(z|x)) >= ELBO,
    ELBO     = E_q[log p_theta(x | z)] - KL(q_phi(z | x) || p(z))      (reconstruction - rate).

Pixels take ``levels`` values (17 for digits, 256 for MNIST), so p_theta(x | z) is a
distribution over those values for each pixel: a proper distribution on what the data can be,
so every nat reported is a real bound on -log p(x). Two decoders: "categorical", L logits per
pixel, and "logistic", the discretised logistic of ``likelihoods`` (Salimans et al. 2017), two
numbers per pixel, for 256 levels, where a categorical decoder's 784 x 256 outputs would cost
about a second per training step on a laptop CPU.

This module is a family of ``families``: ``Config``, ``build``, ``train``, ``sample``,
``from_checkpoint`` and ``likelihood_bounds`` (the -ELBO and IWAE bounds).

Introduced in notebook 02.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import distributions as D
from torch import nn

from .families import Run
from .likelihoods import DiscretizedLogistic
from .utils import CourseError, check_positive

SUMMARY = "a VAE with a discrete likelihood over the grey levels (notebook 02)"
DECODERS = ("categorical", "logistic")


@dataclass
class VAEConfig:
    """A VAE with MLP encoder and decoder and a likelihood over ``levels`` grey levels.

    decoder: "categorical" (``levels`` logits per pixel) or "logistic" (a mean and a log-scale
    per pixel, discretised to the levels); ``config_for`` takes the logistic for 256 levels.

    The architecture follows jmtomczak/intro_dgm's VAE for digits (hidden 256, latent 16,
    batch 64, learning rate 1e-3). beta weights the KL term (Higgins et al. 2017); beta = 1 is
    the ELBO. Beyond intro_dgm, and opt-out by setting them to 0: dropout (Srivastava et al.
    2014) and decoupled weight decay (AdamW, Loshchilov & Hutter 2019). Without them the
    1000 training digits overfit within 1000 steps (measured: validation -ELBO 101.6 nats at
    step 500, 198 at step 3000); with them it plateaus near 100 from step 2000 on.
    """

    image_shape: tuple[int, ...] = (1, 8, 8)
    levels: int = 17
    z_dim: int = 16
    hidden: int = 256
    beta: float = 1.0
    dropout: float = 0.3
    weight_decay: float = 0.5
    lr: float = 1e-3
    batch_size: int = 64
    steps: int = 3000
    num_classes: int = 0
    decoder: str = "categorical"

    def __post_init__(self):
        self.image_shape = tuple(self.image_shape)
        if self.decoder not in DECODERS:
            raise CourseError(
                f"unknown decoder {self.decoder!r}; choose one of {', '.join(DECODERS)}"
            )
        if self.levels < 2:
            raise CourseError(f"levels must be at least 2, got {self.levels}")
        if self.beta < 0:
            raise CourseError(f"beta must be non-negative, got {self.beta}")
        check_positive(self, "z_dim", "hidden", "lr", "batch_size", "steps")


Config = VAEConfig  # the name every family gives its config
OPTIONS = {  # the options of `python -m tutorial_lib train vae`; their defaults come from VAEConfig
    "steps": "training steps",
    "batch_size": "batch size",
    "lr": "learning rate",
    "z_dim": "latent dimensions",
    "beta": "weight of the KL term; 1 is the ELBO",
}


def config_for(data, conditional: bool = False, **options) -> VAEConfig:
    """The VAEConfig for an ``ImageData`` set: its shape and its grey levels; conditional: on its
    labels (Sohn et al. 2015, notebook 05)."""
    if conditional:
        options["num_classes"] = data.num_classes_for("a conditional VAE")
    options.setdefault("decoder", "logistic" if data.levels > 32 else "categorical")
    return VAEConfig(image_shape=data.shape, levels=data.levels, **options)


def to_levels(x: torch.Tensor, levels: int) -> torch.Tensor:
    """Images in [-1, 1] -> integer grey levels {0, ..., levels-1} (the inverse of data.from_levels)."""
    return torch.round((x.clamp(-1, 1) + 1) * (levels - 1) / 2).long()


class VAE(nn.Module):
    """Encoder q(z | x) and decoder p(x | z) as MLPs.

    encode: x (B, C, H, W) in [-1, 1] -> q(z | x), a diagonal Gaussian over (B, z_dim)
    decode: z (B, z_dim) -> p(x | z) over the ``levels`` values of each pixel, batch shape (B, C*H*W)
    """

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        d, h, p = math.prod(cfg.image_shape), cfg.hidden, cfg.dropout
        self.encoder = nn.Sequential(
            nn.Dropout(p / 2),
            nn.Linear(d + cfg.num_classes, h),
            nn.LeakyReLU(),
            nn.Dropout(p),
            nn.Linear(h, h),
            nn.LeakyReLU(),
            nn.Dropout(p),
            nn.Linear(h, 2 * cfg.z_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(cfg.z_dim + cfg.num_classes, h),
            nn.LeakyReLU(),
            nn.Dropout(p),
            nn.Linear(h, h),
            nn.LeakyReLU(),
            nn.Dropout(p),
            nn.Linear(h, d * (cfg.levels if cfg.decoder == "categorical" else 2)),
        )

    def condition(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """Append the one-hot label to h (B, D) for a conditional VAE (Sohn et al. 2015)."""
        if self.cfg.num_classes == 0:
            return h
        if y is None:
            raise CourseError("this VAE is conditional: pass the labels y")
        return torch.cat([h, F.one_hot(y, self.cfg.num_classes).to(h.dtype)], dim=1)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> D.Independent:
        mu, log_var = self.encoder(self.condition(x.flatten(1), y)).chunk(2, dim=1)
        return D.Independent(D.Normal(mu, torch.exp(0.5 * log_var)), 1)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> D.Independent:
        out = self.decoder(self.condition(z, y))
        if self.cfg.decoder == "categorical":
            logits = out.view(z.shape[0], -1, self.cfg.levels)  # (B, C*H*W, levels)
            return D.Independent(D.Categorical(logits=logits), 1)
        mean, log_scale = out.view(z.shape[0], 2, -1).unbind(1)  # (B, C*H*W) each
        return D.Independent(DiscretizedLogistic(mean, log_scale, self.cfg.levels), 1)

    def prior(self, n: int = 1, device=None) -> D.Independent:
        zeros = torch.zeros(n, self.cfg.z_dim, device=device)
        return D.Independent(D.Normal(zeros, torch.ones_like(zeros)), 1)

    def decode_mean(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's expected image E[x | z], (B, C, H, W) in [-1, 1], for pictures."""
        pixels = self.decode(z, y).base_dist
        if isinstance(pixels, DiscretizedLogistic):
            return pixels.mean.view(z.shape[0], *self.cfg.image_shape)
        values = torch.linspace(-1, 1, self.cfg.levels, device=z.device)
        return (pixels.probs @ values).view(z.shape[0], *self.cfg.image_shape)


def reparameterize(
    mu: torch.Tensor, std: torch.Tensor, eps: torch.Tensor | None = None
) -> torch.Tensor:
    """z = mu + std * eps, eps ~ N(0, I) (Kingma & Welling 2014, Sec. 2.4): a sample whose gradient flows to mu and std."""
    if eps is None:
        eps = torch.randn_like(std)
    return mu + std * eps


def kl_diagonal_gaussians(mu_q, log_var_q, mu_p=None, log_var_p=None) -> torch.Tensor:
    """KL(N(mu_q, diag e^log_var_q) || N(mu_p, diag e^log_var_p)), summed over the last dimension.

        KL = 1/2 sum_j [ log_var_p - log_var_q + (e^log_var_q + (mu_q - mu_p)^2) / e^log_var_p - 1 ]

    With mu_p, log_var_p omitted the prior is N(0, I): KL = 1/2 sum (e^log_var + mu^2 - 1 - log_var).
    """
    if mu_p is None:
        mu_p, log_var_p = torch.zeros_like(mu_q), torch.zeros_like(log_var_q)
    return 0.5 * (
        log_var_p - log_var_q + (log_var_q.exp() + (mu_q - mu_p) ** 2) / log_var_p.exp() - 1
    ).sum(-1)


def elbo(
    model: VAE, x: torch.Tensor, beta: float = 1.0, y: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """The ELBO per example, split into its terms, with one reparameterised sample of z.

    x: (B, C, H, W) in [-1, 1]. Returns (B,) tensors in nats:
    ``reconstruction`` E_q[log p(x | z)], ``kl`` KL(q(z | x) || p(z)) (the rate), and
    ``elbo`` = reconstruction - beta * kl.
    """
    q = model.encode(x, y)
    z = q.rsample()  # the reparameterisation trick: mu + sigma * eps
    reconstruction = model.decode(z, y).log_prob(to_levels(x, model.cfg.levels).flatten(1))
    kl = D.kl_divergence(q, model.prior(x.shape[0], x.device))
    return {"elbo": reconstruction - beta * kl, "reconstruction": reconstruction, "kl": kl}


@torch.no_grad()
def iwae_bound(model: VAE, x: torch.Tensor, k: int = 100, chunk: int = 100) -> torch.Tensor:
    """The importance-weighted bound of Burda et al. 2016, Eq. (8), per example (B,) in nats:

        L_K = E[ log (1/K) sum_k p(x | z_k) p(z_k) / q(z_k | x) ],  z_k ~ q(z | x),

    with ELBO = L_1 <= L_K <= L_{K+1} <= log p(x).
    """
    q = model.encode(x)
    target = to_levels(x, model.cfg.levels).flatten(1)
    log_w = []
    for start in range(0, k, chunk):
        z = q.sample((min(chunk, k - start),))  # (k', B, z_dim)
        kk, b = z.shape[:2]
        log_px = model.decode(z.flatten(0, 1)).log_prob(target.repeat(kk, 1)).view(kk, b)
        log_w.append(log_px + model.prior(1, x.device).log_prob(z) - q.log_prob(z))
    return torch.logsumexp(torch.cat(log_w), dim=0) - math.log(k)


def bits_per_dim(nats: torch.Tensor | float, dims: int) -> torch.Tensor | float:
    """Nats per example -> bits per dimension: nats / (dims * ln 2)."""
    return nats / (dims * math.log(2))


def train_step(
    model: VAE, optimizer, x: torch.Tensor, y: torch.Tensor | None = None
) -> dict[str, float]:
    """One gradient step on -mean ELBO (with the config's beta); y (B,) labels for a conditional VAE."""
    terms = elbo(model, x, model.cfg.beta, y)
    loss = -terms["elbo"].mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {
        "-ELBO": loss.item(),
        "reconstruction": -terms["reconstruction"].mean().item(),
        "KL": terms["kl"].mean().item(),
    }


def train_vae(
    images: torch.Tensor,
    cfg: VAEConfig,
    device="cpu",
    generator=None,
    progress: bool = True,
    labels: torch.Tensor | None = None,
):
    """Train a VAE on images (N, C, H, W) (and labels (N,) if conditional) with ``train_loop``;
    returns (model in eval mode, history)."""
    from .training import random_batches, train_loop

    if (labels is None) != (cfg.num_classes == 0):
        raise CourseError(
            "a conditional VAE (num_classes > 0) needs labels, and an unconditional one takes none"
        )
    model = VAE(cfg).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    tensors = (images,) if labels is None else (images, labels)
    batches = random_batches(*tensors, batch_size=cfg.batch_size, generator=generator)
    history = train_loop(
        lambda b: train_step(
            model, optimizer, b[0].to(device), b[1].to(device) if len(b) > 1 else None
        ),
        batches,
        cfg.steps,
        desc="VAE",
        progress=progress,
    )
    return model.eval(), history


@torch.no_grad()
def sample(
    model: VAE,
    cfg: VAEConfig,
    n: int,
    generator: torch.Generator | None = None,
    device="cpu",
    labels: torch.Tensor | None = None,
    mean: bool = False,
) -> torch.Tensor:
    """n images from the model: z ~ N(0, I), then x ~ p(x | z, y) (or E[x | z, y] with mean=True).
    (n, C, H, W) in [-1, 1]; labels (n,) for a conditional VAE."""
    model.eval()
    z = torch.randn(n, cfg.z_dim, generator=generator).to(device)
    y = labels.to(device) if labels is not None else None
    if mean:
        return model.decode_mean(z, y)
    pixels = model.decode(z, y).base_dist
    if isinstance(pixels, DiscretizedLogistic):
        v = pixels.sample(generator=generator)  # (n, D) grey levels
    else:
        probs = pixels.probs.flatten(0, 1).cpu()  # (n * D, levels)
        v = torch.multinomial(probs, 1, generator=generator).view(n, -1)
    x = v.float() * (2 / (cfg.levels - 1)) - 1
    return x.view(n, *cfg.image_shape).to(device)


def build(cfg: VAEConfig) -> VAE:
    return VAE(cfg)


def train(data, cfg: VAEConfig, device="cpu", generator=None, progress: bool = True) -> Run:
    """The family interface: ``train_vae`` on an ``ImageData`` set."""
    labels = data.labels if cfg.num_classes else None
    model, history = train_vae(data.images, cfg, device, generator, progress, labels)
    return Run(model, cfg, history)


def from_checkpoint(checkpoint: dict) -> tuple[VAE, VAEConfig]:
    """Rebuild (model, config) from a checkpoint written by ``train vae``."""
    from .utils import load_weights

    cfg = VAEConfig(**checkpoint["config"])
    return load_weights(build(cfg), checkpoint).eval(), cfg


@torch.no_grad()
def likelihood_bounds(
    model: VAE,
    cfg: VAEConfig,
    images: torch.Tensor,
    levels: int,
    generator: torch.Generator | None = None,
    device="cpu",
    progress: bool = False,
    iwae_k: int = 500,
) -> dict[str, float]:
    """Bounds on -log p(x) for images (N, C, H, W), averaged, in nats per image: -ELBO (one z per
    image) and the tighter IWAE bound with ``iwae_k`` samples. z is drawn with torch's global
    generator (seed it first); ``levels`` is already the config's."""
    if cfg.num_classes:
        raise CourseError(
            "the bounds of a conditional VAE need labels; bound it in Python with elbo(..., y=labels)"
        )
    x = images.to(device)
    return {
        "neg_elbo": -elbo(model, x)["elbo"].mean().item(),
        "neg_iwae": -iwae_bound(model, x, k=iwae_k).mean().item(),
    }
