"""Checks for the exercises of notebook 06 (class entropy, the Fréchet distance, precision and recall)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from .. import metrics
from .core import Case, _generator, _run


def _as_tensor(student: Callable) -> Callable:
    """The student's function, with its float (or tuple of floats) answer as a float64 tensor."""

    def call(*args):
        out = student(*args)
        if isinstance(out, tuple):
            return {
                k: torch.tensor(float(v), dtype=torch.float64)
                for k, v in zip(("precision", "recall"), out, strict=True)
            }
        return (
            torch.tensor(float(out), dtype=torch.float64)
            if not torch.is_tensor(out)
            else out.double().reshape(())
        )

    return call


def _scalar(f: Callable) -> Callable:
    return lambda *args: torch.tensor(float(f(*args)), dtype=torch.float64)


def class_entropy(student: Callable, points: float = 2, hidden: Sequence[Case] = ()) -> float:
    """Exercise: the entropy, in nats, of the histogram of predicted classes,
    class_entropy(predicted (N,) integers, num_classes) -> float."""
    g = _generator()
    cases = [
        ("1000 predictions over 10 classes", (torch.randint(0, 10, (1000,), generator=g), 10)),
        ("every class equally often: log 10", (torch.arange(10).repeat(7), 10)),
        ("only three classes occur (0 log 0 = 0)", (torch.tensor([1, 1, 4, 7, 7, 7]), 10)),
        ("a collapsed model, one class only: 0", (torch.full((50,), 3), 10)),
    ]

    def counts(p, k):
        return torch.bincount(p, minlength=k).double()

    return _run(
        "class_entropy",
        _as_tensor(student),
        _scalar(metrics.class_entropy),
        "metrics.class_entropy",
        cases,
        mistakes=[
            (
                "this is in bits (log base 2); the course measures entropy in nats (natural log), "
                "so that an even histogram of 10 classes gives log 10 = 2.303.",
                lambda p, k: torch.tensor(
                    metrics.class_entropy(p, k) / math.log(2), dtype=torch.float64
                ),
            ),
            (
                "you use the counts, not the probabilities: divide the histogram by N first.",
                lambda p, k: (
                    -(counts(p, k)[counts(p, k) > 0] * counts(p, k)[counts(p, k) > 0].log()).sum()
                ),
            ),
            (
                "the sign is flipped: H = -sum_c p_c log p_c is never negative.",
                lambda p, k: -_scalar(metrics.class_entropy)(p, k),
            ),
        ],
        properties=[
            lambda args, got: (
                None
                if torch.isfinite(got).all()
                else "the entropy is NaN when a class never occurs: 0 log 0 counts as 0, so leave "
                "out the classes with p = 0 (or use torch.special.xlogy)."
            ),
        ],
        points=points,
        hidden=hidden,
    )


def frechet_distance(student: Callable, points: float = 4, hidden: Sequence[Case] = ()) -> float:
    """Exercise: the Fréchet distance between Gaussians fitted to two feature sets,
    frechet_distance(a (N, D), b (M, D)) -> float, with torch.cov's (unbiased) covariances:
    |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))."""
    g = _generator()
    a, b = (
        torch.randn(300, 4, generator=g),
        torch.randn(200, 4, generator=g) @ torch.randn(4, 4, generator=g) + 1,
    )
    one_d = torch.randn(500, 1, generator=g)
    cases = [
        ("two different 4-D sets", (a, b)),
        ("a set and itself: 0", (a, a)),
        ("1-D, N(0, 1) against N(3, 2^2): (mu_a - mu_b)^2 + (s_a - s_b)^2", (one_d, 3 + 2 * one_d)),
        ("a shifted copy: only the mean term", (a, a + 0.5)),
    ]

    def sq(x):
        vals, vecs = torch.linalg.eigh(x)
        return vecs @ torch.diag(vals.clamp(min=0).sqrt()) @ vecs.T

    def parts(a, b):
        a, b = a.double(), b.double()
        return (
            ((a.mean(0) - b.mean(0)) ** 2).sum(),
            torch.cov(a.T).reshape(a.shape[1], -1),
            torch.cov(b.T).reshape(b.shape[1], -1),
        )

    def elementwise(a, b):
        m, sa, sb = parts(a, b)
        return m + torch.trace(sa + sb - 2 * (sa * sb).clamp(min=0).sqrt())

    def product_of_roots(a, b):
        m, sa, sb = parts(a, b)
        return m + torch.trace(sa + sb - 2 * sq(sa) @ sq(sb))

    def no_two(a, b):
        m, sa, sb = parts(a, b)
        return torch.tensor(metrics.frechet_distance(a, b), dtype=torch.float64) + torch.trace(
            sq(sq(sa) @ sb @ sq(sa))
        )

    return _run(
        "frechet_distance",
        _as_tensor(student),
        _scalar(metrics.frechet_distance),
        "metrics.frechet_distance",
        cases,
        mistakes=[
            (
                "(S_a S_b)^(1/2) is a matrix square root, not the element-wise square root of "
                "S_a * S_b: use scipy.linalg.sqrtm(S_a @ S_b), or the eigenvalues of "
                "S_a^(1/2) S_b S_a^(1/2).",
                elementwise,
            ),
            (
                "S_a^(1/2) S_b^(1/2) is not (S_a S_b)^(1/2) unless the two commute: take the square "
                "root of the product, sqrtm(S_a @ S_b).",
                product_of_roots,
            ),
            ("the cross term needs its factor 2: Tr(S_a + S_b - 2 (S_a S_b)^(1/2)).", no_two),
            (
                "the covariances are divided by N, not N - 1: use torch.cov (unbiased), as the "
                "library does.",
                lambda a, b: _fd(a.double(), b.double(), correction=0),
            ),
            (
                "the mean term is not squared: |mu_a - mu_b|^2 = ((mu_a - mu_b)**2).sum().",
                lambda a, b: _fd(a.double(), b.double(), squared=False),
            ),
        ],
        points=points,
        hidden=hidden,
    )


def _fd(
    a: torch.Tensor, b: torch.Tensor, correction: int = 1, squared: bool = True
) -> torch.Tensor:
    mu = a.mean(0) - b.mean(0)
    sa, sb = (torch.cov(x.T, correction=correction).reshape(x.shape[1], -1) for x in (a, b))
    vals, vecs = torch.linalg.eigh(sa)
    root = vecs @ torch.diag(vals.clamp(min=0).sqrt()) @ vecs.T
    middle = torch.linalg.eigvalsh(root @ sb @ root).clamp(min=0).sqrt().sum()
    mean_term = (mu**2).sum() if squared else mu.norm()
    return mean_term + torch.trace(sa) + torch.trace(sb) - 2 * middle


def precision_recall(student: Callable, points: float = 3, hidden: Sequence[Case] = ()) -> float:
    """Exercise: improved precision and recall (Kynkäänniemi et al. 2019),
    precision_recall(real (N, D), fake (M, D), k) -> (precision, recall) as floats."""
    g = _generator()
    real = torch.randn(200, 3, generator=g)
    cases = [
        ("fake drawn like real", (real, torch.randn(150, 3, generator=g), 3)),
        ("fake crowded into one corner", (real, 0.2 * torch.randn(100, 3, generator=g) + 1, 3)),
        ("fake far away from real: 0 and 0", (real, torch.randn(50, 3, generator=g) + 20, 5)),
    ]

    def reference(real, fake, k):
        p, r = metrics.precision_recall(real, fake, k)
        return {
            "precision": torch.tensor(p, dtype=torch.float64),
            "recall": torch.tensor(r, dtype=torch.float64),
        }

    def self_neighbour(
        real, fake, k
    ):  # the k-th value of a row of distances counts the point itself
        def radii(x):
            return torch.cdist(x, x).kthvalue(k, dim=1).values

        def inside(points, centres, r):
            return (torch.cdist(points, centres) <= r[None]).any(dim=1).double().mean()

        return {
            "precision": inside(fake, real, radii(real)),
            "recall": inside(real, fake, radii(fake)),
        }

    return _run(
        "precision_recall",
        _as_tensor(student),
        reference,
        "metrics.precision_recall",
        cases,
        mistakes=[
            (
                "the radius counts each point as its own nearest neighbour (distance 0): the k-th "
                "nearest OTHER point is the (k + 1)-th smallest distance in its row, "
                "kthvalue(k + 1).",
                self_neighbour,
            ),
            (
                "precision and recall are swapped. Precision asks how many FAKE points fall inside "
                "the real manifold (are samples realistic?); recall how many REAL points fall "
                "inside the fake one (is the data covered?).",
                lambda real, fake, k: dict(
                    zip(("recall", "precision"), reference(real, fake, k).values(), strict=True)
                ),
            ),
        ],
        points=points,
        hidden=hidden,
    )
