import math

import numpy as np
import pytest
import torch

from tutorial_lib import ddpm, metrics, toy
from tutorial_lib import diffusion as dif
from tutorial_lib.cli import main, parse_labels
from tutorial_lib.data import load_dataset
from tutorial_lib.utils import CourseError


def fake_model(x, t, y):
    """A stand-in network whose prediction depends on the label: y = 10 is the "no label" token."""
    return x * (y.float().view(-1, 1) + 1) + t.float().view(-1, 1)


def test_guidance_formula():
    x, t, y = torch.randn(4, 2), torch.tensor([0, 5, 9, 3]), torch.tensor([1, 2, 3, 4])
    conditional = fake_model(x, t, y)
    unconditional = fake_model(x, t, torch.full_like(y, 10))
    torch.testing.assert_close(
        dif.guided_eps(fake_model, x, t, y, 0.0, 10), conditional
    )  # w = 0: conditional
    torch.testing.assert_close(
        dif.guided_eps(fake_model, x, t, y, 2.5, 10), 3.5 * conditional - 2.5 * unconditional
    )  # Ho & Salimans Eq. 6
    at = {w: dif.guided_eps(fake_model, x, t, y, w, 10) for w in (0.0, 1.0, 4.0)}
    torch.testing.assert_close(at[4.0], at[0.0] + 4 * (at[1.0] - at[0.0]))  # linear in w


def test_label_dropout_rate():
    y = torch.zeros(100000, dtype=torch.long)
    g = torch.Generator().manual_seed(0)
    for p in (0.0, 0.1, 0.5, 1.0):
        dropped = (dif.drop_labels(y, p, 10, g) == 10).float().mean().item()
        assert abs(dropped - p) < 4 * math.sqrt(p * (1 - p) / len(y)) + 1e-9
    kept = dif.drop_labels(torch.arange(10).repeat(100), 0.3, 10, g)
    assert set(kept[kept != 10].tolist()) <= set(range(10))


MEANS = torch.tensor([[-0.5, 0.0], [0.5, 0.0]])
COV = torch.eye(2)


def guided_fraction(w, n=3000, seed=0):
    """Guided DDIM samples for class 0 of a two-Gaussian mixture, with the exact denoisers; fraction in class 0's half-plane."""
    s = dif.Schedule(1000)
    conditional = [toy.gaussian_denoiser(m, COV, s) for m in MEANS]
    unconditional = toy.gaussian_mixture_denoiser(MEANS, COV, torch.tensor([0.5, 0.5]), s)

    def model(x, t, y):
        out = unconditional(x, t)
        for k, c in enumerate(conditional):
            out = torch.where((y == k).view(-1, 1), c(x, t), out)
        return out

    y = torch.zeros(n, dtype=torch.long)
    x, _ = dif.ddim_sample(
        lambda x, t: dif.guided_eps(model, x, t, y, w, 2),
        (n, 2),
        s,
        steps=50,
        generator=torch.Generator().manual_seed(seed),
    )
    return (x[:, 0] < 0).float().mean().item()


def test_mixture_denoiser_is_the_average_of_the_components():
    s = dif.Schedule(1000)
    mixture = toy.gaussian_mixture_denoiser(MEANS, COV, torch.tensor([0.5, 0.5]), s)
    x, _ = dif.ddpm_sample(mixture, (4000, 2), s, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(x.mean(0), torch.zeros(2), atol=0.06)
    assert abs(torch.cov(x.T)[0, 0].item() - 1.25) < 0.1  # variance of the mixture: 1 + 0.5^2


def test_guidance_moves_samples_into_the_class_region():
    no_guidance = guided_fraction(0.0)
    assert abs(no_guidance - 0.6915) < 0.04  # P(x < 0) for N(-0.5, 1) is Phi(0.5)
    strong = guided_fraction(4.0)
    assert strong > 0.85  # the stated fraction at w = 4
    assert no_guidance < guided_fraction(1.0) < strong


def test_parse_labels():
    assert parse_labels("0-9") == list(range(10))
    assert parse_labels("1,3,5") == [1, 3, 5]
    assert parse_labels("2-4,7,3") == [2, 3, 4, 7]
    with pytest.raises(CourseError, match="write e.g. 0-9"):
        parse_labels("one")


def test_conditional_cli(tmp_path, capsys):
    run = tmp_path / "c"
    args = [
        "train",
        "ddpm",
        "--conditional",
        "--dataset",
        "digits",
        "--out",
        str(run),
        "--steps",
        "5",
        "--width",
        "8",
        "--T",
        "20",
    ]
    assert main(args) == 0
    out = tmp_path / "s.npz"
    assert (
        main(
            [
                "sample",
                str(run),
                "--n",
                "5",
                "--labels",
                "1,3",
                "--guidance",
                "2",
                "--sampler",
                "ddim",
                "--steps",
                "4",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    with np.load(out) as f:
        assert f["labels"].tolist() == [1, 1, 1, 3, 3] and f["labels"].dtype == np.int64
        assert f["images"].shape == (5, 8, 8)
    assert (
        main(
            [
                "sample",
                str(run),
                "--n",
                "20",
                "--labels",
                "0-9",
                "--out",
                str(out),
                "--sampler",
                "ddim",
                "--steps",
                "2",
            ]
        )
        == 0
    )
    with np.load(out) as f:
        assert np.bincount(f["labels"]).tolist() == [2] * 10
    no_labels = ["sample", str(run), "--n", "12", "--sampler", "ddim", "--steps", "2"]
    assert main([*no_labels, "--out", str(out)]) == 0
    with np.load(out) as f:  # by default every class in turn, and saved with the images
        assert f["labels"].tolist() == [*range(10), 0, 1]
    capsys.readouterr()
    assert main(["sample", str(run), "--n", "2", "--labels", "10", "--out", str(out)]) == 2
    assert "labels must lie in 0..9, got 10..10" in capsys.readouterr().err
    plain = tmp_path / "u"
    assert (
        main(
            [
                "train",
                "ddpm",
                "--dataset",
                "digits",
                "--out",
                str(plain),
                "--steps",
                "2",
                "--width",
                "8",
                "--T",
                "20",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["sample", str(plain), "--n", "2", "--guidance", "3", "--out", str(out)]) == 2
    assert "need a model trained with --conditional" in capsys.readouterr().err


def test_conditional_training_needs_labels():
    cfg = ddpm.DDPMConfig(num_classes=10, steps=1, width=8)
    with pytest.raises(CourseError, match="needs labels"):
        ddpm.train_ddpm(torch.zeros(4, 1, 8, 8), cfg, progress=False)


def classifier_accuracy(seed: int):
    """The course's classifier trained on the 8x8 digits for 600 steps: (model, held-out accuracy)."""
    torch.manual_seed(seed)
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    clf = metrics.train_classifier(
        train.images,
        train.labels,
        steps=600,
        progress=False,
        generator=torch.Generator().manual_seed(seed),
    )
    return clf, metrics.accuracy(clf, test.images, test.labels)


def test_classifier_learns_digits_and_diversity():
    """Held-out accuracy above 0.93; over seeds and kernels (scripts/spread.py): 0.949 to 0.958 over
    seeds 0-4 with the scalar and AVX2 kernels on one thread (0.946 for seed 0 on two threads)."""
    clf, accuracy = classifier_accuracy(0)
    test = load_dataset("digits", "test")
    assert accuracy > 0.93
    assert clf.features(test.images[:5]).shape == (5, 128)
    same = torch.zeros(5, 3)
    assert metrics.mean_pairwise_distance(same) == 0
    assert metrics.mean_pairwise_distance(torch.tensor([[0.0, 0.0], [3.0, 4.0]])) == pytest.approx(
        5.0
    )


def test_within_class_diversity_by_hand():
    """Oracle, worked by hand: class 0 holds (0, 0) and (3, 4), distance 5; class 1 holds three
    points on a line at 0, 1, 3 (pairwise 1, 3, 2: mean 2). The classes lie far apart, which must
    not count: (5 + 2) / 2 = 3.5."""
    feats = torch.tensor([[0.0, 0.0], [100.0, 0.0], [3.0, 4.0], [101.0, 0.0], [103.0, 0.0]])
    labels = torch.tensor([0, 1, 0, 1, 1])
    assert metrics.within_class_diversity(feats, labels, 2) == pytest.approx(3.5)
    assert metrics.within_class_diversity(feats[[0, 0, 1, 1]], labels[[0, 2, 1, 3]], 2) == 0
    with pytest.raises(CourseError, match="at least two samples of each of the 3 classes"):
        metrics.within_class_diversity(feats, labels, 3)
    with pytest.raises(CourseError, match="at least two samples"):
        metrics.within_class_diversity(feats[:4], torch.tensor([0, 0, 0, 1]), 2)


def test_frechet_distance_against_the_closed_form():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(3000, 4, generator=g)
    assert abs(metrics.frechet_distance(a, a)) < 1e-8  # a set with itself
    # N(0, I) against N(m, s^2 I) in d dims: |m|^2 + d (1 - s)^2
    m, s = torch.tensor([1.0, -2.0, 0.0, 0.5]), 2.0
    x, y = torch.randn(200000, 4, generator=g), m + s * torch.randn(200000, 4, generator=g)
    expected = (m**2).sum().item() + 4 * (1 - s) ** 2
    assert metrics.frechet_distance(x, y) == pytest.approx(expected, rel=0.02)
    # one feature: (mu_a - mu_b)^2 + (s_a - s_b)^2, exactly, from the sample moments
    u = torch.randn(500, 1, generator=g).double()
    v = 3 + 2 * u
    moments = (u.mean() - v.mean()) ** 2 + (u.std() - v.std()) ** 2
    assert metrics.frechet_distance(u, v) == pytest.approx(moments.item(), rel=1e-9)
    # a general pair of Gaussians: closed form with scipy's matrix square root
    from scipy.linalg import sqrtm

    A, B = torch.randn(3, 3, generator=g), torch.randn(3, 3, generator=g)
    S1, S2 = (A @ A.T + 0.1 * torch.eye(3)).double(), (B @ B.T + 0.1 * torch.eye(3)).double()
    x = torch.randn(300000, 3, generator=g).double() @ torch.linalg.cholesky(S1).T
    y = torch.randn(300000, 3, generator=g).double() @ torch.linalg.cholesky(S2).T
    closed = float(torch.trace(S1 + S2) - 2 * np.trace(sqrtm(S1.numpy() @ S2.numpy())).real)
    assert metrics.frechet_distance(x, y) == pytest.approx(closed, rel=0.03)


def test_precision_and_recall_on_constructed_sets():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(500, 2, generator=g)
    assert metrics.precision_recall(real, real.clone()) == (1.0, 1.0)  # identical sets
    far = real + 100
    assert metrics.precision_recall(real, far) == (0.0, 0.0)  # disjoint sets
    subset = real[real[:, 0] < 0]  # half of the data: realistic, but covers only half
    precision, recall = metrics.precision_recall(real, subset)
    assert precision == 1.0 and 0.4 < recall < 0.65
    # radii by hand, k = 1: real points 0, 1, 3, 6 have nearest-neighbour distances 1, 1, 2, 3
    line = torch.tensor([[0.0], [1.0], [3.0], [6.0]])
    assert metrics.precision_recall(line, torch.tensor([[0.9], [4.9], [9.5]]), k=1)[
        0
    ] == pytest.approx(2 / 3)


def test_bootstrap_interval_of_a_mean_is_the_normal_one():
    """Oracle: for the mean of N draws of N(0, 1) the 95% interval is mean +- 1.96 / sqrt(N).
    Its half-width, from the spread of 400 resampled means, is within 15% of that."""
    x = torch.randn(400, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    low, high = metrics.bootstrap_interval(
        torch.mean, x, draws=400, generator=torch.Generator().manual_seed(1)
    )
    half = 1.96 / math.sqrt(400)
    assert (low + high) / 2 == pytest.approx(x.mean().item(), abs=1e-12)  # centred on the estimate
    assert abs((high - low) / (2 * half) - 1) < 0.15
    # two samples, each resampled on its own: the difference of means has variance 2 / N
    y = torch.randn(400, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    low, high = metrics.bootstrap_interval(
        lambda a, b: a.mean() - b.mean(),
        x,
        y,
        draws=400,
        generator=torch.Generator().manual_seed(3),
    )
    assert abs((high - low) / (2 * half * math.sqrt(2)) - 1) < 0.15
    with pytest.raises(CourseError, match="need draws >= 2"):
        metrics.bootstrap_interval(torch.mean, x, draws=1)


def test_binomial_interval_is_wilsons():
    """Oracle: Wilson's closed form, worked by hand; and its coverage, by simulation, near 95%."""
    z = 1.959963984540054
    low, high = metrics.binomial_interval(24, 24)
    assert low == pytest.approx(24 / (24 + z * z), rel=1e-12) and high == pytest.approx(1.0)
    low, high = metrics.binomial_interval(0, 24)
    assert low == pytest.approx(0.0, abs=1e-15) and high == pytest.approx(z * z / (24 + z * z))
    g = torch.Generator().manual_seed(0)
    hits = torch.bernoulli(torch.full((4000, 60), 0.3), generator=g).sum(1)
    covered = [lo <= 0.3 <= hi for lo, hi in (metrics.binomial_interval(int(k), 60) for k in hits)]
    assert 0.93 < sum(covered) / len(covered) < 0.97
    with pytest.raises(CourseError, match="need 0 <= successes <= n"):
        metrics.binomial_interval(5, 4)


def test_class_entropy():
    assert metrics.class_entropy(torch.arange(10).repeat(5), 10) == pytest.approx(math.log(10))
    assert metrics.class_entropy(torch.zeros(50, dtype=torch.long), 10) == 0.0


def test_evaluate_cli(tmp_path, capsys):
    import json

    from tutorial_lib.data import load_dataset, to_uint8
    from tutorial_lib.samples import save_samples

    clf = tmp_path / "clf"
    assert (
        main(["train", "classifier", "--dataset", "digits", "--out", str(clf), "--steps", "200"])
        == 0
    )
    real = load_dataset("digits", "val")
    save_samples(tmp_path / "real.npz", to_uint8(real.images[:200], 17), real.labels[:200])
    capsys.readouterr()
    evaluate = ["evaluate", "--dataset", "digits", "--classifier", str(clf)]
    assert main([*evaluate, str(tmp_path / "real.npz"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["samples"] == 200 and result["dataset"] == "digits"
    assert (
        result["precision"] > 0.6 and result["recall"] > 0.6 and "conditional_accuracy" in result
    )  # k = 3 on 447 points
    assert result["frechet_distance"] < 3 * result["frechet_distance_real_baseline"] + 5
    save_samples(tmp_path / "big.npz", np.zeros((20, 28, 28), np.uint8))
    assert main([*evaluate, str(tmp_path / "big.npz")]) == 2
    assert "holds images of 28x28, but digits images are 8x8" in capsys.readouterr().err


def test_the_classifier_halves_28x28_images_down_to_7x7():
    from tutorial_lib.nets import Classifier

    small, mnist = Classifier((1, 8, 8)), Classifier((1, 28, 28))
    assert sum(isinstance(m, torch.nn.Conv2d) for m in small.body) == 2  # 8 -> 4, as shipped
    assert sum(isinstance(m, torch.nn.Conv2d) for m in mnist.body) == 3  # 28 -> 14 -> 7
    assert mnist.body[-2].in_features == 64 * 7 * 7
    x = torch.zeros(3, 1, 28, 28)
    assert mnist.features(x).shape == (3, 128) and mnist(x).shape == (3, 10)
