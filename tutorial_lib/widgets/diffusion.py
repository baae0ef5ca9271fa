"""Explorers of diffusion: the forward process (notebook 03), one stored reverse chain
(notebook 04), and guided samples per scale (notebook 05)."""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np
import torch

from ..diffusion import Schedule, q_sample
from .core import FRAMES, Explorer, _grid, _spread, _stepper


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
        self.image_title.set_text(f"$x_t$, $t$ = {t}" if t else "$x_0$ ($t$ = 0)")
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
        steps = [0, 10, 25, 50, 100, 150, 200, 300, 400, 600, 800, self.T]
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
        self.titles[0].set_text(f"$x_t$ at $t$ = {t}")
        self.titles[1].set_text("predicted $\\hat x_0$")
        self.suptitle.set_text(self.title)
        self.shown = {"t": t, "x_t": x, "x0_hat": x0}

    def animation_states(self):
        return [{"t": t} for t in _spread(self.controls["t"].options, FRAMES)]


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
        from ..ddpm import sample

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
