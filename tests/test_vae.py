import math

import numpy as np
import pytest
import torch
from torch import distributions as D

from tutorial_lib import toy, vae
from tutorial_lib.cli import main
from tutorial_lib.data import from_levels
from tutorial_lib.utils import CourseError


@pytest.fixture
def ppca():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(5, 2, generator=g, dtype=torch.float64)
    b = torch.randn(5, generator=g, dtype=torch.float64)
    return toy.LinearGaussian(W, b, 0.7), torch.randn(6, 5, generator=g, dtype=torch.float64)


def test_linear_gaussian_log_marginal_by_monte_carlo(ppca):
    model, x = ppca
    z = torch.randn(200000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    lik = D.Independent(D.Normal(z @ model.W.T + model.b, model.s), 1)
    mc = torch.logsumexp(lik.log_prob(x[:1].expand(len(z), -1)), 0) - math.log(len(z))
    assert abs(mc.item() - model.log_marginal(x[:1]).item()) < 0.02


def test_elbo_is_below_log_px_and_tight_at_the_posterior(ppca):
    model, x = ppca
    exact = model.log_marginal(x)
    g = torch.Generator().manual_seed(2)
    for _ in range(20):
        A = torch.randn(2, 2, generator=g, dtype=torch.float64)
        q = D.MultivariateNormal(
            torch.randn(6, 2, generator=g, dtype=torch.float64),
            A @ A.T + 0.1 * torch.eye(2, dtype=torch.float64),
        )
        assert torch.all(model.elbo(x, q) < exact)
    torch.testing.assert_close(model.elbo(x, model.posterior(x)), exact, atol=1e-10, rtol=0)


def test_posterior_matches_bayes_rule_by_monte_carlo(ppca):
    model, x = ppca
    q = model.posterior(x[:1])
    # self-normalised importance sampling from the prior: E[z | x] = sum w z / sum w, w = p(x | z)
    z = torch.randn(400000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    log_w = D.Independent(D.Normal(z @ model.W.T + model.b, model.s), 1).log_prob(x[:1])
    w = torch.softmax(log_w, 0)
    torch.testing.assert_close((w[:, None] * z).sum(0), q.mean[0], atol=0.03, rtol=0)


def test_closed_form_kl_matches_torch():
    g = torch.Generator().manual_seed(0)
    mu_q, lv_q, mu_p, lv_p = (torch.randn(7, 4, generator=g) for _ in range(4))
    ours = vae.kl_diagonal_gaussians(mu_q, lv_q, mu_p, lv_p)
    ref = D.kl_divergence(
        D.Independent(D.Normal(mu_q, (0.5 * lv_q).exp()), 1),
        D.Independent(D.Normal(mu_p, (0.5 * lv_p).exp()), 1),
    )
    torch.testing.assert_close(ours, ref)
    std_normal = D.Independent(D.Normal(torch.zeros(7, 4), torch.ones(7, 4)), 1)
    torch.testing.assert_close(
        vae.kl_diagonal_gaussians(mu_q, lv_q),
        D.kl_divergence(D.Independent(D.Normal(mu_q, (0.5 * lv_q).exp()), 1), std_normal),
    )
    assert torch.all(vae.kl_diagonal_gaussians(mu_q, lv_q) >= 0)


def test_reparameterised_gradient_is_unbiased():
    """d/dmu E_{z ~ N(mu, s^2)}[z^2] = 2 mu, d/ds = 2 s."""
    mu, s = torch.tensor(0.7, requires_grad=True), torch.tensor(1.3, requires_grad=True)
    eps = torch.randn(400000, generator=torch.Generator().manual_seed(0))
    (vae.reparameterize(mu, s, eps) ** 2).mean().backward()
    assert mu.grad.item() == pytest.approx(1.4, abs=0.01)
    assert s.grad.item() == pytest.approx(2.6, abs=0.01)


def train_small_vae(seed: int):
    """The default VAE on the 8x8 digits, 300 steps: (model, history). scripts/spread.py too."""
    torch.manual_seed(seed)
    from tutorial_lib.data import load_dataset

    data = load_dataset("digits", "train")
    return vae.train_vae(
        data.images,
        vae.VAEConfig(steps=300),
        progress=False,
        generator=torch.Generator().manual_seed(seed),
    )


def loss_fall(history, key="-ELBO", k=20) -> float:
    """How far the mean loss of the last k steps lies below that of the first k."""
    return float(np.mean(history[key][:k]) - np.mean(history[key][-k:]))


@pytest.fixture(scope="module")
def small_vae():
    from tutorial_lib.data import load_dataset

    model, history = train_small_vae(0)
    return model, load_dataset("digits", "test").images[:50], history


def test_likelihood_sums_to_one_over_the_data_values(small_vae):
    model, _, _ = small_vae
    z = torch.randn(3, model.cfg.z_dim)
    per_pixel = model.decode(z).base_dist  # categorical over 17 levels per pixel
    values = torch.arange(17).view(17, 1, 1).expand(17, 3, 64)
    total = per_pixel.log_prob(values).exp().sum(0)  # (3, 64)
    torch.testing.assert_close(total, torch.ones(3, 64))


def test_iwae_is_above_the_elbo_and_grows_with_k(small_vae):
    model, x, _ = small_vae

    def mean_over_seeds(f):
        out = []
        for seed in range(5):
            torch.manual_seed(seed)
            out.append(f().mean())
        return torch.stack(out).mean().item()

    with torch.no_grad():
        elbo = mean_over_seeds(lambda: vae.elbo(model, x)["elbo"])
    bounds = [mean_over_seeds(lambda k=k: vae.iwae_bound(model, x, k=k)) for k in (1, 10, 100)]
    assert abs(bounds[0] - elbo) < 0.5  # L_1 is the ELBO
    assert elbo < bounds[1] < bounds[2]


def test_training_reduces_the_loss_and_shapes(small_vae):
    model, x, history = small_vae
    # nats; scripts/spread.py: it fell 32.6 to 35.3 over seeds 0-4 x the scalar and AVX2 kernels
    assert loss_fall(history) > 25
    terms = vae.elbo(model, x)
    assert all(t.shape == (50,) for t in terms.values())
    torch.testing.assert_close(terms["elbo"], terms["reconstruction"] - terms["kl"])
    s = vae.sample(model, model.cfg, 7, torch.Generator().manual_seed(0))
    assert s.shape == (7, 1, 8, 8)
    levels = vae.to_levels(s, 17)
    torch.testing.assert_close(from_levels(levels, 17), s)  # samples sit on the 17 grey levels
    assert model.decode_mean(torch.zeros(2, 16)).shape == (2, 1, 8, 8)


def test_bits_per_dim():
    assert vae.bits_per_dim(64 * math.log(2), 64) == pytest.approx(1.0)


def test_bad_config():
    with pytest.raises(CourseError, match="levels must be at least 2"):
        vae.VAEConfig(levels=1)
    with pytest.raises(CourseError, match="beta must be non-negative"):
        vae.VAEConfig(beta=-1)


def test_cli_round_trip(tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "vae",
                "--dataset",
                "digits",
                "--out",
                str(run),
                "--steps",
                "30",
                "--z-dim",
                "4",
            ]
        )
        == 0
    )
    assert main(["sample", str(run), "--n", "9", "--out", str(tmp_path / "s.npz")]) == 0
    with np.load(tmp_path / "s.npz") as f:
        assert f["images"].shape == (9, 8, 8) and f["images"].dtype == np.uint8
    assert main(["train", "vae", "--dataset", "digits", "--out", str(run), "--z-dim", "0"]) == 2
    assert "z_dim must be positive" in capsys.readouterr().err


def test_iwae_is_exact_when_q_is_the_posterior():
    """With q = prior and a decoder that ignores z, every weight equals p(x): L_K = log p(x) for every K."""
    model = vae.VAE(vae.VAEConfig(dropout=0.0)).eval()
    with torch.no_grad():
        model.encoder[-1].weight.zero_()
        model.encoder[
            -1
        ].bias.zero_()  # q(z | x) = N(0, I) = p(z), the exact posterior of such a model
        model.decoder[0].weight.zero_()  # p(x | z) does not depend on z
    from tutorial_lib.data import load_dataset

    x = load_dataset("digits", "test").images[:5]
    exact = model.decode(torch.zeros(5, 16)).log_prob(vae.to_levels(x, 17).flatten(1))
    for k in (1, 10, 250):
        torch.testing.assert_close(vae.iwae_bound(model, x, k=k, chunk=100), exact)


def test_conditional_vae():
    from tutorial_lib.data import load_dataset

    data = load_dataset("digits", "train")
    cfg = vae.VAEConfig(num_classes=10, steps=5)
    model, _ = vae.train_vae(data.images, cfg, progress=False, labels=data.labels)
    labels = torch.tensor([3, 3, 7])
    assert vae.sample(model, cfg, 3, labels=labels).shape == (3, 1, 8, 8)
    assert model.decode_mean(torch.zeros(3, 16), labels).shape == (3, 1, 8, 8)
    with pytest.raises(CourseError, match="pass the labels y"):
        model.encode(data.images[:2])
    with pytest.raises(CourseError, match="needs labels"):
        vae.train_vae(data.images, cfg, progress=False)


def test_cli_trains_and_samples_a_conditional_vae(tmp_path, capsys):
    run = tmp_path / "cvae"
    assert (
        main(
            [
                "train",
                "vae",
                "--dataset",
                "digits",
                "--conditional",
                "--steps",
                "5",
                "--out",
                str(run),
            ]
        )
        == 0
    )
    out = tmp_path / "s.npz"
    assert main(["sample", str(run), "--n", "6", "--labels", "3,7", "--out", str(out)]) == 0
    with np.load(out) as f:
        assert f["labels"].tolist() == [3, 3, 3, 7, 7, 7]
    capsys.readouterr()
    assert main(["sample", str(run), "--guidance", "2", "--out", str(out)]) == 2
    assert "--guidance applies to ddpm" in capsys.readouterr().err
