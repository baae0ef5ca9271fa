"""The shared core of the exercise checks (see ``tutorial_lib.checks``): ``_run`` calls the
student's function and the library's on the same cases and, when they differ, names the
mistake by running each known wrong version and seeing which one the student's output matches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


class ExerciseError(AssertionError):
    """The answer is missing or wrong; the message says what to look at."""


Case = tuple[str, tuple]  # (what the inputs are, the arguments)
Mistake = tuple[str, Callable]  # (the explanation, an implementation that makes that mistake)


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a.double(), b.double(), rtol=1e-4, atol=1e-5)


def _compare(got, expected, mistakes, properties, args) -> str | None:
    """None if got equals expected; otherwise what is wrong, in words. ``mistakes`` are
    (explanation, the wrong answer's output) pairs, computed lazily."""
    if not torch.is_tensor(got):
        return (
            f"it returned a {type(got).__name__}; it should return a tensor of shape "
            f"{tuple(expected.shape)}"
        )
    if got.shape != expected.shape:
        return (
            f"it returned shape {tuple(got.shape)}, but the answer has shape "
            f"{tuple(expected.shape)}. Check which dimensions you sum or average over."
        )
    if _close(got, expected):
        return None
    for explanation, wrong in mistakes:
        if _close(got, wrong()):
            return explanation
    for prop in properties:
        message = prop(args, got)
        if message:
            return message
    error = (got.double() - expected.double()).abs().max().item()
    return (
        f"it differs from the reference (largest difference {error:.3g}). Compare your "
        "answer with the description above, term by term."
    )


def _verdicts(
    name: str,
    student: Callable,
    reference: Callable,
    reference_name: str,
    description: str,
    args: tuple,
    mistakes: Sequence[Mistake],
    properties: Sequence[Callable],
) -> list[tuple[str, str | None]]:
    """[(what was checked, None if right or what is wrong)] for one case. A reference that
    returns a dict of named tensors is checked part by part, each part a check of its own."""
    try:
        got = student(*args)
    except NotImplementedError:
        raise ExerciseError(
            f"{name}: not answered yet. Replace `raise NotImplementedError()` with your code "
            f"and run the cell again. The cells below use the library's {reference_name}, "
            "so you can go on and come back to it."
        ) from None
    except Exception as e:
        shapes = ", ".join(
            str(tuple(a.shape)) if torch.is_tensor(a) else type(a).__name__ for a in args
        )
        return [(description, f"your function raised {type(e).__name__}: {e} (arguments {shapes})")]
    expected = reference(*args)
    if not isinstance(expected, dict):
        wrong = [(why, lambda m=m: m(*args)) for why, m in mistakes]
        return [(description, _compare(got, expected, wrong, properties, args))]
    out, outputs = [], {}
    for key, value in expected.items():
        wrong = [
            (why, lambda m=m, k=key: outputs.setdefault(m, m(*args))[k]) for why, m in mistakes
        ]
        part = got.get(key) if isinstance(got, dict) else got
        out.append((f"{description}: {key}", _compare(part, value, wrong, properties, args)))
    return out


def _run(
    name: str,
    student: Callable,
    reference: Callable,
    reference_name: str,
    cases: Sequence[Case],
    mistakes: Sequence[Mistake] = (),
    properties: Sequence[Callable] = (),
    points: float = 2,
    hidden: Sequence[Case] = (),
) -> float:
    """Compare student(*args) with reference(*args) on every case, and return the points earned.

    Each case, the visible ones and the ``hidden`` ones (which the instructor's hidden tests
    pass in), earns an equal share of ``points``: partial credit for an answer that is right on
    ordinary inputs and wrong on an edge case. A wrong case is explained in words, by the first
    known mistake whose output the student's matches. No case right raises ``ExerciseError``.
    """
    verdicts = [
        (what, is_hidden, why)
        for is_hidden, group in ((False, cases), (True, hidden))
        for description, args in group
        for what, why in _verdicts(
            name, student, reference, reference_name, description, args, mistakes, properties
        )
    ]
    wrong = [(d, h, why) for d, h, why in verdicts if why is not None]
    earned = round(points * (1 - len(wrong) / len(verdicts)), 2)
    shown = [(d, why) for d, h, why in wrong if h or not hidden]  # a hidden run adds its own
    lines = "".join(f"\n  - on {d}: {why}" for d, why in shown)
    checks = f"{len(cases)} checks" + (f" and {len(hidden)} hidden ones" if hidden else "")
    if not wrong:
        print(f"{name}: correct. It matches {reference_name} on {checks}, edge cases included.")
    elif len(wrong) == len(verdicts):
        first = wrong[0][2]
        raise ExerciseError(f"{name}: {first}" + (lines if len({w for *_, w in wrong}) > 1 else ""))
    else:
        print(
            f"{name}: right on {len(verdicts) - len(wrong)} of {len(verdicts)} checks "
            f"({checks}): {earned:g} of {points:g} points. What is wrong:{lines}"
        )
    return earned


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
