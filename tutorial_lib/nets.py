"""The course's networks: every ``nn.Module`` that maps tensors to tensors lives here.

The rule: a network is an architecture and nothing else. What makes it a model (the GAN's
losses, the VAE's distributions over a network's outputs, the diffusion schedule, training and
sampling) lives in the family module that uses it (``gan``, ``vae``, ``ddpm``, ``flow``,
``metrics``).
The one exception is ``vae.VAE``: its encoder and decoder are two small MLPs inside the
class that turns their outputs into q(z | x) and p(x | z), so the VAE reads in one place.

    mlp                             the plain MLP of the 1-D and 2-D toys (notebook 01)
    PointGenerator, PointDiscriminator    G and D for 2-D points (notebook 01)
    ImageGenerator, ImageDiscriminator    DCGAN-style G and D for images (notebook 01)
    timestep_embedding, PointDenoiser, UNet   eps_theta(x_t, t[, y]) for points and images (notebook 04)
    CaptionEncoder                  the caption model's text encoder (notebook 08)
    Classifier                      the course's digit classifier, for the metrics (notebook 05)

The denoisers map (x_t, t) to a tensor shaped like x_t (the predicted noise; for the flow
models of notebook 07, which use the same networks, the velocity), and take
optional class labels y (B,) for conditional models, where label ``num_classes`` means "no label",
or a caption's word ids y (B, L) for a caption model, where all-padding means "no caption".
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


# ---------------------------------------------------------------- GAN networks (notebook 01)
def mlp(d_in: int, d_out: int, width: int, depth: int = 3) -> nn.Sequential:
    """(B, d_in) -> (B, d_out): ``depth`` linear layers with leaky ReLU between them."""
    layers, d = [], d_in
    for _ in range(depth - 1):
        layers += [nn.Linear(d, width), nn.LeakyReLU(0.2)]
        d = width
    return nn.Sequential(*layers, nn.Linear(d, d_out))


class PointGenerator(nn.Module):
    """G: z (B, z_dim) -> x (B, 2), an MLP for the 2-D toys."""

    def __init__(self, z_dim: int = 2, width: int = 128):
        super().__init__()
        self.net = mlp(z_dim, 2, width)

    def forward(self, z):
        return self.net(z)


class PointDiscriminator(nn.Module):
    """D: x (B, 2) -> logit (B,), an MLP for the 2-D toys."""

    def __init__(self, width: int = 128):
        super().__init__()
        self.net = mlp(2, 1, width)

    def forward(self, x):
        return self.net(x).squeeze(1)


class ImageGenerator(nn.Module):
    """DCGAN-style G (Radford et al. 2016): z (B, z_dim) -> images (B, C, H, W) in [-1, 1].

    A linear layer makes a (2w, H/4, W/4) map; two stride-2 transposed convolutions
    with batch norm double it twice; tanh squashes the output into [-1, 1].
    """

    def __init__(self, image_shape=(1, 8, 8), z_dim: int = 32, width: int = 32):
        super().__init__()
        c, h, w = image_shape
        self.start = (2 * width, h // 4, w // 4)
        self.project = nn.Sequential(
            nn.Linear(z_dim, 2 * width * (h // 4) * (w // 4)),
            nn.BatchNorm1d(2 * width * (h // 4) * (w // 4)),
            nn.ReLU(),
        )
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),  # (B, w, H/2, W/2)
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.ConvTranspose2d(width, width // 2, 4, stride=2, padding=1),  # (B, w/2, H, W)
            nn.BatchNorm2d(width // 2),
            nn.ReLU(),
            nn.Conv2d(width // 2, c, 3, padding=1),  # (B, C, H, W)
            nn.Tanh(),
        )

    def forward(self, z):
        return self.net(self.project(z).view(z.shape[0], *self.start))


class ImageDiscriminator(nn.Module):
    """DCGAN-style D: images (B, C, H, W) -> logit (B,); stride-2 convolutions with leaky ReLU, no batch norm."""

    def __init__(self, image_shape=(1, 8, 8), width: int = 32):
        super().__init__()
        c, h, w = image_shape
        self.net = nn.Sequential(
            nn.Conv2d(c, width // 2, 3, padding=1),  # (B, w/2, H, W)
            nn.LeakyReLU(0.2),
            nn.Conv2d(width // 2, width, 4, stride=2, padding=1),  # (B, w, H/2, W/2)
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),  # (B, 2w, H/4, W/4)
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(2 * width * (h // 4) * (w // 4), 1),
        )

    def forward(self, x):
        return self.net(x).squeeze(1)


# ---------------------------------------------------------------- denoisers (notebook 04)
def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps (Vaswani et al. 2017, as used by Ho et al. 2020).

    t: (B,) -> (B, dim): [cos(t w_0), ..., cos(t w_{dim/2-1}), sin(t w_0), ...], w_i = max_period^(-2i/dim).
    """
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half
    )
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class PointDenoiser(nn.Module):
    """eps_theta(x_t, t[, y]) for points: an MLP on [x_t, embedding(t)] (plus a learned label
    embedding with num_classes > 0, index num_classes meaning "no label", as in ``UNet``).
    x_t (B, dim), t (B,), y (B,) -> (B, dim). dim 2: the toy points of notebook 04; the flow
    model of notebook 07 uses it for a VAE's codes, and for velocities as well as noise."""

    def __init__(self, width: int = 128, t_dim: int = 32, dim: int = 2, num_classes: int = 0):
        super().__init__()
        self.t_dim = t_dim
        self.net = nn.Sequential(
            nn.Linear(dim + t_dim, width),
            nn.SiLU(),
            nn.Linear(width, width),
            nn.SiLU(),
            nn.Linear(width, width),
            nn.SiLU(),
            nn.Linear(width, dim),
        )
        self.label_emb = nn.Embedding(num_classes + 1, t_dim) if num_classes > 0 else None

    def forward(self, x, t, y=None):
        emb = timestep_embedding(t, self.t_dim)
        if self.label_emb is not None:
            if y is None:
                y = torch.full((x.shape[0],), self.label_emb.num_embeddings - 1, device=x.device)
            emb = emb + self.label_emb(y)
        return self.net(torch.cat([x, emb], dim=1))


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the time (and label) embedding added in between, plus a skip."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(8, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class SelfAttention(nn.Module):
    """Single-head self-attention over the positions of a feature map, with a skip: x + out(attend(x)).

    x (B, C, H, W) -> (B, C, H, W); every position attends to all H*W positions (Ho et al. 2020
    use it at 16x16; here it sits at the UNet's lowest resolution, 7x7 for MNIST).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.GroupNorm(8, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        B, C, H, W = x.shape
        q, k, v = self.qkv(self.norm(x)).flatten(2).transpose(1, 2).chunk(3, dim=2)  # (B, HW, C)
        h = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(C)) v
        return x + self.out(h.transpose(1, 2).reshape(B, C, H, W))


class CaptionEncoder(nn.Module):
    """A tiny text encoder: word ids (B, L) -> one vector (B, dim) per caption.

    Token embeddings, averaged over the words present (id 0 is padding and is skipped), then a
    two-layer MLP: e = MLP(mean_{l: y_l != 0} E[y_l]). The empty caption (all padding) averages
    to the zero vector, so MLP(0), a learned constant, is the "no caption" embedding of
    classifier-free guidance. Real text-to-image models use a transformer here (CLIP, T5) and
    keep one vector per token; averaging suffices for captions whose words each name one
    attribute (``captions``).
    """

    def __init__(self, vocab_size: int, dim: int):
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        present = (y != 0).unsqueeze(-1).float()  # (B, L, 1)
        mean = (self.tokens(y) * present).sum(1) / present.sum(1).clamp(min=1)  # (B, dim)
        return self.mlp(mean)


def _between(kind: str, i: int) -> str:
    """The name of the UNet's down- or upsampling between levels i and i + 1: downsample,
    downsample2, ... (the first without a number, as in the shipped checkpoints)."""
    return kind if i == 1 else f"{kind}{i}"


class UNet(nn.Module):
    """A small UNet (Ronneberger et al. 2015) in the style of Ho et al. 2020.

    x (B, C, H, W), t (B,), optional y (B,) -> (B, C, H, W). One resolution per entry of ``mults``,
    each half the size of the one before (H and W divisible by 2^(levels - 1)), with
    ``width * mults[i]`` channels; one residual block per level on the way down and on the way
    up, two in the middle, with ``SelfAttention`` between them if ``attention``. The default,
    mults (1, 2), is H x W and H/2 x W/2; (1, 2, 2) adds H/4 x W/4 (28, 14, 7 for MNIST). With
    num_classes > 0 a learned label embedding is added to the time embedding (index num_classes
    is the "no label" token used for classifier-free guidance). With vocab_size > 0 the condition
    is a caption instead, word ids y (B, L) read by ``CaptionEncoder``, whose vector is added
    the same way (so every residual block gets a caption-dependent shift of its channels, a
    FiLM layer without the scale; Perez et al. 2018).
    """

    def __init__(
        self,
        image_shape=(1, 8, 8),
        width: int = 32,
        num_classes: int = 0,
        mults: tuple[int, ...] = (1, 2),
        attention: bool = False,
        vocab_size: int = 0,
    ):
        super().__init__()
        c, chans = image_shape[0], [width * m for m in mults]
        emb_dim = 4 * width
        self.width, self.levels = width, len(mults)
        self.time_mlp = nn.Sequential(
            nn.Linear(width, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
        )
        self.label_emb = nn.Embedding(num_classes + 1, emb_dim) if num_classes > 0 else None
        self.caption_emb = CaptionEncoder(vocab_size, emb_dim) if vocab_size > 0 else None
        self.conv_in = nn.Conv2d(c, width, 3, padding=1)
        # level i (1-based) has down{i} and up{i}; between levels i and i + 1 sit downsample{i}
        # and upsample{i}, named downsample and upsample for i = 1 (the shipped checkpoints'
        # names). Created in the order of the forward pass, so the default is the original UNet.
        self.down1 = ResBlock(width, chans[0], emb_dim)  # (B, chans[0], H, W)
        for i in range(1, self.levels):  # (B, chans[i], H / 2^i, W / 2^i)
            down = nn.Conv2d(chans[i - 1], chans[i - 1], 3, stride=2, padding=1)
            self.add_module(_between("downsample", i), down)
            self.add_module(f"down{i + 1}", ResBlock(chans[i - 1], chans[i], emb_dim))
        self.mid1, self.mid2 = (
            ResBlock(chans[-1], chans[-1], emb_dim),
            ResBlock(chans[-1], chans[-1], emb_dim),
        )
        self.attention = SelfAttention(chans[-1]) if attention else None
        for i in range(self.levels, 0, -1):  # after concatenating the skip of the same level
            self.add_module(f"up{i}", ResBlock(2 * chans[i - 1], chans[i - 1], emb_dim))
            if i > 1:
                up = nn.Sequential(
                    nn.Upsample(scale_factor=2, mode="nearest"),
                    nn.Conv2d(chans[i - 1], chans[i - 2], 3, padding=1),
                )
                self.add_module(_between("upsample", i - 1), up)
        self.out = nn.Sequential(
            nn.GroupNorm(8, width), nn.SiLU(), nn.Conv2d(width, c, 3, padding=1)
        )

    def forward(self, x, t, y=None):
        emb = self.time_mlp(timestep_embedding(t, self.width))
        if self.label_emb is not None:
            if y is None:
                y = torch.full(
                    (x.shape[0],),
                    self.label_emb.num_embeddings - 1,
                    device=x.device,
                    dtype=torch.long,
                )
            emb = emb + self.label_emb(y)
        if self.caption_emb is not None:  # no caption given: the empty one
            y = torch.zeros((x.shape[0], 1), device=x.device, dtype=torch.long) if y is None else y
            emb = emb + self.caption_emb(y)
        h = self.down1(self.conv_in(x), emb)  # (B, chans[0], H, W)
        skips = [h]
        for i in range(1, self.levels):
            h = getattr(self, f"down{i + 1}")(getattr(self, _between("downsample", i))(h), emb)
            skips.append(h)
        h = self.mid1(h, emb)
        if self.attention is not None:
            h = self.attention(h)
        h = self.mid2(h, emb)
        for i in range(self.levels, 0, -1):
            h = getattr(self, f"up{i}")(torch.cat([h, skips[i - 1]], dim=1), emb)
            if i > 1:
                h = getattr(self, _between("upsample", i - 1))(h)
        return self.out(h)


# ---------------------------------------------------------------- the classifier (notebook 05)
class Classifier(nn.Module):
    """images (B, C, H, W) in [-1, 1] -> logits (B, num_classes); ``features`` gives the (B, 128) penultimate layer.

    Stride-2 convolutions halve the image until it is at most 8 pixels high: once for 8x8 digits
    (to 4x4), twice for 28x28 MNIST (to 7x7), so that the linear layer stays small (about 0.4 M
    weights at 28x28 instead of 1.6 M with one halving).
    """

    def __init__(self, image_shape=(1, 8, 8), num_classes: int = 10, width: int = 32):
        super().__init__()
        c, h, w = image_shape
        layers = [nn.Conv2d(c, width, 3, padding=1), nn.ReLU()]
        layers += [nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU()]
        h, w = (h + 1) // 2, (w + 1) // 2  # (B, 2w, H/2, W/2)
        while h > 8:
            layers += [nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.ReLU()]
            h, w = (h + 1) // 2, (w + 1) // 2
        layers += [nn.Flatten(), nn.Dropout(0.3), nn.Linear(2 * width * h * w, 128), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(128, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))
