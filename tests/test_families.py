"""One interface for every model family: each registered family has it, and a new family is a
module plus one registry line: a fake family, registered only here, trains, samples, is
evaluated and round-trips through the command line and the checkpoint script."""

import importlib.util
import inspect
import json
import math
import shutil
import types
from dataclasses import MISSING, dataclass, fields, is_dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tutorial_lib import families
from tutorial_lib.cli import main
from tutorial_lib.utils import CourseError, load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = ("Config", "OPTIONS", "SUMMARY", "config_for", "build", "train", "from_checkpoint")


@pytest.mark.parametrize("name", families.names())
def test_every_family_has_the_interface(name):
    family = families.get(name)
    missing = [a for a in REQUIRED if not hasattr(family, a)]
    assert not missing, f"{name} lacks {missing}"
    assert is_dataclass(family.Config)
    defaults = {f.name: f.default for f in fields(family.Config) if f.default is not MISSING}
    assert set(family.OPTIONS) <= set(defaults), "every option is a Config field with a default"
    assert all(type(defaults[o]) in (int, float, str) for o in family.OPTIONS)
    assert hasattr(family, "sample") or hasattr(family, "report")
    first = list(inspect.signature(family.train).parameters)[:5]
    assert first == ["data", "cfg", "device", "generator", "progress"]
    if hasattr(family, "sample"):
        first = list(inspect.signature(family.sample).parameters)[:5]
        assert first == ["model", "cfg", "n", "generator", "device"]


def test_an_unknown_family_is_a_clear_error():
    with pytest.raises(CourseError, match="unknown model family 'nope'; the course knows gan, vae"):
        families.get("nope")


# ---------------------------------------------------------------- a fake family: one Gaussian
@dataclass
class FakeConfig:
    image_shape: tuple[int, ...] = (1, 8, 8)
    steps: int = 3
    scale: float = 1.0

    def __post_init__(self):
        self.image_shape = tuple(self.image_shape)


class Mean(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(cfg.image_shape))


def fake_train(data, cfg, device="cpu", generator=None, progress=True):
    model = Mean(cfg)
    with torch.no_grad():
        model.mean.copy_(data.images.mean(0))
    return families.Run(model.eval(), cfg, {"loss": [1.0] * cfg.steps})


def fake_sample(model, cfg, n, generator=None, device="cpu"):
    noise = torch.randn(n, *cfg.image_shape, generator=generator)
    return (model.mean.detach() + cfg.scale * noise).clamp(-1, 1)


def fake_from_checkpoint(checkpoint):
    cfg = FakeConfig(**checkpoint["config"])
    model = Mean(cfg)
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval(), cfg


def fake_bounds(model, cfg, images, levels, generator=None, device="cpu", progress=False):
    normal = torch.distributions.Normal(model.mean.detach(), cfg.scale)
    return {"neg_gaussian": -normal.log_prob(images).flatten(1).sum(1).mean().item()}


FAKE = types.ModuleType("fake_family")
FAKE.__dict__.update(
    Config=FakeConfig,
    OPTIONS={"steps": "training steps", "scale": "noise scale of the samples"},
    SUMMARY="one Gaussian around the mean image (a test)",
    config_for=lambda data, **options: FakeConfig(image_shape=data.shape, **options),
    build=Mean,
    train=fake_train,
    sample=fake_sample,
    from_checkpoint=fake_from_checkpoint,
    likelihood_bounds=fake_bounds,
)


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setitem(families.FAMILIES, "fake", FAKE)  # the one registry line


def test_a_new_family_needs_only_a_module_and_a_registry_line(fake, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "fake", "--help"])
    assert "noise scale of the samples (default 1.0)" in capsys.readouterr().out

    run = tmp_path / "fake"
    assert main(["train", "fake", "--scale", "0.5", "--out", str(run)]) == 0
    checkpoint = load_checkpoint(run, kind="fake")
    assert checkpoint["config"]["scale"] == 0.5 and (run / "samples.png").is_file()
    assert checkpoint["extra"]["history"] == {"loss": [1.0, 1.0, 1.0]}

    assert main(["sample", str(run), "--n", "30", "--out", str(tmp_path / "s.npz")]) == 0
    with np.load(tmp_path / "s.npz") as f:
        assert f["images"].shape == (30, 28, 28)
    capsys.readouterr()
    assert main(["sample", str(run), "--sampler", "ddim", "--out", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert "--sampler applies to ddpm" in err and "this checkpoint holds a 'fake' model" in err

    classifier = str(ROOT / "checkpoints" / "classifier")
    evaluate = ["evaluate", str(tmp_path / "s.npz"), "--classifier", classifier, "--json"]
    assert main([*evaluate, "--model", str(run)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["likelihood_model"] == f"fake from {run}"
    dims = 784
    assert result["neg_gaussian_bits_per_dim"] == pytest.approx(
        result["neg_gaussian_nats"] / (dims * math.log(2))
    )
    assert {"vae", "ddpm", "fake"} <= set(families.with_likelihood())
    assert "gan" not in families.with_likelihood()


def test_the_checkpoint_script_measures_a_new_family(fake, tmp_path):
    spec = importlib.util.spec_from_file_location(
        "make_checkpoints", ROOT / "scripts" / "make_checkpoints.py"
    )
    make_checkpoints = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_checkpoints)
    shutil.copytree(ROOT / "checkpoints" / "classifier", tmp_path / "classifier")
    assert main(["train", "fake", "--scale", "0.1", "--out", str(tmp_path / "fake")]) == 0
    metrics = make_checkpoints.measure("fake", {"sample_args": []}, tmp_path)
    # samples within 0.1 of the mean image are not diverse: low recall, one or two classes
    assert metrics["recall"] < 0.2 and metrics["class_entropy_nats"] < 1.0
