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


def _not_answered(name: str, reference_name: str) -> ExerciseError:
    return ExerciseError(
        f"{name}: not answered yet. Replace `raise NotImplementedError()` with your code "
        f"and run the cell again. The cells below use the library's {reference_name}, "
        "so you can go on and come back to it."
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
    failure = None
    try:
        got = student(*args)
    except NotImplementedError:
        raise _not_answered(name, reference_name) from None
    except Exception as e:
        shapes = ", ".join(
            str(tuple(a.shape)) if torch.is_tensor(a) else type(a).__name__ for a in args
        )
        failure = f"your function raised {type(e).__name__}: {e} (arguments {shapes})"
    expected = reference(*args)
    if failure is not None:  # every part of the case is lost, so that each case weighs the same
        keys = expected if isinstance(expected, dict) else [None]
        return [(description if k is None else f"{description}: {k}", failure) for k in keys]
    if not isinstance(expected, dict):
        wrong = [(why, lambda m=m: m(*args)) for why, m in mistakes]
        return [(description, _compare(got, expected, wrong, properties, args))]
    out, outputs = [], {}
    for key, value in expected.items():
        wrong = [
            (
                why,
                lambda m=m, k=key: (
                    outputs[m] if m in outputs else outputs.setdefault(m, m(*args))
                )[k],
            )
            for why, m in mistakes
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
    return _report(name, verdicts, points, reference_name)


def _report(
    name: str, verdicts: Sequence[tuple[str, bool, str | None]], points: float, reference_name: str
) -> float:
    """Print what is right and what is wrong, and return the points earned: each verdict
    (what was checked, whether it is hidden, None or what is wrong) earns an equal share."""
    wrong = [(d, h, why) for d, h, why in verdicts if why is not None]
    earned = round(points * (1 - len(wrong) / len(verdicts)), 2)
    where: dict[str, list[str]] = {}  # explanation -> the checks it explains
    for d, h, why in wrong:
        if h or not any(h for _, h, _ in verdicts):  # a hidden run reports only its own
            where.setdefault(why, []).append(d)
    lines = "".join(
        f"\n  - {why}" + (f"\n    (on {'; '.join(ds)})" if len(ds) < len(verdicts) else "")
        for why, ds in where.items()
    )
    n_hidden = sum(h for _, h, _ in verdicts)
    checks = f"{len(verdicts) - n_hidden} checks" + (
        f" and {n_hidden} hidden {'one' if n_hidden == 1 else 'ones'}" if n_hidden else ""
    )
    if not wrong:
        print(
            f"{name}: correct, {points:g} of {points:g} points (the number below: the autograder reads it "
            f"as this cell's score). It matches {reference_name} on {checks}, edge cases included."
        )
    elif len(wrong) == len(verdicts):
        raise ExerciseError(
            f"{name}: wrong on every check ({checks}), 0 of {points:g} points.{lines}"
        )
    else:
        print(
            f"{name}: right on {len(verdicts) - len(wrong)} of {len(verdicts)} checks ({checks}), "
            f"{earned:g} of {points:g} points. What is wrong:{lines}"
        )
    return earned


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _seeded(build: Callable, seed: int = 0):
    """build() with torch's global random state set to ``seed`` and restored afterwards, so that
    a check's networks start the same every time and the notebook's random stream is untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _floats(*values) -> torch.Tensor:
    """The numbers a function returned, as one tensor; a TypeError that says so if they are not
    Python floats (``loss.item()``)."""
    if not all(isinstance(v, float) for v in values):
        kinds = ", ".join(type(v).__name__ for v in values)
        raise TypeError(f"it returned {kinds}; return Python floats (loss.item())")
    return torch.tensor(values, dtype=torch.float64)


def _parameters(*modules: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for m in modules for p in m.parameters()])
