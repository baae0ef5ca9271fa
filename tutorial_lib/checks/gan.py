"""Checks for the exercises of notebook 01 (GAN losses)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from .. import gan
from .core import Case, _floats, _generator, _parameters, _run, _seeded


def _logit_cases() -> list[Case]:
    g = _generator()
    return [
        ("random logits", (torch.randn(64, generator=g) * 2, torch.randn(64, generator=g) * 2)),
        (
            "a confident discriminator (logits of +-20)",
            (torch.full((8,), 20.0), torch.full((8,), -20.0)),
        ),
        ("a fooled discriminator", (torch.full((8,), -5.0), torch.full((8,), 5.0))),
        (
            "a confidently wrong discriminator (logits of -+100)",
            (torch.full((8,), -100.0), torch.full((8,), 100.0)),
        ),
        ("batches of different sizes", (torch.randn(5, generator=g), torch.randn(3, generator=g))),
    ]


def _finite_loss(args, got) -> str | None:
    """A GAN loss must stay finite for confident logits (the ``log(sigmoid(...))`` mistake)."""
    if torch.isfinite(got).all():
        return None
    return (
        "the loss is infinite or NaN for confident logits: compute log sigmoid(l) as "
        "-softplus(-l) (F.logsigmoid), not log(sigmoid(l))."
    )


def d_loss(student: Callable, points: float = 2, hidden: Sequence[Case] = ()) -> float:
    """Exercise: the discriminator's loss -[mean log D(x) + mean log(1 - D(G(z)))] from logits."""
    return _run(
        "d_loss",
        student,
        gan.d_loss,
        "gan.d_loss",
        _logit_cases(),
        mistakes=[
            (
                "the sign is flipped. The discriminator MAXIMISES V(D, G), so the loss it "
                "minimises is -V: -mean log D(x) - mean log(1 - D(G(z))).",
                lambda r, f: -gan.d_loss(r, f),
            ),
            (
                "real and generated logits are swapped: D should output 1 on data (log D(x)) "
                "and 0 on samples (log(1 - D(G(z)))).",
                lambda r, f: gan.d_loss(f, r),
            ),
            (
                "you sum over the batch; average instead (mean), so the loss does not grow "
                "with the batch size.",
                lambda r, f: F.softplus(-r).sum() + F.softplus(f).sum(),
            ),
            (
                "you apply the sigmoid to the logits twice, or treat D's output as a "
                "probability already: the inputs are logits, and D(x) = sigmoid(logit).",
                lambda r, f: (
                    F.softplus(-torch.sigmoid(r)).mean() + F.softplus(torch.sigmoid(f)).mean()
                ),
            ),
        ],
        properties=[_finite_loss],
        points=points,
        hidden=hidden,
    )


def g_loss_non_saturating(
    student: Callable, points: float = 2, hidden: Sequence[Case] = ()
) -> float:
    """Exercise: the non-saturating generator loss -mean log D(G(z)) from D's logits on samples."""
    cases = [(d, (args[1],)) for d, args in _logit_cases()]
    return _run(
        "g_loss_non_saturating",
        student,
        gan.g_loss_non_saturating,
        "gan.g_loss_non_saturating",
        cases,
        mistakes=[
            (
                "this is the saturating minimax loss, mean log(1 - D(G(z))). The non-saturating "
                "loss is -mean log D(G(z)): the generator maximises the log-probability that D "
                "is fooled.",
                gan.g_loss_minimax,
            ),
            (
                "the sign is flipped: minimising it would make D's job easier. The generator "
                "minimises -mean log D(G(z)).",
                lambda f: -gan.g_loss_non_saturating(f),
            ),
            (
                "you sum over the batch; average instead (mean).",
                lambda f: F.softplus(-f).sum(),
            ),
        ],
        properties=[_finite_loss],
        points=points,
        hidden=hidden,
    )


def _gan_round(
    g_loss: Callable = gan.g_loss_non_saturating, g_first: bool = False, zero: bool = True
):
    """A round of the game, gan_step's signature: by default the right one (D's update, then G's
    with the non-saturating loss); the options make the typical wrong ones."""

    def step(G, D, opt_g, opt_d, real, z_d, z_g):
        def d_update():
            loss = gan.d_loss(D(real), D(G(z_d).detach()))
            if zero:
                opt_d.zero_grad()
            loss.backward()
            opt_d.step()
            return loss

        def g_update():
            loss = g_loss(D(G(z_g)))
            if zero:
                opt_g.zero_grad()
            loss.backward()
            opt_g.step()
            return loss

        if g_first:
            loss_g, loss_d = g_update(), d_update()
        else:
            loss_d, loss_g = d_update(), g_update()
        return loss_d.item(), loss_g.item()

    return step


_reference_gan_step = _gan_round()


def gan_step(student: Callable, points: float = 4, hidden: Sequence[Case] = ()) -> float:
    """Exercise: one round of the game, gan_step(G, D, opt_G, opt_D, real, z_d, z_g) -> (loss_D,
    loss_G) as floats: D's update on the real batch and G(z_d), then G's update with the
    non-saturating loss on D(G(z_g)). Checked over two rounds in a row, part by part."""

    def play(step: Callable, real, z_d, z_g) -> dict[str, torch.Tensor]:
        def build():
            G = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
            D = torch.nn.Sequential(
                torch.nn.Linear(2, 8), torch.nn.LeakyReLU(0.2), torch.nn.Linear(8, 1)
            )
            return G, D

        G, D = _seeded(build)
        opt_g, opt_d = torch.optim.SGD(G.parameters(), 0.1), torch.optim.SGD(D.parameters(), 0.1)
        losses = [step(G, D, opt_g, opt_d, real, z_d, z_g) for _ in range(2)]
        if not all(isinstance(pair, tuple) and len(pair) == 2 for pair in losses):
            raise TypeError("return the two losses as a tuple: (loss_D, loss_G)")
        return {
            "D's parameters after two rounds": _parameters(D),
            "G's parameters after two rounds": _parameters(G),
            "the losses it returns": _floats(*losses[0], *losses[1]),
        }

    def variant(**options):
        return lambda real, z_d, z_g: play(_gan_round(**options), real, z_d, z_g)

    def no_zero_for_g(G, D, opt_g, opt_d, real, z_d, z_g):  # D's loss flows into G's gradients
        loss_d = gan.d_loss(D(real), D(G(z_d)))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = gan.g_loss_non_saturating(D(G(z_g)))
        loss_g.backward()
        opt_g.step()
        return loss_d.item(), loss_g.item()

    def zero_after_step(G, D, opt_g, opt_d, real, z_d, z_g):
        loss_d = gan.d_loss(D(real), D(G(z_d).detach()))
        loss_d.backward()
        opt_d.step()
        opt_d.zero_grad()
        loss_g = gan.g_loss_non_saturating(D(G(z_g)))
        loss_g.backward()
        opt_g.step()
        opt_g.zero_grad()
        return loss_d.item(), loss_g.item()

    g = _generator()
    cases = [
        (
            "a batch of 16 points",
            (
                torch.randn(16, 2, generator=g) + 2,
                torch.randn(16, 2, generator=g),
                torch.randn(16, 2, generator=g),
            ),
        ),
        (
            "a batch of 5 points",
            (
                torch.randn(5, 2, generator=g) - 1,
                torch.randn(5, 2, generator=g),
                torch.randn(5, 2, generator=g),
            ),
        ),
    ]
    return _run(
        "gan_step",
        lambda *a: play(student, *a),
        lambda *a: play(_reference_gan_step, *a),
        "gan.train_step's recipe",
        cases,
        mistakes=[
            (
                "the generator uses the saturating minimax loss log(1 - D(G(z))); use the "
                "non-saturating -log D(G(z)) (exercise 1.2), which gives G strong gradients early on.",
                variant(g_loss=gan.g_loss_minimax),
            ),
            (
                "G moves before D. Algorithm 1 of Goodfellow et al. first updates D on real and "
                "generated samples, then G against the updated D.",
                variant(g_first=True),
            ),
            (
                "the gradients are never reset, so each round adds to the last one's: call "
                "opt_D.zero_grad() and opt_G.zero_grad() before each backward().",
                variant(zero=False),
            ),
            (
                "D's loss reaches G's parameters: G(z_d) is not detached in D's update and G's old "
                "gradients are not cleared. Use G(z_d).detach() for D's step, and zero G's "
                "gradients before its own backward().",
                lambda *a: play(no_zero_for_g, *a),
            ),
            (
                "G's loss backpropagates through D as well, so D holds gradients from G's update "
                "when its own next update runs: clear them right before D's backward() "
                "(opt_D.zero_grad()), not after its step.",
                lambda *a: play(zero_after_step, *a),
            ),
            (
                "the two noise batches are swapped: D's step uses z_d, G's step z_g.",
                lambda real, z_d, z_g: play(_reference_gan_step, real, z_g, z_d),
            ),
        ],
        points=points,
        hidden=hidden,
    )
