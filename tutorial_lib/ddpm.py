"""The DDPM family (Ho et al. 2020): a UNet eps_theta trained with the simple loss, sampled with
the DDPM or DDIM sampler, bounded with the variational bound of Eq. (5).

The maths that takes the network as an argument (the schedule, q(x_t | x_0), the posterior, the
simple loss, the samplers, classifier-free guidance) is in ``diffusion``; the UNet is in ``nets``.
This module is a family of ``families``: ``Config``, ``build``, ``train``, ``sample``,
``from_checkpoint`` and ``likelihood_bounds``; ``inpaint`` and ``edit`` apply a trained DDPM
to given images (notebook 08).

Introduced in notebook 04 (unconditional) and notebook 05 (conditional, with guidance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .diffusion import (
    SAMPLERS,
    Model,
    Schedule,
    check_labels,
    ddim_sample,
    ddpm_sample,
    drop_labels,
    guided_eps,
    predict_x0,
    q_posterior,
    q_sample,
    respaced_model,
    sdedit,
    simple_loss,
)
from .diffusion import inpaint as diffusion_inpaint
from .families import Run
from .likelihoods import discretized_gaussian_log_likelihood
from .utils import CourseError, check_positive

SUMMARY = "a DDPM with a small UNet (notebook 04; --conditional: notebook 05)"
PREVIEW = {"sampler": "ddim"}  # train's preview grid: DDIM-50, not the 1000-step chain
DEFAULT_GUIDANCE = (
    2.0  # chosen in notebook 05: past the point where guided samples are all classified as asked
)


@dataclass
class DDPMConfig:
    """A DDPM on images: the UNet of ``nets``, the schedule, and how to train it (Algorithm 1).

    T = 1000 and the linear schedule are Ho et al.'s. The UNet is much smaller than theirs
    (width 32; mults (1, 2): two resolutions, no attention, for 8x8) so that it trains on a
    laptop CPU; mults (1, 2, 2) with attention adds a third, 7x7 for 28x28 MNIST. ema > 0 keeps
    an exponential moving average of the weights, w_ema <- ema w_ema + (1 - ema) w, and the
    model returned (and saved) is that average, as in Ho et al.'s code (0.9999 over their 800k
    steps); 0 returns the last weights. Adam's
    learning rate is raised from their 2e-4 to 2e-3 for the same reason. num_classes > 0 makes
    the model conditional on labels, dropped with probability p_uncond for classifier-free
    guidance (Ho & Salimans 2022 use 0.1 or 0.2). A non-empty ``vocabulary`` makes it a caption
    model instead (notebook 08): conditional on captions of ``captions`` with that vocabulary,
    whose attribute words cut thickness and slant at ``caption_cuts``; each attribute word is
    dropped with probability p_word, the whole caption with p_uncond.
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
    mults: tuple[int, ...] = (1, 2)
    attention: bool = False
    ema: float = 0.0
    vocabulary: tuple[str, ...] = ()
    caption_cuts: tuple[float, ...] = ()
    p_word: float = 0.3

    def __post_init__(self):
        self.image_shape, self.mults = tuple(self.image_shape), tuple(self.mults)
        self.vocabulary, self.caption_cuts = tuple(self.vocabulary), tuple(self.caption_cuts)
        if self.vocabulary and self.num_classes:
            raise CourseError("a DDPM is conditional on labels or on captions, not both")
        check_positive(self, "width", "lr", "batch_size", "steps")
        if not 0 <= self.ema < 1:
            raise CourseError(f"ema must lie in [0, 1), got {self.ema}")
        Schedule(self.T, self.schedule)  # validates T and the schedule's name
        k = 2 ** (len(self.mults) - 1)
        if len(self.image_shape) != 3 or self.image_shape[1] % k or self.image_shape[2] % k:
            raise CourseError(
                f"image_shape must be (C, H, W) with H and W divisible by {k} for a UNet of "
                f"{len(self.mults)} resolutions, got {self.image_shape}"
            )


Config = DDPMConfig  # the name every family gives its config
OPTIONS = {  # the options of `python -m tutorial_lib train ddpm`; their defaults come from DDPMConfig
    "steps": "training steps (4000 for 28x28 images)",
    "batch_size": "batch size (64 for 28x28 images)",
    "lr": "learning rate",
    "width": "UNet channels at full resolution",
    "T": "diffusion steps",
    "schedule": "beta schedule: linear (Ho et al.) or cosine (Nichol & Dhariwal)",
}


CONDITIONS = ("labels", "captions")


def config_for(
    data, conditional: bool = False, condition: str | None = None, **options
) -> DDPMConfig:
    """The DDPMConfig for an ``ImageData`` set; conditional (or condition "labels"): on its
    labels, with label dropout for classifier-free guidance (notebook 05); condition "captions":
    on captions built from its labels and the thickness and slant measured in its images, cut
    at their medians over ``data`` (notebook 08). Images of 28x28 and more get a third resolution
    and attention (measured at 28x28 on 2 CPU cores: 585 ms a training step of 128, against 563
    for two resolutions), a moving average of the weights, and 4000 steps of 64 instead of 2000
    of 128: the same 18 minutes, and a Fréchet distance of 147 instead of 194 on mnist10k."""
    if min(data.shape[1:]) >= 28 and data.shape[1] % 4 == 0 and data.shape[2] % 4 == 0:
        options.setdefault("mults", (1, 2, 2))
        options.setdefault("attention", True)
        options.setdefault("ema", 0.995)
        options.setdefault("batch_size", 64)
        options.setdefault("steps", 4000)
    if condition is not None and condition not in CONDITIONS:
        raise CourseError(f"unknown condition {condition!r}; choose one of {', '.join(CONDITIONS)}")
    if conditional or condition == "labels":
        options["num_classes"] = data.num_classes_for("a conditional DDPM")
    elif condition == "captions":
        from . import captions

        if len(data.classes) != 10 or data.labels is None or data.shape[0] != 1:
            raise CourseError(
                f"captions name digits 0-9 in grey images; {data.name} has "
                f"{len(data.classes)} classes of {'x'.join(map(str, data.shape))} images. "
                "Use mnist10k, mnist, digits, or your own labelled digits"
            )
        options["vocabulary"] = captions.VOCABULARY
        options["caption_cuts"] = captions.thresholds(data.images)
    return DDPMConfig(image_shape=data.shape, **options)


def build(cfg: DDPMConfig) -> torch.nn.Module:
    """The untrained UNet eps_theta(x_t, t[, y]) for ``cfg``."""
    from .nets import UNet

    return UNet(
        cfg.image_shape, cfg.width, cfg.num_classes, cfg.mults, cfg.attention, len(cfg.vocabulary)
    )


def train_ddpm(
    images: torch.Tensor,
    cfg: DDPMConfig,
    device="cpu",
    generator: torch.Generator | None = None,
    progress: bool = True,
    labels: torch.Tensor | None = None,
):
    """Algorithm 1 with ``train_loop``: returns (model in eval mode, schedule, history); the model
    is the moving average of the weights if ``cfg.ema`` > 0. labels (N,): the classes of a
    conditional model; for a caption model, (N, 3) rows (digit, thick, slanted) of
    ``captions.Attributes``, from which each batch draws its captions."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    from . import captions
    from .training import random_batches, train_loop

    if (labels is None) != (cfg.num_classes == 0 and not cfg.vocabulary):
        raise CourseError(
            "a conditional DDPM (num_classes > 0 or a vocabulary) needs labels, and an "
            "unconditional one takes none"
        )
    model = build(cfg).to(device)
    schedule = Schedule(cfg.T, cfg.schedule)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    average = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema)) if cfg.ema else None
    tensors = (images,) if labels is None else (images, labels)

    def step(batch):
        x_0 = batch[0].to(device)
        t = torch.randint(0, schedule.T, (x_0.shape[0],), generator=generator).to(device)
        eps = torch.randn(x_0.shape, generator=generator).to(device)
        if labels is None:
            loss = simple_loss(model, x_0, schedule, t, eps)
        else:  # conditional: eps_theta(x_t, t, y), with labels dropped for classifier-free guidance
            if cfg.vocabulary:  # a caption for each image, drawn afresh, then maybe none at all
                y = captions.training_tokens(
                    captions.Attributes(*batch[1].T), cfg.p_word, generator
                )
                y = drop_labels(y, cfg.p_uncond, captions.PAD, generator).to(device)
            else:
                y = drop_labels(batch[1].to(device), cfg.p_uncond, cfg.num_classes, generator)
            loss = simple_loss(lambda x, t: model(x, t, y), x_0, schedule, t, eps)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if average is not None:
            average.update_parameters(model)
        return loss.item()

    batches = random_batches(*tensors, batch_size=cfg.batch_size, generator=generator)
    history = train_loop(step, batches, cfg.steps, desc="DDPM", progress=progress)
    return (model if average is None else average.module).eval(), schedule, history


def train(data, cfg: DDPMConfig, device="cpu", generator=None, progress: bool = True) -> Run:
    """The family interface: ``train_ddpm`` on an ``ImageData`` set (on its labels if conditional,
    on captions of its labels and measured attributes for a caption model)."""
    labels = data.labels if cfg.num_classes else None
    if cfg.vocabulary:
        from . import captions

        attrs = captions.attributes(data.images, data.labels, cfg.caption_cuts)
        labels = torch.stack([attrs.digit, attrs.thick, attrs.slanted], dim=1)
    model, _, history = train_ddpm(data.images, cfg, device, generator, progress, labels)
    return Run(model, cfg, history)


def in_slices(model, image_shape: tuple[int, ...], max_pixels: int = 2**17):
    """``model`` called on slices of the batch of at most ``max_pixels`` pixels each, the label
    input sliced alike: the same outputs, faster on a CPU, whose caches then hold a slice's
    activations (measured at 28x28 on 2 cores: a network call on 1000 images takes 3.0 s in one
    batch and 1.5 s in slices of 64; 8x8 batches of up to 2048 images stay whole)."""
    size = max(1, max_pixels // math.prod(image_shape))

    def call(x, t, *y):
        if len(x) <= size:
            return model(x, t, *y)
        parts = [
            model(x[i : i + size], t[i : i + size], *(v[i : i + size] for v in y))
            for i in range(0, len(x), size)
        ]
        return torch.cat(parts)

    return call


def conditioned(
    model: Model,
    cfg: DDPMConfig,
    n: int,
    labels: torch.Tensor | None = None,
    prompt: str | list[str] | None = None,
    guidance: float | None = None,
    device="cpu",
) -> Model:
    """The noise prediction eps(x_t, t) to sample n images with: the model itself, or, for a
    conditional model, ``diffusion.guided_eps`` towards its condition with scale ``guidance``
    (default ``DEFAULT_GUIDANCE``).

    labels (n,): the classes of a model trained with --conditional, or, for a caption model,
    the digits to draw ("a three"). prompt: a caption model's caption, one for all n images or
    a list of n (see ``captions``). Anything the model cannot take raises CourseError.
    """
    if prompt is not None:
        if not cfg.vocabulary:
            raise CourseError(
                "--prompt needs a caption model (train ddpm --condition captions); this DDPM is "
                + ("conditional on labels: use --labels" if cfg.num_classes else "unconditional")
            )
        from . import captions

        prompts = [prompt] * n if isinstance(prompt, str) else list(prompt)
        if len(prompts) != n:
            raise CourseError(f"need one prompt or {n}, got {len(prompts)}")
        y = torch.stack([captions.tokenize(p) for p in prompts])  # (n, SLOTS)
        null = captions.PAD
    elif labels is not None:
        if cfg.num_classes == 0 and not cfg.vocabulary:
            raise CourseError(
                "this DDPM is unconditional; labels and guidance need one trained with --conditional"
            )
        check_labels(labels, n, cfg.num_classes or 10)
        if cfg.vocabulary:  # a digit alone: "a three"
            from . import captions

            y = torch.stack([captions.tokenize(captions.caption(int(d))) for d in labels])
            null = captions.PAD
        else:
            y, null = labels, cfg.num_classes
    elif guidance:
        raise CourseError(
            "--guidance needs labels (or a prompt) and a model trained with --conditional "
            "(or --condition captions)"
        )
    else:
        return model
    y, w = y.to(device), DEFAULT_GUIDANCE if guidance is None else guidance
    return lambda x, t: guided_eps(model, x, t, y, w, null)


def sample(
    model: Model,
    cfg: DDPMConfig,
    n: int,
    generator: torch.Generator | None = None,
    device="cpu",
    labels: torch.Tensor | None = None,
    guidance: float | None = None,
    sampler: str = "ddpm",
    steps: int | None = None,
    progress: bool = False,
    prompt: str | list[str] | None = None,
) -> torch.Tensor:
    """n images (n, C, H, W) in [-1, 1] from a trained DDPM, the predicted x_0 clipped at each step.

    labels (n,), prompt, guidance: the condition of a conditional or caption model, as in
    ``conditioned``. sampler: "ddpm" (all T steps) or "ddim" with ``steps`` steps (default 50,
    or T if smaller).
    """
    if sampler not in SAMPLERS:
        raise CourseError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    net = conditioned(in_slices(model, cfg.image_shape), cfg, n, labels, prompt, guidance, device)
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
            steps or min(50, cfg.T),
            generator=generator,
            device=device,
            clip_x0=True,
            progress=progress,
        )
    return x.clamp(-1, 1)


def _respaced(net: Model, cfg: DDPMConfig, steps: int) -> tuple[Schedule, Model]:
    """The DDPM's schedule respaced to ``steps`` steps, and ``net`` called at their tau_i."""
    schedule, taus = Schedule(cfg.T, cfg.schedule).respaced(steps)
    return schedule, respaced_model(net, taus)


def _check_shape(images: torch.Tensor, cfg: DDPMConfig) -> None:
    if images.ndim != 4 or tuple(images.shape[1:]) != cfg.image_shape:
        raise CourseError(
            f"this DDPM works on images (B, {', '.join(map(str, cfg.image_shape))}), got "
            f"{tuple(images.shape)}"
        )


def inpaint(
    model: Model,
    cfg: DDPMConfig,
    known: torch.Tensor,
    mask: torch.Tensor,
    steps: int = 50,
    resample: int = 1,
    generator: torch.Generator | None = None,
    device="cpu",
    keep: tuple[int, ...] = (),
    progress: bool = False,
):
    """Fill in images (B, C, H, W) in [-1, 1] where ``mask`` is 0 with a trained (unconditional)
    DDPM: ``diffusion.inpaint`` (RePaint with ``resample`` rounds per step, 1: the replacement
    method) on the schedule respaced to ``steps`` steps, predicted x_0 clipped as in ``sample``,
    sigma^2 = beta_tilde (with few steps sigma^2 = beta leaves the noise of the second-last
    step, sqrt(beta'_1) = 0.12 for 30 steps, in the image: the last step, at a noise level of
    1 - alpha_bar_0 = 1e-4, cannot remove it; Nichol & Dhariwal 2021 prefer beta_tilde with
    few steps for the same reason). Returns (images (B, C, H, W), {respaced step: (x_t,
    x0_hat)} at the kept steps)."""
    _check_shape(known, cfg)
    schedule, net = _respaced(in_slices(model, cfg.image_shape), cfg, steps)
    x, trajectory = diffusion_inpaint(
        net,
        known.to(device),
        mask.to(device),
        schedule,
        resample,
        generator,
        clip_x0=True,
        keep=keep,
        progress=progress,
        variance="beta_tilde",
    )
    return x.clamp(-1, 1), trajectory


def edit_start(t_0: float, steps: int) -> int:
    """The step of a schedule respaced to ``steps`` steps at which ``edit`` starts: the fraction
    t_0 in (0, 1] of the way to pure noise, round(t_0 * steps) - 1 (at least 0)."""
    if not 0 < t_0 <= 1:
        raise CourseError(f"t_0 is a fraction of the way to noise, in (0, 1]; got {t_0}")
    return max(round(t_0 * steps) - 1, 0)


def edit(
    model: Model,
    cfg: DDPMConfig,
    guide: torch.Tensor,
    t_0: float,
    steps: int = 50,
    generator: torch.Generator | None = None,
    device="cpu",
    labels: torch.Tensor | None = None,
    prompt: str | list[str] | None = None,
    guidance: float | None = None,
    keep: tuple[int, ...] = (),
    progress: bool = False,
):
    """SDEdit with a trained DDPM: ``diffusion.sdedit`` of guides (B, C, H, W) from the fraction
    t_0 in (0, 1] of the way to pure noise, on the schedule respaced to ``steps`` steps; with
    labels or a prompt (a conditional or caption model, ``conditioned``) it denoises towards
    them under guidance: guided editing. sigma^2 = beta_tilde, as in ``inpaint``. Returns
    (images (B, C, H, W), kept steps)."""
    start = edit_start(t_0, steps)
    _check_shape(guide, cfg)
    net = conditioned(
        in_slices(model, cfg.image_shape), cfg, len(guide), labels, prompt, guidance, device
    )
    schedule, net = _respaced(net, cfg, steps)
    x, trajectory = sdedit(
        net,
        guide.to(device),
        start,
        schedule,
        generator,
        clip_x0=True,
        keep=keep,
        progress=progress,
        variance="beta_tilde",
    )
    return x.clamp(-1, 1), trajectory


def from_checkpoint(checkpoint: dict) -> tuple[torch.nn.Module, DDPMConfig]:
    """Rebuild (model, config) from a checkpoint written by ``train ddpm``."""
    from .utils import load_weights

    cfg = DDPMConfig(**checkpoint["config"])
    return load_weights(build(cfg), checkpoint).eval(), cfg


# ---------------------------------------------------------------- the variational bound
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
    The decoder is ``likelihoods.discretized_gaussian_log_likelihood`` on the data's ``levels`` grey levels,
    so the total bounds a discrete negative log-likelihood: divide by (dims * ln 2) for bits/dim.

    x_0: (B, ...) on the grid of ``levels`` values in [-1, 1]. Returns (B,) float64 tensors
    "prior", "diffusion", "decoder" and "total", and "per_step" (B, T): the term of each step t,
    the decoder's at t = 0 (the paper's L_0) and the KL of step t at t >= 1 (the paper's L_{t}).
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
    per_step = torch.zeros(B, schedule.T, dtype=torch.float64)
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
            term = -discretized_gaussian_log_likelihood(x_0, mean_p, std_p, levels).sum(dims)
        else:
            mean_q, var_q = q_posterior(x_0.double(), x_t.double(), t, schedule)
            term = torch.distributions.kl_divergence(
                normal(mean_q, var_q.sqrt()), normal(mean_p, std_p)
            ).sum(dims)
        per_step[:, step] = term.cpu()
    prior, decoder, diffusion = prior.cpu(), per_step[:, 0], per_step[:, 1:].sum(1)
    return {
        "prior": prior,
        "diffusion": diffusion,
        "decoder": decoder,
        "total": prior + diffusion + decoder,
        "per_step": per_step,
    }


@torch.no_grad()
def likelihood_bounds(
    model: Model,
    cfg: DDPMConfig,
    images: torch.Tensor,
    levels: int,
    generator: torch.Generator | None = None,
    device="cpu",
    progress: bool = False,
) -> dict[str, float]:
    """The variational bound (``variational_bound``, all T terms) on held-out images (N, C, H, W),
    averaged, in nats per image, and its three parts. A conditional DDPM is bounded with its
    "no label" input, i.e. as the unconditional model it also is."""
    schedule = Schedule(cfg.T, cfg.schedule)
    terms = variational_bound(
        model, images.to(device), schedule, levels, generator=generator, progress=progress
    )
    nats = {"neg_bound": terms["total"].mean().item()}
    nats.update(
        {f"neg_bound_{k}": terms[k].mean().item() for k in ("prior", "diffusion", "decoder")}
    )
    return nats
