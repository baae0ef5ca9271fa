"""Flow matching and the four parameterisations, checked against Gaussian oracles: the exact
velocity field of Gaussian data minimises the loss and its ODE reproduces the data; Heun beats
Euler; the conversions between eps, x_0, score and velocity invert each other and agree with
the exact score; DDIM is Euler's method on the DDPM's probability-flow ODE; the command line."""

import math

import numpy as np
import pytest
import torch

from tutorial_lib import diffusion as dif
from tutorial_lib import flow, paths, toy
from tutorial_lib.cli import main

MEAN = torch.tensor([1.0, -0.5])
COV = torch.tensor([[0.5, 0.3], [0.3, 0.4]])


def exact_map(x_1: torch.Tensor) -> torch.Tensor:
    """Where the exact ODE of N(MEAN, COV) carries x_1: MEAN + COV^{1/2} x_1."""
    values, vectors = torch.linalg.eigh(COV.double())
    root = vectors @ torch.diag(values.sqrt()) @ vectors.T
    return MEAN.double() + x_1.double() @ root.T


def test_interpolation_and_its_velocity():
    x_0, eps = torch.randn(5, 3), torch.randn(5, 3)
    t = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0])
    x_t = flow.interpolate(x_0, eps, t)
    assert torch.allclose(x_t[0], x_0[0]) and torch.allclose(x_t[-1], eps[-1])
    assert torch.allclose(x_t[2], (x_0[2] + eps[2]) / 2)
    h, start = 1e-3, t.clamp(max=0.99)  # the loss's target is the time derivative of the path
    slope = (flow.interpolate(x_0, eps, start + h) - flow.interpolate(x_0, eps, start)) / h
    assert torch.allclose(slope, eps - x_0, atol=1e-3)
    same = flow.flow_matching_loss(lambda x, t: x, x_0, t, eps)  # a model that returns x_t
    assert same.item() == pytest.approx(((x_t - (eps - x_0)) ** 2).mean().item())


def test_the_exact_velocity_of_gaussian_data_minimises_the_flow_matching_loss():
    g = torch.Generator().manual_seed(0)
    n = 100_000
    x_0 = MEAN + torch.randn(n, 2, generator=g) @ torch.linalg.cholesky(COV).T
    eps, t = torch.randn(n, 2, generator=g), torch.rand(n, generator=g)
    best = toy.gaussian_velocity(MEAN, COV)
    nudge = torch.tensor([[0.3, -0.2], [0.1, 0.4]])  # any other field: v* + c (A x + t)

    def loss(c: float) -> float:
        model = lambda x, t: best(x, t) + c * (x @ nudge.T + t[:, None])  # noqa: E731
        return flow.flow_matching_loss(model, x_0, t, eps).item()

    cs = [-0.2, -0.1, 0.0, 0.1, 0.2]
    curvature, slope, _ = np.polyfit(cs, [loss(c) for c in cs], 2)
    # the loss is a parabola in c; at the optimum its slope, the correlation of the residual
    # with the nudge, vanishes: the minimiser -slope / (2 curvature) is 0 up to Monte Carlo error
    assert curvature > 0 and abs(slope / (2 * curvature)) < 0.01
    assert loss(0.0) < min(loss(-0.05), loss(0.05))


def test_euler_on_the_exact_velocity_reproduces_the_gaussian():
    g = torch.Generator().manual_seed(1)
    n = 4000
    x_1 = torch.randn(n, 2, generator=g, dtype=torch.float64)
    x_0, path = flow.solve(toy.gaussian_velocity(MEAN, COV), x_1, flow.times(200), keep=True)
    assert path.shape == (201, n, 2) and torch.equal(path[-1], x_0)
    # standard errors: mean sqrt(var / n) ~ 0.011; covariance entries ~ sqrt(2 / n) * var ~ 0.011
    assert torch.allclose(x_0.mean(0), MEAN.double(), atol=0.05)
    assert torch.allclose(torch.cov(x_0.T), COV.double(), atol=0.05)
    assert (x_0 - exact_map(x_1)).norm(dim=1).mean() < 0.01  # and each point lands where it should


def solver_error(solver: str, steps: int) -> float:
    x_1 = torch.randn(500, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    x_0, _ = flow.solve(toy.gaussian_velocity(MEAN, COV), x_1, flow.times(steps), solver)
    return (x_0 - exact_map(x_1)).norm(dim=1).mean().item()


def test_heun_reaches_eulers_error_with_far_fewer_network_calls():
    heun = solver_error("heun", 5)  # 10 network calls
    assert heun < 0.01
    assert solver_error("euler", 10) > 4 * heun  # the same 10 calls
    assert solver_error("euler", 50) > heun  # five times as many calls, still worse
    # the orders: halving the step divides Euler's error by 2 and Heun's by 4
    assert solver_error("euler", 20) / solver_error("euler", 40) == pytest.approx(2, rel=0.15)
    assert solver_error("heun", 10) / solver_error("heun", 20) == pytest.approx(4, rel=0.2)
    assert flow.evaluations("heun", 5) == flow.evaluations("euler", 10) == 10


def test_straightness_of_a_line_and_of_a_quarter_circle():
    s = torch.linspace(0, 1, 101)
    line = torch.stack([s**2, 2 * s**2], dim=1)[:, None]  # (K + 1, B = 1, 2), speeding up
    assert flow.straightness(line).item() == pytest.approx(0, abs=1e-6)
    angle = torch.linspace(0, math.pi / 2, 1001, dtype=torch.float64)
    arc = torch.stack([angle.cos(), angle.sin()], dim=1)[:, None]
    # the chord from (1, 0) to (0, 1) has length sqrt 2; the arc's farthest point is 1 - cos 45°
    expected = (1 - math.cos(math.pi / 4)) / math.sqrt(2)
    assert flow.straightness(arc).item() == pytest.approx(expected, abs=1e-3)


# ---------------------------------------------------------------- the four parameterisations
def points(x: torch.Tensor):
    """A flow point and a DDPM point at assorted times, for a batch like x."""
    schedule = dif.Schedule(1000)
    t = torch.linspace(0.05, 0.95, x.shape[0], dtype=torch.float64)
    steps = torch.linspace(0, 999, x.shape[0]).long()
    return {
        "flow": paths.flow_point(t, x),
        "ddpm": paths.ddpm_point(schedule, steps, x),
    }


@pytest.mark.parametrize("path", ["flow", "ddpm"])
def test_the_conversions_are_exact_inverses_of_each_other(path):
    g = torch.Generator().manual_seed(3)
    x_0, eps = torch.randn(2, 8, 3, generator=g, dtype=torch.float64)
    p = points(x_0)[path]
    x_t = p.a * x_0 + p.s * eps
    truth = {"eps": eps, "x0": x_0, "velocity": p.da * x_0 + p.ds * eps}
    truth["score"] = -eps / p.s  # of q(x_t | x_0), whose expectation is the score (Tweedie)
    for source in paths.PARAMETERISATIONS:
        for target in paths.PARAMETERISATIONS:
            got = paths.convert(truth[source], source, target, x_t, p)
            assert torch.allclose(got, truth[target], atol=1e-9), (source, target)
    if path == "flow":
        assert torch.allclose(truth["velocity"], eps - x_0)
    else:  # the DDPM's velocity in the angle clock is Salimans & Ho's v = sqrt(ab) eps - sqrt(1 - ab) x_0
        assert torch.allclose(truth["velocity"], p.a * eps - p.s * x_0)
    with pytest.raises(Exception, match="unknown parameterisation 'noise'"):
        paths.convert(eps, "noise", "x0", x_t, p)


@pytest.mark.parametrize("path", ["flow", "ddpm"])
def test_converted_predictions_of_gaussian_data_are_the_exact_score_and_velocity(path):
    """The exact eps-predictor of N(MEAN, COV), converted, is the score of the noised
    distribution (by autograd on its log density) and, on the flow's path, the exact velocity."""
    schedule = dif.Schedule(1000)
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    p = points(x)[path]
    if path == "flow":
        t = p.s.view(-1)
        v_exact = toy.gaussian_velocity(MEAN, COV)(x, t)
        eps = paths.eps_from_velocity(x, v_exact, p)
    else:
        steps = torch.linspace(0, 999, x.shape[0]).long()
        eps = toy.gaussian_denoiser(MEAN, COV, schedule)(x, steps)
    x = x.clone().requires_grad_(True)
    a, s = p.a.view(-1, 1, 1), p.s.view(-1, 1, 1)
    noised = torch.distributions.MultivariateNormal(
        a.view(-1, 1) * MEAN.double(),
        a**2 * COV.double() + s**2 * torch.eye(2, dtype=torch.float64),
    )
    (score,) = torch.autograd.grad(noised.log_prob(x).sum(), x)
    assert torch.allclose(paths.convert(eps, "eps", "score", x.detach(), p), score, atol=1e-8)
    x0 = paths.convert(eps, "eps", "x0", x.detach(), p)
    assert torch.allclose(paths.convert(x0, "x0", "score", x.detach(), p), score, atol=1e-8)


# ---------------------------------------------------------------- DDIM is Euler on the PF-ODE
def test_ddim_is_euler_on_the_probability_flow_ode():
    schedule = dif.Schedule(1000)
    model = toy.gaussian_denoiser(MEAN, COV, schedule)
    n, steps = 2000, 10
    x_ddim, _ = dif.ddim_sample(
        model, (n, 2), schedule, steps, generator=torch.Generator().manual_seed(5)
    )
    x_T = torch.randn(n, 2, generator=torch.Generator().manual_seed(5))  # DDIM's first draw
    velocity, sigmas = paths.probability_flow(model, schedule, steps)
    assert sigmas[-1] == 0 and bool((sigmas[:-1] > sigmas[1:]).all())
    xbar = x_T * math.sqrt(1 + sigmas[0].item() ** 2)  # x_T / sqrt(alpha_bar)
    x_euler, _ = flow.solve(velocity, xbar, sigmas, "euler")
    assert torch.allclose(x_euler, x_ddim, atol=1e-4)  # the same steps, up to rounding
    # Heun on the same ODE is another sampler, closer to the ODE's exact end
    x_heun, _ = flow.solve(velocity, xbar, sigmas, "heun")
    values, vectors = torch.linalg.eigh(COV.double())
    big = sigmas[0].item() ** 2
    gain = vectors @ torch.diag((values / (values + big)).sqrt()) @ vectors.T
    exact = MEAN.double() + (xbar.double() - MEAN.double()) @ gain.T  # xbar = x_0 + sigma eps
    err = lambda x: (x.double() - exact).norm(dim=1).mean().item()  # noqa: E731
    assert err(x_heun) < err(x_euler) / 3


# ---------------------------------------------------------------- the command line
def test_cli_round_trip_pixels_conditional_and_latent(tmp_path, capsys):
    digits = ["--dataset", "digits"]
    run, latent, vae = tmp_path / "flow", tmp_path / "latent", tmp_path / "vae"
    assert main(["train", "flow", *digits, "--steps", "5", "--width", "8", "--out", str(run)]) == 0
    assert main(["train", "vae", *digits, "--steps", "5", "--out", str(vae)]) == 0
    assert (
        main(
            ["train", "flow", *digits, "--conditional", "--latent-of", str(vae), "--steps", "20"]
            + ["--out", str(latent)]
        )
        == 0
    )
    for folder, extra in [
        (run, ["--solver", "heun", "--steps", "3"]),
        (latent, ["--labels", "3,5", "--guidance", "1"]),
    ]:
        out = tmp_path / f"{folder.name}.npz"
        assert main(["sample", str(folder), "--n", "6", *extra, "--out", str(out)]) == 0
        with np.load(out) as f:
            assert f["images"].shape == (6, 8, 8) and f["images"].dtype == np.uint8
            if folder == latent:
                assert f["labels"].tolist() == [3, 3, 3, 5, 5, 5]
    capsys.readouterr()
    for folder, args, message in [
        (run, ["--solver", "rk4"], "unknown solver 'rk4'; choose one of euler, heun"),
        (run, ["--steps", "0"], "--steps must be at least 1, got 0"),
        (run, ["--sampler", "ddim"], "--sampler applies to ddpm models"),
        (run, ["--labels", "3"], "need a model trained with --conditional"),
    ]:
        assert (
            main(["sample", str(folder), "--n", "2", *args, "--out", str(tmp_path / "x.npz")]) == 2
        )
        assert message in capsys.readouterr().err
    bad = [
        (["--dataset", "mnist10k", "--latent-of", str(vae)], "is a VAE of digits, not of mnist10k"),
        ([*digits, "--latent-of", str(run)], "holds a 'flow' model, but a 'vae' model"),
    ]
    for args, message in bad:
        assert main(["train", "flow", *args, "--out", str(tmp_path / "bad")]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_at_28x28_the_flow_model_trains_the_ddpms_unet_with_its_recipe():
    """The equal-time comparison of notebook 07 rests on this: the same network, steps, batch,
    learning rate and moving average; only the loss and the time input differ."""
    from tutorial_lib import ddpm
    from tutorial_lib.data import load_dataset

    data = load_dataset("mnist10k", split="test")
    f, d = flow.config_for(data), ddpm.config_for(data)
    for key in ("image_shape", "width", "mults", "attention", "ema", "batch_size", "steps", "lr"):
        assert getattr(f, key) == getattr(d, key), key
    unet, velocity = ddpm.build(d), flow.build(f)
    assert sum(p.numel() for p in unet.parameters()) == sum(
        p.numel() for p in velocity.parameters()
    )
    x, t = torch.randn(2, 1, 28, 28), torch.tensor([0.25, 0.5])
    velocity.net.load_state_dict(unet.state_dict())
    assert torch.equal(velocity(x, t), unet(x, 1000 * t))  # t in [0, 1] enters as 1000 t
