"""Checks for the exercises of notebooks 03 and 04 (the DDPM forward and reverse processes)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from .. import diffusion
from .core import Case, _floats, _generator, _not_answered, _parameters, _report, _run, _seeded


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


def q_sample(student: Callable, points: float = 2, hidden: Sequence[Case] = ()) -> float:
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
        points=points,
        hidden=hidden,
    )


def q_posterior_mean(student: Callable, points: float = 2, hidden: Sequence[Case] = ()) -> float:
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
        points=points,
        hidden=hidden,
    )


def predict_x0(student: Callable, points: float = 2, hidden: Sequence[Case] = ()) -> float:
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
        points=points,
        hidden=hidden,
    )


def ddpm_step(student: Callable, points: float = 2, hidden: Sequence[Case] = ()) -> float:
    """Exercise: one reverse step of Algorithm 2 with sigma_t^2 = beta_t, the signature of
    ``diffusion.ddpm_step(x_t, t, eps_hat, schedule, noise)``."""
    g = _generator(1)
    cases = []
    for d, (x, t, e, s) in _diffusion_cases():
        cases.append((d, (x, t, e, s, torch.randn(x.shape, generator=g))))

    def mean_only(xt, t, e, s, z):
        return diffusion.ddpm_step(xt, t, e, s, torch.zeros_like(z))

    def noise_at_zero(xt, t, e, s, z):
        return mean_only(xt, t, e, s, z) + s.at(s.beta.sqrt(), t, xt) * z

    def variance_for_std(xt, t, e, s, z):
        return mean_only(xt, t, e, s, z) + s.at(s.beta, t, xt) * (t > 0).view(-1, 1, 1, 1) * z

    def alpha_bar_for_alpha(xt, t, e, s, z):
        mean = (xt - s.at(s.beta / (1 - s.alpha_bar).sqrt(), t, xt) * e) / s.at(
            s.alpha_bar.sqrt(), t, xt
        )
        return mean + s.at(s.beta.sqrt(), t, xt) * (t > 0).view(-1, 1, 1, 1) * z

    return _run(
        "ddpm_step",
        student,
        diffusion.ddpm_step,
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
        points=points,
        hidden=hidden,
    )


def cosine_betas(student: Callable, points: float = 3, hidden: Sequence[Case] = ()) -> float:
    """Exercise: the cosine schedule's beta_t (Nichol & Dhariwal 2021), cosine_betas(T, s) -> (T,):
    alpha_bar_t = f(t) / f(0), f(t) = cos^2((t/T + s) / (1 + s) * pi/2), beta_t = 1 - alpha_bar_t /
    alpha_bar_{t-1}, clipped at 0.999. The last beta is a part of its own: that is the clipping."""

    def f(T, s):
        return (
            torch.cos((torch.arange(T + 1, dtype=torch.float64) / T + s) / (1 + s) * math.pi / 2)
            ** 2
        )

    def parts(beta):
        return {"beta_t for t < T - 1": beta[:-1], "the last beta, clipped": beta[-1:]}

    def reference(T, s):
        fs = f(T, s)
        return parts((1 - fs[1:] / fs[:-1]).clamp(max=0.999))

    def wrong(T, s, beta):
        return parts(beta.to(torch.float64))

    cases = [("T = 1000, s = 0.008", (1000, 0.008)), ("T = 10, s = 0.008", (10, 0.008))]
    return _run(
        "cosine_betas",
        lambda T, s: parts(torch.as_tensor(student(T, s))),
        reference,
        "diffusion.Schedule(T, 'cosine')",
        cases,
        mistakes=[
            (
                "that is 1 - alpha_bar_t, the noise accumulated by step t. beta_t is one step's: "
                "1 - alpha_bar_t / alpha_bar_{t-1} = 1 - f(t) / f(t - 1).",
                lambda T, s: wrong(T, s, (1 - f(T, s)[1:] / f(T, s)[0]).clamp(max=0.999)),
            ),
            (
                "cos is not squared: f(t) = cos^2((t/T + s) / (1 + s) * pi/2).",
                lambda T, s: wrong(
                    T, s, (1 - (f(T, s)[1:] / f(T, s)[:-1]).sqrt()).clamp(max=0.999)
                ),
            ),
            (
                "the offset s is missing (or misplaced): f(t) = cos^2((t/T + s) / (1 + s) * pi/2); "
                "without it beta_0 is 0 and the first step adds no noise.",
                lambda T, s: reference(T, 0.0),
            ),
            (
                "the last beta is not clipped: f(T) = 0, so 1 - f(T)/f(T - 1) = 1 would wipe out "
                "the image in one step. Clip beta at 0.999 (.clamp(max=0.999)).",
                lambda T, s: wrong(T, s, 1 - f(T, s)[1:] / f(T, s)[:-1]),
            ),
        ],
        points=points,
        hidden=hidden,
    )


class _Recorder(torch.nn.Module):
    """A small eps_theta(x_t, t) for 2-D points that records what it is called with, and its
    weights at each call: the check can then recompute the step the student's code took."""

    def __init__(self, T: int):
        super().__init__()
        self.T = T
        self.net = _seeded(lambda: torch.nn.Linear(3, 2))
        self.calls: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls.append((x_t.detach().clone(), t.detach().clone(), _parameters(self).clone()))
        return self.net(torch.cat([x_t, t.float()[:, None] / self.T], 1))


def _reference_algorithm1_step(model, optimizer, x_0, schedule, generator):
    t = torch.randint(0, schedule.T, (x_0.shape[0],), generator=generator)
    eps = torch.randn(x_0.shape, generator=generator)
    loss = ((eps - model(diffusion.q_sample(x_0, t, eps, schedule), t)) ** 2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


_ALGORITHM1_PARTS = {
    "t": "t ~ Uniform{0, ..., T-1}",
    "x_t": "x_t ~ q(x_t | x_0)",
    "loss": "the loss, the mean of (eps - eps_theta(x_t, t))^2",
    "update": "one optimizer step on that loss",
}


def _algorithm1_parts(student, schedule, lr) -> list[tuple[str, str | None]]:
    """Two steps of the student's Algorithm 1 on 4096 2-D points, each part judged on the record
    of what the network was called with (the student may draw t and eps in any order)."""
    x_0 = torch.randn(4096, 2, generator=_generator()) * 0.5 + 1
    model = _Recorder(schedule.T)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    try:
        losses = _floats(*(student(model, optimizer, x_0, schedule, _generator(s)) for s in (1, 2)))
        if len(model.calls) != 2:
            raise RuntimeError(
                f"the network was called {len(model.calls)} times in two steps; call it once "
                "per step, on the whole batch"
            )
    except NotImplementedError:
        raise
    except Exception as e:
        why = f"your function raised {type(e).__name__}: {e}"
        return [(label, why) for label in _ALGORITHM1_PARTS.values()]
    after = [model.calls[1][2], _parameters(model)]  # the weights after each of the two steps
    verdicts = {}
    for i, (x_t, t, before) in enumerate(model.calls):
        why = {}
        if t.shape != x_0.shape[:1] or t.is_floating_point():
            why["t"] = (
                f"t has shape {tuple(t.shape)} and dtype {t.dtype}; draw one integer step per image, shape (B,)"
            )
        elif (
            t.min() < 0
            or t.max() >= schedule.T
            or abs(t.double().mean() / (schedule.T - 1) - 0.5) > 0.03
            or t.max() < 0.97 * schedule.T
        ):
            why["t"] = (
                f"t runs from {t.min().item()} to {t.max().item()} with mean {t.double().mean():.0f}; draw it "
                f"uniformly from {{0, ..., T-1}}: torch.randint(0, T, (B,), generator=generator)"
            )
        ab = schedule.alpha_bar[t.long().clamp(0, schedule.T - 1)].float()[:, None]
        eps = (x_t - ab.sqrt() * x_0) / (1 - ab).sqrt()  # the noise this x_t implies
        if abs(eps.mean()) > 0.05 or abs(eps.std() - 1) > 0.05:
            why["x_t"] = (
                f"the noise your x_t implies, (x_t - sqrt(alpha_bar_t) x_0) / sqrt(1 - alpha_bar_t), "
                f"has mean {eps.mean():.2f} and standard deviation {eps.std():.2f}, not 0 and 1: "
                "x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, eps ~ N(0, I) (exercise 3.1)"
            )
        replay = _Recorder(schedule.T)
        torch.nn.utils.vector_to_parameters(before, replay.parameters())
        prediction = replay(x_t, t.long())
        loss = ((eps - prediction) ** 2).mean()
        if not math.isclose(losses[i].item(), loss.item(), rel_tol=1e-4):
            if math.isclose(
                losses[i].item(), ((x_0 - prediction) ** 2).mean().item(), rel_tol=1e-4
            ):
                hint = "the network predicts the noise: the target is eps, not x_0"
            elif math.isclose(losses[i].item(), loss.item() * eps.numel(), rel_tol=1e-4):
                hint = "you sum over the batch; average instead (mean)"
            else:
                hint = "return the mean of (eps - model(x_t, t))^2, before the step, as a float"
            why["loss"] = (
                f"the loss is {losses[i].item():.4f}, but the mean of (eps - eps_theta(x_t, t))^2 is {loss.item():.4f}: {hint}"
            )
        opt = torch.optim.SGD(replay.parameters(), lr=lr)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if not torch.allclose(after[i], _parameters(replay), rtol=1e-4, atol=1e-6):
            why["update"] = (
                "the weights did not move: call optimizer.step() after loss.backward()"
                if torch.equal(after[i], before)
                else "the update is not one step on this loss: optimizer.zero_grad(), then "
                "loss.backward(), then optimizer.step()"
            )
        for key, message in why.items():
            verdicts.setdefault(key, f"{message} (step {i + 1})")
    return [(label, verdicts.get(key)) for key, label in _ALGORITHM1_PARTS.items()]


def algorithm1_step(student: Callable, points: float = 4, hidden: Sequence[Case] = ()) -> float:
    """Exercise: one training step of Algorithm 1 (Ho et al. 2020), algorithm1_step(model,
    optimizer, x_0, schedule, generator) -> the loss before the step, as a float.

    The student may draw t and eps in any order, so the check does not compare draws: it records
    what the network was called with, over two steps, and judges each part of the step on that
    record: t uniform on {0, ..., T-1}; x_t distributed as q(x_t | x_0) (the noise it implies is
    standard normal); the loss, the mean squared error to that noise; one optimizer step on it.
    Cases are (schedule, learning rate).
    """
    cases = [("the linear schedule, SGD with lr 0.05", (diffusion.Schedule(1000, "linear"), 0.05))]
    verdicts = []
    for is_hidden, group in ((False, cases), (True, hidden)):
        for description, (schedule, lr) in group:
            try:
                parts = _algorithm1_parts(student, schedule, lr)
            except NotImplementedError:
                raise _not_answered("algorithm1_step", "diffusion.simple_loss") from None
            verdicts += [(f"{description}: {what}", is_hidden, why) for what, why in parts]
    return _report("algorithm1_step", verdicts, points, "Algorithm 1 (diffusion.simple_loss)")


def _toy_eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A fixed, smooth stand-in for eps_theta(x_t, t): the checks need a network, not a good one."""
    scale = (t.float() / 1000 + 0.5).view(-1, *([1] * (x.ndim - 1)))
    return 0.5 * torch.tanh(x) * scale


def algorithm2_sample(student: Callable, points: float = 4, hidden: Sequence[Case] = ()) -> float:
    """Exercise: Algorithm 2's loop, algorithm2_sample(model, shape, schedule, generator) -> x_0:
    x_T = torch.randn(shape, generator=generator); then for t = T-1, ..., 0 the step of exercise
    4.1 with z = torch.randn(shape, generator=generator) for every t > 0. With the noise drawn in
    that order the result equals diffusion.ddpm_sample's exactly."""

    def reference(model, shape, schedule, seed):
        return diffusion.ddpm_sample(model, shape, schedule, _generator(seed))[0]

    def loop(
        model, shape, schedule, seed, steps=None, noise_at_zero=False, std=True, alpha_bar=False
    ):
        s, g = schedule, _generator(seed)
        x = torch.randn(shape, generator=g)
        for step in steps if steps is not None else range(s.T - 1, -1, -1):
            t = torch.full((shape[0],), step, dtype=torch.long)
            divide = s.alpha_bar if alpha_bar else s.alpha
            mean = (x - s.at(s.beta / (1 - s.alpha_bar).sqrt(), t, x) * model(x, t)) / s.at(
                divide.sqrt(), t, x
            )
            if step > 0 or noise_at_zero:
                sigma = s.at(s.beta.sqrt() if std else s.beta, t, x)
                mean = mean + sigma * torch.randn(shape, generator=g)
            x = mean
        return x

    cases = [
        ("8 points in 2-D, T = 100", (_toy_eps, (8, 2), diffusion.Schedule(100), 0)),
        ("3 images of 1x4x4, T = 20", (_toy_eps, (3, 1, 4, 4), diffusion.Schedule(20), 1)),
    ]

    def unseeded(args, got):
        model, shape, schedule, seed = args
        again = student(model, shape, schedule, _generator(seed))
        if not torch.equal(got, again):
            return (
                "two runs with the same seed differ: draw every noise from the generator you are "
                "given, torch.randn(shape, generator=generator), never from torch's global stream"
            )
        return None

    return _run(
        "algorithm2_sample",
        lambda model, shape, schedule, seed: student(model, shape, schedule, _generator(seed)),
        reference,
        "diffusion.ddpm_sample",
        cases,
        mistakes=[
            (
                "the loop runs forwards. Sampling goes backwards in time, t = T-1, ..., 0: "
                "range(T - 1, -1, -1).",
                lambda m, sh, s, seed: loop(m, sh, s, seed, steps=range(s.T)),
            ),
            (
                "noise is added at the last step too (t = 0, the paper's t = 1): there z = 0, and "
                "the sample is the mean.",
                lambda m, sh, s, seed: loop(m, sh, s, seed, noise_at_zero=True),
            ),
            (
                "the noise is scaled by the variance beta_t; scale it by sigma_t = sqrt(beta_t).",
                lambda m, sh, s, seed: loop(m, sh, s, seed, std=False),
            ),
            (
                "one reverse step divides by sqrt(alpha_t), not sqrt(alpha_bar_t).",
                lambda m, sh, s, seed: loop(m, sh, s, seed, alpha_bar=True),
            ),
            (
                "no noise is added at all: without sigma_t z the chain is not Algorithm 2, and its "
                "samples collapse towards the data's modes.",
                _no_noise,
            ),
        ],
        properties=[unseeded],
        points=points,
        hidden=hidden,
    )


def _no_noise(model, shape, schedule, seed):
    x = torch.randn(shape, generator=_generator(seed))
    for step in range(schedule.T - 1, -1, -1):
        t = torch.full((shape[0],), step, dtype=torch.long)
        x = diffusion.ddpm_step(x, t, model(x, t), schedule, torch.zeros(shape))
    return x
