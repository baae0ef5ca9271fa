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


def _run(
    name: str,
    student: Callable,
    reference: Callable,
    reference_name: str,
    cases: Sequence[Case],
    mistakes: Sequence[Mistake] = (),
    properties: Sequence[Callable] = (),
) -> bool:
    """Compare student(*args) with reference(*args) on every case; explain the first difference."""
    for description, args in cases:
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
            raise ExerciseError(
                f"{name}: your function raised {type(e).__name__}: {e} (on {description}; "
                f"arguments {shapes})"
            ) from e
        expected = reference(*args)
        if not torch.is_tensor(got):
            raise ExerciseError(
                f"{name}: returned a {type(got).__name__}; it should return a tensor of shape "
                f"{tuple(expected.shape)}"
            )
        if got.shape != expected.shape:
            raise ExerciseError(
                f"{name}: returned shape {tuple(got.shape)} on {description}, but the answer has "
                f"shape {tuple(expected.shape)}. Check which dimensions you sum or average over."
            )
        if _close(got, expected):
            continue
        for explanation, mistake in mistakes:
            if _close(got, mistake(*args)):
                raise ExerciseError(f"{name}: {explanation}")
        for prop in properties:
            message = prop(args, got)
            if message:
                raise ExerciseError(f"{name}: {message}")
        error = (got.double() - expected.double()).abs().max().item()
        raise ExerciseError(
            f"{name}: differs from the reference on {description} (largest difference {error:.3g}). "
            f"Compare your formula with the equation above, term by term."
        )
    print(
        f"{name}: correct. It matches {reference_name} on {len(cases)} checks, edge cases included."
    )
    return True


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
