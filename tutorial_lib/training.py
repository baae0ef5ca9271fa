"""One small training loop for every model family, with a progress bar.

A model family supplies ``step(batch) -> dict of losses`` (which does its own
forward, backward and optimiser step); ``train_loop`` feeds it batches, shows
progress with ``tqdm.auto`` and returns the loss history.

Introduced in notebook 00, used by every later notebook.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from tqdm.auto import tqdm

from .utils import CourseError


def random_batches(
    *tensors: torch.Tensor, batch_size: int, generator: torch.Generator | None = None
) -> Iterator[tuple[torch.Tensor, ...]]:
    """Endless minibatches from in-memory tensors, reshuffled every epoch.

    tensors: each (N, ...), indexed together; yields tuples of (B, ...) slices.
    Faster than a DataLoader for data that already sits in memory.
    """
    n = tensors[0].shape[0]
    if any(t.shape[0] != n for t in tensors):
        raise CourseError(f"tensors have different lengths: {[t.shape[0] for t in tensors]}")
    if not 0 < batch_size:
        raise CourseError(f"batch_size must be positive, got {batch_size}")
    batch_size = min(batch_size, n)
    while True:
        order = torch.randperm(n, generator=generator)
        for i in range(0, n - batch_size + 1, batch_size):
            idx = order[i : i + batch_size]
            yield tuple(t[idx] for t in tensors)


def train_loop(
    step: Callable[..., dict[str, float] | float],
    batches: Iterator,
    n_steps: int,
    *,
    desc: str = "training",
    progress: bool = True,
    callback: Callable[[int], None] | None = None,
) -> dict[str, list[float]]:
    """Run ``step`` on ``n_steps`` batches and return its losses as ``{name: [value per step]}``.

    step: called as ``step(batch)``; returns a float or a dict of floats.
    callback: called as ``callback(i)`` after step i (0-based), e.g. to keep snapshots.
    A non-finite loss stops training with an error that names the step.
    """
    history: dict[str, list[float]] = {}
    bar = tqdm(range(n_steps), desc=desc, disable=not progress, leave=False, mininterval=0.5)
    for i in bar:
        out = step(next(batches))
        losses = out if isinstance(out, dict) else {"loss": out}
        for k, v in losses.items():
            v = float(v)
            if not math.isfinite(v):
                raise FloatingPointError(f"{k} became {v} at step {i}; lower the learning rate")
            history.setdefault(k, []).append(v)
        if i % 25 == 0 or i == n_steps - 1:
            bar.set_postfix({k: f"{v[-1]:.3f}" for k, v in history.items()}, refresh=False)
        if callback is not None:
            callback(i)
    return history
