import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tutorial_lib.cli import main


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "datasets" in out and "show" in out


def test_datasets_lists_all_names(capsys, tmp_path):
    assert main(["datasets", "--data-root", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in lines[1:5]}
    assert set(rows) == {"digits", "mnist10k", "mnist", "fashion-mnist"}
    assert "1x28x28" in rows["mnist10k"] and " yes " in rows["mnist10k"]
    assert "1x8x8" in rows["digits"] and " yes " in rows["digits"]
    assert "1x28x28" in rows["mnist"] and " no " in rows["mnist"]


def test_show_saves_a_grid(tmp_path, capsys):
    assert main(["show", "--out", str(tmp_path / "grid.png"), "--n", "16", "--nrow", "4"]) == 0
    image = np.asarray(Image.open(tmp_path / "grid.png").convert("L"))
    assert image.shape == (4 * 28 + 5, 4 * 28 + 5)  # the default, mnist10k, 1 pixel between images
    assert image.min() == 0 and image.max() == 255
    assert "saved 16 images of mnist10k" in capsys.readouterr().out
    small = tmp_path / "small.png"
    assert (
        main(["show", "--dataset", "digits", "--out", str(small), "--n", "16", "--nrow", "4"]) == 0
    )
    image = np.asarray(Image.open(small).convert("L"))
    assert image.shape == (4 * 32 + 5 * 4, 4 * 32 + 5 * 4)  # 8x8 digits scaled up 4 times


def test_show_real_mnist(tmp_path, shared_mnist, capsys):
    rc = main(
        [
            "show",
            "--dataset",
            "mnist",
            "--split",
            "test",
            "--data-root",
            str(shared_mnist),
            "--no-download",
            "--n",
            "4",
            "--out",
            str(tmp_path / "m.png"),
        ]
    )
    assert rc == 0 and Image.open(tmp_path / "m.png").size == (2 * 28 + 3, 2 * 28 + 3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--dataset", "nope"],
            "error: unknown dataset 'nope'; choose one of digits, mnist10k, mnist, fashion-mnist",
        ),
        (["--split", "dev"], "error: unknown split 'dev'; choose one of train, test, all"),
        (["--n", "0"], "error: --n must be at least 1"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, capsys, args, message):
    assert main(["show", "--out", str(tmp_path / "x.png"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and "\n" not in err
    assert not (tmp_path / "x.png").exists()


def test_unknown_dataset_from_the_shell_has_no_traceback(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tutorial_lib",
            "show",
            "--dataset",
            "nope",
            "--out",
            str(tmp_path / "x.png"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: unknown dataset 'nope'; choose one of digits, mnist10k, mnist, fashion-mnist, "
        "or give a path to an .npz file"
    ]


@pytest.fixture
def unreadable(tmp_path):
    """A file where a folder should be: nothing can be created under it, and it is no checkpoint."""
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    return blocker


@pytest.mark.parametrize(
    "argv",
    [
        ["show", "--dataset", "digits", "--out", "/proc/nope/g.png"],
        ["show", "--dataset", "digits", "--out", "{blocker}/g.png"],
        ["train", "classifier", "--steps", "1", "--out", "{blocker}/run"],
        ["train", "gan", "--steps", "1", "--out", "/proc/nope/run"],
        ["sample", "{blocker}/run", "--n", "4", "--out", "{blocker}/s.npz"],
        ["evaluate", "{blocker}/missing.npz"],
        ["show", "--dataset", "{blocker}/data.npz", "--out", "{blocker}/g.png"],
    ],
    ids=["show-proc", "show-file", "train-file", "train-proc", "sample", "evaluate", "npz-data"],
)
def test_a_path_that_cannot_be_used_is_one_clear_line(unreadable, capsys, argv):
    argv = [a.replace("{blocker}", str(unreadable)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    assert unreadable.read_text() == "not a folder"  # nothing was overwritten
