"""Denoising networks for diffusion: a sinusoidal time embedding, an MLP for 2-D points, and a small UNet.

Both networks map (x_t, t) to a tensor shaped like x_t (the predicted noise), and take
optional class labels y (B,) for conditional models, where label ``num_classes`` means "no label".

Introduced in notebook 04.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


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
    """eps_theta(x_t, t) for 2-D points: an MLP on [x_t, embedding(t)]. x_t (B, 2), t (B,) -> (B, 2)."""

    def __init__(self, width: int = 128, t_dim: int = 32):
        super().__init__()
        self.t_dim = t_dim
        self.net = nn.Sequential(
            nn.Linear(2 + t_dim, width),
            nn.SiLU(),
            nn.Linear(width, width),
            nn.SiLU(),
            nn.Linear(width, width),
            nn.SiLU(),
            nn.Linear(width, 2),
        )

    def forward(self, x, t, y=None):
        return self.net(torch.cat([x, timestep_embedding(t, self.t_dim)], dim=1))


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


class UNet(nn.Module):
    """A small UNet (Ronneberger et al. 2015) in the style of Ho et al. 2020, without attention.

    x (B, C, H, W), t (B,), optional y (B,) -> (B, C, H, W). Two resolutions: H x W and H/2 x W/2
    (H, W even), with ``width`` and 2 * ``width`` channels; one residual block per level and two in
    the middle. With num_classes > 0 a learned label embedding is added to the time embedding
    (index num_classes is the "no label" token used for classifier-free guidance).
    """

    def __init__(self, image_shape=(1, 8, 8), width: int = 32, num_classes: int = 0):
        super().__init__()
        c = image_shape[0]
        emb_dim = 4 * width
        self.width = width
        self.time_mlp = nn.Sequential(
            nn.Linear(width, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
        )
        self.label_emb = nn.Embedding(num_classes + 1, emb_dim) if num_classes > 0 else None
        self.conv_in = nn.Conv2d(c, width, 3, padding=1)
        self.down1 = ResBlock(width, width, emb_dim)  # (B, w, H, W)
        self.downsample = nn.Conv2d(width, width, 3, stride=2, padding=1)  # (B, w, H/2, W/2)
        self.down2 = ResBlock(width, 2 * width, emb_dim)
        self.mid1, self.mid2 = (
            ResBlock(2 * width, 2 * width, emb_dim),
            ResBlock(2 * width, 2 * width, emb_dim),
        )
        self.up2 = ResBlock(4 * width, 2 * width, emb_dim)  # after concatenating the skip
        self.upsample = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(2 * width, width, 3, padding=1)
        )
        self.up1 = ResBlock(2 * width, width, emb_dim)
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
        h1 = self.down1(self.conv_in(x), emb)  # (B, w, H, W)
        h2 = self.down2(self.downsample(h1), emb)  # (B, 2w, H/2, W/2)
        h = self.mid2(self.mid1(h2, emb), emb)
        h = self.up2(torch.cat([h, h2], dim=1), emb)
        h = self.up1(torch.cat([self.upsample(h), h1], dim=1), emb)  # (B, w, H, W)
        return self.out(h)
