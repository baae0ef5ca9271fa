"""The explorer of a VAE's latent space: the image decoded from a 2-D code z (notebook 02)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as widgets
import numpy as np
import torch

from .core import FRAMES, Explorer, _grid


class LatentExplorer(Explorer):
    """A 2-D latent space: pick z = (z1, z2) with two sliders; the decoded image is shown.

    decode maps codes (M, 2) to images (M, C, H, W). It runs once, at construction, on an
    n x n grid over [-lim, lim]^2; the sliders move on that grid, so a move only looks up.
    codes (K, 2) with labels (K,), such as the encoder's means of held-out images, are drawn
    as the map under the cursor. The animation walks the straight line from ``path[0]`` to
    ``path[1]`` (a latent interpolation), by default across the map's diagonal.
    """

    name = "latent_interpolation"

    def __init__(
        self,
        decode: Callable[[torch.Tensor], torch.Tensor],
        lim: float = 3.0,
        n: int = 41,
        codes: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        path: tuple[Sequence[float], Sequence[float]] | None = None,
    ):
        self.lim, self.n = lim, n
        self.axis = torch.linspace(-lim, lim, n)
        zz = torch.stack(torch.meshgrid(self.axis, self.axis, indexing="ij"), -1).reshape(-1, 2)
        with torch.no_grad():
            decoded = decode(zz)
        self.decoded = (
            decoded.detach().float().cpu().reshape(n, n, *decoded.shape[1:])
        )  # [i1, i2] -> z = (axis[i1], axis[i2])
        self.codes, self.labels = codes, labels
        self.path = path or ((-0.8 * lim, -0.8 * lim), (0.8 * lim, 0.8 * lim))
        step = 2 * lim / (n - 1)
        slider = dict(
            min=-lim, max=lim, step=step, value=0.0, readout_format=".2f", continuous_update=True
        )
        super().__init__(
            {
                "z1": widgets.FloatSlider(description="z1", **slider),
                "z2": widgets.FloatSlider(description="z2", **slider),
            },
            figsize=(9.5, 4),
        )

    def index(self, value: float) -> int:
        """The grid index nearest to a slider value."""
        return int(round((value + self.lim) / (2 * self.lim) * (self.n - 1)))

    def setup(self):
        ax_map, ax_image = self.fig.subplots(
            1, 2, gridspec_kw={"wspace": 0.4}
        )  # room for the legend
        if self.codes is not None:
            codes = self.codes.detach().cpu()
            colors = None if self.labels is None else self.labels.cpu().numpy()
            points = ax_map.scatter(codes[:, 0], codes[:, 1], c=colors, cmap="tab10", s=8)
            if self.labels is not None:
                ax_map.legend(  # beside the map, not over its points
                    *points.legend_elements(),
                    fontsize=8,
                    loc="upper left",
                    bbox_to_anchor=(1.01, 1.0),
                    title="label",
                )
        self.cursor = ax_map.scatter([0], [0], marker="+", s=300, color="k", linewidths=2, zorder=3)
        ax_map.set(
            xlim=(-self.lim, self.lim),
            ylim=(-self.lim, self.lim),
            aspect="equal",
            xlabel="z1",
            ylabel="z2",
            title="latent space",
        )
        self.image_artist = ax_image.imshow(_grid(self.decoded[0, :1]), interpolation="nearest")
        ax_image.set_axis_off()
        self.image_title = ax_image.set_title("")

    def draw(self, z1: float, z2: float):
        i1, i2 = self.index(z1), self.index(z2)
        z = (self.axis[i1].item(), self.axis[i2].item())
        image = self.decoded[i1, i2]
        self.cursor.set_offsets([z])
        self.image_artist.set_data(_grid(image[None]))
        self.image_title.set_text(f"decoded from z = ({z[0]:+.2f}, {z[1]:+.2f})")
        self.shown = {"z": z, "image": image}

    def animation_states(self):
        (a1, a2), (b1, b2) = self.path
        return [
            {"z1": a1 + u * (b1 - a1), "z2": a2 + u * (b2 - a2)}
            for u in np.linspace(0, 1, 2 * FRAMES + 1)
        ]
