"""Checks for the exercises of notebook 08 (inpainting, editing, captions)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from .. import captions, diffusion
from .core import Case, _generator, _run
from .ddpm import _toy_eps


def _repaint_step(x_t, step, eps_hat, known, mask, schedule, z, z_known, *, wrong=None):
    """The reference RePaint combination (and its wrong variants, by name)."""
    t = torch.full((x_t.shape[0],), step, dtype=torch.long)
    if wrong == "no noise":
        unknown = diffusion.ddpm_step(x_t, t, eps_hat, schedule, None if step == 0 else 0 * z)
    else:
        unknown = diffusion.ddpm_step(x_t, t, eps_hat, schedule, z if step > 0 else None)
    if step == 0 or wrong == "clean known":
        seen = known
    else:
        level = t if wrong == "level t" else t - 1
        seen = diffusion.q_sample(known, level, z_known, schedule)
    if wrong == "mask inverted":
        return (1 - mask) * seen + mask * unknown
    return mask * seen + (1 - mask) * unknown


def repaint_step(student: Callable, points: float = 3, hidden: Sequence[Case] = ()) -> float:
    """Exercise: one reverse step of inpainting, repaint_step(x_t, step, eps_hat, known, mask,
    schedule, z, z_known) -> x_{t-1}: the DDPM step (diffusion.ddpm_step with noise z, none at
    step 0) for the missing pixels, the known image noised to step - 1 with z_known
    (diffusion.q_sample; the known image itself at step 0) for the known ones, mask 1 = known."""
    g = _generator()
    s = diffusion.Schedule(50)

    def case(step, shape):
        x = torch.randn(shape, generator=g)
        known = torch.rand(shape, generator=g) * 2 - 1
        mask = (torch.rand(shape, generator=g) > 0.5).float()
        eps = _toy_eps(x, torch.full((shape[0],), step))
        z, z_known = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
        return (x, step, eps, known, mask, s, z, z_known)

    cases = [
        ("step 30 of T = 50, 3 images of 1x4x4", case(30, (3, 1, 4, 4))),
        ("step 1, the last step that adds noise", case(1, (3, 1, 4, 4))),
        ("step 0, the last step (no noise, the known pixels exactly)", case(0, (2, 1, 4, 4))),
    ]

    def variant(name):
        return lambda *args: _repaint_step(*args, wrong=name)

    return _run(
        "repaint_step",
        student,
        _repaint_step,
        "diffusion.inpaint's step",
        cases,
        mistakes=[
            (
                "the mask is the wrong way round: 1 marks a KNOWN pixel, so take the noised known "
                "image where mask is 1 and the model's step where it is 0.",
                variant("mask inverted"),
            ),
            (
                "the known pixels are pasted in clean. At every step but the last they must be as "
                "noisy as the rest of x_{t-1}: q_sample(known, step - 1, z_known).",
                variant("clean known"),
            ),
            (
                "the known pixels are noised to step t, the level of x_t. The step produces "
                "x_{t-1}, so noise them to step - 1.",
                variant("level t"),
            ),
            (
                "the missing pixels get the DDPM mean without its noise sigma_t z; add it at every "
                "step but step 0 (diffusion.ddpm_step does, given z).",
                variant("no noise"),
            ),
        ],
        points=points,
        hidden=hidden,
    )


def sdedit(student: Callable, points: float = 3, hidden: Sequence[Case] = ()) -> float:
    """Exercise: the SDEdit loop, sdedit(model, guide, t_0, schedule, generator) -> x_0: noise the
    guide to step t_0 with eps = torch.randn(guide.shape, generator=generator) (q_sample), then
    the DDPM step for t = t_0, ..., 0 with z = torch.randn(guide.shape, generator=generator) at
    every t > 0. With the noise drawn in that order it equals diffusion.sdedit exactly."""

    def reference(model, guide, t_0, schedule, seed):
        return diffusion.sdedit(model, guide, t_0, schedule, _generator(seed))[0]

    def loop(model, guide, t_0, schedule, seed, first=None, from_noise=False, alpha=False):
        g = _generator(seed)
        eps = torch.randn(guide.shape, generator=g)
        t = torch.full((guide.shape[0],), t_0, dtype=torch.long)
        if from_noise:
            x = eps
        elif alpha:  # one forward step's coefficients instead of alpha_bar's
            x = (
                schedule.at(schedule.alpha.sqrt(), t, guide) * guide
                + schedule.at(schedule.beta.sqrt(), t, guide) * eps
            )
        else:
            x = diffusion.q_sample(guide, t, eps, schedule)
        for step in range(t_0 if first is None else first, -1, -1):
            t = torch.full((guide.shape[0],), step, dtype=torch.long)
            z = torch.randn(guide.shape, generator=g) if step > 0 else None
            x = diffusion.ddpm_step(x, t, model(x, t), schedule, z)
        return x

    g = _generator(1)
    guide = torch.rand(4, 1, 4, 4, generator=g) * 2 - 1
    cases = [
        ("t_0 = 20 of T = 50", (_toy_eps, guide, 20, diffusion.Schedule(50), 0)),
        ("t_0 = 5, close to the guide", (_toy_eps, guide, 5, diffusion.Schedule(50), 1)),
        ("t_0 = T - 1, all the way to noise", (_toy_eps, guide[:2], 49, diffusion.Schedule(50), 2)),
    ]
    return _run(
        "sdedit",
        lambda model, guide, t_0, schedule, seed: student(
            model, guide, t_0, schedule, _generator(seed)
        ),
        reference,
        "diffusion.sdedit",
        cases,
        mistakes=[
            (
                "the chain starts from pure noise and never sees the guide: start from the guide "
                "noised to t_0, q_sample(guide, t_0, eps).",
                lambda m, x, t0, s, seed: loop(m, x, t0, s, seed, from_noise=True),
            ),
            (
                "the guide is noised with one step's coefficients (alpha_t, beta_t); x_{t_0} ~ "
                "q(x_{t_0} | x_0) needs alpha_bar_{t_0}: q_sample.",
                lambda m, x, t0, s, seed: loop(m, x, t0, s, seed, alpha=True),
            ),
            (
                "the loop starts one step too late or too early: x_{t_0} is the input of the step "
                "at t_0, so run range(t_0, -1, -1).",
                lambda m, x, t0, s, seed: loop(m, x, t0, s, seed, first=t0 - 1),
            ),
        ],
        points=points,
        hidden=hidden,
    )


def tokenize(student: Callable, points: float = 2, hidden: Sequence[Case] = ()) -> float:
    """Exercise: the caption tokeniser, tokenize(text) -> (3,) long tensor of VOCABULARY ids in
    the slots [thickness, slant, digit], 0 (PAD) for a word the caption leaves out; articles and
    commas dropped, any case accepted."""

    def in_order(text):  # the words' ids in the order they come, padded at the end
        words = text.lower().replace(",", " ").split()
        ids = [captions.VOCABULARY.index(w) for w in words if w in captions.VOCABULARY]
        return torch.tensor((ids + [0, 0, 0])[:3])

    cases = [
        ("'a thick, slanted seven'", ("a thick, slanted seven",)),
        ("'an eight' (no attributes)", ("an eight",)),
        ("'a slanted two' (no thickness word)", ("a slanted two",)),
        ("'A Thin THREE' (capitals)", ("A Thin THREE",)),
    ]
    return _run(
        "tokenize",
        lambda text: student(text),
        lambda text: captions.tokenize(text),
        "captions.tokenize",
        cases,
        mistakes=[
            (
                "the words fill the slots in the order they come. Each slot holds one kind of "
                "word: thickness in slot 0, slant in slot 1, the digit in slot 2, and PAD (0) "
                "where the caption has none.",
                in_order,
            ),
        ],
        points=points,
        hidden=hidden,
    )
