import math

import pytest
import torch

from tutorial_lib.toy import RingOfGaussians, make_toy
from tutorial_lib.utils import CourseError


def test_ring_log_prob_matches_the_mixture_formula():
    ring = RingOfGaussians(n_modes=8, radius=2.0, std=0.3)
    x = torch.randn(50, 2) * 2
    # log p(x) = log (1/K) sum_k (2 pi s^2)^-1 exp(-|x - mu_k|^2 / (2 s^2)), written out by hand
    expected = []
    for p in x.tolist():
        total = 0.0
        for k in range(8):
            mu = (2 * math.cos(2 * math.pi * k / 8), 2 * math.sin(2 * math.pi * k / 8))
            d2 = (p[0] - mu[0]) ** 2 + (p[1] - mu[1]) ** 2
            total += math.exp(-d2 / (2 * 0.09)) / (2 * math.pi * 0.09) / 8
        expected.append(math.log(total))
    torch.testing.assert_close(ring.log_prob(x), torch.tensor(expected), rtol=1e-4, atol=1e-4)


def test_ring_density_integrates_to_one():
    ring = RingOfGaussians(std=0.1)
    u = torch.linspace(-3, 3, 601)
    xx, yy = torch.meshgrid(u, u, indexing="xy")
    density = ring.log_prob(torch.stack([xx.ravel(), yy.ravel()], 1)).exp()
    assert abs(float(density.sum()) * (6 / 600) ** 2 - 1) < 1e-3


def test_ring_samples_sit_on_the_modes_in_equal_shares():
    ring = RingOfGaussians(std=0.05)
    x = ring.sample(16000, torch.Generator().manual_seed(0))
    d = torch.cdist(x, ring.modes)  # (N, 8)
    nearest = d.argmin(1)
    share = torch.bincount(nearest, minlength=8) / len(x)
    assert torch.all((share - 1 / 8).abs() < 4 * math.sqrt(1 / 8 * 7 / 8 / 16000))
    # |x - mu| / sigma is chi with 2 dof: P(r > 3) = exp(-4.5) ~ 1.1%
    frac_outside = float((d.min(1).values > 3 * ring.std).float().mean())
    assert abs(frac_outside - math.exp(-4.5)) < 0.005


@pytest.mark.parametrize("name", ["moons", "swiss-roll"])
def test_other_toys(name):
    toy = make_toy(name)
    a = toy.sample(500, torch.Generator().manual_seed(1))
    b = toy.sample(500, torch.Generator().manual_seed(1))
    assert a.shape == (500, 2) and torch.equal(a, b)
    assert a.abs().max() < 2.6 and a.std(0).min() > 0.4
    with pytest.raises(NotImplementedError, match="no closed-form density"):
        toy.log_prob(a)


def test_moons_are_two_half_circles():
    x = make_toy("moons", noise=0.0).sample(2000, torch.Generator().manual_seed(0)) / 1.6
    x = x + torch.tensor([0.5, 0.25])
    upper = (x - torch.tensor([0.0, 0.0])).norm(dim=1)
    lower = (x - torch.tensor([1.0, 0.5])).norm(dim=1)
    assert torch.all(torch.minimum((upper - 1).abs(), (lower - 1).abs()) < 1e-5)


def test_unknown_toy():
    with pytest.raises(CourseError, match="choose one of ring, moons, swiss-roll"):
        make_toy("spiral")
