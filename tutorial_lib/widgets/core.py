"""The explorer every widget is: controls, a matplotlib figure drawn once per state, and an
animated GIF of the same frames for readers without a kernel."""

from __future__ import annotations

import base64
import html
import io
import time
from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from ..plotting import image_grid

DPI = 72
FRAMES = 6  # frames of a GIF that walks a slider (more for the GAN and latent explorers)
GREYS, COLOURS = 16, 32  # one palette for all of a GIF's frames: a grey ramp for the digits and
# the text, and the plot's colours (markers, lines); GIFs are stored in the notebooks, so kept small
GREY_TOLERANCE = 8  # a pixel whose channels differ by at most this much is grey (anti-aliasing)


def _spread(values: Sequence, k: int) -> list:
    """At most k of the values, evenly spread, the first and the last included."""
    index = np.unique(np.linspace(0, len(values) - 1, min(k, len(values))).round().astype(int))
    return [values[i] for i in index]


def _is_grey(pixels: np.ndarray) -> np.ndarray:
    """(M,) bool for pixels (M, 3): channels within GREY_TOLERANCE of each other."""
    pixels = pixels.astype(np.int16)
    return (pixels.max(1) - pixels.min(1)) <= GREY_TOLERANCE


def _palette(frames: list[np.ndarray]) -> np.ndarray:
    """One palette (K, 3) for RGB frames (H, W, 3): GREYS evenly spaced greys, so that a grey digit
    stays grey, and up to COLOURS median-cut colours of the frames' coloured pixels. Shared by every
    frame, so an animation does not flicker, and PIL stores only what changes between frames."""
    pixels = np.concatenate([f.reshape(-1, 3) for f in frames])
    coloured = pixels[~_is_grey(pixels)]
    palette = np.repeat(np.linspace(0, 255, GREYS).round()[:, None], 3, axis=1)
    if len(coloured):
        stripe = Image.fromarray(coloured[None]).quantize(colors=COLOURS, dither=Image.Dither.NONE)
        found = np.asarray(stripe.getpalette()[: 3 * COLOURS], dtype=float).reshape(-1, 3)
        palette = np.concatenate([palette, found])
    return palette


def _quantize(rgb: np.ndarray, palette: np.ndarray) -> Image.Image:
    """The frame (H, W, 3) as a "P" image: each pixel the nearest palette colour, and a grey pixel
    the nearest grey (the nearest colour of a light grey can be a marker's pale, tinted edge)."""
    x = rgb.reshape(-1, 3).astype(np.float32)
    p = palette.astype(np.float32)
    distance = (p**2).sum(1)[None] - 2 * x @ p.T  # |x - p|^2 up to |x|^2, the same for every p
    distance[np.ix_(_is_grey(x), np.arange(GREYS, len(p)))] = np.inf
    image = Image.fromarray(distance.argmin(1).astype(np.uint8).reshape(rgb.shape[:2]), mode="P")
    image.putpalette(palette.astype(np.uint8).ravel().tolist())
    return image


def _grid(images: torch.Tensor, nrow: int | None = None) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> an (H', W', 3) array in [0, 1] for imshow."""
    return image_grid(images.detach().float().cpu(), nrow=nrow).permute(1, 2, 0).numpy()


def _stepper(values: Sequence, description: str, width: str = "420px") -> widgets.SelectionSlider:
    """A slider over the given values (time steps, snapshots, scales), starting at the first."""
    values = list(values)
    return widgets.SelectionSlider(
        options=values, value=values[0], description=description, layout=widgets.Layout(width=width)
    )


class Explorer:
    """Controls over precomputed frames and one matplotlib figure redrawn in place.

    Subclasses build ``self.fig``'s artists in ``setup`` and update them in ``draw(**state)``,
    where ``state`` maps each control's name to its value; ``draw`` also fills ``self.shown``.
    ``animation_states`` lists the states the GIF walks through.
    """

    name = "explorer"

    def __init__(self, controls: dict[str, widgets.ValueWidget], figsize: tuple[float, float]):
        self.controls = controls
        self.fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
        FigureCanvasAgg(self.fig)
        self.shown: dict = {}
        self.last_redraw_seconds = 0.0
        self.image = widgets.Image(format="png")
        self.setup()
        for control in controls.values():
            control.observe(lambda _: self.redraw(), names="value")
        self.widget = widgets.VBox([widgets.HBox(list(controls.values())), self.image])
        self.redraw()

    # to be filled in by each explorer
    def setup(self) -> None:
        raise NotImplementedError

    def draw(self, **state) -> None:
        raise NotImplementedError

    def animation_states(self) -> list[dict]:
        raise NotImplementedError

    # shared machinery
    def state(self) -> dict:
        return {name: control.value for name, control in self.controls.items()}

    def redraw(self) -> None:
        """Draw the frame for the controls' current values into the image widget."""
        start = time.perf_counter()
        self.draw(**self.state())
        buffer = io.BytesIO()
        self.fig.savefig(buffer, format="png")
        self.image.value = buffer.getvalue()
        self.last_redraw_seconds = time.perf_counter() - start

    def gif(self, fps: float = 4) -> bytes:
        """An animated GIF of ``animation_states``, drawn exactly as the widget draws them."""
        frames = []
        for state in self.animation_states():
            self.draw(**state)
            self.fig.canvas.draw()
            rgb = np.asarray(self.fig.canvas.buffer_rgba())[..., :3]
            frames.append(rgb.copy())
        self.draw(**self.state())  # back to what the controls say
        palette = _palette(frames)
        frames = [_quantize(rgb, palette) for rgb in frames]
        buffer = io.BytesIO()
        frames[0].save(
            buffer,
            format="GIF",
            save_all=True,
            append_images=frames[1:],
            duration=int(1000 / fps),
            loop=0,
        )
        return buffer.getvalue()

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs) or {}
        gif = base64.b64encode(self.gif()).decode("ascii")
        bundle["text/html"] = (
            f'<img data-animation="{html.escape(self.name)}" alt="animation: {html.escape(self.name)}" '
            f'src="data:image/gif;base64,{gif}"/>'
        )
        return bundle
