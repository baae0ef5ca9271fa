"""Measuring generated images with the course's own classifier.

A small CNN (``nets.Classifier``) trained on a data set's training split labels generated
images and provides features (its penultimate layer) in which diversity and distances are
measured. Inception features, the standard for FID, are not used: they need downloaded weights
and were built for natural photographs, not 8x8 digits. ``likelihood`` adds the bounds on
-log p(x) of the families that define one.

The classifier is a family of ``families`` too (``python -m tutorial_lib train classifier``):
``Config``, ``build``, ``train``, ``from_checkpoint`` and ``report`` (its held-out accuracy).

Introduced in notebook 05; notebook 06 compares every model with all of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .families import Run
from .nets import Classifier
from .utils import CourseError, check_positive

SUMMARY = "the course's digit classifier, for the metrics (notebook 05)"


@dataclass
class ClassifierConfig:
    """The classifier of the metrics: its input, its classes, and how to train it."""

    image_shape: tuple[int, ...] = (1, 8, 8)
    num_classes: int = 10
    steps: int = 1500
    batch_size: int = 64
    lr: float = 1e-3

    def __post_init__(self):
        self.image_shape = tuple(self.image_shape)
        check_positive(self, "num_classes", "steps", "batch_size", "lr")


Config = ClassifierConfig  # the name every family gives its config
OPTIONS = {"steps": "training steps", "batch_size": "batch size", "lr": "learning rate"}


def config_for(data, **options) -> ClassifierConfig:
    num_classes = data.num_classes_for("a classifier")
    return ClassifierConfig(image_shape=data.shape, num_classes=num_classes, **options)


def build(cfg: ClassifierConfig) -> Classifier:
    return Classifier(cfg.image_shape, cfg.num_classes)


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

    model = build(ClassifierConfig(tuple(images.shape[1:]), num_classes, steps, batch_size, lr)).to(
        device
    )
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


def within_class_diversity(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    """Diversity within each class, averaged over the classes: for features (N, D) and labels (N,),

        (1 / K) sum_c  mean_{i != j, y_i = y_j = c} |f_i - f_j|,

    so that a model which draws the same image for every sample of a class scores 0, however
    different the classes are from each other. Every class needs at least two samples.
    """
    counts = torch.bincount(labels, minlength=num_classes)
    if len(counts) > num_classes or counts.min() < 2:
        raise CourseError(
            f"within-class diversity needs at least two samples of each of the {num_classes} classes, "
            f"got counts {counts.tolist()}: draw more samples per class"
        )
    return (
        sum(mean_pairwise_distance(features[labels == c]) for c in range(num_classes)) / num_classes
    )


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets a (N, D) and b (M, D)
    (Heusel et al. 2017, the "F" of FID):

        d^2 = |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

    Tr((S_a S_b)^(1/2)) is computed as the sum of square roots of the eigenvalues of
    S_a^(1/2) S_b S_a^(1/2), which is symmetric, in float64.
    """
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = (torch.atleast_2d(torch.cov(x.T)) for x in (a, b))  # (D, D), also for D = 1
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


def bootstrap_interval(
    statistic, *samples: torch.Tensor, draws: int = 200, level: float = 0.95, generator=None
) -> tuple[float, float]:
    """Normal bootstrap interval (Efron & Tibshirani 1993, Sec. 13.3) of ``statistic(*samples)``.

        theta_hat -+ z_{(1 + level)/2} * sd(theta*),

    where theta* is the statistic on ``draws`` resamplings: each of ``samples`` (N_i, ...)
    resampled over its rows with replacement, independently. For the mean of N draws of N(0, 1)
    the 95% interval is mean -+ 1.96 / sqrt(N). Centred on the estimate on purpose: the
    percentile interval of a Fréchet distance lies wholly above it, because resampled sets
    repeat points and that alone raises the distance. Two methods are ranked by a sampled
    metric only where their intervals do not overlap.
    """
    if draws < 2 or not 0 < level < 1:
        raise CourseError(f"need draws >= 2 and 0 < level < 1, got draws={draws}, level={level}")
    values = []
    for _ in range(draws):
        picked = [x[torch.randint(len(x), (len(x),), generator=generator)] for x in samples]
        values.append(float(statistic(*picked)))
    estimate = float(statistic(*samples))
    half = math.sqrt(2) * float(torch.erfinv(torch.tensor(level, dtype=torch.float64)))
    spread = float(torch.tensor(values, dtype=torch.float64).std())
    return estimate - half * spread, estimate + half * spread


def binomial_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval (Wilson 1927) for a proportion: ``successes`` of ``n`` trials.

        (p + z^2/2n -+ z sqrt(p(1 - p)/n + z^2/4n^2)) / (1 + z^2/n),   p = successes / n,

    which, unlike p -+ z sqrt(p(1 - p)/n), stays inside [0, 1] and is not empty at p = 0 or 1
    (for 24 of 24 the 95% interval is 0.86 to 1). Accuracies and match rates are proportions.
    """
    if not 0 <= successes <= n or n < 1:
        raise CourseError(f"need 0 <= successes <= n and n >= 1, got {successes} of {n}")
    z = math.sqrt(2) * float(torch.erfinv(torch.tensor(level, dtype=torch.float64)))
    p = successes / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


def class_entropy(predicted: torch.Tensor, num_classes: int) -> float:
    """Entropy (nats) of the histogram of predicted classes (N,): log(num_classes) when every class is equally common."""
    p = torch.bincount(predicted, minlength=num_classes).double() / len(predicted)
    p = p[p > 0]
    return float(-(p * p.log()).sum())


def train(data, cfg: ClassifierConfig, device="cpu", generator=None, progress: bool = True) -> Run:
    """The family interface: ``train_classifier`` on an ``ImageData`` set and its labels."""
    model = train_classifier(
        data.images,
        data.labels,
        cfg.num_classes,
        cfg.steps,
        cfg.batch_size,
        cfg.lr,
        generator,
        progress,
        device,
    )
    return Run(model, cfg)


def from_checkpoint(checkpoint: dict) -> tuple[Classifier, ClassifierConfig]:
    """Rebuild (classifier, config) from a checkpoint written by ``train classifier``."""
    from .utils import load_weights

    cfg = ClassifierConfig(**checkpoint["config"])
    return load_weights(build(cfg), checkpoint).eval(), cfg


def course_classifier(run_dir=None, data=None, generator=None) -> Classifier:
    """The judge of the metrics: the classifier saved in ``run_dir`` (``train classifier``), or,
    without one, a new one trained on ``data``, an ``ImageData`` training split."""
    from .utils import load_checkpoint

    if run_dir:
        return from_checkpoint(load_checkpoint(run_dir, kind="classifier"))[0]
    return train(data, config_for(data), generator=generator, progress=False).model


def report(model: Classifier, cfg: ClassifierConfig, held_out, device="cpu") -> dict[str, float]:
    """The classifier's accuracy on a held-out ``ImageData`` split."""
    x, y = held_out.images.to(device), held_out.labels.to(device)
    return {"held_out_accuracy": accuracy(model.to(device), x, y)}


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


def likelihood_family(kind: str):
    """The family module of a checkpoint's kind, if it bounds a likelihood; else a ``CourseError``."""
    from . import families

    family = families.get(kind)
    if not hasattr(family, "likelihood_bounds"):
        why = getattr(family, "NO_LIKELIHOOD", f"a {kind} model defines no likelihood")
        raise CourseError(
            f"{why}; bounds exist for {' and '.join(families.with_likelihood())} checkpoints"
        )
    return family


@torch.no_grad()
def likelihood(
    checkpoint: dict,
    images: torch.Tensor,
    generator: torch.Generator | None = None,
    device="cpu",
    progress: bool = False,
) -> dict[str, float]:
    """Bounds on the negative log-likelihood of held-out images (N, C, H, W) under a trained model,
    averaged over the images, in nats per image and in bits per dimension (nats / (dims ln 2)).

    The bounds are the family's ``likelihood_bounds`` (the VAE's -ELBO and IWAE, the DDPM's variational
    bound); a family without one (a GAN) is a ``CourseError`` that names those with one.
    """
    family = likelihood_family(checkpoint["kind"])
    model, cfg = family.from_checkpoint(checkpoint)
    levels, dims = checkpoint["extra"]["levels"], images[0].numel()
    nats = family.likelihood_bounds(
        model.to(device), cfg, images, levels, generator, device, progress
    )
    out = {f"{k}_nats": v for k, v in nats.items()}
    out.update({f"{k}_bits_per_dim": v / (dims * math.log(2)) for k, v in nats.items()})
    return out
