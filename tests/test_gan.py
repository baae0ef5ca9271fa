import math

import numpy as np
import pytest
import torch
from torch import distributions as D

from tutorial_lib import gan, nets
from tutorial_lib.cli import main
from tutorial_lib.toy import RingOfGaussians
from tutorial_lib.utils import CourseError

P_DATA, P_G = D.Normal(1.0, 0.5), D.Normal(-1.0, 1.0)


def test_optimal_discriminator_formula():
    x = torch.linspace(-4, 4, 101)
    p, q = P_DATA.log_prob(x).exp(), P_G.log_prob(x).exp()
    torch.testing.assert_close(
        gan.optimal_discriminator(P_DATA.log_prob(x), P_G.log_prob(x)), p / (p + q)
    )


def discriminator_error(seed: int) -> float:
    """Freeze G (its density is P_G), train D with d_loss; the largest |D - D*| where both have mass."""
    torch.manual_seed(seed)
    net = nets.mlp(1, 1, 32)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(1500):
        real, fake = P_DATA.sample((512, 1)), P_G.sample((512, 1))
        loss = gan.d_loss(net(real).squeeze(1), net(fake).squeeze(1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = torch.linspace(-1.5, 2.0, 71)  # where both densities have mass
    with torch.no_grad():
        trained = torch.sigmoid(net(x[:, None]).squeeze(1))
    best = gan.optimal_discriminator(P_DATA.log_prob(x), P_G.log_prob(x))
    return (trained - best).abs().max().item()


def test_trained_discriminator_reaches_the_optimum():
    """D trained on samples is within 0.06 of D* = p / (p + q). The tolerance is Monte Carlo noise
    of 512-sample batches. Measured by scripts/spread.py: the largest error was 0.008 to 0.046
    over seeds 0-4 with the scalar and AVX2 kernels (one thread)."""
    assert discriminator_error(0) < 0.06


def integrate(f, x):
    return torch.trapezoid(f, x)


def test_value_at_the_optimum_is_minus_log4_plus_twice_jsd():
    x = torch.linspace(-12, 12, 200001, dtype=torch.float64)
    p, q = P_DATA.log_prob(x).double().exp(), P_G.log_prob(x).double().exp()
    d_star = gan.optimal_discriminator(P_DATA.log_prob(x).double(), P_G.log_prob(x).double())
    value = integrate(p * torch.log(d_star) + q * torch.log1p(-d_star), x)
    m = (p + q) / 2
    jsd = 0.5 * integrate(p * torch.log(p / m), x) + 0.5 * integrate(q * torch.log(q / m), x)
    assert 0 < jsd < math.log(2)
    assert abs(float(value) - (-math.log(4) + 2 * float(jsd))) < 1e-6
    # when p_g = p_data, D* = 1/2 everywhere and V = -log 4
    same = gan.optimal_discriminator(P_DATA.log_prob(x), P_DATA.log_prob(x))
    assert torch.allclose(same, torch.full_like(same, 0.5))


def test_losses_on_hand_computed_inputs():
    real, fake = torch.tensor([math.log(3.0)]), torch.tensor([0.0])  # D(x) = 3/4, D(G(z)) = 1/2
    assert gan.d_loss(real, fake).item() == pytest.approx(-math.log(0.75) - math.log(0.5))
    assert gan.g_loss_minimax(fake).item() == pytest.approx(math.log(0.5))
    assert gan.g_loss_non_saturating(torch.tensor([math.log(3.0)])).item() == pytest.approx(
        -math.log(0.75)
    )


def test_saturation():
    """d/da log(1 - sigmoid(a)) = -sigmoid(a) -> 0 as D(G(z)) -> 0; d/da -log sigmoid(a) = -(1 - sigmoid(a)) -> -1."""
    for a, d in [(-10.0, 1 / (1 + math.exp(10))), (0.0, 0.5)]:
        logit = torch.tensor([a], requires_grad=True)
        (g_minimax,) = torch.autograd.grad(gan.g_loss_minimax(logit), logit)
        logit = torch.tensor([a], requires_grad=True)
        (g_ns,) = torch.autograd.grad(gan.g_loss_non_saturating(logit), logit)
        assert g_minimax.item() == pytest.approx(-d, rel=1e-4)
        assert g_ns.item() == pytest.approx(-(1 - d), rel=1e-4)
    assert abs(g_minimax.item()) > 0.4  # at D = 1/2 both losses push equally hard


def test_gradient_penalty_of_a_linear_critic():
    """For D(x) = w.x + b the gradient is w everywhere, so the penalty is (|w| - 1)^2 exactly."""
    lin = torch.nn.Linear(2, 1)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[3.0, 4.0]]))
    critic = lambda x: lin(x).squeeze(1)  # noqa: E731
    penalty = gan.gradient_penalty(critic, torch.randn(16, 2), torch.randn(16, 2))
    assert penalty.item() == pytest.approx((5.0 - 1.0) ** 2)


def test_mode_coverage_on_constructed_sets():
    ring = RingOfGaussians(std=0.05)
    covered = ring.modes.repeat(50, 1) + 0.01  # every mode, all samples close
    collapsed = ring.modes[:1].repeat(400, 1)
    half = torch.cat(
        [ring.modes[:4].repeat(50, 1), torch.zeros(200, 2)]
    )  # 4 modes, half the samples in the middle
    assert gan.mode_coverage(covered, ring.modes, ring.std) == (8, 1.0)
    assert gan.mode_coverage(collapsed, ring.modes, ring.std) == (1, 1.0)
    assert gan.mode_coverage(half, ring.modes, ring.std) == (4, 0.5)
    inside = ring.modes.repeat(50, 1) + torch.tensor(
        [2.9 * ring.std, 0.0]
    )  # within 3 std: high quality
    outside = ring.modes.repeat(50, 1) + torch.tensor([3.1 * ring.std, 0.0])
    assert gan.mode_coverage(inside, ring.modes, ring.std) == (8, 1.0)
    assert gan.mode_coverage(outside, ring.modes, ring.std) == (0, 0.0)


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 16, 16), (2,)])
def test_networks_shapes(shape):
    cfg = gan.GANConfig(image_shape=shape, z_dim=8)
    pair = gan.build(cfg)
    x = gan.sample(pair, cfg, 5)
    assert x.shape == (5, *shape)
    if len(shape) == 3:
        assert x.min() >= -1 and x.max() <= 1
    assert pair.D(x).shape == (5,)


def test_config_rejects_bad_values():
    with pytest.raises(CourseError, match="unknown generator loss 'wasserstein'"):
        gan.GANConfig(g_loss="wasserstein")
    with pytest.raises(CourseError, match="divisible by 4"):
        gan.GANConfig(image_shape=(1, 10, 10))


def ring_coverage(seed: int, gp_weight: float, steps: int = 2000) -> tuple[int, float]:
    """(modes covered, high-quality fraction) of a GAN trained on the ring with this seed: notebook
    01's networks and length (2000 steps of 256), 2000 samples. scripts/spread.py measures it too."""
    torch.manual_seed(seed)
    ring = RingOfGaussians(std=0.05)
    cfg = gan.GANConfig(
        image_shape=(2,), z_dim=64, width=128, gp_weight=gp_weight, batch_size=256, steps=steps
    )
    points = ring.sample(20000, torch.Generator().manual_seed(seed))
    g = torch.Generator().manual_seed(seed)
    G, _, history, _ = gan.train_gan(points, cfg, progress=False, generator=g)
    assert len(history["loss D"]) == steps
    return gan.mode_coverage(gan.sample(G, cfg, 2000, g), ring.modes, ring.std)


def test_remedy_covers_the_ring():
    """With the gradient penalty, two seeds each cover at least 6 of the 8 modes, one at least 7.

    GAN training amplifies the CPU's rounding, so the same seed can cover 4 modes on one machine and
    8 on another. Measured by scripts/spread.py (seeds 0-4, kernels default and avx2, 1 and 2
    threads: 20 runs): with the penalty 7 or 8 modes in every run (median 8), without it 5 or 6.
    So the test keeps a margin of one mode below the lowest run measured for each seed, and fails
    only if both seeds land below 7.
    """
    covered = sorted(ring_coverage(seed, gp_weight=0.1)[0] for seed in range(2))
    assert covered[0] >= 6 and covered[1] >= 7, (
        f"the penalty should cover at least 6 modes in each run and 7 in one: {covered}"
    )


def test_cli_round_trip(tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "gan",
                "--dataset",
                "digits",
                "--out",
                str(run),
                "--steps",
                "20",
                "--batch-size",
                "32",
            ]
        )
        == 0
    )
    assert (run / "checkpoint.pt").is_file() and (run / "samples.png").is_file()
    assert main(["sample", str(run), "--n", "12", "--out", str(tmp_path / "s.npz")]) == 0
    with np.load(tmp_path / "s.npz") as f:
        assert f["images"].shape == (12, 8, 8) and f["images"].dtype == np.uint8
        assert set(f.files) == {"images"}
        # digits have 17 grey levels: every pixel is a multiple of 255/16, rounded
        assert set(np.unique(f["images"])) <= {round(v * 255 / 16) for v in range(17)}


def test_cli_bad_input(tmp_path, capsys):
    assert main(["sample", str(tmp_path), "--n", "4"]) == 2
    assert "holds no checkpoint.pt; train a model into it first" in capsys.readouterr().err
    run = tmp_path / "run"
    assert main(["train", "gan", "--dataset", "digits", "--out", str(run), "--steps", "2"]) == 0
    capsys.readouterr()
    assert main(["sample", str(run), "--n", "0"]) == 2
    assert "--n must be at least 1" in capsys.readouterr().err
    assert main(["train", "gan", "--dataset", "digits", "--out", str(run), "--steps", "0"]) == 2
    assert "steps must be positive" in capsys.readouterr().err
    assert main(["train", "gan", "--dataset", "nope", "--out", str(run)]) == 2
    assert "choose one of digits, mnist10k, mnist, fashion-mnist" in capsys.readouterr().err
    (run / "checkpoint.pt").write_bytes(b"garbage")
    assert main(["sample", str(run), "--n", "4"]) == 2
    assert "not a readable checkpoint" in capsys.readouterr().err


def test_failed_training_keeps_the_good_checkpoint(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    assert main(["train", "gan", "--dataset", "digits", "--out", str(run), "--steps", "2"]) == 0
    good = (run / "checkpoint.pt").read_bytes()

    def diverge(*args, **kwargs):
        raise FloatingPointError("loss D became nan at step 1; lower the learning rate")

    monkeypatch.setattr(gan, "train_step", diverge)
    with pytest.raises(FloatingPointError):
        main(["train", "gan", "--dataset", "digits", "--out", str(run), "--steps", "2"])
    assert (run / "checkpoint.pt").read_bytes() == good
