"""Measuring generated images with the course's own classifier.

A small CNN trained on a data set's training split labels generated images and
provides features (its penultimate layer) in which diversity and distances are measured.
Inception features, the standard for FID, are not used: they need downloaded weights and
were built for natural photographs, not 8x8 digits. ``likelihood`` adds the bounds on
-log p(x) of the models that define one (VAE, DDPM).

Introduced in notebook 05; notebook 06 compares every model with all of it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Classifier(nn.Module):
    """images (B, C, H, W) in [-1, 1] -> logits (B, num_classes); ``features`` gives the (B, 128) penultimate layer."""

    def __init__(self, image_shape=(1, 8, 8), num_classes: int = 10, width: int = 32):
        super().__init__()
        c, h, w = image_shape
        self.body = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.ReLU(),  # (B, 2w, H/2, W/2)
            nn.Flatten(),
            nn.Dropout(0.3),
            nn.Linear(2 * width * ((h + 1) // 2) * ((w + 1) // 2), 128),
            nn.ReLU(),
        )
        self.head = nn.Linear(128, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int = 10,
    steps: int = 1500,
    batch_size: int = 64,
    lr: float = 1e-3,
    generator: torch.Generator | None = None,
    progress: bool = True,
    device="cpu",
) -> Classifier:
    """Train a ``Classifier`` with cross-entropy and small random shifts of the images (one pixel)."""
    from .training import random_batches, train_loop

    model = Classifier(tuple(images.shape[1:]), num_classes).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def step(batch):
        x, y = batch[0].to(device), batch[1].to(device)
        dx, dy = torch.randint(-1, 2, (2,), generator=generator).tolist()
        x = torch.roll(x, shifts=(dx, dy), dims=(2, 3))  # augmentation: shift by up to one pixel
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    train_loop(
        step,
        random_batches(images, labels, batch_size=batch_size, generator=generator),
        steps,
        desc="classifier",
        progress=progress,
    )
    return model.eval()


@torch.no_grad()
def accuracy(model: Classifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of images (N, C, H, W) whose predicted class equals labels (N,)."""
    return (model(images).argmax(1) == labels).float().mean().item()


@torch.no_grad()
def mean_pairwise_distance(features: torch.Tensor) -> float:
    """Average Euclidean distance between distinct rows of features (N, D): a diversity measure."""
    n = features.shape[0]
    if n < 2:
        raise ValueError("diversity needs at least two samples")
    return (torch.cdist(features, features).sum() / (n * (n - 1))).item()


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets a (N, D) and b (M, D)
    (Heusel et al. 2017, the "F" of FID):

        d^2 = |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

    Tr((S_a S_b)^(1/2)) is computed as the sum of square roots of the eigenvalues of
    S_a^(1/2) S_b S_a^(1/2), which is symmetric, in float64.
    """
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    vals, vecs = torch.linalg.eigh(cov_a)
    sqrt_a = vecs @ torch.diag(vals.clamp(min=0).sqrt()) @ vecs.T
    middle = torch.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a).clamp(min=0).sqrt().sum()
    return float(((mu_a - mu_b) ** 2).sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * middle)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of features fake (M, D) against real (N, D).

    Each set's manifold is the union of balls around its points with radius the distance to the
    k-th nearest neighbour in the same set. Precision: the fraction of fake points inside the
    real manifold (are samples realistic?). Recall: the fraction of real points inside the fake
    manifold (is the data covered?).
    """

    def radii(x):
        d = torch.cdist(x, x)
        return d.kthvalue(k + 1, dim=1).values  # the 0-th neighbour is the point itself

    def inside(points, centres, r):
        return (torch.cdist(points, centres) <= r[None]).any(dim=1).float().mean().item()

    real, fake = real.double(), fake.double()
    return inside(fake, real, radii(real)), inside(real, fake, radii(fake))


def class_entropy(predicted: torch.Tensor, num_classes: int) -> float:
    """Entropy (nats) of the histogram of predicted classes (N,): log(num_classes) when every class is equally common."""
    p = torch.bincount(predicted, minlength=num_classes).double() / len(predicted)
    p = p[p > 0]
    return float(-(p * p.log()).sum())


def from_checkpoint(checkpoint: dict) -> Classifier:
    """Rebuild a classifier from a checkpoint written by ``train classifier``."""
    from .utils import load_weights

    cfg = checkpoint["config"]
    return load_weights(
        Classifier(tuple(cfg["image_shape"]), cfg["num_classes"]), checkpoint
    ).eval()


@torch.no_grad()
def evaluate(
    images: torch.Tensor,
    reference: torch.Tensor,
    baseline: torch.Tensor,
    classifier: Classifier,
    num_classes: int,
    labels: torch.Tensor | None = None,
) -> dict[str, float]:
    """All of the course's sample metrics, in the classifier's features.

    images (N, C, H, W): the samples; reference (M, ...): held-out real images;
    baseline (N, ...): other real images, as many as there are samples, for the
    real-against-real Fréchet distance that makes the samples' number meaningful.
    labels (N,): the classes the samples were asked for, if conditional.
    """
    fake, real, other = (
        classifier.features(images),
        classifier.features(reference),
        classifier.features(baseline),
    )
    precision, recall = precision_recall(real, fake)
    predicted = classifier.head(fake).argmax(1)
    out = {
        "samples": len(images),
        "frechet_distance": frechet_distance(fake, real),
        "frechet_distance_real_baseline": frechet_distance(other, real),
        "precision": precision,
        "recall": recall,
        "class_entropy_nats": class_entropy(predicted, num_classes),
        "class_entropy_max_nats": float(torch.log(torch.tensor(float(num_classes)))),
    }
    if labels is not None:
        out["conditional_accuracy"] = (predicted == labels).float().mean().item()
    return out


LIKELIHOOD_KINDS = ("vae", "ddpm")  # the families that define a likelihood (a GAN does not)


def check_has_likelihood(kind: str) -> None:
    from .utils import CourseError

    if kind not in LIKELIHOOD_KINDS:
        raise CourseError(
            f"a {kind} model defines no likelihood; bounds exist for "
            f"{' and '.join(LIKELIHOOD_KINDS)} checkpoints"
        )


@torch.no_grad()
def likelihood(
    checkpoint: dict,
    images: torch.Tensor,
    generator: torch.Generator | None = None,
    device="cpu",
    iwae_k: int = 500,
    progress: bool = False,
) -> dict[str, float]:
    """Bounds on the negative log-likelihood of held-out images (N, C, H, W) under a trained model,
    averaged over the images, in nats per image and in bits per dimension.

    VAE: -ELBO (one z per image) and the tighter IWAE bound with ``iwae_k`` samples (``vae``).
    The VAE draws z with torch's global generator (seed it first); the DDPM uses ``generator``.
    DDPM: the variational bound of Ho et al. 2020, Eq. (5), with all T terms and the discretised
    decoder (``diffusion.variational_bound``); a conditional DDPM is bounded with its "no label"
    input, i.e. as the unconditional model it also is. A GAN defines no likelihood.
    """
    from . import diffusion, vae

    kind, levels = checkpoint["kind"], checkpoint["extra"]["levels"]
    x, dims = images.to(device), images[0].numel()
    if kind == "vae":
        model, _ = vae.from_checkpoint(checkpoint)
        model = model.to(device)
        nats = {
            "neg_elbo": -vae.elbo(model, x)["elbo"].mean().item(),
            "neg_iwae": -vae.iwae_bound(model, x, k=iwae_k).mean().item(),
        }
    elif kind == "ddpm":
        model, cfg = diffusion.from_checkpoint(checkpoint)
        schedule = diffusion.Schedule(cfg.T, cfg.schedule)
        terms = diffusion.variational_bound(
            model.to(device), x, schedule, levels, generator=generator, progress=progress
        )
        nats = {"neg_bound": terms["total"].mean().item()}
        nats.update(
            {f"neg_bound_{k}": terms[k].mean().item() for k in ("prior", "diffusion", "decoder")}
        )
    else:
        check_has_likelihood(kind)
    out = {f"{k}_nats": v for k, v in nats.items()}
    out.update({f"{k}_bits_per_dim": vae.bits_per_dim(v, dims) for k, v in nats.items()})
    return out
