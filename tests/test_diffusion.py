import math

import numpy as np
import pytest
import torch

from tutorial_lib import ddpm, likelihoods, nets, toy
from tutorial_lib import diffusion as dif
from tutorial_lib.cli import main
from tutorial_lib.utils import CourseError


def test_linear_schedule_values_against_an_independent_computation():
    s = dif.Schedule(1000, "linear")
    betas = [1e-4 + (0.02 - 1e-4) * i / 999 for i in range(1000)]
    for t in (0, 99, 499, 999):
        expected = math.prod(1 - b for b in betas[: t + 1])
        assert s.alpha_bar[t].item() == pytest.approx(expected, rel=1e-12)
    assert s.alpha_bar[0].item() == pytest.approx(0.9999)
    assert s.alpha_bar[-1].item() == pytest.approx(
        4.036e-5, rel=1e-3
    )  # the value quoted widely for T = 1000


def test_cosine_schedule_against_its_formula():
    s = dif.Schedule(1000, "cosine")
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    for t in (0, 250, 500, 900):
        assert s.alpha_bar[t].item() == pytest.approx(f(t + 1) / f(0), rel=1e-9)
    assert s.beta.max().item() <= 0.999


def test_closed_form_matches_the_iterated_chain():
    """Iterate x_t = sqrt(alpha_t) x_{t-1} + sqrt(1 - alpha_t) eps from fixed x_0; compare with q(x_t | x_0)."""
    s = dif.Schedule(1000, "linear")
    n = 20000
    x0 = torch.tensor([0.8, -0.5]).repeat(n, 1)  # (n, 2)
    g = torch.Generator().manual_seed(0)
    x = x0.clone()
    for t in range(300):
        x = dif.q_step(x, torch.full((n,), t), torch.randn(n, 2, generator=g), s)
    ab = s.alpha_bar[299].item()
    mean, var = math.sqrt(ab) * x0[0], 1 - ab
    # tolerances: 5 standard errors of the sample mean and of the sample variance
    assert torch.all((x.mean(0) - mean).abs() < 5 * math.sqrt(var / n))
    assert torch.all((x.var(0) - var).abs() < 5 * var * math.sqrt(2 / n))
    direct = dif.q_sample(x0, torch.full((n,), 299), torch.randn(n, 2, generator=g), s)
    assert torch.all((direct.mean(0) - mean).abs() < 5 * math.sqrt(var / n))


def test_posterior_matches_bayes_rule():
    s = dif.Schedule(1000, "linear")
    x0, xt = torch.tensor([[0.7]]), torch.tensor([[0.2]])
    for step in (1, 10, 500, 999):
        t = torch.tensor([step])
        ab_prev, a, b = s.alpha_bar[step - 1].item(), s.alpha[step].item(), s.beta[step].item()
        # prior x_{t-1} ~ N(sqrt(ab_prev) x0, 1 - ab_prev); likelihood x_t ~ N(sqrt(a) x_{t-1}, b)
        precision = 1 / (1 - ab_prev) + a / b
        mean = (math.sqrt(ab_prev) * 0.7 / (1 - ab_prev) + math.sqrt(a) * 0.2 / b) / precision
        got_mean, got_var = dif.q_posterior(x0, xt, t, s)
        assert got_mean.item() == pytest.approx(mean, rel=1e-5)
        assert got_var.item() == pytest.approx(1 / precision, rel=1e-5)


MEAN = torch.tensor([1.0, -0.5])
COV = torch.tensor([[0.5, 0.3], [0.3, 0.4]])


def test_analytic_denoiser_minimises_the_simple_loss():
    s = dif.Schedule(1000)
    g = torch.Generator().manual_seed(0)
    n = 50000
    x0 = MEAN + torch.randn(n, 2, generator=g) @ torch.linalg.cholesky(COV).T
    t = torch.randint(0, 1000, (n,), generator=g)
    eps = torch.randn(n, 2, generator=g)
    best = toy.gaussian_denoiser(MEAN, COV, s)
    loss = dif.simple_loss(best, x0, s, t, eps).item()
    for perturbed in (
        lambda x, t: 1.05 * best(x, t),
        lambda x, t: best(x, t) + 0.03,
        lambda x, t: best(x, t) @ torch.tensor([[1.0, 0.05], [0.0, 1.0]]),
    ):
        assert dif.simple_loss(perturbed, x0, s, t, eps).item() > loss


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_samplers_reproduce_the_data_distribution(sampler):
    s = dif.Schedule(1000)
    model = toy.gaussian_denoiser(MEAN, COV, s)
    g = torch.Generator().manual_seed(1)
    n = 4000
    if sampler == "ddpm":
        x, _ = dif.ddpm_sample(model, (n, 2), s, generator=g)
    else:
        x, _ = dif.ddim_sample(model, (n, 2), s, steps=50, generator=g)
    # standard errors: mean sqrt(var / n) ~ 0.011; covariance entries ~ sqrt(2 / n) * var ~ 0.011
    assert torch.allclose(x.mean(0), MEAN, atol=0.05)
    assert torch.allclose(torch.cov(x.T), COV, atol=0.05)


def test_sampler_trajectories_keep_the_asked_steps():
    s = dif.Schedule(100)
    model = toy.gaussian_denoiser(MEAN, COV, s)
    x, traj = dif.ddpm_sample(model, (8, 2), s, keep=(99, 50, 0))
    assert sorted(traj) == [0, 50, 99] and traj[99][0].shape == (8, 2)
    assert traj[0][0].shape == x.shape
    x, traj = dif.ddim_sample(model, (8, 2), s, steps=10, keep=(99, 0))
    assert sorted(traj) == [0, 99]
    with pytest.raises(CourseError, match="choose beta or beta_tilde"):
        dif.ddpm_sample(model, (8, 2), s, variance="sigma")


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_ddpm_step_noise_scale_is_the_chosen_variance(kind):
    """With eps_hat = 0 and x_t = 0 one step returns sigma_t z: sigma_t^2 is beta_t, or
    beta_tilde_t = beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) written out here in float64."""
    s = dif.Schedule(1000, kind)
    t = torch.tensor([1, 10, 500, 999])
    alpha_bar = torch.cumprod(1 - s.beta, 0)
    beta_tilde = s.beta[t] * (1 - alpha_bar[t - 1]) / (1 - alpha_bar[t])
    z = torch.ones(4, 1, dtype=torch.float64)
    zero = torch.zeros(4, 1, dtype=torch.float64)
    for variance, expected in [("beta", s.beta[t].sqrt()), ("beta_tilde", beta_tilde.sqrt())]:
        got = dif.ddpm_step(zero, t, zero, s, z, variance).squeeze(1)
        torch.testing.assert_close(got, expected, rtol=1e-6, atol=0)
    assert not torch.allclose(beta_tilde, s.beta[t])  # the two choices differ at every step shown


def test_ddim_with_eta_one_over_all_steps_is_ddpm_with_beta_tilde():
    """Song et al. 2021, Sec. 4.1: DDIM with eta = 1 on every step is the DDPM sampler with
    sigma_t^2 = beta_tilde_t. Same noise (the same generator), same result."""
    s = dif.Schedule(100)
    model = toy.gaussian_denoiser(MEAN, COV, s)
    ddpm, _ = dif.ddpm_sample(
        model, (64, 2), s, torch.Generator().manual_seed(3), variance="beta_tilde"
    )
    ddim, _ = dif.ddim_sample(
        model, (64, 2), s, steps=100, eta=1.0, generator=torch.Generator().manual_seed(3)
    )
    torch.testing.assert_close(ddim, ddpm, rtol=1e-4, atol=1e-4)
    paper, _ = dif.ddpm_sample(model, (64, 2), s, torch.Generator().manual_seed(3), variance="beta")
    assert (paper - ddpm).abs().max() > 1e-2  # and sigma^2 = beta_t is a different sampler


def test_ddim_timesteps():
    s = dif.Schedule(1000)
    taus = dif.ddim_timesteps(s, 50)
    assert (
        len(taus) == 50 and taus[0] == 999 and taus[-1] == 0 and taus == sorted(taus, reverse=True)
    )
    assert dif.ddim_timesteps(s, 1000) == list(range(999, -1, -1))
    with pytest.raises(CourseError, match="between 1 and T = 1000, got 1001"):
        dif.ddim_timesteps(s, 1001)


def test_bad_inputs():
    with pytest.raises(
        CourseError, match="unknown beta schedule 'sigmoid'; choose one of linear, cosine"
    ):
        dif.Schedule(1000, "sigmoid")
    s = dif.Schedule(10)
    with pytest.raises(CourseError, match=r"timesteps must lie in \[0, 9\]"):
        dif.q_sample(torch.zeros(2, 2), torch.tensor([3, 10]), torch.zeros(2, 2), s)


def test_predict_x0_inverts_q_sample():
    s = dif.Schedule(1000)
    x0, eps, t = (
        torch.randn(6, 1, 8, 8),
        torch.randn(6, 1, 8, 8),
        torch.tensor([0, 1, 10, 100, 500, 999]),
    )
    torch.testing.assert_close(
        dif.predict_x0(dif.q_sample(x0, t, eps, s), t, eps, s), x0, atol=1e-3, rtol=1e-3
    )


def test_networks():
    emb = nets.timestep_embedding(torch.tensor([0, 5]), 8)
    assert emb.shape == (2, 8) and torch.equal(emb[0], torch.tensor([1.0] * 4 + [0.0] * 4))
    assert emb[1, 0].item() == pytest.approx(math.cos(5.0))
    for shape in [(1, 8, 8), (1, 28, 28), (3, 16, 16)]:
        net = nets.UNet(shape, width=16, num_classes=10)
        x = torch.randn(3, *shape)
        assert net(x, torch.tensor([0, 1, 999]), torch.tensor([0, 9, 10])).shape == x.shape
    assert nets.PointDenoiser()(torch.randn(5, 2), torch.arange(5)).shape == (5, 2)


def test_cli_round_trip_both_samplers(tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "ddpm",
                "--dataset",
                "digits",
                "--out",
                str(run),
                "--steps",
                "10",
                "--width",
                "8",
                "--T",
                "50",
            ]
        )
        == 0
    )
    for sampler, extra in [("ddpm", []), ("ddim", ["--steps", "5"])]:
        out = tmp_path / f"{sampler}.npz"
        assert (
            main(["sample", str(run), "--n", "6", "--sampler", sampler, *extra, "--out", str(out)])
            == 0
        )
        with np.load(out) as f:
            assert f["images"].shape == (6, 8, 8) and f["images"].dtype == np.uint8
    capsys.readouterr()
    for args, message in [
        (["--sampler", "ddim", "--steps", "51"], "between 1 and T = 50, got 51"),
        (["--sampler", "euler"], "unknown sampler 'euler'; choose one of ddpm, ddim"),
        (["--sampler", "ddpm", "--steps", "5"], "DDPM runs all T = 50 steps"),
    ]:
        assert main(["sample", str(run), "--n", "2", *args, "--out", str(tmp_path / "x.npz")]) == 2
        assert message in capsys.readouterr().err
    gan_run = tmp_path / "gan"
    assert main(["train", "gan", "--dataset", "digits", "--out", str(gan_run), "--steps", "2"]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "sample",
                str(gan_run),
                "--n",
                "2",
                "--sampler",
                "ddim",
                "--out",
                str(tmp_path / "x.npz"),
            ]
        )
        == 2
    )
    assert "holds a 'gan' model" in capsys.readouterr().err


# ---------------------------------------------------------------- the variational bound
TWO_POINTS = (torch.tensor([[-1.0], [1.0]]), torch.zeros(1, 1), torch.tensor([0.5, 0.5]))


def test_discretized_likelihood_is_a_distribution_over_the_levels():
    levels = 5
    grid = torch.linspace(-1, 1, levels).view(levels, 1)  # every level, as a (5, 1) batch
    for mean, std in [(0.1, 0.3), (-0.9, 0.05), (2.0, 1.0)]:
        p = likelihoods.discretized_gaussian_log_likelihood(
            grid, torch.full_like(grid, mean), torch.tensor(std), levels
        ).exp()
        assert p.sum().item() == pytest.approx(1.0, abs=1e-9)
        inner = torch.distributions.Normal(mean, std)
        expected = (inner.cdf(torch.tensor(0.25)) - inner.cdf(torch.tensor(-0.25))).item()
        # the bin of level 0 is [-0.25, 0.25]; tiny probabilities are floored at 1e-12
        assert p[2].item() == pytest.approx(expected, rel=1e-6, abs=2e-12)


def test_bound_of_the_exact_denoiser_is_tight_on_two_point_data():
    """Data: -1 or +1 with probability 1/2, so -log p(x_0) = log 2 exactly. With the exact
    denoiser and the true posterior variance, Ho et al.'s bound must lie just above log 2."""
    s = dif.Schedule(1000, "linear")
    n = 4000
    x0 = (torch.randint(0, 2, (n, 1), generator=torch.Generator().manual_seed(0)) * 2 - 1).float()
    exact = toy.gaussian_mixture_denoiser(*TWO_POINTS, s)
    g = torch.Generator().manual_seed(1)
    total = ddpm.variational_bound(exact, x0, s, levels=2, variance="beta_tilde", generator=g)[
        "total"
    ]
    se = total.std().item() / math.sqrt(n)
    assert math.log(2) - 3 * se <= total.mean().item() <= math.log(2) + 0.015
    # a denoiser with the right mean and variance but the wrong shape (a Gaussian) is looser
    gaussian = toy.gaussian_denoiser(torch.zeros(1), torch.ones(1, 1), s)
    worse = ddpm.variational_bound(gaussian, x0, s, levels=2, variance="beta_tilde", generator=g)
    assert worse["total"].mean().item() > math.log(2) + 0.1


def test_bound_terms_on_a_point_mass_match_closed_forms():
    """Data that is always the same point c: the exact denoiser recovers x_0 = c from any x_t, so each
    diffusion KL is between Gaussians with the same mean: 0 with variance beta_tilde, and
    (r - 1 - log r) / 2 per dimension with variance beta, r = beta_tilde / beta."""
    s, c, d = dif.Schedule(1000, "linear"), 0.5, 3
    x0 = torch.full((50, d), c)
    exact = toy.gaussian_denoiser(torch.full((d,), c), torch.zeros(d, d), s)
    tilde = ddpm.variational_bound(exact, x0, s, levels=5, variance="beta_tilde")
    assert tilde["diffusion"].abs().max().item() < 1e-9
    beta = ddpm.variational_bound(exact, x0, s, levels=5, variance="beta")
    r = s.beta_tilde[1:] / s.beta[1:]
    assert beta["diffusion"][0].item() == pytest.approx(
        d * 0.5 * (r - 1 - r.log()).sum().item(), rel=1e-9
    )
    per_step = beta["per_step"]  # (50, T): the decoder at t = 0, then each step's KL
    torch.testing.assert_close(per_step[0, 1:], d * 0.5 * (r - 1 - r.log()), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(per_step[:, 0], beta["decoder"])
    torch.testing.assert_close(per_step.sum(1) + beta["prior"], beta["total"])
    ab = s.alpha_bar[-1].item()  # KL(N(sqrt(ab) c, 1 - ab) || N(0, 1)) per dimension
    prior = 0.5 * (ab * c**2 + (1 - ab) - 1 - math.log(1 - ab))
    assert beta["prior"][0].item() == pytest.approx(d * prior, rel=1e-9)
    assert beta["decoder"].max().item() < 1e-9  # the level is 0.5 wide, the decoder's std 0.01
    with pytest.raises(CourseError, match="beta or beta_tilde"):
        ddpm.variational_bound(exact, x0, s, variance="large")


def test_train_previews_with_ddim_not_the_full_chain(tmp_path, monkeypatch):
    import functools

    from tutorial_lib import ddpm

    calls = []
    real_sample = ddpm.sample

    @functools.wraps(real_sample)  # keeps the signature, which tells the CLI what sample takes
    def recording(*args, **kwargs):
        calls.append(kwargs)
        return real_sample(*args, **kwargs)

    monkeypatch.setattr(ddpm, "sample", recording)
    run = ["train", "ddpm", "--dataset", "digits", "--steps", "2", "--width", "8", "--T", "20"]
    assert main([*run, "--out", str(tmp_path / "run")]) == 0
    assert calls[0]["sampler"] == "ddim" and calls[0].get("steps") is None  # DDIM, min(50, T) steps
    assert (tmp_path / "run" / "samples.png").is_file()


def test_a_unet_of_three_resolutions_with_attention_at_28x28():
    from tutorial_lib.data import load_dataset

    cfg = ddpm.config_for(load_dataset("mnist10k", "test"), conditional=True, width=16)
    assert cfg.mults == (1, 2, 2) and cfg.attention and cfg.num_classes == 10
    assert (cfg.batch_size, cfg.steps) == (64, 4000)
    assert ddpm.config_for(load_dataset("mnist10k", "test"), steps=10).steps == 10  # options win
    net = ddpm.build(cfg)
    assert {"down3", "up3", "downsample2", "upsample2", "attention"} <= set(
        dict(net.named_children())
    )
    x, t = torch.randn(3, 1, 28, 28, requires_grad=True), torch.tensor([0, 500, 999])
    out = net(x, t, torch.tensor([1, 2, 10]))
    assert out.shape == x.shape
    out[0].sum().backward()  # attention mixes positions, never images of the batch
    assert x.grad[0].abs().sum() > 0 and x.grad[1:].abs().sum() == 0
    assert ddpm.config_for(load_dataset("digits")).mults == (1, 2)  # 8x8 as shipped
    with pytest.raises(CourseError, match="divisible by 4 for a UNet of 3 resolutions"):
        ddpm.DDPMConfig(image_shape=(1, 10, 10), mults=(1, 2, 2))


def test_ema_returns_the_moving_average_of_the_weights():
    images = torch.rand(64, 1, 8, 8) * 2 - 1

    def trained(steps, ema):
        cfg = ddpm.DDPMConfig(width=8, steps=steps, batch_size=16, ema=ema)
        torch.manual_seed(0)
        model, _, _ = ddpm.train_ddpm(
            images, cfg, generator=torch.Generator().manual_seed(1), progress=False
        )
        return model.state_dict()

    w1, w2, averaged = trained(1, 0.0), trained(2, 0.0), trained(2, 0.9)
    for k in w1:  # the first update copies the weights, the second averages: 0.9 w1 + 0.1 w2
        torch.testing.assert_close(averaged[k], 0.9 * w1[k] + 0.1 * w2[k])
    from tutorial_lib.data import load_dataset

    assert ddpm.config_for(load_dataset("mnist10k", "test")).ema > 0  # the MNIST recipe
    with pytest.raises(CourseError, match="ema must lie in"):
        ddpm.DDPMConfig(ema=1.0)


def test_sampling_in_slices_gives_the_same_outputs():
    net = nets.UNet((1, 28, 28), width=8, num_classes=10, mults=(1, 2, 2), attention=True).eval()
    x, t, y = (
        torch.randn(400, 1, 28, 28),
        torch.randint(0, 1000, (400,)),
        torch.randint(0, 11, (400,)),
    )
    sliced = ddpm.in_slices(net, (1, 28, 28))  # slices of 167 images
    with torch.no_grad():
        torch.testing.assert_close(sliced(x, t, y), net(x, t, y), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(sliced(x, t), net(x, t), rtol=1e-5, atol=1e-5)
    calls = []
    ddpm.in_slices(lambda x, t: calls.append(len(x)) or x, (1, 28, 28))(x, t)
    assert calls == [167, 167, 66]
    calls.clear()
    ddpm.in_slices(lambda x, t: calls.append(len(x)) or x, (1, 8, 8))(torch.zeros(1000, 1, 8, 8), t)
    assert calls == [1000]  # 8x8 digits: one call, as before


# ---------------------------------------------------------------- respacing, inpainting, SDEdit
def test_a_respaced_schedule_keeps_alpha_bar_at_its_steps():
    s = dif.Schedule(1000)
    r, taus = s.respaced(100)
    assert r.T == 100 and taus[0] == 0 and taus[-1] == 999 and bool((taus.diff() > 0).all())
    assert torch.allclose(r.alpha_bar, s.alpha_bar[taus], rtol=1e-12)
    assert torch.allclose(
        r.beta_tilde[1:], (1 - r.alpha_bar_prev[1:]) / (1 - r.alpha_bar[1:]) * r.beta[1:]
    )
    same, all_taus = s.respaced(1000)
    assert torch.allclose(same.beta, s.beta) and all_taus.tolist() == list(range(1000))


def test_respaced_sampling_reproduces_the_data_distribution():
    s = dif.Schedule(1000)
    r, taus = s.respaced(100)
    model = dif.respaced_model(toy.gaussian_denoiser(MEAN, COV, s), taus)
    x, _ = dif.ddpm_sample(model, (4000, 2), r, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(x.mean(0), MEAN, atol=0.05)
    assert torch.allclose(torch.cov(x.T), COV, atol=0.06)


def test_inpainting_never_changes_known_pixels():
    s = dif.Schedule(50)
    g = torch.Generator().manual_seed(0)
    known = torch.rand(6, 1, 8, 8, generator=g) * 2 - 1
    mask = (torch.rand(6, 1, 8, 8, generator=g) > 0.5).float()
    wild = lambda x, t: 3 * torch.sin(5 * x) + t.view(-1, 1, 1, 1) / 10  # noqa: E731
    for resample in (1, 3):
        out, traj = dif.inpaint(wild, known, mask, s, resample, g, clip_x0=True, keep=(49, 0))
        assert torch.equal(out[mask == 1], known[mask == 1])
        assert not torch.equal(out[mask == 0], known[mask == 0])
        assert sorted(traj) == [0, 49]
    with pytest.raises(CourseError, match="resample must be at least 1"):
        dif.inpaint(wild, known, mask, s, resample=0)
    with pytest.raises(CourseError, match="1 .known pixel. or 0"):
        dif.inpaint(wild, known, mask * 0.5, s)


# data N(mean3, cov3) in 3-D; x[0] is known, x[1:] is to be filled in
MEAN3 = torch.tensor([1.0, -0.5, 0.3])
CHOL3 = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [-0.5, 0.4, 0.5]])
COV3 = CHOL3 @ CHOL3.T


def gaussian_conditional(a: float):
    """Mean and covariance of x[1:] given x[0] = a under N(MEAN3, COV3), by the conditioning
    formula: mu_2 + S_21 S_11^-1 (a - mu_1), S_22 - S_21 S_11^-1 S_12."""
    s11, s21, s22 = COV3[:1, :1], COV3[1:, :1], COV3[1:, 1:]
    mean = MEAN3[1:] + (s21 @ torch.linalg.inv(s11) @ (torch.tensor([a]) - MEAN3[:1]))
    return mean, s22 - s21 @ torch.linalg.inv(s11) @ s21.T


def test_repaint_samples_the_exact_conditional_of_the_missing_pixels():
    """With the exact denoiser of Gaussian data, RePaint's resampling draws the missing
    coordinates from their conditional given the known one; the replacement method (resample
    1) does not: its unknown half never learns how the known half was noised."""
    s = dif.Schedule(1000)
    r, taus = s.respaced(100)
    model = dif.respaced_model(toy.gaussian_denoiser(MEAN3, COV3, s), taus)
    known, mask, n = torch.tensor([2.0, 0.0, 0.0]).expand(4000, 3), torch.tensor([1.0, 0, 0]), 4000
    mean, cov = gaussian_conditional(2.0)
    g = torch.Generator().manual_seed(0)
    x, _ = dif.inpaint(model, known, mask, r, resample=20, generator=g)
    assert (x[:, 0] == 2.0).all()
    # standard errors about 0.01 for the mean and the covariance entries
    assert torch.allclose(x[:, 1:].mean(0), mean, atol=0.04)
    assert torch.allclose(torch.cov(x[:, 1:].T), cov, atol=0.04)
    naive, _ = dif.inpaint(model, known[:n], mask, r, resample=1, generator=g)
    assert (naive[:, 1:].mean(0) - mean).abs().max() > 0.15  # the replacement method's bias


def test_sdedit_trades_faithfulness_for_realism():
    s = dif.Schedule(1000)
    model = toy.gaussian_denoiser(MEAN, COV, s)
    g = torch.Generator().manual_seed(3)
    far = torch.tensor([6.0, 6.0]).expand(2000, 2)  # a guide far outside the data
    close, _ = dif.sdedit(model, far, 5, s, g)
    assert (close - far).abs().max() < 0.5  # t_0 small: the guide, barely touched
    forgot, _ = dif.sdedit(model, far, 999, s, g)  # t_0 = T - 1: a fresh sample of the data
    assert torch.allclose(forgot.mean(0), MEAN, atol=0.08)
    assert torch.allclose(torch.cov(forgot.T), COV, atol=0.08)
    data = MEAN + torch.randn(2000, 2, generator=g) @ torch.linalg.cholesky(COV).T
    kept, _ = dif.sdedit(model, data, 400, s, g)  # guides from the data stay data
    assert torch.allclose(kept.mean(0), MEAN, atol=0.08)
    assert torch.allclose(torch.cov(kept.T), COV, atol=0.08)
    with pytest.raises(CourseError, match="t_0 must lie in"):
        dif.sdedit(model, far, 1000, s)
