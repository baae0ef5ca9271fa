import gzip
import urllib.error

import numpy as np
import pytest
import torch
from conftest import write_idx
from sklearn.datasets import load_digits

from tutorial_lib import data
from tutorial_lib.data import DatasetError, from_uint8, load_dataset, to_uint8
from tutorial_lib.samples import load_samples, save_samples


# ---------------------------------------------------------------- digits
def test_digits_splits_match_sklearn_exactly():
    raw = load_digits()
    pieces = [load_dataset("digits", split=s) for s in ("train", "val", "test")]
    assert [len(p) for p in pieces] == [1000, 350, 447]
    images = torch.cat([p.images for p in pieces])
    labels = torch.cat([p.labels for p in pieces])
    # x = 2 v / 16 - 1  <=>  v = 8 (x + 1)
    np.testing.assert_array_equal((8 * (images[:, 0] + 1)).round().numpy(), raw.images)
    np.testing.assert_array_equal(labels.numpy(), raw.target)


def test_the_default_is_the_bundled_mnist10k():
    d = load_dataset()
    assert d.name == "mnist10k" and d.split == "train" and d.shape == (1, 28, 28)


def test_digits_format():
    d = load_dataset("digits")
    assert d.name == "digits" and d.split == "train"
    assert d.images.shape == (1000, 1, 8, 8) and d.images.dtype == torch.float32
    assert d.labels.dtype == torch.int64 and set(d.labels.tolist()) == set(range(10))
    assert d.images.min() == -1 and d.images.max() == 1
    assert d.levels == 17 and len(torch.unique(d.images)) == 17
    assert d.shape == (1, 8, 8) and len(d.classes) == 10


def test_unknown_names_list_the_choices():
    with pytest.raises(DatasetError, match="choose one of digits, mnist10k, mnist, fashion-mnist"):
        load_dataset("nope")
    with pytest.raises(
        DatasetError, match="unknown split 'dev'; choose one of train, val, test, all"
    ):
        load_dataset("digits", split="dev")


# ---------------------------------------------------------------- pixel conversions
@pytest.mark.parametrize("levels", [2, 17, 256])
def test_uint8_round_trip_is_exact_on_the_level_grid(levels):
    v = torch.randint(levels, (5, 1, 4, 4))
    x = data.from_levels(v, levels)
    u8 = to_uint8(x, levels)
    assert u8.dtype == np.uint8 and u8.shape == (5, 4, 4)
    assert u8.min() >= 0 and (u8.max() == 255 or v.max() < levels - 1)
    torch.testing.assert_close(from_uint8(u8, levels), x)


def test_to_uint8_snaps_and_clamps():
    x = torch.tensor([-3.0, -1.0, -0.01, 0.07, 1.0, 5.0]).view(1, 1, 1, 6)
    # 17 levels: v = round((x + 1) * 8) -> 0, 0, 8, 9, 16, 16; pixel = round(v * 255 / 16)
    assert to_uint8(x, 17).tolist() == [[[0, 0, 128, 143, 255, 255]]]


def test_colour_layout():
    x = torch.rand(2, 3, 5, 6) * 2 - 1
    u8 = to_uint8(x)
    assert u8.shape == (2, 5, 6, 3)
    assert torch.allclose(from_uint8(u8), x, atol=1 / 255 + 1e-6)


# ---------------------------------------------------------------- MNIST from the real files
MNIST_TEST_CLASS_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_real_mnist_test_split(shared_mnist):
    d = load_dataset("mnist", split="test", root=shared_mnist, download=False)
    assert d.images.shape == (10000, 1, 28, 28) and d.split == "test"
    assert d.images.min() == -1 and d.images.max() == 1 and d.levels == 256
    assert d.labels.min() == 0 and d.labels.max() == 9
    assert torch.bincount(d.labels).tolist() == MNIST_TEST_CLASS_COUNTS
    # independent oracle: the IDX payload starts after a 16-byte header
    raw = np.frombuffer(gzip.open(shared_mnist / "t10k-images-idx3-ubyte.gz").read()[16:], np.uint8)
    np.testing.assert_array_equal(to_uint8(d.images[:100]), raw[: 100 * 784].reshape(100, 28, 28))


def test_only_test_split_present_falls_back_with_a_warning(shared_mnist):
    with pytest.warns(UserWarning, match="holds only the test split"):
        d = load_dataset("mnist", split="train", root=shared_mnist, download=False)
    assert len(d) == 10000 and d.split == "test"


# ---------------------------------------------------------------- MNIST from tiny IDX files
@pytest.fixture
def tiny_idx(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 7, dtype=np.uint8)
    return tmp_path, images, labels


@pytest.mark.parametrize("layout", ["flat", "torchvision"])
@pytest.mark.parametrize("compress", [False, True])
def test_tiny_idx_files(tiny_idx, layout, compress):
    root, images, labels = tiny_idx
    folder = root if layout == "flat" else root / "FashionMNIST" / "raw"
    write_idx(folder / "train-images-idx3-ubyte", images, compress)
    write_idx(folder / "train-labels-idx1-ubyte", labels, compress)
    d = load_dataset("fashion-mnist", split="train", root=root, download=False)
    np.testing.assert_array_equal(to_uint8(d.images), images)
    np.testing.assert_array_equal(d.labels.numpy(), labels)
    assert d.classes[9] == "Ankle boot"


def test_mnist_missing_and_offline_says_what_to_do(tmp_path):
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.gz.*use dataset 'mnist10k'"):
        load_dataset("mnist", split="test", root=tmp_path, download=False)


def test_mnist_no_network_says_what_to_do(tmp_path, monkeypatch):
    import torchvision

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets, "MNIST", no_network)
    with pytest.raises(DatasetError, match="could not download mnist.*--data-root.*'mnist10k'"):
        load_dataset("mnist", split="test", root=tmp_path, download=True)


def test_corrupt_idx_file(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x00\x01garbage")
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(3, np.uint8))
    with pytest.raises(DatasetError, match="not a valid IDX file"):
        load_dataset("mnist", split="test", root=tmp_path, download=False)


def test_images_and_labels_of_different_lengths(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(DatasetError, match="do not match"):
        load_dataset("mnist", split="test", root=tmp_path, download=False)


# ---------------------------------------------------------------- bring your own .npz
def test_npz_grey_with_labels(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) * 10
    np.savez(tmp_path / "mine.npz", images=images, labels=np.array([3, 1]))
    d = load_dataset(str(tmp_path / "mine.npz"))
    assert d.images.shape == (2, 1, 3, 4) and d.labels.tolist() == [3, 1] and d.levels == 256
    np.testing.assert_array_equal(to_uint8(d.images), images)


def test_npz_colour_without_labels(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (4, 5, 5, 3), dtype=np.uint8)
    np.savez(tmp_path / "c.npz", images=images)
    d = load_dataset(str(tmp_path / "c.npz"))
    assert d.images.shape == (4, 3, 5, 5) and d.labels is None
    np.testing.assert_array_equal(to_uint8(d.images), images)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"pixels": np.zeros((2, 4, 4), np.uint8)}, "no 'images' array \\(it has: pixels\\)"),
        ({"images": np.zeros((2, 4, 4), np.float32)}, "dtype float32; it must be uint8"),
        ({"images": np.zeros((4, 4), np.uint8)}, "shape \\(4, 4\\); it must be \\(N, H, W\\)"),
        ({"images": np.zeros((2, 4, 4, 5), np.uint8)}, "shape \\(2, 4, 4, 5\\)"),
        (
            {"images": np.zeros((2, 4, 4), np.uint8), "labels": np.zeros(3, int)},
            "'labels'.*shape \\(3,\\)",
        ),
        (
            {"images": np.zeros((2, 4, 4), np.uint8), "labels": np.zeros(2, float)},
            "'labels'.*float64",
        ),
    ],
)
def test_malformed_npz_names_the_problem(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DatasetError, match=message):
        load_dataset(str(tmp_path / "bad.npz"))


def test_npz_missing_or_not_an_npz(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(str(tmp_path / "absent.npz"))
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(DatasetError, match="not a readable .npz"):
        load_dataset(str(tmp_path / "text.npz"))


# ---------------------------------------------------------------- the samples format
def test_samples_round_trip(tmp_path):
    x = data.from_levels(torch.randint(17, (6, 1, 8, 8)), 17)
    u8 = to_uint8(x, 17)
    path = save_samples(tmp_path / "run" / "samples.npz", u8, labels=torch.arange(6))
    images, labels = load_samples(path)
    np.testing.assert_array_equal(images, u8)
    assert labels.dtype == np.int64 and labels.tolist() == list(range(6))
    assert [p.name for p in path.parent.iterdir()] == ["samples.npz"]  # no temporary files left


def test_samples_reject_bad_input(tmp_path):
    with pytest.raises(DatasetError, match="uint8"):
        save_samples(tmp_path / "s.npz", np.zeros((2, 8, 8), np.float32))
    with pytest.raises(DatasetError, match="do not match"):
        save_samples(tmp_path / "s.npz", np.zeros((2, 8, 8), np.uint8), labels=[1, 2, 3])
    assert not (tmp_path / "s.npz").exists()


def test_dataset_table(tmp_path):
    rows = {r["name"]: r for r in data.dataset_table(tmp_path)}
    assert list(rows) == ["digits", "mnist10k", "mnist", "fashion-mnist"]
    assert rows["digits"]["offline"] and rows["mnist10k"]["offline"]
    assert not rows["mnist"]["offline"]
    write_idx(
        tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte", np.zeros((1, 28, 28), np.uint8)
    )
    write_idx(tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte", np.zeros(1, np.uint8))
    rows = {r["name"]: r for r in data.dataset_table(tmp_path)}
    assert rows["mnist"]["offline"] and not rows["fashion-mnist"]["offline"]


def test_failed_download_falls_back_to_the_split_that_is_there(shared_mnist, monkeypatch):
    import torchvision

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.datasets, "MNIST", no_network)
    with pytest.warns(
        UserWarning, match="holds only the test split of mnist and the download failed"
    ):
        d = load_dataset("mnist", split="train", root=shared_mnist, download=True)
    assert len(d) == 10000


# ---------------------------------------------------------------- mnist10k, bundled
def test_mnist10k_is_the_official_test_split_with_a_fixed_split():
    import hashlib

    from tutorial_lib import mnist10k

    for name, md5 in mnist10k.FILES.items():  # the published md5, checked independently here
        assert hashlib.md5((mnist10k.FOLDER / name).read_bytes()).hexdigest() == md5
    assert (mnist10k.FOLDER / "NOTICE.md").read_text().count("CC BY-SA 3.0") >= 1
    train, test, every = (load_dataset("mnist10k", s) for s in ("train", "test", "all"))
    assert (len(train), len(test), len(every)) == (9000, 1000, 10000)
    assert train.shape == test.shape == (1, 28, 28) and train.levels == 256
    torch.testing.assert_close(every.images[:9000], train.images)  # train: images 0 to 8,999
    torch.testing.assert_close(every.images[9000:], test.images)  # test: the last 1,000
    assert every.labels[:3].tolist() == [7, 2, 1]  # the first test digits of MNIST
    assert sorted(set(test.labels.tolist())) == list(range(10))
    with pytest.raises(DatasetError, match="unknown split 'val'; choose one of train, test, all"):
        load_dataset("mnist10k", "val")


def test_mnist10k_equals_the_shared_copy(shared_mnist):
    every = load_dataset("mnist10k", "all")
    official = load_dataset("mnist", "test", root=shared_mnist, download=False)
    torch.testing.assert_close(every.images, official.images)
    assert torch.equal(every.labels, official.labels)


@pytest.mark.parametrize("damage", ["flip", "truncate", "remove"])
def test_a_damaged_bundled_file_is_one_clear_error(tmp_path, monkeypatch, capsys, damage):
    import shutil

    from tutorial_lib import mnist10k
    from tutorial_lib.cli import main

    copy = tmp_path / "bundled"
    shutil.copytree(mnist10k.FOLDER, copy)
    target = copy / "t10k-images-idx3-ubyte.gz"
    raw = target.read_bytes()
    if damage == "flip":
        target.write_bytes(raw[:1000] + bytes([raw[1000] ^ 1]) + raw[1001:])
    elif damage == "truncate":
        target.write_bytes(raw[: len(raw) // 2])
    else:
        target.unlink()
    monkeypatch.setattr(mnist10k, "FOLDER", copy)
    with pytest.raises(DatasetError, match="is damaged|is missing"):
        load_dataset("mnist10k", "train")
    assert main(["show", "--dataset", "mnist10k", "--out", str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "digits" in err
    assert not (tmp_path / "g.png").exists()


def test_mnist10k_is_ordered_by_writer_population_so_baselines_are_random_subsets():
    """MNIST's test file holds 5000 digits of the cleaner writers, then 5000 of the others: mean ink
    per image (sum of pixel values / 255) is 95.7, 113.4 and 106.7 over images 0-4999, 5000-8999
    and the test split 9000-9999. A prefix train[:n] (n <= 5000) holds one population only;
    random_subset draws from both, as the test split's comparison needs."""
    train, test = load_dataset("mnist10k", "train"), load_dataset("mnist10k", "test")

    ink_per_image = lambda x: ((x + 1) / 2).flatten(1).sum(1).mean().item()  # noqa: E731
    assert [
        round(ink_per_image(x), 1) for x in (train.images[:5000], train.images[5000:], test.images)
    ] == [
        95.7,
        113.4,
        106.7,
    ]
    subset = train.random_subset(350, torch.Generator().manual_seed(0))
    prefix = ink_per_image(train.images[:350])
    assert abs(ink_per_image(subset) - ink_per_image(train.images)) < abs(
        prefix - ink_per_image(train.images)
    )
    again = train.random_subset(350, torch.Generator().manual_seed(0))
    assert torch.equal(subset, again) and len(torch.unique(subset.flatten(1), dim=0)) == 350
    with pytest.raises(data.CourseError, match="n must be between 1 and 9000"):
        train.random_subset(9001)
