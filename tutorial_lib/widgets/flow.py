"""The explorer of notebook 07: flow-matching trajectories beside DDPM (DDIM) ones from the same
starting noise, scrubbed along t."""

from __future__ import annotations

import torch

from .core import FRAMES, Explorer, _grid, _spread, _stepper


class Trajectories(Explorer):
    """Two samplers from the same noise, step by step: for each, the current state x_t and the
    end point it predicts, x0_hat, for a batch of images; a slider walks the steps.

    paths: {name: (ts (K + 1,), states (K + 1, B, C, H, W), predictions (K + 1, B, C, H, W))},
    the time (a fraction of the way from noise, 1, to data, 0), the state and the predicted
    x_0 at every step, the same number of steps for each name (``from_models`` computes them).
    Shows the first ``n`` images of each.
    """

    name = "trajectories"

    def __init__(self, paths: dict, n: int = 8):
        lengths = {len(ts) for ts, _, _ in paths.values()}
        if len(lengths) != 1 or not paths:
            raise ValueError("give every sampler the same number of steps")
        self.paths = {
            name: (ts, x[:, :n].cpu(), x0[:, :n].cpu()) for name, (ts, x, x0) in paths.items()
        }
        self.n = min(n, next(iter(paths.values()))[1].shape[1])
        rows = 2 * len(paths)
        super().__init__(  # a digit about an inch wide: the GIF is stored in the notebook
            {"step": _stepper(range(lengths.pop()), "step")},
            figsize=(max(4.5, 0.9 * self.n + 0.2), 0.3 + rows * 1.05),
        )

    @classmethod
    def from_models(
        cls, flow_model, flow_cfg, ddpm_model, ddpm_cfg, n=8, steps=20, seed=0, device="cpu"
    ):
        """Euler on the flow model and DDIM on the DDPM, ``steps`` network calls each, from the
        same x_1 = x_T ~ N(0, I) (drawn with ``seed``)."""
        from .. import diffusion, flow
        from ..ddpm import in_slices

        shape = (n, *flow_cfg.image_shape)
        noise = torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(device)
        grid = flow.times(steps)
        _, states = flow.solve(in_slices(flow_model, shape[1:]), noise, grid, keep=True)
        h = grid[1] - grid[0]
        velocity = (states[1:] - states[:-1]) / h  # Euler's velocity at each step
        ts = grid[:-1].view(-1, 1, 1, 1, 1).float()
        flow_x0 = torch.cat([states[:-1] - ts * velocity, states[-1:]])

        schedule = diffusion.Schedule(ddpm_cfg.T, ddpm_cfg.schedule)
        taus = diffusion.ddim_timesteps(schedule, steps)
        x, kept = diffusion.ddim_sample(
            in_slices(ddpm_model, shape[1:]),
            shape,
            schedule,
            steps,
            generator=torch.Generator().manual_seed(seed),
            device=device,
            clip_x0=True,
            keep=tuple(taus),
        )
        ddpm_x = torch.stack([kept[t][0] for t in taus] + [x.cpu()])
        ddpm_x0 = torch.stack([kept[t][1].clamp(-1, 1) for t in taus] + [x.cpu()])
        ddpm_ts = torch.tensor([*(t / (schedule.T - 1) for t in taus), 0.0])
        return cls(
            {
                "flow matching, Euler": (grid.float(), states, flow_x0),
                "DDPM, DDIM": (ddpm_ts, ddpm_x, ddpm_x0),
            },
            n,
        )

    def setup(self):
        axes = self.fig.subplots(2 * len(self.paths), 1)
        first = next(iter(self.paths.values()))[1][0]
        self.artists = [
            ax.imshow(_grid(first, nrow=self.n), interpolation="nearest") for ax in axes
        ]
        self.titles = [ax.set_title("", fontsize=9) for ax in axes]
        for ax in axes:
            ax.set_axis_off()

    def draw(self, step: int):
        self.shown = {"step": step}
        for i, (name, (ts, x, x0)) in enumerate(self.paths.items()):
            self.artists[2 * i].set_data(_grid(x[step].clamp(-1, 1), nrow=self.n))
            self.artists[2 * i + 1].set_data(_grid(x0[step].clamp(-1, 1), nrow=self.n))
            self.titles[2 * i].set_text(f"{name}: $x_t$ at $t$ = {ts[step]:.2f}")
            self.titles[2 * i + 1].set_text(f"{name}: the $\\hat x_0$ it predicts")
            self.shown[name] = {"t": float(ts[step]), "x_t": x[step], "x0_hat": x0[step]}

    def animation_states(self):
        return [{"step": s} for s in _spread(self.controls["step"].options, FRAMES)]
