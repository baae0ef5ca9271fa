import pytest
import torch

from tutorial_lib import utils
from tutorial_lib.utils import (
    CheckpointError,
    CourseError,
    get_device,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)


def test_seed_everything_repeats_exactly():
    utils.seed_everything(3)
    a = torch.randn(5), torch.nn.Linear(4, 4).weight.clone()
    utils.seed_everything(3)
    b = torch.randn(5), torch.nn.Linear(4, 4).weight.clone()
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    g1, g2 = utils.seed_everything(7), utils.seed_everything(7)
    assert torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2))


def test_devices():
    assert get_device("cpu") == torch.device("cpu")
    assert get_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(
        CourseError, match="unknown device 'gpu'; choose one of auto, cpu, cuda, mps"
    ):
        get_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(CourseError, match="no CUDA GPU is visible; use --device cpu"):
            get_device("cuda")


def small_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))


def test_checkpoint_round_trip(tmp_path):
    from dataclasses import dataclass

    @dataclass
    class Config:
        hidden: int = 4
        name: str = "mlp"

    model = small_model()
    path = save_checkpoint(
        tmp_path / "run" / "model.pt", model, "mlp", Config(), history=[1.0, 0.5]
    )
    ckpt = load_checkpoint(path, kind="mlp")
    assert ckpt["config"] == {"hidden": 4, "name": "mlp"} and ckpt["extra"]["history"] == [1.0, 0.5]
    other = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    load_weights(other, ckpt)
    x = torch.randn(5, 3)
    assert torch.equal(model(x), other(x))
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]


def test_a_crash_mid_write_keeps_the_good_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "model.pt", small_model(), "mlp")
    good = path.read_bytes()

    def crash(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt  # e.g. Ctrl-C or the machine dying mid-write

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, small_model(), "mlp")
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", "truncate"])
def test_corrupt_checkpoint(tmp_path, content):
    path = save_checkpoint(tmp_path / "model.pt", small_model(), "mlp")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if content == "truncate" else content)
    with pytest.raises(
        CheckpointError, match="not a readable checkpoint|not a tutorial_lib checkpoint"
    ):
        load_checkpoint(path)


def test_foreign_file_and_wrong_kind(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a tutorial_lib checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    path = save_checkpoint(tmp_path / "model.pt", small_model(), "vae")
    with pytest.raises(
        CheckpointError, match="holds a 'vae' model, but a 'gan' model was asked for"
    ):
        load_checkpoint(path, kind="gan")
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "absent.pt")


def test_weights_that_do_not_fit(tmp_path):
    path = save_checkpoint(tmp_path / "model.pt", small_model(), "mlp")
    with pytest.raises(CheckpointError, match="do not fit this Sequential"):
        load_weights(torch.nn.Sequential(torch.nn.Linear(3, 8)), load_checkpoint(path))
