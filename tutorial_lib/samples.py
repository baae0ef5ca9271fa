"""The course's one format for images on disk: ``samples.npz``, and your own ``.npz`` data sets.

An ``.npz`` holds ``images``, uint8 pixels in 0..255 of shape (N, H, W) for grey or (N, H, W, C)
with C = 1 or 3 for colour, and optionally ``labels``, integers of shape (N,): for samples, the
classes they were asked for; for a data set, the classes of its images. ``sample`` writes them,
``evaluate`` and ``load_dataset("path/to/file.npz")`` read them, and any tool that reads NumPy
files can too.

Introduced in notebook 00.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from .data import DATASETS, DatasetError, ImageData


def read_npz(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Read and validate an ``.npz`` of ``images`` uint8 (N, H, W) or (N, H, W, C) and optional ``labels`` (N,)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(
            f"no such file {str(path)!r}; give a path to an .npz file or one of {', '.join(DATASETS)}"
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as e:
        raise DatasetError(f"{path} is not a readable .npz file ({type(e).__name__}: {e})") from e
    if "images" not in arrays:
        raise DatasetError(
            f"{path} has no 'images' array (it has: {', '.join(arrays) or 'nothing'}); "
            "save your images with np.savez(path, images=..., labels=...)"
        )
    images = arrays["images"]
    if images.dtype != np.uint8:
        raise DatasetError(
            f"'images' in {path} has dtype {images.dtype}; it must be uint8 pixels in 0..255"
        )
    if not (images.ndim == 3 or (images.ndim == 4 and images.shape[-1] in (1, 3))):
        raise DatasetError(
            f"'images' in {path} has shape {images.shape}; it must be (N, H, W) for grey "
            "or (N, H, W, C) with C = 1 or 3 for colour"
        )
    labels = arrays.get("labels")
    if labels is not None:
        if not np.issubdtype(labels.dtype, np.integer) or labels.shape != images.shape[:1]:
            raise DatasetError(
                f"'labels' in {path} has shape {labels.shape} and dtype {labels.dtype}; "
                f"it must be integers of shape ({images.shape[0]},)"
            )
        labels = labels.astype(np.int64)
    return images, labels


def save_samples(
    path: str | os.PathLike, images: np.ndarray, labels: np.ndarray | torch.Tensor | None = None
) -> Path:
    """Write samples in the course's one format, atomically.

    images: uint8 (N, H, W) for grey or (N, H, W, C) for colour (see ``to_uint8``).
    labels: int64 (N,), the classes asked for, for conditional samples.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise DatasetError(
            f"samples must be uint8 of shape (N, H, W) or (N, H, W, C), got {images.dtype} {images.shape}"
        )
    arrays = {"images": images}
    if labels is not None:
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != images.shape[:1]:
            raise DatasetError(
                f"labels of shape {labels.shape} do not match {images.shape[0]} images"
            )
        arrays["labels"] = labels
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz", dir=path.parent)
    os.close(fd)
    try:
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_samples(
    path: str | os.PathLike, like: ImageData | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a ``samples.npz``: (images uint8 (N, H, W) or (N, H, W, 3), labels int64 or None),
    validated as by ``load_npz``; with ``like``, also that the images have that data set's shape."""
    images, labels = read_npz(path)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]  # one channel is grey
    if like is not None:
        shape = images.shape[1:] if images.ndim == 3 else (images.shape[3], *images.shape[1:3])
        expected = like.shape[1:] if like.shape[0] == 1 else like.shape
        if tuple(shape) != tuple(expected):
            raise DatasetError(
                f"{path} holds images of {'x'.join(map(str, shape))}, but {like.name} images are "
                f"{'x'.join(map(str, expected))}; evaluate against the data set the model was trained on"
            )
    return images, labels
