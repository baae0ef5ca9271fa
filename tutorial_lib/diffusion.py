"""Denoising diffusion probabilistic models (Ho et al. 2020): schedules, q(x_t | x_0), the posterior,
the simple loss, and the DDPM and DDIM samplers.

Timestep convention: t is an integer in [0, T-1], and t = 0 is the FIRST noising step
(the paper's t = 1). So ``alpha_bar[t]`` is the paper's alpha_bar_{t+1}:

    q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t I),   alpha_t = 1 - beta_t,
    q(x_t | x_0)     = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I),   alpha_bar_t = prod_{s<=t} alpha_s.

The network is an argument, never part of this module: ``model(x_t, t) -> eps_hat``
with x_t (B, ...) and t (B,) long, returning the noise it predicts, shape of x_t.

Introduced in notebooks 03 (forward process) and 04 (reverse process).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .utils import CourseError

SCHEDULES = ("linear", "cosine")
SAMPLERS = ("ddpm", "ddim")
DEFAULT_GUIDANCE = (
    2.0  # chosen in notebook 05: past the point where guided samples are all classified as asked
)
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
):
    """Algorithm 2 of Ho et al. 2020: x_T ~ N(0, I), then for t = T-1, ..., 0

        x_{t-1} = 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_theta(x_t, t)) + sigma_t z,

    z ~ N(0, I) except at the last step. sigma_t^2 = beta_t ("beta", the paper's default) or
    beta_tilde_t ("beta_tilde"). With clip_x0 the mean is computed from the predicted x_0 clipped
    to [-1, 1], as in the authors' code for images.
    shape: (B, ...). keep: the steps t at which to record (x_t, predicted x_0).
    Returns x_0 (B, ...) and a dict {t: (x_t, x0_hat)} of the kept steps.
    """
    from tqdm.auto import tqdm

    if variance not in ("beta", "beta_tilde"):
        raise CourseError(f"unknown variance {variance!r}; choose beta or beta_tilde")
    x = torch.randn(shape, generator=generator).to(device)
    trajectory = {}
    for step in tqdm(
        range(schedule.T - 1, -1, -1), desc="DDPM sampling", disable=not progress, leave=False
    ):
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


def discretized_gaussian_log_likelihood(
    x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, levels: int
) -> torch.Tensor:
    """log P(x) for data x on ``levels`` evenly spaced values in [-1, 1], under N(mean, std^2)
    integrated over each value's bin (Ho et al. 2020, Eq. 13):

        P(x) = Phi((x + delta/2 - mean) / std) - Phi((x - delta/2 - mean) / std),  delta = 2 / (levels - 1),

    with the outermost bins reaching to -inf and +inf. x, mean: (B, ...); std broadcasts. Returns (B, ...).
    """
    normal = torch.distributions.Normal(mean.double(), std.double())
    x = x.double()
    half = 1.0 / (levels - 1)
    upper = torch.where(x > 1 - half, torch.ones_like(x), normal.cdf(x + half))
    lower = torch.where(x < -1 + half, torch.zeros_like(x), normal.cdf(x - half))
    return (upper - lower).clamp(min=1e-12).log()


@torch.no_grad()
def variational_bound(
    model: Model,
    x_0: torch.Tensor,
    schedule: Schedule,
    levels: int = 256,
    variance: str = "beta",
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> dict[str, torch.Tensor]:
    """The negative variational bound on log p(x_0), Ho et al. 2020, Eq. (5), in nats per image:

        L = KL(q(x_T | x_0) || N(0, I))                                   "prior"
          + sum_{t=2}^{T} KL(q(x_{t-1} | x_t, x_0) || p_theta(x_{t-1} | x_t))   "diffusion"
          - log p_theta(x_0 | x_1)                                          "decoder"

    with one draw of x_t ~ q(x_t | x_0) per term, as in their Table 2. p_theta(x_{t-1} | x_t) is
    the sampler's Gaussian: its mean is the posterior mean at the predicted x_0, its variance
    beta_t ("beta", with beta_tilde at the first step as in the authors' code) or beta_tilde_t.
    The decoder is ``discretized_gaussian_log_likelihood`` on the data's ``levels`` grey levels,
    so the total bounds a discrete negative log-likelihood: divide by (dims * ln 2) for bits/dim.

    x_0: (B, ...) on the grid of ``levels`` values in [-1, 1]. Returns (B,) float64 tensors
    "prior", "diffusion", "decoder" and "total".
    """
    from tqdm.auto import tqdm

    if variance not in ("beta", "beta_tilde"):
        raise CourseError(f"unknown variance {variance!r}; choose beta or beta_tilde")
    var = schedule.beta_tilde.clone() if variance == "beta_tilde" else schedule.beta.clone()
    if schedule.T > 1:
        var[0] = schedule.beta_tilde[1]  # beta_tilde[0] = 0: the decoder needs a width
    dims = tuple(range(1, x_0.ndim))
    B, last = x_0.shape[0], torch.full((x_0.shape[0],), schedule.T - 1, dtype=torch.long)
    normal = torch.distributions.Normal
    q_T = normal(
        schedule.at(schedule.alpha_bar.sqrt(), last, x_0.double()) * x_0.double(),
        schedule.at((1 - schedule.alpha_bar).sqrt(), last, x_0.double()),
    )
    prior = torch.distributions.kl_divergence(q_T, normal(0.0, 1.0)).sum(dims)
    diffusion = torch.zeros(B, dtype=torch.float64)
    for step in tqdm(
        range(schedule.T - 1, -1, -1), desc="bound", disable=not progress, leave=False
    ):
        t = torch.full((B,), step, dtype=torch.long, device=x_0.device)
        eps = torch.randn(x_0.shape, generator=generator).to(x_0.device)
        x_t = q_sample(x_0, t, eps, schedule)
        x0_hat = predict_x0(x_t, t, model(x_t, t), schedule)
        mean_p, _ = q_posterior(x0_hat.double(), x_t.double(), t, schedule)
        std_p = schedule.at(var.sqrt(), t, x_t.double())
        if step == 0:
            decoder = -discretized_gaussian_log_likelihood(x_0, mean_p, std_p, levels).sum(dims)
        else:
            mean_q, var_q = q_posterior(x_0.double(), x_t.double(), t, schedule)
            kl = torch.distributions.kl_divergence(
                normal(mean_q, var_q.sqrt()), normal(mean_p, std_p)
            )
            diffusion += kl.sum(dims).cpu()
    prior, decoder = prior.cpu(), decoder.cpu()
    return {
        "prior": prior,
        "diffusion": diffusion,
        "decoder": decoder,
        "total": prior + diffusion + decoder,
    }


def gaussian_denoiser(mean: torch.Tensor, cov: torch.Tensor, schedule: Schedule) -> Model:
    """The exact optimal eps-predictor when the data are N(mean, cov) (d-dimensional points):

        E[eps | x_t] = sqrt(1 - alpha_bar_t) (alpha_bar_t cov + (1 - alpha_bar_t) I)^{-1} (x_t - sqrt(alpha_bar_t) mean).

    It minimises the simple loss, so it lets the samplers be checked without any training.
    """
    d = mean.shape[0]
    eye = torch.eye(d, dtype=torch.float64)

    def model(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        alpha_bar = schedule.alpha_bar[t.cpu()].view(-1, 1, 1)  # (B, 1, 1)
        precision = torch.linalg.inv(alpha_bar * cov.double() + (1 - alpha_bar) * eye)  # (B, d, d)
        centred = x_t.double().cpu() - alpha_bar.sqrt().view(-1, 1) * mean.double()
        out = (1 - alpha_bar).sqrt().view(-1, 1) * torch.einsum("bij,bj->bi", precision, centred)
        return out.to(x_t.dtype).to(x_t.device)

    return model


# ---------------------------------------------------------------- classifier-free guidance
def drop_labels(
    y: torch.Tensor, p_uncond: float, null_label: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Label dropout for classifier-free guidance (Ho & Salimans 2022, Algorithm 1): each label of
    y (B,) is replaced by ``null_label`` (the "no label" token) with probability p_uncond."""
    drop = torch.rand(y.shape, generator=generator).to(y.device) < p_uncond
    return torch.where(drop, torch.full_like(y, null_label), y)


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
    what distinguishes class y. x_t (B, ...), t (B,), y (B,) -> (B, ...).
    """
    if w == 0:
        return model(x_t, t, y)
    both = model(
        torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([y, torch.full_like(y, null_label)])
    )
    conditional, unconditional = both.chunk(2)
    return combine_guidance(conditional, unconditional, w)


def gaussian_mixture_denoiser(
    means: torch.Tensor, cov: torch.Tensor, weights: torch.Tensor, schedule: Schedule
) -> Model:
    """The optimal eps-predictor for a mixture sum_k w_k N(means[k], cov) of d-dimensional points:

        E[eps | x_t] = sum_k r_k(x_t) E_k[eps | x_t],
        r_k proportional to w_k N(x_t; sqrt(alpha_bar_t) mu_k, alpha_bar_t cov + (1 - alpha_bar_t) I),

    where E_k is ``gaussian_denoiser`` of component k. means (K, d), cov (d, d), weights (K,).
    """
    components = [gaussian_denoiser(m, cov, schedule) for m in means]
    d = means.shape[1]

    def model(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        alpha_bar = schedule.alpha_bar[t.cpu()].view(-1, 1, 1)  # (B, 1, 1)
        marginal_cov = alpha_bar * cov.double() + (1 - alpha_bar) * torch.eye(
            d, dtype=torch.float64
        )
        log_r = (
            torch.stack(
                [
                    torch.distributions.MultivariateNormal(
                        alpha_bar.sqrt().view(-1, 1) * m.double(), marginal_cov
                    ).log_prob(x_t.double().cpu())
                    for m in means
                ],
                dim=1,
            )
            + weights.double().log()
        )  # (B, K)
        r = torch.softmax(log_r, dim=1)
        eps = torch.stack([c(x_t, t).double().cpu() for c in components], dim=1)  # (B, K, d)
        return (r.unsqueeze(-1) * eps).sum(1).to(x_t.dtype).to(x_t.device)

    return model


# ---------------------------------------------------------------- training a DDPM on images


@dataclass
class DDPMConfig:
    """A DDPM on images: the UNet of ``nets``, the schedule, and how to train it (Algorithm 1).

    T = 1000 and the linear schedule are Ho et al.'s. The UNet is much smaller than theirs
    (width 32, two resolutions, no attention) so that it trains on a laptop CPU. Adam's
    learning rate is raised from their 2e-4 to 2e-3 for the same reason. num_classes > 0 makes
    the model conditional on labels, dropped with probability p_uncond for classifier-free
    guidance (Ho & Salimans 2022 use 0.1 or 0.2).
    """

    image_shape: tuple[int, ...] = (1, 8, 8)
    width: int = 32
    T: int = 1000
    schedule: str = "linear"
    lr: float = 2e-3
    batch_size: int = 128
    steps: int = 2000
    num_classes: int = 0
    p_uncond: float = 0.1

    def __post_init__(self):
        self.image_shape = tuple(self.image_shape)
        Schedule(self.T, self.schedule)  # validates T and the schedule's name
        if len(self.image_shape) != 3 or self.image_shape[1] % 2 or self.image_shape[2] % 2:
            raise CourseError(
                f"image_shape must be (C, H, W) with even H and W, got {self.image_shape}"
            )


def build_denoiser(cfg: DDPMConfig) -> torch.nn.Module:
    from .nets import UNet

    return UNet(cfg.image_shape, cfg.width, cfg.num_classes)


def train_ddpm(
    images: torch.Tensor,
    cfg: DDPMConfig,
    device="cpu",
    generator: torch.Generator | None = None,
    progress: bool = True,
    labels: torch.Tensor | None = None,
):
    """Algorithm 1 with ``train_loop``: returns (model in eval mode, schedule, history)."""
    from .training import random_batches, train_loop

    if (labels is None) != (cfg.num_classes == 0):
        raise CourseError(
            "a conditional DDPM (num_classes > 0) needs labels, and an unconditional one takes none"
        )
    model = build_denoiser(cfg).to(device)
    schedule = Schedule(cfg.T, cfg.schedule)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    tensors = (images,) if labels is None else (images, labels)

    def step(batch):
        x_0 = batch[0].to(device)
        t = torch.randint(0, schedule.T, (x_0.shape[0],), generator=generator).to(device)
        eps = torch.randn(x_0.shape, generator=generator).to(device)
        if labels is None:
            loss = simple_loss(model, x_0, schedule, t, eps)
        else:  # conditional: eps_theta(x_t, t, y), with labels dropped for classifier-free guidance
            y = drop_labels(batch[1].to(device), cfg.p_uncond, cfg.num_classes, generator)
            loss = simple_loss(lambda x, t: model(x, t, y), x_0, schedule, t, eps)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    batches = random_batches(*tensors, batch_size=cfg.batch_size, generator=generator)
    history = train_loop(step, batches, cfg.steps, desc="DDPM", progress=progress)
    return model.eval(), schedule, history


def sample(
    model: Model,
    cfg: DDPMConfig,
    n: int,
    sampler: str = "ddpm",
    steps: int | None = None,
    generator: torch.Generator | None = None,
    device="cpu",
    progress: bool = False,
    labels: torch.Tensor | None = None,
    guidance: float = 0.0,
) -> torch.Tensor:
    """n images (n, C, H, W) from a trained DDPM with the chosen sampler; DDIM takes ``steps`` (default 50).

    labels (n,): the classes to draw, for a conditional model; guidance: the scale w of ``guided_eps``.
    """
    if sampler not in SAMPLERS:
        raise CourseError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if labels is not None:
        if cfg.num_classes == 0:
            raise CourseError(
                "this DDPM is unconditional; labels and guidance need one trained with --conditional"
            )
        if labels.min() < 0 or labels.max() >= cfg.num_classes:
            raise CourseError(
                f"labels must lie in 0..{cfg.num_classes - 1}, got {int(labels.min())}..{int(labels.max())}"
            )
        y = labels.to(device)
        net = lambda x, t: guided_eps(model, x, t, y, guidance, cfg.num_classes)  # noqa: E731
    elif guidance != 0:
        raise CourseError("--guidance needs labels and a model trained with --conditional")
    else:
        net = model
    schedule = Schedule(cfg.T, cfg.schedule)
    shape = (n, *cfg.image_shape)
    if sampler == "ddpm":
        if steps is not None and steps != cfg.T:
            raise CourseError(
                f"DDPM runs all T = {cfg.T} steps; use --sampler ddim for {steps} steps"
            )
        x, _ = ddpm_sample(net, shape, schedule, generator, device, clip_x0=True, progress=progress)
    else:
        x, _ = ddim_sample(
            net,
            shape,
            schedule,
            steps or 50,
            generator=generator,
            device=device,
            clip_x0=True,
            progress=progress,
        )
    return x.clamp(-1, 1)


def from_checkpoint(checkpoint: dict) -> tuple[torch.nn.Module, DDPMConfig]:
    """Rebuild (model, config) from a checkpoint written by ``train ddpm``."""
    from .utils import load_weights

    cfg = DDPMConfig(**checkpoint["config"])
    return load_weights(build_denoiser(cfg), checkpoint).eval(), cfg
