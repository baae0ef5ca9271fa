"""Instant feedback on the exercises: one function per exercise, named after it, one module per lesson.

Each check calls the student's function on random inputs and on edge cases, compares the
result with the library's reference implementation, and, when they differ, says what is
wrong in words. It recognises the common mistakes by running each one and seeing which of
them the student's output matches (a flipped sign, a variance where a standard deviation
belongs, ...). A correct answer prints one line and returns True; anything else raises
``ExerciseError`` with the explanation, which is what the autograder records.

    from tutorial_lib import checks
    checks.kl_standard_normal(my_kl)     # -> "kl_standard_normal: correct ..." or ExerciseError

The shared machinery is in ``checks.core``; the checks of notebook 01 are in ``checks.gan``,
of 02 in ``checks.vae``, of 03 and 04 in ``checks.ddpm``, of 05 in ``checks.guidance``.
"""

from .core import ExerciseError
from .ddpm import ddpm_step, predict_x0, q_posterior_mean, q_sample
from .gan import d_loss, g_loss_non_saturating
from .guidance import combine_guidance, drop_labels
from .vae import kl_standard_normal, reparameterize

__all__ = [
    "ExerciseError",
    "combine_guidance",
    "d_loss",
    "ddpm_step",
    "drop_labels",
    "g_loss_non_saturating",
    "kl_standard_normal",
    "predict_x0",
    "q_posterior_mean",
    "q_sample",
    "reparameterize",
]
