"""The shipped checkpoints: each reloads, matches its hash, and reproduces its manifest's metrics."""

import importlib.util
import json
from pathlib import Path

import pytest

from tutorial_lib import families
from tutorial_lib.utils import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = json.loads((ROOT / "checkpoints" / "manifest.json").read_text())
spec = importlib.util.spec_from_file_location(
    "make_checkpoints", ROOT / "scripts" / "make_checkpoints.py"
)
make_checkpoints = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_checkpoints)


def test_manifest_lists_every_family():
    assert set(MANIFEST["checkpoints"]) == set(make_checkpoints.RUNS)
    kinds = {load_checkpoint(ROOT / e["file"])["kind"] for e in MANIFEST["checkpoints"].values()}
    assert kinds == set(families.names())  # every family ships a trained checkpoint
    total = sum(e["bytes"] for e in MANIFEST["checkpoints"].values())
    # every clone downloads them: 17.3 MB with the caption model, 29 MB with notebook 07's three
    # (the latent flow model carries its VAE)
    assert total < 30e6
    assert set(MANIFEST["samples"]) == set(make_checkpoints.SAMPLES)


@pytest.mark.parametrize("name", sorted(MANIFEST["checkpoints"]))
def test_shipped_checkpoint_reproduces_its_manifest(name):
    entry = MANIFEST["checkpoints"][name]
    path = ROOT / entry["file"]
    assert make_checkpoints.sha256(path) == entry["sha256"], (
        f"{path} differs from the manifest; rerun make_checkpoints.py"
    )
    assert load_checkpoint(path)["extra"]["dataset"] == make_checkpoints.DATASET == "mnist10k"
    # The DDPM's bound (1000 network calls per image) is not recomputed here: notebook 06, which
    # nbval runs in the same `make test`, recomputes it on the same 4 digits and checks it to 1%.
    bounds = name != "ddpm"
    measured = make_checkpoints.measure(name, entry, bounds=bounds)
    checked = {k: v for k, v in entry["metrics"].items() if bounds or not k.startswith("neg_bound")}
    assert set(measured) == set(checked), "the manifest lists other metrics than the run measures"
    for key, expected in checked.items():
        assert measured[key] == pytest.approx(expected, rel=0.02, abs=0.01), key


@pytest.mark.parametrize("name", sorted(MANIFEST["samples"]))
def test_shipped_samples_match_the_manifest(name):
    from tutorial_lib.samples import load_samples

    entry = MANIFEST["samples"][name]
    path = ROOT / entry["file"]
    assert make_checkpoints.sha256(path) == entry["sha256"]
    images, labels = load_samples(path)
    assert images.shape == (make_checkpoints.N_SHIPPED_SAMPLES, 28, 28)
    assert (labels is not None) == ("--labels" in entry["command"])


def test_evaluate_model_reports_likelihood_only_where_one_exists(tmp_path, capsys):
    from tutorial_lib.cli import main
    from tutorial_lib.data import load_dataset, to_uint8
    from tutorial_lib.samples import save_samples

    real = load_dataset("mnist10k", "test")
    save_samples(tmp_path / "real.npz", to_uint8(real.images[:50], 256))
    classifier = str(ROOT / "checkpoints" / "classifier")
    args = ["evaluate", str(tmp_path / "real.npz"), "--classifier", classifier, "--model"]
    assert main([*args, str(ROOT / "checkpoints" / "gan")]) == 2
    assert "a gan model defines no likelihood" in capsys.readouterr().err
    assert main([*args, str(tmp_path / "nowhere")]) == 2
    assert "no checkpoint at" in capsys.readouterr().err
    vae_run = str(ROOT / "checkpoints" / "vae")
    assert main([*args, vae_run, "--likelihood-images", "0"]) == 2
    assert "--likelihood-images must be at least 1" in capsys.readouterr().err
    assert main([*args, vae_run, "--likelihood-images", "5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["likelihood_images"] == 5 and result["neg_iwae_nats"] <= result["neg_elbo_nats"]
