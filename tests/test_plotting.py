import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from tutorial_lib import plotting  # noqa: E402
from tutorial_lib.toy import RingOfGaussians  # noqa: E402


def test_image_grid_maps_minus_one_to_black_and_one_to_white():
    x = torch.stack([-torch.ones(1, 4, 4), torch.ones(1, 4, 4)])  # (2, 1, 4, 4)
    grid = plotting.image_grid(x, nrow=2, padding=1)
    assert grid.shape == (3, 6, 11)  # 1 + 4 + 1 rows, 1 + 4 + 1 + 4 + 1 columns
    assert grid[:, 1:5, 1:5].max() == 0 and grid[:, 1:5, 6:10].min() == 1
    assert plotting.image_grid(x, nrow=1, scale=3).shape == (3, 3 * 11, 3 * 6)


def test_save_images_scales_small_images_up(tmp_path):
    path = plotting.save_images(torch.zeros(4, 1, 8, 8), tmp_path / "g.png", nrow=2)
    assert Image.open(path).size == (2 * 32 + 3 * 4, 2 * 32 + 3 * 4)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        plotting.image_grid(torch.zeros(8, 8))


def test_plot_curves_and_smoothing():
    ax = plotting.plot_curves({"d": list(range(10)), "g": [1.0] * 10}, smooth=3)
    assert len(ax.lines) == 4  # raw and smoothed line for each curve
    np.testing.assert_allclose(ax.lines[1].get_ydata(), np.arange(1, 9))
    plt.close("all")


def test_density_2d_shows_the_density():
    ring = RingOfGaussians(std=0.2)
    ax = plotting.density_2d(ring.log_prob, lim=3, n=61)
    shown = ax.images[0].get_array()
    assert shown.shape == (61, 61)
    assert abs(float(shown.max()) - float(ring.log_prob(ring.modes).exp().max())) < 0.05
    plotting.scatter_2d(ring.sample(100), ax=ax)
    plt.close("all")
