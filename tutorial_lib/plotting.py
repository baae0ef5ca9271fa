"""Pictures: image grids, loss curves, 2-D scatter and density plots.

The step-by-step explorers and their GIF animations are in ``tutorial_lib.widgets``.

Images are always tensors (N, C, H, W) in [-1, 1], as ``tutorial_lib.data``
returns them; grids are made by ``torchvision.utils.make_grid``.

Introduced in notebook 00.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from torchvision.utils import make_grid, save_image


def image_grid(
    x: torch.Tensor, nrow: int | None = None, padding: int = 1, scale: int = 1
) -> torch.Tensor:
    """Tile images (N, C, H, W) in [-1, 1] into one (3, H', W') image in [0, 1].

    nrow: images per row (default: about sqrt(N)); scale: integer up-scaling
    with nearest neighbours, so that 8x8 digits stay crisp when saved.
    """
    if x.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {tuple(x.shape)}")
    x = (x.detach().float().cpu().clamp(-1, 1) + 1) / 2
    if scale > 1:
        x = x.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
    nrow = nrow or math.ceil(math.sqrt(x.shape[0]))
    return make_grid(x, nrow=nrow, padding=padding * scale, pad_value=1.0)


def show_images(
    x: torch.Tensor, nrow: int | None = None, title: str | None = None, ax=None, padding: int = 1
):
    """Draw a grid of images (N, C, H, W) in [-1, 1] on ``ax`` (a new figure by default)."""
    if ax is None:
        ncol = nrow or math.ceil(math.sqrt(x.shape[0]))
        nrows = math.ceil(x.shape[0] / ncol)
        width = min(12.0, max(3.0, 0.6 * ncol))
        _, ax = plt.subplots(
            figsize=(width, max(1.0, width * nrows / ncol) + (0.4 if title else 0))
        )
    grid = image_grid(x, nrow=nrow, padding=padding)
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def save_images(
    x: torch.Tensor, path: str | os.PathLike, nrow: int | None = None, min_size: int = 32
) -> Path:
    """Save a grid of images (N, C, H, W) in [-1, 1] as a PNG, small images scaled up by an integer factor towards ``min_size`` pixels."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scale = max(1, min_size // x.shape[-1])
    save_image(image_grid(x, nrow=nrow, scale=scale), path)
    return path


def plot_curves(
    history: dict[str, Sequence[float]],
    ax=None,
    smooth: int = 1,
    logy: bool = False,
    title: str | None = None,
    xlabel: str = "step",
):
    """Plot each named curve of a loss history; ``smooth`` > 1 adds a moving average over that many steps."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for name, values in history.items():
        values = np.asarray(values, dtype=float)
        if smooth > 1 and len(values) >= smooth:
            (line,) = ax.plot(values, alpha=0.25)
            kernel = np.ones(smooth) / smooth
            ax.plot(
                np.arange(smooth - 1, len(values)),
                np.convolve(values, kernel, mode="valid"),
                color=line.get_color(),
                label=name,
            )
        else:
            ax.plot(values, label=name)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


def scatter_2d(points: torch.Tensor, ax=None, lim: float = 3.0, title: str | None = None, **kwargs):
    """Scatter (N, 2) points on a square window [-lim, lim]^2."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    points = torch.as_tensor(points).detach().cpu()
    ax.scatter(points[:, 0], points[:, 1], **({"s": 3, "alpha": 0.5} | kwargs))
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax


def density_2d(
    log_prob: Callable[[torch.Tensor], torch.Tensor],
    ax=None,
    lim: float = 3.0,
    n: int = 200,
    title: str | None = None,
    cmap: str = "viridis",
):
    """Draw exp(log_prob(x)) on an n x n grid over [-lim, lim]^2; log_prob maps (M, 2) to (M,)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    u = torch.linspace(-lim, lim, n)
    xx, yy = torch.meshgrid(u, u, indexing="xy")
    with torch.no_grad():
        density = log_prob(torch.stack([xx.ravel(), yy.ravel()], dim=1)).exp().reshape(n, n)
    ax.imshow(density.numpy(), extent=(-lim, lim, -lim, lim), origin="lower", cmap=cmap)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax
