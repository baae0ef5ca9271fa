"""Measuring generated images with the course's own classifier.

A small CNN trained on a data set's training split labels generated images and
provides features (its penultimate layer) in which diversity and distances are measured.
Inception features, the standard for FID, are not used: they need downloaded weights and
were built for natural photographs, not 8x8 digits.

Introduced in notebook 05.
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
