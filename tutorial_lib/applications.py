"""What the applications of notebook 08 are made of: masks with holes to fill in, rough
hand-drawn digits to edit, and the measurements of completed or edited images.

    mask(kind, n, shape)      (n, C, H, W) of 1 (known pixel) and 0 (missing): a box, the lower
                              half, or random pixels (``MASKS``)
    sketches(digits)          (n, 1, 28, 28) stick-figure digits, drawn from polylines, the way
                              a person sketches a digit with a mouse
    judge(classifier, images) the classifier's class and confidence for each image

The models and samplers these feed are ``ddpm.inpaint`` and ``ddpm.edit`` (``diffusion.inpaint``
and ``diffusion.sdedit`` underneath).

Introduced in notebook 08.
"""

from __future__ import annotations

import torch

from .utils import CourseError

MASKS = ("box", "lower-half", "pixels")


def mask(
    kind: str,
    n: int,
    shape: tuple[int, int, int],
    generator: torch.Generator | None = None,
    missing: float = 0.8,
) -> torch.Tensor:
    """n masks (n, C, H, W), 1 where a pixel is known, 0 where it is missing:

    "box"         a square of side 3H/7 (12 pixels at 28x28) missing, at a random place that
                  keeps it inside the middle of the image, where the ink is
    "lower-half"  every row from H/2 down missing
    "pixels"      each pixel missing independently with probability ``missing``
    """
    if kind not in MASKS:
        raise CourseError(f"unknown mask {kind!r}; choose one of {', '.join(MASKS)}")
    C, H, W = shape
    m = torch.ones(n, C, H, W)
    if kind == "lower-half":
        m[:, :, H // 2 :] = 0
    elif kind == "pixels":
        m = (torch.rand(n, 1, H, W, generator=generator) >= missing).float().expand(n, C, H, W)
    else:
        side = max(1, 3 * H // 7)
        lo, hi = H // 7, H - H // 7 - side  # corners from 4 to 12 at 28x28
        top = torch.randint(lo, hi + 1, (n,), generator=generator)
        left = torch.randint(lo, hi + 1, (n,), generator=generator)
        for i in range(n):
            m[i, :, top[i] : top[i] + side, left[i] : left[i] + side] = 0
    return m.contiguous()


# Stick figures on a 28x28 canvas, (column, row) corners of each stroke, as a person might draw
# them: digits 0-9.
STROKES = {
    0: [[(14, 5), (9, 8), (8, 14), (9, 20), (14, 23), (19, 20), (20, 14), (19, 8), (14, 5)]],
    1: [[(11, 8), (15, 5), (15, 23)]],
    2: [[(8, 9), (11, 5), (17, 5), (20, 9), (18, 14), (8, 23), (21, 23)]],
    3: [[(8, 6), (19, 6), (13, 13), (19, 16), (19, 21), (14, 23), (8, 21)]],
    4: [[(17, 23), (17, 5), (7, 17), (22, 17)]],
    5: [[(20, 5), (10, 5), (9, 13), (16, 12), (20, 16), (18, 22), (8, 22)]],
    6: [[(18, 5), (11, 10), (8, 17), (11, 23), (17, 22), (19, 17), (15, 13), (9, 16)]],
    7: [[(7, 5), (21, 5), (13, 23)]],
    8: [
        [(14, 14), (9, 10), (10, 5), (18, 5), (19, 10), (14, 14)],
        [(14, 14), (8, 18), (10, 23), (18, 23), (20, 18), (14, 14)],
    ],
    9: [[(19, 9), (15, 5), (10, 7), (10, 12), (15, 13), (19, 9), (18, 23)]],
}


def sketches(digits, width: float = 1.5, size: int = 28) -> torch.Tensor:
    """Stick-figure digits (n, 1, size, size) in [-1, 1]: the polylines of ``STROKES`` drawn
    ``width`` pixels wide with soft edges (ink = clamp(width/2 + 1/2 - distance to the nearest
    stroke, 0, 1)), scaled from the 28x28 canvas to ``size``."""
    digits = [int(d) for d in digits]
    if any(d not in STROKES for d in digits):
        raise CourseError(f"sketches exist for the digits 0-9, got {digits}")
    c = (torch.arange(size, dtype=torch.float32) + 0.5) * 28 / size
    p = torch.stack(torch.meshgrid(c, c, indexing="xy"), -1)  # (size, size, 2): (column, row)
    out = []
    for d in digits:
        distance = torch.full((size, size), float("inf"))
        for stroke in STROKES[d]:
            corners = torch.tensor(stroke, dtype=torch.float32)
            for a, b in zip(corners[:-1], corners[1:], strict=True):
                along = ((p - a) @ (b - a) / (b - a).dot(b - a)).clamp(0, 1)  # (size, size)
                nearest = a + along[..., None] * (b - a)
                distance = torch.minimum(distance, (p - nearest).norm(dim=-1))
        ink = (width / 2 + 0.5 - distance * size / 28).clamp(0, 1)
        out.append(ink * 2 - 1)
    return torch.stack(out)[:, None]


@torch.no_grad()
def judge(classifier, images: torch.Tensor, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """The classifier's predicted class (N,) and its probability (N,) for images (N, C, H, W)."""
    classifier.eval()
    probs = torch.cat(
        [classifier(images[i : i + batch]).softmax(1) for i in range(0, len(images), batch)]
    )
    confidence, predicted = probs.max(1)
    return predicted, confidence
