"""Explorers of the applications (notebook 08): an inpainting run step by step, and SDEdit over
the noise level t_0 it starts from."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .core import FRAMES, Explorer, _grid, _spread, _stepper


class Inpainting(Explorer):
    """One stored inpainting run: the image with its hole (left), x_t (middle) and the predicted
    x_0 (right) at each kept reverse step, from the noisiest to the last.

    known (B, C, H, W) and mask (B, C, H, W) (1: known) are the run's input; trajectory
    {t: (x_t, x0_hat)} as ``diffusion.inpaint`` (or ``ddpm.inpaint``) returns it for its
    ``keep`` steps. The hole is drawn mid-grey. Shows the first ``n`` images.
    """

    name = "inpainting"

    def __init__(self, known, mask, trajectory: dict, n: int = 8, title: str = "inpainting"):
        if not trajectory:
            raise ValueError("the trajectory is empty: inpaint with keep=(...) to store some steps")
        known, mask = known[:n].cpu(), mask[:n].cpu()
        self.holed = known * mask  # missing pixels at 0, mid-grey
        self.trajectory = {t: (x[:n].cpu(), x0[:n].cpu()) for t, (x, x0) in trajectory.items()}
        self.title, self.n = title, len(known)
        super().__init__(
            {"t": _stepper(sorted(self.trajectory, reverse=True), "step")},
            figsize=(9, 0.8 + 3 * 9 / self.n),
        )

    def setup(self):
        axes = self.fig.subplots(3, 1)
        x, _ = next(iter(self.trajectory.values()))
        first = [self.holed, x, x]
        self.artists = [
            ax.imshow(_grid(f, nrow=self.n), interpolation="nearest")
            for ax, f in zip(axes, first, strict=True)
        ]
        self.titles = [ax.set_title("", fontsize=9) for ax in axes]
        for ax in axes:
            ax.set_axis_off()
        self.suptitle = self.fig.suptitle("")

    def draw(self, t: int):
        x, x0 = self.trajectory[t]
        self.artists[1].set_data(_grid(x.clamp(-1, 1), nrow=self.n))
        self.artists[2].set_data(_grid(x0.clamp(-1, 1), nrow=self.n))
        self.titles[0].set_text("the input: grey pixels are missing")
        self.titles[1].set_text(f"$x_t$ at step {t}")
        self.titles[2].set_text("predicted $\\hat x_0$")
        self.suptitle.set_text(self.title)
        self.shown = {"t": t, "x_t": x, "x0_hat": x0}

    def animation_states(self):
        return [{"t": t} for t in _spread(self.controls["t"].options, FRAMES)]


class SDEdit(Explorer):
    """SDEdit's trade-off: the guides (top), the guides noised to t_0 (middle) and the edited
    images (bottom), for each t_0 of a slider.

    guides (B, C, H, W); noised and edited {t_0: (B, C, H, W)}, precomputed (``from_model``
    draws them with ``ddpm.edit``). The same noise is used at every t_0. Shows the first ``n``.
    """

    name = "sdedit"

    def __init__(self, guides: torch.Tensor, noised: dict, edited: dict, n: int = 10):
        if sorted(noised) != sorted(edited) or not edited:
            raise ValueError("noised and edited need the same t_0 values, at least one")
        self.guides = guides.cpu()
        self.noised = {k: v.cpu() for k, v in noised.items()}
        self.edited = {k: v.cpu() for k, v in edited.items()}
        self.n = min(n, len(guides))
        super().__init__(
            {"t_0": _stepper(sorted(edited), "t_0")}, figsize=(9, 0.8 + 3 * 9 / self.n)
        )

    @classmethod
    def from_model(
        cls,
        model,
        cfg,
        guides: torch.Tensor,
        t_0s: Sequence[float],
        steps: int = 40,
        seed: int = 0,
        device="cpu",
    ) -> SDEdit:
        """Edit ``guides`` with a DDPM (``ddpm.edit``) from each t_0, the same noise for every t_0."""
        from ..ddpm import edit, edit_start

        noised, edited = {}, {}
        for t_0 in t_0s:
            top = edit_start(t_0, steps)
            x, trajectory = edit(
                model,
                cfg,
                guides,
                t_0,
                steps,
                torch.Generator().manual_seed(seed),
                device,
                keep=(top,),
            )
            noised[t_0], edited[t_0] = trajectory[top][0], x.cpu()
        return cls(guides, noised, edited)

    def setup(self):
        axes = self.fig.subplots(3, 1)
        first = next(iter(self.edited.values()))
        self.artists = [
            ax.imshow(_grid(f, nrow=self.n), interpolation="nearest")
            for ax, f in zip(
                axes, [self.guides[: self.n], first[: self.n], first[: self.n]], strict=True
            )
        ]
        self.titles = [ax.set_title("", fontsize=9) for ax in axes]
        for ax in axes:
            ax.set_axis_off()

    def draw(self, t_0: float):
        self.artists[1].set_data(_grid(self.noised[t_0][: self.n].clamp(-1, 1), nrow=self.n))
        self.artists[2].set_data(_grid(self.edited[t_0][: self.n], nrow=self.n))
        self.titles[0].set_text("the guides")
        self.titles[1].set_text(f"noised to $t_0$ = {t_0:g} of the way to noise")
        self.titles[2].set_text("after the reverse chain from $t_0$")
        self.shown = {"t_0": t_0, "noised": self.noised[t_0], "edited": self.edited[t_0]}

    def animation_states(self):
        return [{"t_0": t} for t in self.controls["t_0"].options]
