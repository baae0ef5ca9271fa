"""The maths of diffusion (Ho et al. 2020): schedules, q(x_t | x_0), the posterior, the simple
loss, the DDPM and DDIM samplers, and classifier-free guidance.

Timestep convention: t is an integer in [0, T-1], and t = 0 is the FIRST noising step
(the paper's t = 1). So ``alpha_bar[t]`` is the paper's alpha_bar_{t+1}:

    q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t I),   alpha_t = 1 - beta_t,
    q(x_t | x_0)     = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I),   alpha_bar_t = prod_{s<=t} alpha_s.

Inpainting (RePaint) and editing (SDEdit) reuse the reverse step; ``Schedule.respaced`` runs
any of them on fewer steps.

The network is an argument, never part of this module: ``model(x_t, t) -> eps_hat``
with x_t (B, ...) and t (B,) long, returning the noise it predicts, shape of x_t. The DDPM
family (its config, training, sampling from a checkpoint, the variational bound) is ``ddpm``.

Introduced in notebooks 03 (forward process), 04 (reverse process), 05 (guidance) and 08
(inpainting, editing).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .utils import CourseError

SCHEDULES = ("linear", "cosine")
SAMPLERS = ("ddpm", "ddim")
Model = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class Schedule:
    """A noise schedule and every quantity derived from it, computed once in float64.

    kind "linear": beta from 1e-4 to 0.02 over T = 1000 steps (Ho et al. 2020, Sec. 4).
    kind "cosine": alpha_bar_t = f(t) / f(0), f(t) = cos^2((t/T + s) / (1 + s) * pi/2), s = 0.008,
    with beta clipped at 0.999 (Nichol & Dhariwal 2021, Eq. 17).
    All attributes are (T,) float64 tensors indexed by t in [0, T-1].
    """

    def __init__(
        self, T: int = 1000, kind: str = "linear", beta_start: float = 1e-4, beta_end: float = 0.02
    ):
        if kind not in SCHEDULES:
            raise CourseError(
                f"unknown beta schedule {kind!r}; choose one of {', '.join(SCHEDULES)}"
            )
        if T < 1:
            raise CourseError(f"T must be at least 1, got {T}")
        self.T, self.kind = T, kind
        if kind == "linear":
            beta = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
        else:
            s = 0.008
            steps = torch.arange(T + 1, dtype=torch.float64) / T
            f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
            beta = (1 - f[1:] / f[:-1]).clamp(max=0.999)
        self._derive(beta)

    def _derive(self, beta: torch.Tensor) -> None:
        self.beta = beta
        self.alpha = 1 - beta
        self.alpha_bar = torch.cumprod(self.alpha, 0)
        self.alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alpha_bar[:-1]])
        # q(x_{t-1} | x_t, x_0) = N(coef_x0 x_0 + coef_xt x_t, beta_tilde I), Ho et al. Eq. (6)-(7)
        self.beta_tilde = beta * (1 - self.alpha_bar_prev) / (1 - self.alpha_bar)
        self.posterior_coef_x0 = self.alpha_bar_prev.sqrt() * beta / (1 - self.alpha_bar)
        self.posterior_coef_xt = (
            self.alpha.sqrt() * (1 - self.alpha_bar_prev) / (1 - self.alpha_bar)
        )

    def respaced(self, steps: int) -> tuple[Schedule, torch.Tensor]:
        """The same process seen at ``steps`` of its timesteps, tau (steps,) spread evenly over
        [0, T-1] as in ``ddim_timesteps`` (Nichol & Dhariwal 2021, Sec. 4): the schedule with
        alpha_bar'_i = alpha_bar_{tau_i}, so beta'_i = 1 - alpha_bar_{tau_i} / alpha_bar_{tau_{i-1}}.
        Every function of this module runs unchanged on it, with a model called at tau_i
        (``respaced_model``). RePaint (Lugmayr et al. 2022) runs on 250 such steps.
        Returns (the new Schedule of T' = steps, tau (steps,) long, increasing)."""
        taus = torch.tensor(sorted(ddim_timesteps(self, steps)))
        alpha_bar = self.alpha_bar[taus]
        previous = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
        new = Schedule.__new__(Schedule)
        new.T, new.kind = len(taus), f"{self.kind}, respaced to {len(taus)} steps"
        new._derive(1 - alpha_bar / previous)
        return new, taus

    def snr(self) -> torch.Tensor:
        """Signal-to-noise ratio alpha_bar_t / (1 - alpha_bar_t), (T,)."""
        return self.alpha_bar / (1 - self.alpha_bar)

    def at(self, values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """values[t] as float32 on like's device, shaped (B, 1, ..., 1) to broadcast against like (B, ...)."""
        out = values.to(like.device)[t.to(like.device)].to(like.dtype)
        return out.view(-1, *([1] * (like.ndim - 1)))


def _check_t(t: torch.Tensor, schedule: Schedule) -> None:
    if t.min() < 0 or t.max() >= schedule.T:
        raise CourseError(
            f"timesteps must lie in [0, {schedule.T - 1}], got {int(t.min())}..{int(t.max())}"
        )


def q_sample(
    x_0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, schedule: Schedule
) -> torch.Tensor:
    """Sample x_t ~ q(x_t | x_0), Ho et al. 2020, Eq. (4):
    x_t = sqrt(alpha_bar_t) * x_0 + sqrt(1 - alpha_bar_t) * eps.

    x_0, eps: (B, ...); t: (B,) integer steps in [0, T-1], where t = 0 is the first noising step.
    """
    _check_t(t, schedule)
    return (
        schedule.at(schedule.alpha_bar.sqrt(), t, x_0) * x_0
        + schedule.at((1 - schedule.alpha_bar).sqrt(), t, x_0) * eps
    )


def q_step(
    x_prev: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, schedule: Schedule
) -> torch.Tensor:
    """One step of the forward chain (the article's formula): x_t = sqrt(alpha_t) x_{t-1} + sqrt(1 - alpha_t) eps."""
    return (
        schedule.at(schedule.alpha.sqrt(), t, x_prev) * x_prev
        + schedule.at(schedule.beta.sqrt(), t, x_prev) * eps
    )


def q_posterior(x_0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, schedule: Schedule):
    """Mean and variance of q(x_{t-1} | x_t, x_0), Ho et al. Eq. (6)-(7):

    mean = sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t) x_0 + sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) x_t,
    var  = beta_tilde_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t.     Shapes: mean like x_t, var (B, 1, ...).
    """
    mean = (
        schedule.at(schedule.posterior_coef_x0, t, x_t) * x_0
        + schedule.at(schedule.posterior_coef_xt, t, x_t) * x_t
    )
    return mean, schedule.at(schedule.beta_tilde, t, x_t)


def predict_x0(
    x_t: torch.Tensor, t: torch.Tensor, eps_hat: torch.Tensor, schedule: Schedule
) -> torch.Tensor:
    """Invert Eq. (4) with the predicted noise: x_0_hat = (x_t - sqrt(1 - alpha_bar_t) eps_hat) / sqrt(alpha_bar_t)."""
    return (x_t - schedule.at((1 - schedule.alpha_bar).sqrt(), t, x_t) * eps_hat) / schedule.at(
        schedule.alpha_bar.sqrt(), t, x_t
    )


def simple_loss(
    model: Model,
    x_0: torch.Tensor,
    schedule: Schedule,
    t: torch.Tensor | None = None,
    eps: torch.Tensor | None = None,
) -> torch.Tensor:
    """The loss of Algorithm 1 (Ho et al. 2020, Eq. 14): E_{t, x_0, eps} ||eps - eps_theta(x_t, t)||^2,
    averaged over the batch and the dimensions.

    x_0: (B, ...); t: (B,) drawn uniformly from [0, T-1] if not given; eps ~ N(0, I) if not given.
    """
    if t is None:
        t = torch.randint(0, schedule.T, (x_0.shape[0],), device=x_0.device)
    if eps is None:
        eps = torch.randn_like(x_0)
    return ((eps - model(q_sample(x_0, t, eps, schedule), t)) ** 2).mean()


@torch.no_grad()
def ddpm_sample(
    model: Model,
    shape: tuple[int, ...],
    schedule: Schedule,
    generator: torch.Generator | None = None,
    device="cpu",
    variance: str = "beta",
    clip_x0: bool = False,
    keep: tuple[int, ...] = (),
    progress: bool = False,
    start: tuple[torch.Tensor, int] | None = None,
):
    """Algorithm 2 of Ho et al. 2020: x_T ~ N(0, I), then for t = T-1, ..., 0

        x_{t-1} = 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_theta(x_t, t)) + sigma_t z,

    z ~ N(0, I) except at the last step. sigma_t^2 = beta_t ("beta", the paper's default) or
    beta_tilde_t ("beta_tilde"). With clip_x0 the mean is computed from the predicted x_0 clipped
    to [-1, 1], as in the authors' code for images.
    shape: (B, ...). keep: the steps t at which to record (x_t, predicted x_0).
    start: (x_t, t) to run the chain from step t down, instead of from noise at T - 1 (SDEdit).
    Returns x_0 (B, ...) and a dict {t: (x_t, x0_hat)} of the kept steps.
    """
    from tqdm.auto import tqdm

    if variance not in ("beta", "beta_tilde"):
        raise CourseError(f"unknown variance {variance!r}; choose beta or beta_tilde")
    if start is None:
        x, first = torch.randn(shape, generator=generator).to(device), schedule.T - 1
    else:
        x, first = start[0].to(device), start[1]
    trajectory = {}
    for step in tqdm(range(first, -1, -1), desc="DDPM sampling", disable=not progress, leave=False):
        t = torch.full((shape[0],), step, device=device, dtype=torch.long)
        eps_hat = model(x, t)
        x0_hat = predict_x0(x, t, eps_hat, schedule)
        if step in keep:
            trajectory[step] = (x.cpu(), x0_hat.cpu())
        noise = torch.randn(shape, generator=generator).to(device) if step > 0 else None
        if clip_x0:  # the posterior mean at the clipped x0_hat (equal to Eq. 11 without clipping)
            mean, _ = q_posterior(x0_hat.clamp(-1, 1), x, t, schedule)
            var = schedule.beta if variance == "beta" else schedule.beta_tilde
            x = mean if noise is None else mean + schedule.at(var.sqrt(), t, x) * noise
        else:
            x = ddpm_step(x, t, eps_hat, schedule, noise, variance)
    return x, trajectory


def ddpm_step(
    x_t: torch.Tensor,
    t: torch.Tensor,
    eps_hat: torch.Tensor,
    schedule: Schedule,
    noise: torch.Tensor | None,
    variance: str = "beta",
) -> torch.Tensor:
    """One reverse step of Algorithm 2 (Ho et al. 2020), from x_t to x_{t-1}:

        x_{t-1} = 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_hat) + sigma_t z,

    sigma_t^2 = beta_t ("beta") or beta_tilde_t ("beta_tilde"), and no noise at the last step
    (t = 0, the paper's t = 1). x_t, eps_hat, noise z: (B, ...); t: (B,); noise may be None at t = 0.
    """
    mean = (
        x_t - schedule.at(schedule.beta / (1 - schedule.alpha_bar).sqrt(), t, x_t) * eps_hat
    ) / (schedule.at(schedule.alpha.sqrt(), t, x_t))
    if noise is None:
        if bool((t > 0).any()):
            raise CourseError("ddpm_step needs noise z for every step but the last (t = 0)")
        return mean
    var = schedule.beta if variance == "beta" else schedule.beta_tilde
    sigma = schedule.at(var.sqrt(), t, x_t) * (t > 0).view(-1, *([1] * (x_t.ndim - 1)))
    return mean + sigma * noise


def ddim_timesteps(schedule: Schedule, steps: int) -> list[int]:
    """``steps`` timesteps spread evenly over [0, T-1], largest first, always ending at t = 0."""
    if not 1 <= steps <= schedule.T:
        raise CourseError(f"--steps must lie between 1 and T = {schedule.T}, got {steps}")
    return sorted(
        {round(i * (schedule.T - 1) / max(steps - 1, 1)) for i in range(steps)}, reverse=True
    )


@torch.no_grad()
def ddim_sample(
    model: Model,
    shape: tuple[int, ...],
    schedule: Schedule,
    steps: int = 50,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    device="cpu",
    clip_x0: bool = False,
    keep: tuple[int, ...] = (),
    progress: bool = False,
):
    """DDIM (Song et al. 2021, Eq. 12) on a subsequence of ``steps`` timesteps tau_i, largest first:

        x_{prev} = sqrt(alpha_bar_prev) x0_hat + sqrt(1 - alpha_bar_prev - sigma^2) eps_hat + sigma z,
        sigma = eta sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t)) sqrt(1 - alpha_bar_t / alpha_bar_prev).

    eta = 0 is deterministic; eta = 1 with all T steps is DDPM with sigma^2 = beta_tilde.
    Returns x_0 (B, ...) and {t: (x_t, x0_hat)} for the kept steps.
    """
    from tqdm.auto import tqdm

    taus = ddim_timesteps(schedule, steps)
    x = torch.randn(shape, generator=generator).to(device)
    trajectory = {}
    for i, step in enumerate(tqdm(taus, desc="DDIM sampling", disable=not progress, leave=False)):
        t = torch.full((shape[0],), step, device=device, dtype=torch.long)
        eps_hat = model(x, t)
        x0_hat = predict_x0(x, t, eps_hat, schedule)
        if step in keep:
            trajectory[step] = (x.cpu(), x0_hat.cpu())
        alpha_bar = float(schedule.alpha_bar[step])
        if clip_x0:  # clip the predicted image, and make the noise estimate consistent with it
            x0_hat = x0_hat.clamp(-1, 1)
            eps_hat = (x - math.sqrt(alpha_bar) * x0_hat) / math.sqrt(1 - alpha_bar)
        alpha_bar_prev = float(schedule.alpha_bar[taus[i + 1]]) if i + 1 < len(taus) else 1.0
        sigma = eta * math.sqrt(
            (1 - alpha_bar_prev) / (1 - alpha_bar) * (1 - alpha_bar / alpha_bar_prev)
        )
        x = (
            math.sqrt(alpha_bar_prev) * x0_hat
            + math.sqrt(max(1 - alpha_bar_prev - sigma**2, 0.0)) * eps_hat
        )
        if sigma > 0:
            x = x + sigma * torch.randn(shape, generator=generator).to(device)
    return x, trajectory


# ---------------------------------------------------------------- inpainting and editing
def respaced_model(model: Model, taus: torch.Tensor) -> Model:
    """``model`` seen from a respaced schedule (``Schedule.respaced``): step i calls it at tau_i."""
    return lambda x, i, *y: model(x, taus.to(i.device)[i], *y)


@torch.no_grad()
def inpaint(
    model: Model,
    known: torch.Tensor,
    mask: torch.Tensor,
    schedule: Schedule,
    resample: int = 1,
    generator: torch.Generator | None = None,
    clip_x0: bool = False,
    keep: tuple[int, ...] = (),
    progress: bool = False,
    variance: str = "beta",
):
    """Fill in the pixels of ``known`` where ``mask`` is 0 with the unconditional model: RePaint
    (Lugmayr et al. 2022, Algorithm 1). x_{T-1} ~ N(0, I); for t = T-1, ..., 0, U = ``resample``
    times:

        x_{t-1}^known   ~ q(x_{t-1} | x_0 = known)           (known itself at t = 0)
        x_{t-1}^unknown = the DDPM step from x_t              (``ddpm_step``, sigma^2 = ``variance``)
        x_{t-1}         = m * x_{t-1}^known + (1 - m) * x_{t-1}^unknown
        and, but for the last of the U rounds and at t = 0, back one step:
        x_t             ~ q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t I)   (``q_step``)

    resample = 1 is the replacement method (Song et al. 2021, App. I.2): the known pixels are
    noised afresh at each step, and the unknown ones never see how they were noised, so the two
    halves need not agree; resampling lets them harmonise. known (B, ...) ; mask (B, ...) or
    broadcastable to it, 1 where a pixel is known. The output's known pixels are ``known``
    exactly. Returns x_0 (B, ...) and {t: (x_t, x0_hat)} at the kept steps (their last round).
    """
    from tqdm.auto import tqdm

    if resample < 1:
        raise CourseError(f"resample must be at least 1, got {resample}")
    mask = mask.to(known.dtype).expand_as(known)
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise CourseError("the mask must be 1 (known pixel) or 0 (missing pixel) everywhere")
    B, device = known.shape[0], known.device
    x = torch.randn(known.shape, generator=generator).to(device)
    trajectory = {}
    for step in tqdm(range(schedule.T - 1, -1, -1), desc="inpainting", disable=not progress):
        t = torch.full((B,), step, device=device, dtype=torch.long)
        for u in range(resample):
            eps_hat = model(x, t)
            x0_hat = predict_x0(x, t, eps_hat, schedule)
            if clip_x0:  # as ddpm_sample: the noise estimate consistent with the clipped x0_hat
                x0_hat = x0_hat.clamp(-1, 1)
                eps_hat = (x - schedule.at(schedule.alpha_bar.sqrt(), t, x) * x0_hat) / (
                    schedule.at((1 - schedule.alpha_bar).sqrt(), t, x)
                )
            noise = torch.randn(known.shape, generator=generator).to(device) if step else None
            unknown = ddpm_step(x, t, eps_hat, schedule, noise, variance)
            if step > 0:
                eps = torch.randn(known.shape, generator=generator).to(device)
                seen = q_sample(known, t - 1, eps, schedule)
            else:
                seen = known
            if step in keep and u == resample - 1:
                trajectory[step] = (x.cpu(), x0_hat.cpu())
            x = mask * seen + (1 - mask) * unknown
            if u < resample - 1 and step > 0:
                z = torch.randn(known.shape, generator=generator).to(device)
                x = q_step(x, t, z, schedule)
    return x, trajectory


@torch.no_grad()
def sdedit(
    model: Model,
    guide: torch.Tensor,
    t_0: int,
    schedule: Schedule,
    generator: torch.Generator | None = None,
    clip_x0: bool = False,
    keep: tuple[int, ...] = (),
    progress: bool = False,
    variance: str = "beta",
):
    """SDEdit (Meng et al. 2022): noise a rough ``guide`` image (B, ...) to step t_0 and let the
    reverse chain make it realistic:

        x_{t_0} = sqrt(alpha_bar_{t_0}) guide + sqrt(1 - alpha_bar_{t_0}) eps,   then Algorithm 2
        from t_0 down to 0 (``ddpm_sample`` with start (x_{t_0}, t_0)).

    Small t_0 keeps the guide (faithful, unrealistic where it is); t_0 near T - 1 forgets it
    (realistic, unfaithful). With a conditional ``model`` (``ddpm.conditioned``) the chain is
    pulled towards its condition: guided editing. ``variance`` as in ``ddpm_sample``. Returns
    x_0 (B, ...) and the kept steps."""
    if not 0 <= t_0 < schedule.T:
        raise CourseError(f"t_0 must lie in [0, {schedule.T - 1}], got {t_0}")
    t = torch.full((guide.shape[0],), t_0, dtype=torch.long, device=guide.device)
    eps = torch.randn(guide.shape, generator=generator).to(guide.device)
    x_t = q_sample(guide, t, eps, schedule)
    return ddpm_sample(
        model,
        guide.shape,
        schedule,
        generator,
        guide.device,
        clip_x0=clip_x0,
        keep=keep,
        progress=progress,
        start=(x_t, t_0),
        variance=variance,
    )


# ---------------------------------------------------------------- classifier-free guidance
def drop_labels(
    y: torch.Tensor, p_uncond: float, null_label: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Label dropout for classifier-free guidance (Ho & Salimans 2022, Algorithm 1): each label of
    y (B,) is replaced by ``null_label`` (the "no label" token) with probability p_uncond. For
    captions, y (B, L) of word ids, a dropped row becomes all ``null_label`` (the empty caption)."""
    drop = torch.rand(y.shape[0], generator=generator).to(y.device) < p_uncond
    drop = drop.view(-1, *([1] * (y.ndim - 1)))
    return torch.where(drop, torch.full_like(y, null_label), y)


def check_labels(labels: torch.Tensor, n: int, classes: int) -> None:
    """A ``CourseError`` unless labels is (n,), one class in 0..classes-1 per image to draw."""
    if labels.shape != (n,):
        raise CourseError(f"need one label per image: {n} images, labels {tuple(labels.shape)}")
    if labels.min() < 0 or labels.max() >= classes:
        raise CourseError(
            f"labels must lie in 0..{classes - 1}, got {int(labels.min())}..{int(labels.max())}"
        )


def combine_guidance(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, w: float) -> torch.Tensor:
    """Classifier-free guidance on two predictions of the same shape (Ho & Salimans 2022, Eq. 6):
    eps_tilde = (1 + w) eps_cond - w eps_uncond. w = 0 is the plain conditional model."""
    return (1 + w) * eps_cond - w * eps_uncond


def guided_eps(
    model, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor, w: float, null_label: int
) -> torch.Tensor:
    """The classifier-free guided prediction (Ho & Salimans 2022, Eq. 6), both predictions from
    one call of the network, combined by ``combine_guidance``:

        eps_tilde = (1 + w) eps_theta(x_t, t, y) - w eps_theta(x_t, t, no label).

    Convention: w = 0 is the plain conditional model; larger w pushes samples towards
    what distinguishes class y. x_t (B, ...), t (B,), y (B,) -> (B, ...); for a caption model
    y (B, L) word ids and null_label the padding id (the empty caption).
    """
    if w == 0:
        return model(x_t, t, y)
    both = model(
        torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([y, torch.full_like(y, null_label)])
    )
    conditional, unconditional = both.chunk(2)
    return combine_guidance(conditional, unconditional, w)
