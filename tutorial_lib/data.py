"""Image data sets, one loader for all of them, and the pixel conversions.

Every data set comes back the same way: float images of shape (N, C, H, W)
scaled to [-1, 1], integer labels of shape (N,), and the number of grey levels
per channel, which is what turns model output back into pixels:

    x = 2 * v / (levels - 1) - 1,    v in {0, 1, ..., levels - 1}.

``"mnist10k"`` (MNIST's 10,000 test digits at 28x28, 256 levels, bundled with the course; see
``mnist10k``) needs no download and is the default everywhere. ``"digits"`` (scikit-learn's
bundled 8x8 digits, 17 grey levels) needs none either and trains in seconds. ``"mnist"`` and
``"fashion-mnist"`` (28x28, 256 levels) come through torchvision, or from a local folder of raw
IDX files. A path to an ``.npz`` file brings your own images.

Introduced in notebook 00.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .utils import CourseError

DIGITS_SPLITS = {
    "train": slice(0, 1000),
    "val": slice(1000, 1350),
    "test": slice(1350, None),
    "all": slice(None),
}
IDX_SPLITS = {"train": "train", "test": "t10k"}
TORCHVISION_CLASS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
DATASETS = ("digits", "mnist10k", "mnist", "fashion-mnist")


class DatasetError(CourseError, ValueError):
    """A data set that cannot be loaded, with what to do instead."""


@dataclass
class ImageData:
    """A whole data set in memory.

    images: (N, C, H, W) float32 in [-1, 1]
    labels: (N,) int64, or None for unlabelled ``.npz`` files
    levels: grey levels per channel (17 for digits, 256 for 8-bit images)
    """

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor | None
    levels: int
    classes: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])

    def num_classes_for(self, model: str) -> int:
        """The number of classes, for a ``model`` (e.g. "a classifier") trained on the labels; a
        ``DatasetError`` if this data set has none."""
        if self.labels is None:
            raise DatasetError(f"{self.name} has no labels, so {model} cannot be trained on it")
        return len(self.classes)

    def to_uint8(self, x: torch.Tensor) -> np.ndarray:
        """Model output in [-1, 1] -> uint8 pixels, snapped to this data set's grey levels."""
        return to_uint8(x, self.levels)

    def random_subset(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n images (n, C, H, W) drawn without replacement, in random order: a real-data baseline.

        Never ``images[:n]``: MNIST's test file, the source of mnist10k, is ordered by writer
        population (its first 5000 digits are the cleaner ones, notebook 00), so a prefix holds one
        population only, while the test split (the last 1000) holds the other.
        """
        if not 0 < n <= len(self):
            raise CourseError(
                f"n must be between 1 and {len(self)}, the size of {self.name}'s {self.split} split; got {n}"
            )
        return self.images[torch.randperm(len(self), generator=generator)[:n]]


def default_data_root() -> Path:
    """Where downloads go: ``$TUTORIAL_LIB_DATA``, else ``~/.cache/tutorial_lib``."""
    return Path(os.environ.get("TUTORIAL_LIB_DATA", Path.home() / ".cache" / "tutorial_lib"))


def from_levels(v: torch.Tensor, levels: int) -> torch.Tensor:
    """Integer grey values in {0, ..., levels-1} -> floats in [-1, 1]."""
    return v.float() * (2.0 / (levels - 1)) - 1.0


def to_uint8(x: torch.Tensor, levels: int = 256) -> np.ndarray:
    """Images (N, C, H, W) in [-1, 1] -> uint8 array (N, H, W) for grey, (N, H, W, C) for colour.

    Values are clamped, snapped to the nearest of ``levels`` grey levels, then
    spread over 0..255 so that any image viewer shows them correctly.
    """
    if x.ndim != 4:
        raise DatasetError(f"expected images of shape (N, C, H, W), got {tuple(x.shape)}")
    v = torch.round((x.detach().float().cpu().clamp(-1, 1) + 1) * (levels - 1) / 2)
    u8 = torch.round(v * (255.0 / (levels - 1))).to(torch.uint8).numpy()
    return u8[:, 0] if u8.shape[1] == 1 else u8.transpose(0, 2, 3, 1)


def from_uint8(images: np.ndarray, levels: int = 256) -> torch.Tensor:
    """uint8 (N, H, W) or (N, H, W, C) on 0..255 -> float (N, C, H, W) in [-1, 1] on ``levels`` levels."""
    images = np.asarray(images)
    t = torch.from_numpy(images.copy())
    t = t[:, None] if t.ndim == 3 else t.permute(0, 3, 1, 2)
    v = torch.round(t.float() * ((levels - 1) / 255.0))
    return from_levels(v, levels).contiguous()


def load_dataset(
    name: str = "mnist10k",
    split: str = "train",
    root: str | os.PathLike | None = None,
    download: bool = True,
) -> ImageData:
    """Load a whole data set into memory as an ``ImageData``.

    name: ``"digits"``, ``"mnist10k"``, ``"mnist"``, ``"fashion-mnist"``, or a path to an ``.npz``
        file holding ``images`` (uint8, (N, H, W) or (N, H, W, C)) and optional
        integer ``labels`` (N,).
    split: ``"train"`` or ``"test"``; digits also has ``"val"`` and ``"all"``, mnist10k ``"all"``.
        The digits split is that of jmtomczak/intro_dgm: the first 1000 images
        train, the next 350 validate, the last 447 test. An ``.npz`` file has
        no splits: every split is the whole file.
    root: for MNIST and Fashion-MNIST, a folder with the raw IDX files
        (``t10k-images-idx3-ubyte[.gz]`` ...), directly or in torchvision's
        ``MNIST/raw`` layout. Defaults to ``default_data_root()``.
    download: fetch MNIST / Fashion-MNIST with torchvision when they are not in ``root``.
    """
    if name == "digits":
        return _load_digits(split)
    if name == "mnist10k":
        from . import mnist10k

        return mnist10k.load(split)
    if name in TORCHVISION_CLASS:
        return _load_idx(
            name, split, Path(root) if root is not None else default_data_root(), download
        )
    if str(name).endswith(".npz"):
        return load_npz(name)
    raise DatasetError(
        f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}, or give a path to an .npz file"
    )


def _check_split(split: str, valid) -> None:
    if split not in valid:
        raise DatasetError(f"unknown split {split!r}; choose one of {', '.join(valid)}")


def _load_digits(split: str) -> ImageData:
    from sklearn.datasets import load_digits

    _check_split(split, DIGITS_SPLITS)
    bunch = load_digits()
    values = torch.from_numpy(bunch.images[DIGITS_SPLITS[split]]).round()  # (N, 8, 8) in 0..16
    labels = torch.from_numpy(bunch.target[DIGITS_SPLITS[split]]).long()
    return ImageData(
        "digits",
        split,
        from_levels(values[:, None], 17),
        labels,
        levels=17,
        classes=tuple(str(d) for d in range(10)),
    )


def idx_files(name: str, split: str, root: Path) -> tuple[Path, Path] | None:
    """The (images, labels) IDX files of one split in ``root``, or None if absent.

    Looks in ``root``, ``root/raw`` and torchvision's ``root/MNIST/raw``, for
    plain or gzipped files.
    """
    prefix = IDX_SPLITS[split]
    folders = [root, root / "raw", root / TORCHVISION_CLASS[name] / "raw"]
    found = []
    for stem in (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"):
        hits = [
            d / (stem + ext) for d in folders for ext in ("", ".gz") if (d / (stem + ext)).is_file()
        ]
        if not hits:
            return None
        found.append(hits[0])
    return found[0], found[1]


def _read_idx(path: Path, reader) -> torch.Tensor:
    """Read one IDX file with torchvision's reader, unzipping a ``.gz`` to a temporary file first."""
    try:
        if path.suffix != ".gz":
            return reader(str(path))
        with tempfile.TemporaryDirectory() as tmp:
            plain = Path(tmp) / path.stem
            with gzip.open(path, "rb") as src, open(plain, "wb") as dst:
                shutil.copyfileobj(src, dst)
            return reader(str(plain))
    except (OSError, EOFError, ValueError, AssertionError, RuntimeError, KeyError) as e:
        raise DatasetError(
            f"{path} is not a valid IDX file ({type(e).__name__}: {e}); "
            "download it again or use dataset 'digits'"
        ) from e


def _download(name: str, split: str, root: Path) -> None:
    import torchvision

    cls = getattr(torchvision.datasets, TORCHVISION_CLASS[name])
    try:
        cls(str(root), train=(split == "train"), download=True)
    except Exception as e:  # URLError, HTTPError, socket errors, checksum failures
        raise DatasetError(
            f"could not download {name} into {root} ({type(e).__name__}: {e}). With no network, copy the raw "
            f"IDX files (train-images-idx3-ubyte.gz, t10k-images-idx3-ubyte.gz and their labels) into a folder "
            f"and pass it as root (--data-root), or use dataset 'mnist10k' (MNIST's test split, bundled), which needs no download"
        ) from e


def _load_idx(name: str, split: str, root: Path, download: bool) -> ImageData:
    from torchvision.datasets.mnist import read_image_file, read_label_file

    _check_split(split, IDX_SPLITS)
    files = idx_files(name, split, root)
    failure = None
    if files is None and download:
        try:
            _download(name, split, root)
            files = idx_files(name, split, root)
        except DatasetError as e:
            failure = e
    if files is None:
        other = "test" if split == "train" else "train"
        files = idx_files(name, other, root)
        if files is None and failure is not None:
            raise failure
        if files is None:
            raise DatasetError(
                f"{name} is not in {root} and download is off. Copy the raw IDX files "
                f"({IDX_SPLITS[split]}-images-idx3-ubyte.gz and {IDX_SPLITS[split]}-labels-idx1-ubyte.gz) "
                f"into that folder, allow the download, or use dataset 'mnist10k' (MNIST's test split, bundled), which needs no download"
            )
        warnings.warn(
            f"{root} holds only the {other} split of {name}"
            + (" and the download failed" if failure else "")
            + f"; using it as the {split} split",
            stacklevel=3,
        )
        split = other
    images = _read_idx(files[0], read_image_file)  # (N, 28, 28) uint8
    labels = _read_idx(files[1], read_label_file).long()  # (N,)
    if images.ndim != 3 or labels.shape != images.shape[:1]:
        raise DatasetError(
            f"{files[0]} and {files[1]} do not match: images {tuple(images.shape)}, "
            f"labels {tuple(labels.shape)}"
        )
    classes = FASHION_CLASSES if name == "fashion-mnist" else tuple(str(d) for d in range(10))
    return ImageData(
        name, split, from_levels(images[:, None], 256), labels, levels=256, classes=classes
    )


def load_npz(path: str | os.PathLike) -> ImageData:
    """Bring your own images: an ``.npz`` with ``images`` uint8 (N, H, W) or (N, H, W, C), optional ``labels`` (N,)."""
    from .samples import read_npz

    images, labels = read_npz(path)
    if labels is not None:
        labels = torch.from_numpy(labels)
    n_classes = int(labels.max()) + 1 if labels is not None and len(labels) else 0
    return ImageData(
        str(path),
        "all",
        from_uint8(images, 256),
        labels,
        levels=256,
        classes=tuple(str(c) for c in range(n_classes)),
    )


def dataset_table(root: str | os.PathLike | None = None) -> list[dict]:
    """One row per built-in data set: name, image shape, counts per split, and whether it loads offline now."""
    root = Path(root) if root is not None else default_data_root()
    rows = [
        {
            "name": "digits",
            "shape": (1, 8, 8),
            "levels": 17,
            "counts": {"train": 1000, "val": 350, "test": 447},
            "offline": True,
            "source": "scikit-learn, bundled",
        }
    ]
    rows.append(
        {
            "name": "mnist10k",
            "shape": (1, 28, 28),
            "levels": 256,
            "counts": {"train": 9000, "test": 1000},
            "offline": True,
            "source": "MNIST's test split, bundled (CC BY-SA 3.0)",
        }
    )
    for name in TORCHVISION_CLASS:
        present = {s: idx_files(name, s, root) is not None for s in IDX_SPLITS}
        rows.append(
            {
                "name": name,
                "shape": (1, 28, 28),
                "levels": 256,
                "counts": {"train": 60000, "test": 10000},
                "offline": any(present.values()),
                "source": f"torchvision; local splits in {root}: "
                + (", ".join(s for s, ok in present.items() if ok) or "none"),
            }
        )
    return rows
