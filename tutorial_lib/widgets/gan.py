"""The explorer of GAN training: samples over D(x), or a fixed-noise grid, per snapshot (notebook 01)."""

from __future__ import annotations

import numpy as np
import torch

from .core import FRAMES, Explorer, _grid, _spread, _stepper


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
        return [{"step": s} for s in _spread(self.controls["step"].options, 2 * FRAMES)]
