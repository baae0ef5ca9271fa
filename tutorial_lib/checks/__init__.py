"""Instant feedback on the exercises: one function per exercise, named after it, one module per lesson.

Each check calls the student's function on random inputs and on edge cases, compares the
result with the library's reference implementation, and, when they differ, says what is
wrong in words. It recognises the common mistakes by running each one and seeing which of
them the student's output matches (a flipped sign, a variance where a standard deviation
belongs, ...). Each check (each case, or each named part of a case) earns an equal share of the
exercise's points: a check returns the points earned, which nbgrader reads as partial credit,
prints what is right and what is wrong, and raises ``ExerciseError`` when nothing is right.
The instructor's hidden tests call the same check with cases of their own (``hidden=``).

    from tutorial_lib import checks
    checks.kl_standard_normal(my_kl)     # -> prints "kl_standard_normal: correct ...", returns 2.0

The shared machinery is in ``checks.core``; the checks of notebook 00 are in ``checks.setup``,
of 01 in ``checks.gan``, of 02 in ``checks.vae``, of 03 and 04 in ``checks.ddpm``, of 05 in
``checks.guidance``, of 06 in ``checks.metrics``, of 07 in ``checks.flow`` and of 08 in ``checks.applications``.
"""

from .applications import repaint_step, sdedit, tokenize
from .core import ExerciseError
from .ddpm import (
    algorithm1_step,
    algorithm2_sample,
    cosine_betas,
    ddpm_step,
    predict_x0,
    q_posterior_mean,
    q_sample,
)
from .flow import flow_matching_loss, sample_ode, velocity_from_eps
from .gan import d_loss, g_loss_non_saturating, gan_step
from .guidance import combine_guidance, drop_labels, guided_sample
from .metrics import class_entropy, frechet_distance, precision_recall
from .setup import mixture_log_prob, ml_step, to_levels
from .vae import kl_standard_normal, negative_elbo, reparameterize

__all__ = [
    "ExerciseError",
    "algorithm1_step",
    "algorithm2_sample",
    "class_entropy",
    "combine_guidance",
    "cosine_betas",
    "d_loss",
    "ddpm_step",
    "drop_labels",
    "flow_matching_loss",
    "frechet_distance",
    "g_loss_non_saturating",
    "gan_step",
    "guided_sample",
    "kl_standard_normal",
    "mixture_log_prob",
    "ml_step",
    "negative_elbo",
    "precision_recall",
    "predict_x0",
    "q_posterior_mean",
    "q_sample",
    "repaint_step",
    "reparameterize",
    "sample_ode",
    "sdedit",
    "to_levels",
    "tokenize",
    "velocity_from_eps",
]
