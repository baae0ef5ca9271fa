"""``mnist10k``: the official MNIST test split, bundled with the course, and its fixed split.

The 10,000 digits (28x28, 256 grey levels) of MNIST's test split ship in ``bundled/`` as the raw
IDX files torchvision downloads, so the course runs at MNIST's scale with no network. Their md5
is checked at every load, and they are read with torchvision's own IDX readers. The course's split:

    train   images 0 to 8,999       every model and classifier trains on these
    test    images 9,000 to 9,999   held out: nothing of the course ever trains on them
    all     all 10,000

MNIST is by LeCun, Cortes and Burges, under CC BY-SA 3.0 (``bundled/NOTICE.md``). The full
60,000-image training set is ``load_dataset("mnist")``, through torchvision.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

FOLDER = Path(__file__).resolve().parent / "bundled"
FILES = {  # name: md5, as in torchvision's MNIST.resources
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
SPLITS = {"train": slice(0, 9000), "test": slice(9000, 10000), "all": slice(0, 10000)}


def verified(name: str, folder: Path | None = None) -> Path:
    """The path of one bundled file (in ``FOLDER`` by default), after checking that its md5 is the
    published one."""
    from .data import DatasetError

    path = (folder or FOLDER) / name
    if not path.is_file():
        raise DatasetError(
            f"the bundled MNIST file {path} is missing: it comes with the course's repository "
            "(git checkout -- tutorial_lib/bundled), or use dataset 'digits'"
        )
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    if md5 != FILES[name]:
        raise DatasetError(
            f"{path} is damaged: its md5 is {md5}, not {FILES[name]}. Restore it "
            "(git checkout -- tutorial_lib/bundled) or use dataset 'digits'"
        )
    return path


def load(split: str, folder: Path | None = None):
    """The ``split`` of mnist10k as an ``ImageData``: images (N, 1, 28, 28) in [-1, 1], 256 levels."""
    from torchvision.datasets.mnist import read_image_file, read_label_file

    from .data import ImageData, _check_split, _read_idx, from_levels

    _check_split(split, SPLITS)
    images = _read_idx(verified("t10k-images-idx3-ubyte.gz", folder), read_image_file)
    labels = _read_idx(verified("t10k-labels-idx1-ubyte.gz", folder), read_label_file).long()
    part = SPLITS[split]
    return ImageData(
        "mnist10k",
        split,
        from_levels(images[part, None], 256),
        labels[part],
        levels=256,
        classes=tuple(str(d) for d in range(10)),
    )
