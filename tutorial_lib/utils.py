"""Seeding, device choice and checkpoints: the plumbing every lesson shares.

Introduced in notebook 00.
"""

from __future__ import annotations

import os
import random
import tempfile
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_FORMAT = "tutorial_lib.checkpoint/1"
CHECKPOINT_NAME = "checkpoint.pt"  # the file a run folder holds
DEVICES = ("auto", "cpu", "cuda", "mps")


class CourseError(Exception):
    """An error caused by the user's input, with a message that says what to do.

    The CLI prints these as one line, without a traceback.
    """


class CheckpointError(CourseError):
    """A checkpoint that is missing, corrupt, or made for another model."""


def check_positive(config: Any, *names: str) -> None:
    """Raise a ``CourseError`` naming the first of ``config``'s fields ``names`` that is not > 0."""
    for name in names:
        value = getattr(config, name)
        if value <= 0:
            raise CourseError(f"{name} must be positive, got {value}")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch so that a CPU run repeats exactly.

    Returns a fresh ``torch.Generator`` seeded with ``seed`` for code that
    prefers an explicit generator over the global one.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def get_device(name: str = "auto") -> torch.device:
    """Turn ``"auto" | "cpu" | "cuda" | "mps"`` into a ``torch.device``.

    ``"auto"`` picks CUDA, then Apple's MPS, then the CPU. Asking for a device
    this machine does not have is an error, not a silent fallback.
    """
    if name not in DEVICES and not name.startswith("cuda:"):
        raise CourseError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CourseError(
            f"device {name!r} was asked for but no CUDA GPU is visible; use --device cpu or auto"
        )
    if name == "mps" and not torch.backends.mps.is_available():
        raise CourseError(
            "device 'mps' was asked for but Apple's MPS is not available; use --device cpu or auto"
        )
    return torch.device(name)


def save_checkpoint(
    path: str | os.PathLike, model: torch.nn.Module, kind: str, config: Any = None, **extra: Any
) -> Path:
    """Save ``model``'s weights with its config, atomically.

    The file is written to a temporary name in the same folder and then renamed
    over ``path`` (``os.replace``), so a crash mid-write never leaves a
    half-written file where a good checkpoint was.

    kind: the model family, e.g. ``"gan"``; checked again by ``load_checkpoint``.
    config: a dataclass or dict of plain values from which the model can be rebuilt.
    extra: further plain values (loss history, data set name, ...).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if is_dataclass(config):
        config = asdict(config)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "kind": kind,
        "config": dict(config or {}),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra,
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(
            tmp, 0o666 & ~umask
        )  # mkstemp makes the file private; give it the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def shipped_checkpoints() -> Path:
    """The folder of the course's shipped checkpoints: ``checkpoints/`` beside this package in the
    course's repository (see checkpoints/manifest.json). Notebooks 01, 02, 04, 05 and 06 load from it."""
    folder = Path(__file__).resolve().parents[1] / "checkpoints"
    if not (folder / "manifest.json").is_file():
        raise CheckpointError(
            f"the shipped checkpoints are not at {folder}: they come with the course's repository. "
            "Install the course from its repository (pip install -e .), or train your own with "
            "`make checkpoints` or `python -m tutorial_lib train ...`"
        )
    return folder


def load_checkpoint(path: str | os.PathLike, kind: str | None = None) -> dict:
    """Read a checkpoint written by ``save_checkpoint``: a file, or a run folder holding
    ``checkpoint.pt`` (as ``python -m tutorial_lib train ... --out RUN`` writes).

    Returns a dict with keys ``kind``, ``config``, ``state_dict`` and ``extra``.
    Raises ``CheckpointError`` if the file is missing, is not a checkpoint of
    this course (corrupt, truncated, or some other file), or holds a model of
    another ``kind`` than asked for.
    """
    path = Path(path)
    if path.is_dir():
        if not (path / CHECKPOINT_NAME).is_file():
            raise CheckpointError(
                f"{path} holds no {CHECKPOINT_NAME}; train a model into it first "
                f"(python -m tutorial_lib train {kind or 'FAMILY'} --out {path})"
            )
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise CheckpointError(
            f"no checkpoint at {path}; train one first (python -m tutorial_lib train ...)"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # zip errors, EOF, UnpicklingError for foreign pickles, ...
        raise CheckpointError(
            f"{path} is not a readable checkpoint: it is corrupt, truncated or not a tutorial_lib file "
            f"({type(e).__name__}); train again or restore it from a backup"
        ) from e
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} is not a tutorial_lib checkpoint (no {CHECKPOINT_FORMAT!r} header)"
        )
    if kind is not None and payload["kind"] != kind:
        raise CheckpointError(
            f"{path} holds a {payload['kind']!r} model, but a {kind!r} model was asked for"
        )
    return payload


def load_weights(model: torch.nn.Module, checkpoint: dict) -> torch.nn.Module:
    """Copy a checkpoint's weights into ``model``; a shape or key mismatch is a ``CheckpointError``."""
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise CheckpointError(
            f"the checkpoint's weights do not fit this {type(model).__name__} "
            f"(was it trained with another config or dataset?): {detail}"
        ) from e
    return model
