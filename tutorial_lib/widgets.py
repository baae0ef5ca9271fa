"""Step-by-step explorers: sliders over precomputed frames, in JupyterLab and as animations.

Each explorer takes what a notebook has already computed (a noising run, a sampling
trajectory, training snapshots, a decoded latent grid, guided samples) and shows it behind
ipywidgets controls. Moving a control only redraws: every frame exists before the first
draw, so a slider move costs one matplotlib render (tens of milliseconds on a laptop CPU;
``last_redraw_seconds`` holds the latest).

Without a live kernel (nbconvert HTML, a notebook viewer) the same output shows an animated
GIF of the same content instead of the controls: ``display(explorer)`` sends both, and a
front end without the widget picks the GIF. ``explorer.gif()`` returns its bytes.

``explorer.shown`` holds the arrays now on screen, by panel, so that tests (and curious
students) can read exactly what the picture shows.

    ForwardProcess  x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps over t, per schedule (notebook 03)
    ReverseChain    x_t and the predicted x_0 along one stored DDPM or DDIM run (notebook 04)
    GANTraining     samples over D(x) (2-D) or a fixed-noise grid (images) per snapshot (notebook 01)
    LatentExplorer  the image decoded from a 2-D code z picked with two sliders (notebook 02)
    Guidance        samples of one class from the same noise, per guidance scale w (notebook 05)
"""

from __future__ import annotations

import base64
import html
import io
import time
from collections.abc import Callable, Sequence

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from .diffusion import Schedule, q_sample
from .plotting import image_grid

DPI = 72


def _spread(values: Sequence, k: int) -> list:
    """At most k of the values, evenly spread, the first and the last included."""
    index = np.unique(np.linspace(0, len(values) - 1, min(k, len(values))).round().astype(int))
    return [values[i] for i in index]


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
            frames.append(Image.fromarray(rgb).quantize(colors=128, dither=Image.Dither.NONE))
        self.draw(**self.state())  # back to what the controls say
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


class ForwardProcess(Explorer):
    """The forward process q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I), drawn with
    the library's ``diffusion.q_sample``.

    image (C, H, W) and points (N, 2) are x_0; one fixed eps per pixel and per point is drawn
    once, so moving t shows the same noise growing. The slider shows the paper's t = 0..T, with
    t = 0 the clean data; the library's index is t - 1 (its t = 0 is the first noising step).
    The third panel marks log10 SNR(t), with SNR = alpha_bar_t / (1 - alpha_bar_t), on both schedules.
    """

    name = "forward_process"

    def __init__(
        self,
        image: torch.Tensor,
        points: torch.Tensor,
        T: int = 1000,
        kinds: Sequence[str] = ("linear", "cosine"),
        seed: int = 0,
    ):
        g = torch.Generator().manual_seed(seed)
        x0, p0 = image.detach().float().cpu(), points.detach().float().cpu()
        eps_image, eps_points = (
            torch.randn(x0.shape, generator=g),
            torch.randn(p0.shape, generator=g),
        )
        self.T = T
        self.schedules = {kind: Schedule(T, kind) for kind in kinds}
        self.images, self.points = {}, {}
        t = torch.arange(T)  # the library's steps 0..T-1, the slider's 1..T

        def noised(x, eps, schedule):  # (T + 1, ...): x_0, then x_t for every step
            frames = q_sample(x.expand(T, *x.shape), t, eps.expand(T, *eps.shape), schedule)
            return torch.cat([x[None], frames])

        for kind, schedule in self.schedules.items():
            self.images[kind] = noised(x0, eps_image, schedule)  # (T + 1, C, H, W)
            self.points[kind] = noised(p0, eps_points, schedule)  # (T + 1, N, 2)
        super().__init__(
            {
                "t": widgets.IntSlider(
                    0,
                    0,
                    T,
                    description="t",
                    continuous_update=True,
                    layout=widgets.Layout(width="420px"),
                ),
                "kind": widgets.ToggleButtons(options=list(kinds), description="schedule"),
            },
            figsize=(11, 3.4),
        )

    def setup(self):
        ax_image, ax_points, self.ax_snr = self.fig.subplots(1, 3, width_ratios=[1, 1, 1.6])
        first = next(iter(self.images))
        self.image_artist = ax_image.imshow(_grid(self.images[first][:1]), interpolation="nearest")
        ax_image.set_axis_off()
        self.image_title = ax_image.set_title("")
        self.points_artist = ax_points.scatter(*self.points[first][0].T, s=2, alpha=0.5)
        ax_points.set(xlim=(-3, 3), ylim=(-3, 3), aspect="equal", title="2-D data")
        ts = np.arange(1, self.T + 1)  # the paper's t
        self.snr_lines = {}
        for kind, schedule in self.schedules.items():
            snr = (schedule.alpha_bar / (1 - schedule.alpha_bar)).numpy()
            (self.snr_lines[kind],) = self.ax_snr.plot(ts, np.log10(snr), label=kind)
        self.snr_marker = self.ax_snr.axvline(0, color="k", ls=":")
        (self.snr_dot,) = self.ax_snr.plot([], [], "o", color="k")
        self.ax_snr.set(xlabel="t", ylabel="log10 SNR(t)")
        self.ax_snr.legend(loc="upper right")

    def draw(self, t: int, kind: str):  # t: the paper's t, shown on screen
        alpha_bar = self.schedules[kind].alpha_bar[t - 1].item() if t > 0 else 1.0
        snr = alpha_bar / (1 - alpha_bar) if t > 0 else float("inf")
        image, points = self.images[kind][t], self.points[kind][t]
        self.image_artist.set_data(_grid(image[None]))
        self.image_title.set_text(f"x_t, t = {t}" if t else "x_0 (t = 0)")
        self.points_artist.set_offsets(points.numpy())
        for k, line in self.snr_lines.items():
            line.set_linewidth(2.5 if k == kind else 1)
            line.set_alpha(1 if k == kind else 0.4)
        self.snr_marker.set_xdata([max(t, 1)] * 2)
        self.snr_dot.set_data([t], [np.log10(snr)] if t else [np.nan])
        self.ax_snr.set_title(f"{kind}: alpha_bar_t = {alpha_bar:.4f}, SNR = {snr:.3g}")
        self.shown = {
            "t": t,
            "kind": kind,
            "image": image,
            "points": points,
            "alpha_bar": alpha_bar,
            "snr": snr,
        }

    def animation_states(self):
        kind = self.controls["kind"].value
        steps = [
            0,
            5,
            10,
            20,
            35,
            50,
            75,
            100,
            150,
            200,
            250,
            300,
            400,
            500,
            600,
            700,
            800,
            900,
            self.T,
        ]
        return [{"t": t, "kind": kind} for t in steps if t <= self.T]


class ReverseChain(Explorer):
    """One stored sampling run: x_t (left) and the predicted x_0 (right) at each kept step.

    trajectory: {t: (x_t, x0_hat)}, each (B, C, H, W), as ``diffusion.ddpm_sample`` and
    ``diffusion.ddim_sample`` return it for their ``keep`` steps; the slider runs from the
    noisiest kept step to t = 0, in sampling order. Shows the first ``n`` images.
    """

    name = "reverse_chain"

    def __init__(self, trajectory: dict, n: int = 16, title: str = "reverse chain"):
        if not trajectory:
            raise ValueError("the trajectory is empty: sample with keep=(...) to store some steps")
        self.trajectory = {t: (x[:n].cpu(), x0[:n].cpu()) for t, (x, x0) in trajectory.items()}
        self.title = title
        super().__init__(
            {"t": _stepper(sorted(self.trajectory, reverse=True), "t")},
            figsize=(8, 4.3),
        )

    def setup(self):
        axes = self.fig.subplots(1, 2)
        x, x0 = next(iter(self.trajectory.values()))
        self.artists = [ax.imshow(_grid(x), interpolation="nearest") for ax in axes]
        self.titles = [ax.set_title("") for ax in axes]
        for ax in axes:
            ax.set_axis_off()
        self.suptitle = self.fig.suptitle("")

    def draw(self, t: int):
        x, x0 = self.trajectory[t]
        self.artists[0].set_data(_grid(x.clamp(-1, 1)))
        self.artists[1].set_data(_grid(x0.clamp(-1, 1)))
        self.titles[0].set_text(f"x_t at t = {t}")
        self.titles[1].set_text("predicted x_0")
        self.suptitle.set_text(self.title)
        self.shown = {"t": t, "x_t": x, "x0_hat": x0}

    def animation_states(self):
        return [{"t": t} for t in _spread(self.controls["t"].options, 14)]


class GANTraining(Explorer):
    """Training snapshots of a GAN, one slider position per snapshot.

    snapshots: {step: images (N, C, H, W)} (the fixed-noise grid) or, for 2-D data,
    {step: (points (N, 2), surface (n, n), ...)} with D(x) on a grid over [-lim, lim]^2;
    anything after the surface (such as a mode-coverage pair) is shown in the title.
    """

    name = "gan_training"

    def __init__(
        self, snapshots: dict, lim: float = 3.0, nrow: int = 10, modes: torch.Tensor | None = None
    ):
        if not snapshots:
            raise ValueError("no snapshots: train with snapshot_every > 0 (or keep some steps)")
        self.snapshots, self.lim, self.nrow, self.modes = snapshots, lim, nrow, modes
        self.is_2d = isinstance(next(iter(snapshots.values())), tuple)
        super().__init__(
            {"step": _stepper(sorted(snapshots), "step")},
            figsize=(4.2, 4.4) if self.is_2d else (6, 0.6 + 6 * self._rows() / nrow),
        )

    def _rows(self) -> int:
        n = next(iter(self.snapshots.values())).shape[0]
        return -(-n // self.nrow)

    def setup(self):
        self.ax = self.fig.subplots()
        first = self.snapshots[min(self.snapshots)]
        if self.is_2d:
            points, surface = first[0], first[1]
            self.surface = self.ax.imshow(
                np.asarray(surface.cpu()),
                extent=(-self.lim, self.lim) * 2,
                origin="lower",
                cmap="viridis",
                vmin=0,
                vmax=1,
            )
            if self.modes is not None:
                self.ax.scatter(*self.modes.T, marker="x", color="white", s=30)
            self.points = self.ax.scatter(*points.cpu().T, s=2, color="tab:red")
            self.ax.set(
                xlim=(-self.lim, self.lim), ylim=(-self.lim, self.lim), xticks=[], yticks=[]
            )
        else:
            self.grid = self.ax.imshow(_grid(first, self.nrow), interpolation="nearest")
            self.ax.set_axis_off()
        self.title = self.ax.set_title("")

    def draw(self, step: int):
        snap = self.snapshots[step]
        if self.is_2d:
            points, surface, *rest = snap
            self.surface.set_data(np.asarray(surface.cpu()))
            self.points.set_offsets(points.cpu().numpy())
            title = f"step {step}: samples (red) over D(x)"
            if rest and isinstance(rest[0], tuple) and len(rest[0]) == 2:
                of = f"/{len(self.modes)}" if self.modes is not None else ""
                title = f"step {step}: {rest[0][0]}{of} modes, {rest[0][1]:.0%} good"
            self.shown = {"step": step, "samples": points, "surface": surface}
        else:
            self.grid.set_data(_grid(snap, self.nrow))
            title = f"G(fixed z) at step {step}"
            self.shown = {"step": step, "samples": snap}
        self.title.set_text(title)

    def animation_states(self):
        return [{"step": s} for s in _spread(self.controls["step"].options, 12)]


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
            figsize=(8, 4),
        )

    def index(self, value: float) -> int:
        """The grid index nearest to a slider value."""
        return int(round((value + self.lim) / (2 * self.lim) * (self.n - 1)))

    def setup(self):
        ax_map, ax_image = self.fig.subplots(1, 2)
        if self.codes is not None:
            codes = self.codes.detach().cpu()
            colors = None if self.labels is None else self.labels.cpu().numpy()
            points = ax_map.scatter(codes[:, 0], codes[:, 1], c=colors, cmap="tab10", s=8)
            if self.labels is not None:
                ax_map.legend(
                    *points.legend_elements(), fontsize=7, loc="upper right", title="label"
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
        return [{"z1": a1 + u * (b1 - a1), "z2": a2 + u * (b2 - a2)} for u in np.linspace(0, 1, 21)]


class Guidance(Explorer):
    """Samples of one class at several guidance scales w, from the same noise.

    samples: (num_classes, len(scales), n, C, H, W), all precomputed (``from_model`` draws
    them); a slider picks w and a menu the class.
    """

    name = "guidance"

    def __init__(
        self,
        samples: torch.Tensor,
        scales: Sequence[float],
        class_names: Sequence[str] | None = None,
    ):
        if samples.ndim != 6 or samples.shape[1] != len(scales):
            raise ValueError(
                f"expected samples (num_classes, {len(scales)} scales, n, C, H, W), got {tuple(samples.shape)}"
            )
        self.samples, self.scales = samples.cpu(), list(scales)
        self.names = names = list(class_names or map(str, range(samples.shape[0])))
        super().__init__(
            {
                "w": _stepper(self.scales, "w", width="360px"),
                "label": widgets.Dropdown(
                    options=[(name, i) for i, name in enumerate(names)],
                    value=0,
                    description="class",
                ),
            },
            figsize=(6, 1.6),
        )

    @classmethod
    def from_model(
        cls,
        model,
        cfg,
        scales: Sequence[float],
        n: int = 10,
        seed: int = 0,
        steps: int = 50,
        device: torch.device | str = "cpu",
        class_names: Sequence[str] | None = None,
    ) -> Guidance:
        """Draw n DDIM samples per class and scale from a conditional DDPM; every (class, w) starts from the same x_T."""
        from .ddpm import sample

        per_scale = []
        labels = torch.arange(cfg.num_classes).repeat_interleave(n)
        for w in scales:
            x = sample(
                model,
                cfg,
                len(labels),
                torch.Generator().manual_seed(seed),
                device,
                labels=labels,
                guidance=w,
                sampler="ddim",
                steps=steps,
            )
            per_scale.append(x.cpu().reshape(cfg.num_classes, n, *x.shape[1:]))
        return cls(torch.stack(per_scale, 1), scales, class_names)

    def setup(self):
        self.ax = self.fig.subplots()
        self.artist = self.ax.imshow(
            _grid(self.samples[0, 0], nrow=self.samples.shape[2]), interpolation="nearest"
        )
        self.ax.set_axis_off()
        self.title = self.ax.set_title("")

    def draw(self, w: float, label: int):
        images = self.samples[label, self.scales.index(w)]
        self.artist.set_data(_grid(images, nrow=len(images)))
        self.title.set_text(f"class {self.names[label]}, guidance w = {w:g}")
        self.shown = {"w": w, "label": label, "images": images}

    def animation_states(self):
        label = self.controls["label"].value
        return [{"w": w, "label": label} for w in self.scales]
