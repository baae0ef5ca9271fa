import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


@pytest.fixture
def shared_mnist() -> Path:
    """The real MNIST test split beside the checkout; tests using it skip, saying why, when it is absent."""
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(
            f"real MNIST test split not found at {SHARED_MNIST} (it lives in ../shared/data/mnist)"
        )
    return SHARED_MNIST


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    """Write an IDX file (the MNIST format) for uint8 data, the way LeCun's files are laid out."""
    header = struct.pack(">I", 0x0800 | array.ndim) + b"".join(
        struct.pack(">I", d) for d in array.shape
    )
    raw = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)
    return path
