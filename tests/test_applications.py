"""The pieces of notebook 08: masks, sketches, and the DDPM's inpainting and editing wrappers."""

import pytest
import torch

from tutorial_lib import applications, ddpm
from tutorial_lib.utils import CourseError


def test_masks_hide_what_they_say():
    g = torch.Generator().manual_seed(0)
    half = applications.mask("lower-half", 3, (1, 28, 28))
    assert half[:, :, :14].eq(1).all() and half[:, :, 14:].eq(0).all()
    box = applications.mask("box", 50, (1, 28, 28), g)
    assert (box == 0).sum((1, 2, 3)).eq(12 * 12).all()  # one 12x12 square each
    rows = (box == 0).any(3).squeeze(1).float().argmax(1)
    assert rows.min() >= 4 and rows.max() <= 12  # inside the middle, where the ink is
    pixels = applications.mask("pixels", 20, (1, 28, 28), g, missing=0.8)
    assert pixels.mean().item() == pytest.approx(0.2, abs=0.02)
    with pytest.raises(CourseError, match="unknown mask 'circle'; choose one of box"):
        applications.mask("circle", 1, (1, 28, 28))


def test_sketches_are_strokes_of_the_asked_width():
    x = applications.sketches([1, 7, 8])
    assert x.shape == (3, 1, 28, 28) and x.min() == -1 and x.max() == 1
    ink = (x + 1) / 2
    # the 1's vertical stroke (column 15, rows 5 to 23): every row between holds 1.5 pixels of
    # ink, the width, wherever the stroke falls between pixel centres
    assert torch.allclose(ink[0, 0, 10:22].sum(1), torch.full((12,), 1.5))
    thick = (applications.sketches([1], width=3.0) + 1) / 2
    assert torch.allclose(thick[0, 0, 10:22].sum(1), torch.full((12,), 3.0))
    assert ink[2].sum() > ink[0].sum()  # an 8 has more ink than a 1
    assert applications.sketches([3], size=8).shape == (1, 1, 8, 8)
    with pytest.raises(CourseError, match="digits 0-9"):
        applications.sketches([12])


def test_inpaint_and_edit_keep_pixels_and_check_their_input():
    cfg = ddpm.DDPMConfig(T=100)
    model = lambda x, t: 0.1 * x  # noqa: E731
    known = torch.rand(2, 1, 8, 8) * 2 - 1
    mask = applications.mask("lower-half", 2, (1, 8, 8))
    out, _ = ddpm.inpaint(model, cfg, known, mask, steps=10, resample=2)
    assert torch.equal(out[mask == 1], known[mask == 1])
    with pytest.raises(CourseError, match=r"works on images \(B, 1, 8, 8\), got \(2, 1, 28, 28\)"):
        ddpm.inpaint(model, cfg, torch.zeros(2, 1, 28, 28), mask, steps=10)
    with pytest.raises(CourseError, match="works on images"):
        ddpm.edit(model, cfg, torch.zeros(1, 8, 8), 0.5, steps=10)
    edited, _ = ddpm.edit(model, cfg, known, 0.1, steps=10)
    assert (edited - known).abs().mean() < 0.3
    with pytest.raises(CourseError, match="fraction of the way to noise"):
        ddpm.edit(model, cfg, known, 0.0)
    with pytest.raises(CourseError, match="--prompt needs a caption model"):
        ddpm.edit(model, cfg, known, 0.5, prompt="a seven")


def test_judge_reads_the_classifier():
    class Fixed(torch.nn.Module):
        def forward(self, x):
            return torch.tensor([[0.0, 3.0], [5.0, 0.0]])

    predicted, confidence = applications.judge(Fixed(), torch.zeros(2, 1, 8, 8))
    assert predicted.tolist() == [1, 0]
    assert confidence[0].item() == pytest.approx(torch.tensor([0.0, 3.0]).softmax(0)[1].item())
