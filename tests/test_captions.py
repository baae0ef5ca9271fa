"""Captions (notebook 08): the measured attributes, the grammar, the tokeniser, the caption model."""

import itertools

import numpy as np
import pytest
import torch

from tutorial_lib import captions, ddpm
from tutorial_lib.cli import main
from tutorial_lib.nets import CaptionEncoder
from tutorial_lib.utils import CourseError


def bar(width: float, height: float = 18.0, shear: float = 0.0, size: int = 28, sup: int = 8):
    """A grey (1, 1, size, size) image in [-1, 1] of an anti-aliased bar: horizontal width
    ``width``, ``height`` pixels tall, sheared so its top leans ``shear`` pixels right per pixel
    of height; drawn at ``sup`` times the resolution and averaged down."""
    c = (torch.arange(size * sup, dtype=torch.float64) + 0.5) / sup
    i, j = torch.meshgrid(c, c, indexing="ij")
    u = j - size / 2 - shear * (size / 2 - i)
    ink = ((u.abs() < width / 2) & ((i - size / 2).abs() < height / 2)).double()
    return torch.nn.functional.avg_pool2d(ink[None, None], sup) * 2 - 1


@pytest.mark.parametrize("shear", [-0.4, 0.0, 0.3, 0.6])
def test_slant_of_a_sheared_bar_is_its_shear(shear):
    for width in (2.0, 3.0, 4.0):
        assert captions.slant(bar(width, shear=shear)).item() == pytest.approx(shear, abs=0.01)


@pytest.mark.parametrize("width", [2.0, 2.5, 3.0, 3.5, 4.0])
def test_thickness_of_a_bar_is_its_width(width):
    # a sheared bar's stroke is narrower than its horizontal extent: w / sqrt(1 + s^2)
    for shear in (0.0, 0.3, 0.6):
        expected = width / (1 + shear**2) ** 0.5
        assert captions.thickness(bar(width, shear=shear)).item() == pytest.approx(
            expected, abs=0.2
        )
    widths = torch.tensor([2.0, 2.5, 3.0, 3.5, 4.0])
    measured = torch.cat([captions.thickness(bar(float(w), shear=0.3)) for w in widths])
    assert bool((measured.diff() > 0).all())  # thicker bars measure thicker, always


def test_attributes_cut_at_the_training_medians():
    images = torch.cat([bar(w, shear=s) for w in (2.0, 4.0) for s in (0.0, 0.5)])
    cuts = captions.thresholds(images)
    attrs = captions.attributes(images, torch.tensor([1, 1, 7, 7]), cuts)
    assert attrs.thick.tolist() == [0, 0, 1, 1] and attrs.slanted.tolist() == [0, 1, 0, 1]
    with pytest.raises(CourseError, match="one digit per image"):
        captions.attributes(images, torch.tensor([1, 2]), cuts)
    with pytest.raises(CourseError, match="grey images"):
        captions.thickness(torch.zeros(2, 3, 8, 8))


ALL = list(itertools.product(range(10), (None, 0, 1), (None, 0, 1)))


def test_the_grammar_round_trips():
    texts = {captions.caption(*c) for c in ALL}
    assert len(texts) == len(ALL) == 90  # every combination reads differently
    for c in ALL:
        assert captions.parse(captions.caption(*c)) == c
    assert captions.caption(7, 1, 1) == "a thick, slanted seven"
    assert captions.caption(8, None, 0) == "an upright eight"
    assert captions.caption(8) == "an eight" and captions.caption(3, 0) == "a thin three"
    # the parser reads what people type, too
    assert captions.parse("A Thin,  THREE") == (3, 0, None)
    assert captions.parse("seven slanted") == (7, None, 1)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty prompt"),
        ("   ", "empty prompt"),
        ("a purple seven", "unknown word 'purple'"),
        ("a thick thin seven", "two words for one attribute"),
        ("a thick", "names no digit"),
        ("a seven eight", "two words for one attribute"),
    ],
)
def test_bad_prompts_list_the_vocabulary(text, message):
    with pytest.raises(CourseError, match=message) as error:
        captions.parse(text)
    if "two words" not in message:
        for word in ("thin", "thick", "upright", "slanted", "zero", "nine"):
            assert word in str(error.value)


def test_tokens_fill_three_slots():
    assert captions.tokenize("a thick, slanted seven").tolist() == [
        captions.VOCABULARY.index(w) for w in ("thick", "slanted", "seven")
    ]
    assert captions.tokenize("an eight").tolist() == [0, 0, captions.VOCABULARY.index("eight")]
    attrs = captions.Attributes(torch.tensor([7, 8]), torch.tensor([1, 0]), torch.tensor([1, 0]))
    full = captions.tokens_of(attrs)
    assert full[0].tolist() == captions.tokenize("a thick, slanted seven").tolist()
    assert full[1].tolist() == captions.tokenize("a thin, upright eight").tolist()


def test_training_captions_drop_words_and_never_show_the_unseen_combinations():
    n = 20000
    g = torch.Generator().manual_seed(0)
    attrs = captions.Attributes(
        torch.randint(0, 10, (n,), generator=g),
        torch.randint(0, 2, (n,), generator=g),
        torch.randint(0, 2, (n,), generator=g),
    )
    ids = captions.training_tokens(attrs, p_word=0.3, generator=g)
    assert (ids[:, 2] == captions.tokens_of(attrs)[:, 2]).all()  # the digit is always named
    full = (ids[:, :2] != captions.PAD).all(1)
    for d, th, sl in captions.UNSEEN:
        held = (attrs.digit == d) & (attrs.thick == th) & (attrs.slanted == sl)
        assert held.sum() > 100 and not full[held].any()
        one_word = (ids[held, :2] != captions.PAD).sum(1) == 1
        assert one_word.float().mean() > 0.5  # still seen, one attribute at a time
    seen = ~torch.zeros(n, dtype=torch.bool)
    for d, th, sl in captions.UNSEEN:
        seen &= ~((attrs.digit == d) & (attrs.thick == th) & (attrs.slanted == sl))
    # each word kept with probability 0.7, independently: both kept 0.49 of the time
    assert full[seen].float().mean().item() == pytest.approx(0.49, abs=0.02)


def test_the_text_encoder_averages_the_words_present():
    enc = CaptionEncoder(len(captions.VOCABULARY), 16)
    ids = torch.stack([captions.tokenize(t) for t in ("a thick seven", "seven thick")])
    out = enc(ids)
    assert torch.allclose(out[0], out[1])  # the slots differ, the meaning does not
    empty = enc(torch.zeros(1, 3, dtype=torch.long))
    assert torch.allclose(empty, enc.mlp(torch.zeros(1, 16)))  # "no caption": MLP(0)
    mean = (enc.tokens.weight[ids[0, 0]] + enc.tokens.weight[ids[0, 2]]) / 2
    assert torch.allclose(out[0], enc.mlp(mean))


def test_a_caption_model_trains_samples_and_refuses_bad_prompts(tmp_path, capsys):
    run = tmp_path / "cap"
    train = ["train", "ddpm", "--condition", "captions", "--dataset", "digits", "--out", str(run)]
    assert main([*train, "--steps", "3", "--width", "8", "--T", "20"]) == 0
    out = tmp_path / "s.npz"
    sample = ["sample", str(run), "--sampler", "ddim", "--steps", "3", "--out", str(out)]
    assert main([*sample, "--n", "4", "--prompt", "a thin three"]) == 0
    with np.load(out) as f:
        assert f["labels"].tolist() == [3, 3, 3, 3] and f["images"].shape == (4, 8, 8)
    assert main([*sample, "--n", "12"]) == 0
    with np.load(out) as f:  # no prompt: "a zero", "a one", ... in turn
        assert f["labels"].tolist() == [*range(10), 0, 1]
    capsys.readouterr()
    assert main([*sample, "--n", "2", "--prompt", "a purple three"]) == 2
    err = capsys.readouterr().err
    assert "unknown word 'purple'" in err and "thick" in err and "Traceback" not in err
    assert main([*sample, "--n", "2", "--prompt", ""]) == 2
    assert "empty prompt" in capsys.readouterr().err
    assert main([*sample, "--n", "2", "--prompt", "a three", "--labels", "3"]) == 2
    assert "give --prompt or --labels, not both" in capsys.readouterr().err
    assert main([*train, "--condition", "words", "--steps", "1"]) == 2
    assert "unknown condition 'words'; choose one of labels, captions" in capsys.readouterr().err
    labelled = tmp_path / "lab"
    assert main([*train[:3], "labels", *train[4:6], "--out", str(labelled), "--steps", "1"]) == 0
    capsys.readouterr()
    assert main(["sample", str(labelled), "--n", "2", "--prompt", "a three"]) == 2
    assert "conditional on labels: use --labels" in capsys.readouterr().err


def test_captions_need_digits():
    from tutorial_lib.data import ImageData

    colour = ImageData("rgb", "train", torch.zeros(4, 3, 8, 8), torch.arange(4), 256, tuple("0123"))
    with pytest.raises(CourseError, match="captions name digits 0-9 in grey images"):
        ddpm.config_for(colour, condition="captions")
    with pytest.raises(CourseError, match="labels or on captions, not both"):
        ddpm.DDPMConfig(num_classes=10, vocabulary=captions.VOCABULARY)
