"""Instant feedback on the exercises: one function per exercise, named after it.

Each check calls the student's function on random inputs and on edge cases, compares the
result with the library's reference implementation, and, when they differ, says what is
wrong in words. It recognises the common mistakes by running each one and seeing which of
them the student's output matches (a flipped sign, a variance where a standard deviation
belongs, ...). A correct answer prints one line and returns True; anything else raises
``ExerciseError`` with the explanation, which is what the autograder records.

    from tutorial_lib import checks
    checks.kl_standard_normal(my_kl)     # -> "kl_standard_normal: correct ..." or ExerciseError

Used by the exercises of notebooks 01 to 05.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from . import diffusion, gan, vae


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


# ---------------------------------------------------------------- notebook 01: GAN losses
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


def d_loss(student: Callable) -> bool:
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
    )


def g_loss_non_saturating(student: Callable) -> bool:
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
    )


# ---------------------------------------------------------------- notebook 02: VAE
def reparameterize(student: Callable) -> bool:
    """Exercise: z = mu + std * eps, given mu, std and the noise eps."""
    g = _generator()
    cases = [
        (
            "a batch of 16 codes of dimension 8",
            (
                torch.randn(16, 8, generator=g),
                torch.rand(16, 8, generator=g) + 0.1,
                torch.randn(16, 8, generator=g),
            ),
        ),
        (
            "std far from 1",
            (
                torch.randn(4, 3, generator=g),
                torch.full((4, 3), 3.0),
                torch.randn(4, 3, generator=g),
            ),
        ),
        (
            "eps = 0 (z must equal mu)",
            (
                torch.randn(4, 3, generator=g),
                torch.rand(4, 3, generator=g) + 0.5,
                torch.zeros(4, 3),
            ),
        ),
    ]
    return _run(
        "reparameterize",
        student,
        vae.reparameterize,
        "vae.reparameterize",
        cases,
        mistakes=[
            (
                "you multiply eps by the variance std**2; the noise is scaled by the standard "
                "deviation: z = mu + std * eps.",
                lambda mu, std, eps: mu + std**2 * eps,
            ),
            (
                "mu and std are swapped: z = mu + std * eps.",
                lambda mu, std, eps: std + mu * eps,
            ),
            (
                "you multiply where you should add: z = mu + std * eps.",
                lambda mu, std, eps: mu * std * eps,
            ),
            (
                "the std is missing: z = mu + std * eps.",
                lambda mu, std, eps: mu + eps,
            ),
        ],
        properties=[
            lambda args, got: (
                "the answer ignores the eps you are given (did you draw new noise "
                "with torch.randn?). Use eps: the randomness must come from outside, so that "
                "gradients flow to mu and std only."
                if not _close(student(*args), got)
                else None
            )
        ],
    )


def kl_standard_normal(student: Callable) -> bool:
    """Exercise: KL(N(mu, diag exp(log_var)) || N(0, I)) per example, summed over the last dimension."""
    g = _generator()
    cases = [
        (
            "a batch of 16 posteriors in 8 dimensions",
            (torch.randn(16, 8, generator=g), torch.randn(16, 8, generator=g)),
        ),
        ("small variances (log_var = -3)", (torch.zeros(4, 5), torch.full((4, 5), -3.0))),
        ("the prior itself (KL must be 0)", (torch.zeros(3, 4), torch.zeros(3, 4))),
        ("large means", (torch.full((2, 3), 4.0), torch.zeros(2, 3))),
    ]

    def flipped_log_var(mu, lv):
        return 0.5 * (lv.exp() + mu**2 - 1 + lv).sum(-1)

    return _run(
        "kl_standard_normal",
        student,
        vae.kl_diagonal_gaussians,
        "vae.kl_diagonal_gaussians",
        cases,
        mistakes=[
            (
                "it comes out negative for small variances: the sign of log sigma^2 is flipped. "
                "KL = 1/2 sum (sigma^2 + mu^2 - 1 - log sigma^2), with MINUS log sigma^2.",
                flipped_log_var,
            ),
            (
                "the factor 1/2 is missing: KL = 1/2 sum (sigma^2 + mu^2 - 1 - log sigma^2).",
                lambda mu, lv: (lv.exp() + mu**2 - 1 - lv).sum(-1),
            ),
            (
                "log_var is the log of the variance: sigma^2 = exp(log_var), not log_var itself.",
                lambda mu, lv: 0.5 * (lv + mu**2 - 1 - lv).sum(-1),
            ),
            (
                "the -1 is missing, so the KL of the prior with itself is not 0: "
                "KL = 1/2 sum (sigma^2 + mu^2 - 1 - log sigma^2).",
                lambda mu, lv: 0.5 * (lv.exp() + mu**2 - lv).sum(-1),
            ),
            (
                "you use exp(log_var / 2), the standard deviation, where the variance belongs.",
                lambda mu, lv: 0.5 * ((lv / 2).exp() + mu**2 - 1 - lv).sum(-1),
            ),
        ],
        properties=[
            lambda args, got: (
                f"the KL came out negative ({got.min().item():.3g}); a KL divergence "
                "is never negative. Check the sign of each term, log sigma^2 first."
                if (got < -1e-6).any()
                else None
            )
        ],
    )


# ---------------------------------------------------------------- notebooks 03 and 04: DDPM
def _diffusion_cases() -> list[Case]:
    g = _generator()
    s = diffusion.Schedule(1000, "linear")
    x = torch.randn(6, 1, 4, 4, generator=g)
    other = torch.randn(6, 1, 4, 4, generator=g)
    return [
        ("random images at random steps", (x, torch.randint(0, 1000, (6,), generator=g), other, s)),
        ("the first step, t = 0", (x, torch.zeros(6, dtype=torch.long), other, s)),
        ("the last step, t = T - 1", (x, torch.full((6,), 999), other, s)),
        (
            "the cosine schedule",
            (
                x,
                torch.tensor([0, 10, 100, 500, 900, 999]),
                other,
                diffusion.Schedule(1000, "cosine"),
            ),
        ),
    ]


def q_sample(student: Callable) -> bool:
    """Exercise: x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, with the arguments (x_0, t, eps, schedule)."""

    def with_variances(x0, t, eps, s):
        return s.at(s.alpha_bar, t, x0) * x0 + s.at(1 - s.alpha_bar, t, x0) * eps

    def one_step(x0, t, eps, s):
        return s.at(s.alpha.sqrt(), t, x0) * x0 + s.at(s.beta.sqrt(), t, x0) * eps

    return _run(
        "q_sample",
        student,
        diffusion.q_sample,
        "diffusion.q_sample",
        _diffusion_cases(),
        mistakes=[
            (
                "you use the variances alpha_bar_t and 1 - alpha_bar_t as the coefficients; they "
                "are variances, and the coefficients are their square roots (standard deviations): "
                "x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps.",
                with_variances,
            ),
            (
                "this is ONE step of the forward chain (alpha_t, beta_t). q(x_t | x_0) jumps from "
                "x_0 to x_t at once with the cumulative product alpha_bar_t = prod_{s<=t} alpha_s.",
                one_step,
            ),
            (
                "the two coefficients are swapped: x_0 gets sqrt(alpha_bar_t), the noise "
                "sqrt(1 - alpha_bar_t).",
                lambda x0, t, eps, s: diffusion.q_sample(eps, t, x0, s),
            ),
            (
                "the timestep is off by one: the schedule's arrays are indexed by t directly "
                "(t = 0 is the first noising step), so use alpha_bar[t], not alpha_bar[t + 1] or "
                "alpha_bar[t - 1].",
                lambda x0, t, eps, s: diffusion.q_sample(x0, (t + 1).clamp(max=s.T - 1), eps, s),
            ),
            (
                "the timestep is off by one: the schedule's arrays are indexed by t directly "
                "(t = 0 is the first noising step), so use alpha_bar[t], not alpha_bar[t - 1].",
                lambda x0, t, eps, s: diffusion.q_sample(x0, (t - 1).clamp(min=0), eps, s),
            ),
        ],
    )


def q_posterior_mean(student: Callable) -> bool:
    """Exercise: the mean of q(x_{t-1} | x_t, x_0), Ho et al. Eq. (7), with the arguments (x_0, x_t, t, schedule)."""

    def reference(x0, xt, t, s):
        return diffusion.q_posterior(x0, xt, t, s)[0]

    def swapped(x0, xt, t, s):
        return diffusion.q_posterior(xt, x0, t, s)[0]

    cases = [(d, (x, other, t, s)) for d, (x, t, other, s) in _diffusion_cases()]
    return _run(
        "q_posterior_mean",
        student,
        reference,
        "diffusion.q_posterior",
        cases,
        mistakes=[
            (
                "the coefficients of x_0 and x_t are swapped: x_0 is multiplied by "
                "sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t), x_t by "
                "sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t).",
                swapped,
            ),
            (
                "you use alpha_bar_t where alpha_bar_{t-1} belongs (schedule.alpha_bar_prev holds "
                "it, with alpha_bar_{-1} = 1 for the first step).",
                lambda x0, xt, t, s: (
                    s.at(s.alpha_bar.sqrt() * s.beta / (1 - s.alpha_bar), t, xt) * x0
                    + s.at(s.alpha.sqrt() * (1 - s.alpha_bar) / (1 - s.alpha_bar), t, xt) * xt
                ),
            ),
        ],
    )


def predict_x0(student: Callable) -> bool:
    """Exercise: x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps_hat) / sqrt(alpha_bar_t), arguments (x_t, t, eps_hat, schedule)."""
    return _run(
        "predict_x0",
        student,
        diffusion.predict_x0,
        "diffusion.predict_x0",
        _diffusion_cases(),
        mistakes=[
            (
                "you use the variances 1 - alpha_bar_t and alpha_bar_t; take their square roots: "
                "x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps_hat) / sqrt(alpha_bar_t).",
                lambda xt, t, e, s: (
                    (xt - s.at(1 - s.alpha_bar, t, xt) * e) / s.at(s.alpha_bar, t, xt)
                ),
            ),
            (
                "you multiply by sqrt(alpha_bar_t) where you should divide: invert "
                "x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps for x_0.",
                lambda xt, t, e, s: (
                    (xt - s.at((1 - s.alpha_bar).sqrt(), t, xt) * e)
                    * s.at(s.alpha_bar.sqrt(), t, xt)
                ),
            ),
            (
                "the noise is added instead of subtracted: x0_hat = (x_t - sqrt(1 - alpha_bar_t) "
                "eps_hat) / sqrt(alpha_bar_t).",
                lambda xt, t, e, s: (
                    (xt + s.at((1 - s.alpha_bar).sqrt(), t, xt) * e)
                    / s.at(s.alpha_bar.sqrt(), t, xt)
                ),
            ),
        ],
    )


def ddpm_step(student: Callable) -> bool:
    """Exercise: one reverse step of Algorithm 2, arguments (x_t, t, eps_hat, z, schedule), sigma_t^2 = beta_t."""
    g = _generator(1)

    def reference(xt, t, e, z, s):
        return diffusion.ddpm_step(xt, t, e, s, z)

    cases = []
    for d, (x, t, e, s) in _diffusion_cases():
        cases.append((d, (x, t, e, torch.randn(x.shape, generator=g), s)))

    def mean_only(xt, t, e, z, s):
        return diffusion.ddpm_step(xt, t, e, s, torch.zeros_like(z))

    def noise_at_zero(xt, t, e, z, s):
        return mean_only(xt, t, e, z, s) + s.at(s.beta.sqrt(), t, xt) * z

    def variance_for_std(xt, t, e, z, s):
        return mean_only(xt, t, e, z, s) + s.at(s.beta, t, xt) * (t > 0).view(-1, 1, 1, 1) * z

    def alpha_bar_for_alpha(xt, t, e, z, s):
        mean = (xt - s.at(s.beta / (1 - s.alpha_bar).sqrt(), t, xt) * e) / s.at(
            s.alpha_bar.sqrt(), t, xt
        )
        return mean + s.at(s.beta.sqrt(), t, xt) * (t > 0).view(-1, 1, 1, 1) * z

    return _run(
        "ddpm_step",
        student,
        reference,
        "diffusion.ddpm_step",
        cases,
        mistakes=[
            (
                "the noise term sigma_t z is missing; without it the sampler is not Algorithm 2 "
                "(and its samples are too smooth). Add sqrt(beta_t) z, except at the last step.",
                mean_only,
            ),
            (
                "noise is added at the last step too. Algorithm 2 sets z = 0 when t = 0 (the "
                "paper's t = 1): the last step returns the mean.",
                noise_at_zero,
            ),
            (
                "the noise is scaled by the variance beta_t; scale it by the standard deviation "
                "sigma_t = sqrt(beta_t).",
                variance_for_std,
            ),
            (
                "you divide by sqrt(alpha_bar_t); one reverse step divides by sqrt(alpha_t), the "
                "single step's coefficient.",
                alpha_bar_for_alpha,
            ),
        ],
    )


# ---------------------------------------------------------------- notebook 05: guidance
def guided_eps(student: Callable) -> bool:
    """Exercise: eps_tilde = (1 + w) eps_cond - w eps_uncond, arguments (eps_cond, eps_uncond, w)."""
    g = _generator()
    a, b = torch.randn(8, 1, 4, 4, generator=g), torch.randn(8, 1, 4, 4, generator=g)
    cases = [
        ("w = 2", (a, b, 2.0)),
        ("w = 0 (the plain conditional model)", (a, b, 0.0)),
        ("w = 0.5", (a, b, 0.5)),
    ]

    def reference(c, u, w):
        return (1 + w) * c - w * u

    return _run(
        "guided_eps",
        student,
        reference,
        "diffusion.guided_eps",
        cases,
        mistakes=[
            (
                "this is the other convention, w eps_cond + (1 - w) eps_uncond, in which w = 1 is "
                "the plain conditional model. The course (and Ho & Salimans' Eq. 6) writes "
                "(1 + w) eps_cond - w eps_uncond, so that w = 0 is the conditional model.",
                lambda c, u, w: w * c + (1 - w) * u,
            ),
            (
                "the guidance points the wrong way: move AWAY from the unconditional prediction, "
                "(1 + w) eps_cond - w eps_uncond.",
                lambda c, u, w: (1 + w) * u - w * c,
            ),
            (
                "the conditional prediction needs the weight 1 + w, not w: "
                "(1 + w) eps_cond - w eps_uncond.",
                lambda c, u, w: w * c - w * u,
            ),
        ],
    )


def drop_labels(student: Callable) -> bool:
    """Exercise: replace each label y_i by null_label where u_i < p_uncond; arguments (y, p_uncond, null_label, u)."""
    g = _generator()
    y = torch.randint(0, 10, (200,), generator=g)
    u = torch.rand(200, generator=g)

    def reference(y, p, null, u):
        return torch.where(u < p, torch.full_like(y, null), y)

    cases = [
        ("p_uncond = 0.1", (y, 0.1, 10, u)),
        ("p_uncond = 0 (keep every label)", (y, 0.0, 10, u)),
        ("p_uncond = 1 (drop every label)", (y, 1.0, 10, u)),
    ]
    return _run(
        "drop_labels",
        student,
        reference,
        "diffusion.drop_labels",
        cases,
        mistakes=[
            (
                "you drop the labels where u >= p_uncond, i.e. with probability 1 - p_uncond. Drop "
                "them where u < p_uncond, so that only a fraction p_uncond become 'no label'.",
                lambda y, p, null, u: torch.where(u >= p, torch.full_like(y, null), y),
            ),
            (
                "the dropped labels are set to 0, which is the digit 0, not 'no label'. Use "
                "null_label (= num_classes), the extra token the network reserves for it.",
                lambda y, p, null, u: torch.where(u < p, torch.zeros_like(y), y),
            ),
        ],
    )
