"""Flow matching (Lipman et al. 2023; Liu et al. 2023, "rectified flow"): noise to data along
straight lines.

The path, with data at t = 0 and noise at t = 1 (the direction of the DDPM's t):

    x_t = (1 - t) x_0 + t eps,   eps ~ N(0, I),   t in [0, 1],
    u_t = dx_t / dt = eps - x_0                      (the velocity of this one line).

The conditional flow-matching loss regresses a network on that velocity,

    L(theta) = E_{t ~ U(0, 1), x_0, eps} || v_theta(x_t, t) - (eps - x_0) ||^2,

whose minimiser is v*(x, t) = E[eps - x_0 | x_t = x]: the velocity field whose ODE
dx/dt = v*(x, t) carries N(0, I) at t = 1 to the data at t = 0 (Lipman et al., Thm. 1; their
Thm. 2: the conditional loss has the gradients of a regression on v* itself). Sampling solves
that ODE backwards from x_1 ~ N(0, I), with steps h = t_next - t < 0, by Euler's method,

    x_{t + h} = x_t + h v(x_t, t),

or Heun's (the trapezoid rule with an Euler predictor, two network calls a step):

    x~ = x_t + h v(x_t, t),   x_{t + h} = x_t + h/2 (v(x_t, t) + v(x~, t + h)).

The maths takes the network as an argument: ``model(x_t, t) -> v`` with x_t (B, ...) and
t (B,) floats in [0, 1]. This module is also the ``flow`` family of ``families`` (``Config``,
``build``, ``train``, ``sample``, ``from_checkpoint``): the DDPM's UNet, or, with
``--latent-of VAE_RUN``, an MLP on the codes of a trained VAE (latent flow matching, the
recipe of Stable Diffusion 3 at the scale of a laptop). How eps, x_0, the score and the
velocity convert into each other is ``paths``.

Introduced in notebook 07.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .diffusion import Model, check_labels, drop_labels, guided_eps
from .families import Run
from .paths import flow_point
from .utils import CourseError, check_positive

SUMMARY = "a flow-matching model (notebook 07; --conditional: with guidance; --latent-of: on a VAE's codes)"
SOLVERS = ("euler", "heun")
PREVIEW = {"solver": "euler", "steps": 20}  # train's preview grid
NO_LIKELIHOOD = (  # for `evaluate --model`
    "a flow model's log-likelihood needs the divergence of its velocity integrated along the ODE "
    "(Chen et al. 2018), which the course does not compute"
)
TIME_SCALE = 1000.0  # t in [0, 1] enters the network as 1000 t, the range of the DDPM's steps


# ---------------------------------------------------------------- the maths
def interpolate(x_0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = (1 - t) x_0 + t eps, the path of ``paths.flow_point``. x_0, eps (B, ...), t (B,) in
    [0, 1] -> (B, ...)."""
    p = flow_point(t, x_0)
    return p.a * x_0 + p.s * eps


def flow_matching_loss(
    model: Model, x_0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor
) -> torch.Tensor:
    """The conditional flow-matching loss, || v_theta(x_t, t) - (eps - x_0) ||^2 averaged over the
    batch and the dimensions (Lipman et al. 2023, Eq. 23 with sigma_min = 0; Liu et al. 2023,
    Eq. 1). x_0, eps (B, ...), t (B,) in [0, 1] -> a scalar."""
    return ((model(interpolate(x_0, eps, t), t) - (eps - x_0)) ** 2).mean()


def times(steps: int) -> torch.Tensor:
    """The uniform grid from t = 1 (noise) to t = 0 (data): (steps + 1,) float64, decreasing."""
    if steps < 1:
        raise CourseError(f"--steps must be at least 1, got {steps}")
    return torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)


def evaluations(solver: str, steps: int) -> int:
    """Network calls of ``solve``: one a step for Euler, two for Heun."""
    return steps * (2 if solver == "heun" else 1)


@torch.no_grad()
def solve(
    velocity: Model,
    x: torch.Tensor,
    grid: torch.Tensor,
    solver: str = "euler",
    keep: bool = False,
    progress: bool = False,
):
    """Integrate dx/dt = velocity(x, t) from grid[0] to grid[-1] with Euler's or Heun's method.

    x (B, ...) the state at grid[0]; grid (K + 1,) the times, in the direction of travel (for
    sampling: ``times(K)``, from 1 to 0). velocity(x, t) with t (B,) -> (B, ...). Returns the
    state at grid[-1] and, with keep, the states at every grid time, (K + 1, B, ...) on the CPU
    (else None). Network calls: K for Euler, 2K for Heun.
    """
    from tqdm.auto import tqdm

    if solver not in SOLVERS:
        raise CourseError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    path = [x.cpu()] if keep else None
    for i in tqdm(range(len(grid) - 1), desc=f"{solver} steps", disable=not progress, leave=False):
        t, t_next = grid[i], grid[i + 1]
        h = (t_next - t).item()
        tb = torch.full((x.shape[0],), t.item(), device=x.device)
        v = velocity(x, tb)
        if solver == "euler":
            x = x + h * v
        else:
            guess = x + h * v
            v_next = velocity(guess, torch.full_like(tb, t_next.item()))
            x = x + h / 2 * (v + v_next)
        if keep:
            path.append(x.cpu())
    return x, (torch.stack(path) if keep else None)


def straightness(path: torch.Tensor) -> torch.Tensor:
    """How far trajectories bend: the largest distance of a path's points from its chord, the line
    through its two ends, relative to the chord's length (0 for a straight path, whatever its
    speed; (1 - cos 45°) / sqrt 2 = 0.207 for a quarter circle).

    path (K + 1, B, ...), the states along each of B trajectories, as ``solve(..., keep=True)``
    returns them -> (B,)."""
    rel = (path - path[0]).flatten(2)  # (K + 1, B, D), from each start
    chord = rel[-1]  # (B, D)
    length = chord.norm(dim=1)
    unit = chord / length[:, None]
    along = (rel * unit).sum(-1, keepdim=True)  # the projection on the chord
    return (rel - along * unit).norm(dim=2).amax(0) / length


# ---------------------------------------------------------------- the family
@dataclass
class FlowConfig:
    """A flow-matching model: the network, and how to train it (the loss of this module).

    On pixels the network is the DDPM's UNet (``ddpm.DDPMConfig`` explains width, mults,
    attention and ema) with t in [0, 1] fed to its time embedding as 1000 t; ``config_for`` gives
    28x28 images the same three resolutions, attention, average of the weights and 4000 steps
    of 64 as the DDPM, so that the two train in the same time. num_classes > 0 makes it
    conditional, labels dropped with probability p_uncond for classifier-free guidance.

    On a VAE's codes (``latent`` holds the VAE's config; ``latent_of`` the run it came from) the
    network is ``nets.PointDenoiser`` of ``width`` units on the z_dim numbers of a code, and the
    VAE travels in the checkpoint: ``LatentFlow``.
    """

    image_shape: tuple[int, ...] = (1, 8, 8)
    width: int = 32
    lr: float = 2e-3
    batch_size: int = 128
    steps: int = 2000
    num_classes: int = 0
    p_uncond: float = 0.1
    mults: tuple[int, ...] = (1, 2)
    attention: bool = False
    ema: float = 0.0
    latent: dict = field(default_factory=dict)
    latent_of: str = ""

    def __post_init__(self):
        self.image_shape, self.mults = tuple(self.image_shape), tuple(self.mults)
        check_positive(self, "width", "lr", "batch_size", "steps")
        if not 0 <= self.ema < 1:
            raise CourseError(f"ema must lie in [0, 1), got {self.ema}")
        k = 2 ** (len(self.mults) - 1)
        if not self.latent and (
            len(self.image_shape) != 3 or self.image_shape[1] % k or self.image_shape[2] % k
        ):
            raise CourseError(
                f"image_shape must be (C, H, W) with H and W divisible by {k} for a UNet of "
                f"{len(self.mults)} resolutions, got {self.image_shape}"
            )


Config = FlowConfig
OPTIONS = {  # the options of `python -m tutorial_lib train flow`; their defaults come from FlowConfig
    "steps": "training steps (4000 for 28x28 images; 20000 on a VAE's codes)",
    "batch_size": "batch size (64 for 28x28 images; 256 on a VAE's codes)",
    "lr": "learning rate (1e-3 on a VAE's codes)",
    "width": "UNet channels at full resolution (on a VAE's codes: the MLP's width, 512)",
}


class PixelFlow(nn.Module):
    """v_theta(x_t, t[, y]) on images: the UNet of ``nets`` with t in [0, 1] given as 1000 t.
    x_t (B, C, H, W), t (B,), y (B,) -> (B, C, H, W)."""

    def __init__(self, cfg: FlowConfig):
        super().__init__()
        from .nets import UNet

        self.net = UNet(cfg.image_shape, cfg.width, cfg.num_classes, cfg.mults, cfg.attention)

    def forward(self, x, t, y=None):
        return self.net(x, t * TIME_SCALE, y)


class LatentFlow(nn.Module):
    """v_theta(z_t, t[, y]) on a VAE's codes, with the VAE that makes and reads them.

    encode: images (B, C, H, W) -> codes (B, z_dim), the encoder's mean times ``scale`` (the
    codes' standard deviation over the training set, as Rombach et al. 2022 scale theirs to
    unit variance). decode: codes -> images (B, C, H, W) in [-1, 1], the decoder's mean.
    forward: z_t (B, z_dim), t (B,), y (B,) -> the velocity (B, z_dim).
    """

    def __init__(self, cfg: FlowConfig):
        super().__init__()
        from .nets import PointDenoiser
        from .vae import VAE, VAEConfig

        self.vae = VAE(VAEConfig(**cfg.latent)).eval().requires_grad_(False)
        z_dim = self.vae.cfg.z_dim
        self.velocity = PointDenoiser(cfg.width, 64, z_dim, cfg.num_classes)
        self.register_buffer("scale", torch.ones(()))

    def forward(self, z, t, y=None):
        return self.velocity(z, t * TIME_SCALE, y)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.vae.eval().encode(x).mean * self.scale

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.eval().decode_mean(z / self.scale).clamp(-1, 1)


def config_for(
    data, conditional: bool = False, latent_of: str | None = None, **options
) -> FlowConfig:
    """The FlowConfig for an ``ImageData`` set: as the DDPM's (``ddpm.config_for``) on pixels;
    latent_of: a run folder of ``train vae`` on the same data set, whose codes it learns."""
    if conditional:
        options["num_classes"] = data.num_classes_for("a conditional flow model")
    if latent_of:
        from .utils import load_checkpoint

        vae = load_checkpoint(latent_of, kind="vae")
        trained_on = vae["extra"].get("dataset")
        if trained_on != data.name:
            raise CourseError(
                f"--latent-of {latent_of} is a VAE of {trained_on}, not of {data.name}: its codes "
                f"mean nothing here. Pass --dataset {trained_on}, or train a VAE on {data.name} "
                "first (python -m tutorial_lib train vae ...)"
            )
        if vae["config"].get("num_classes", 0):
            raise CourseError(
                f"--latent-of {latent_of} is a conditional VAE; its decoder needs labels. "
                "Give an unconditional one"
            )
        options["latent"], options["latent_of"] = vae["config"], str(latent_of)
        for key, value in (("width", 512), ("steps", 20000), ("batch_size", 256), ("lr", 1e-3)):
            options.setdefault(key, value)
    elif min(data.shape[1:]) >= 28 and data.shape[1] % 4 == 0 and data.shape[2] % 4 == 0:
        for key, value in (
            ("mults", (1, 2, 2)),
            ("attention", True),
            ("ema", 0.995),
            ("batch_size", 64),
            ("steps", 4000),
        ):
            options.setdefault(key, value)
    return FlowConfig(image_shape=data.shape, **options)


def build(cfg: FlowConfig) -> nn.Module:
    """The untrained velocity model: ``LatentFlow`` if cfg.latent, else ``PixelFlow``."""
    return LatentFlow(cfg) if cfg.latent else PixelFlow(cfg)


def train_flow(
    x: torch.Tensor,
    cfg: FlowConfig,
    device="cpu",
    generator: torch.Generator | None = None,
    progress: bool = True,
    labels: torch.Tensor | None = None,
    model: nn.Module | None = None,
):
    """Minimise ``flow_matching_loss`` with Adam on x (N, ...) (images, or codes for a latent
    model), t ~ U(0, 1); labels (N,) for a conditional model, dropped with probability p_uncond.
    Returns (model in eval mode, history); the model is the moving average of the weights if
    cfg.ema > 0. model: the network to train (default ``build(cfg)``)."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    from .training import random_batches, train_loop

    if (labels is None) != (cfg.num_classes == 0):
        raise CourseError(
            "a conditional flow model (num_classes > 0) needs labels, and an unconditional one "
            "takes none"
        )
    model = (build(cfg) if model is None else model).to(device)
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trained, lr=cfg.lr)
    average = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema)) if cfg.ema else None

    def step(batch):
        x_0 = batch[0].to(device)
        t = torch.rand(x_0.shape[0], generator=generator).to(device)
        eps = torch.randn(x_0.shape, generator=generator).to(device)
        if labels is None:
            loss = flow_matching_loss(model, x_0, t, eps)
        else:
            y = drop_labels(batch[1].to(device), cfg.p_uncond, cfg.num_classes, generator)
            loss = flow_matching_loss(lambda x, t: model(x, t, y), x_0, t, eps)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if average is not None:
            average.update_parameters(model)
        return loss.item()

    tensors = (x,) if labels is None else (x, labels)
    batches = random_batches(*tensors, batch_size=cfg.batch_size, generator=generator)
    history = train_loop(step, batches, cfg.steps, desc="flow", progress=progress)
    return (model if average is None else average.module).eval(), history


def train(data, cfg: FlowConfig, device="cpu", generator=None, progress: bool = True) -> Run:
    """The family interface: ``train_flow`` on an ``ImageData`` set, or on its codes under the
    VAE of ``cfg.latent_of`` (loaded into the model, which saves it with itself)."""
    labels = data.labels if cfg.num_classes else None
    model, x = build(cfg), data.images
    if cfg.latent:
        from .utils import load_checkpoint, load_weights

        load_weights(model.vae, load_checkpoint(cfg.latent_of, kind="vae"))
        x = model.encode(data.images)
        model.scale.fill_(1 / x.std().item())
        x = x * model.scale
    model, history = train_flow(x, cfg, device, generator, progress, labels, model)
    return Run(model, cfg, history)


def guided(model: Model, y: torch.Tensor, w: float, null_label: int) -> Model:
    """The guided velocity (1 + w) v(x, t, y) - w v(x, t, no label): classifier-free guidance
    (Ho & Salimans 2022) carries over unchanged, since at each t the velocity is an affine map
    of eps with the same coefficients for both predictions (``paths``). ``diffusion.guided_eps``
    does the combining."""
    return lambda x, t: guided_eps(model, x, t, y, w, null_label)


def sample(
    model: nn.Module,
    cfg: FlowConfig,
    n: int,
    generator: torch.Generator | None = None,
    device="cpu",
    labels: torch.Tensor | None = None,
    guidance: float | None = None,
    solver: str = "euler",
    steps: int | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """n images (n, C, H, W) in [-1, 1]: x_1 ~ N(0, I), carried to t = 0
    by ``solve`` with ``solver`` in ``steps`` uniform steps (default 20); a latent model then
    decodes the code. labels (n,) and guidance (default ``ddpm.DEFAULT_GUIDANCE``) for a
    conditional model."""
    from .ddpm import DEFAULT_GUIDANCE, in_slices

    if solver not in SOLVERS:
        raise CourseError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    grid = times(20 if steps is None else steps)
    net = model if cfg.latent else in_slices(model, cfg.image_shape)
    if labels is not None:
        if cfg.num_classes == 0:
            raise CourseError(
                "this flow model is unconditional; labels and guidance need one trained with "
                "--conditional"
            )
        check_labels(labels, n, cfg.num_classes)
        w = DEFAULT_GUIDANCE if guidance is None else guidance
        net = guided(net, labels.to(device), w, cfg.num_classes)
    elif guidance:
        raise CourseError("--guidance needs labels and a model trained with --conditional")
    shape = (n, model.vae.cfg.z_dim) if cfg.latent else (n, *cfg.image_shape)
    x = torch.randn(shape, generator=generator).to(device)
    x, _ = solve(net, x, grid, solver, progress=progress)
    return (model.decode(x) if cfg.latent else x).clamp(-1, 1)


def from_checkpoint(checkpoint: dict) -> tuple[nn.Module, FlowConfig]:
    """Rebuild (model, config) from a checkpoint written by ``train flow`` (a latent model with
    its VAE inside)."""
    from .utils import load_weights

    cfg = FlowConfig(**checkpoint["config"])
    return load_weights(build(cfg), checkpoint).eval(), cfg
