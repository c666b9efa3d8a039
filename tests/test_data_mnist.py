"""MNIST files: folder resolution, checksums, download fallback, and prepare_mnist end to end."""

from __future__ import annotations

import gzip
import time
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from lenet_xp.backend import get_backend, to_numpy
from lenet_xp.data import (
    MNIST_FILES,
    MNIST_SHA256,
    DataError,
    load_mnist,
    prepare_mnist,
    resolve_data_dir,
    validation_split,
    write_idx,
)
from lenet_xp.data import mnist
from mnist_files import fake_arrays, write_fake_mnist

REAL_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
N_TRAIN, N_TEST = 30, 7


@pytest.fixture
def offline(monkeypatch):
    """A downloader that fails at once, as on a machine without network; records the URLs tried."""
    tried = []

    def fail(url, timeout):
        tried.append(url)
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(mnist, "fetch_url", fail)
    return tried


# --- folder resolution ------------------------------------------------------------------

def test_resolve_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("LENET_XP_DATA", raising=False)
    assert resolve_data_dir() == tmp_path / "home" / ".cache" / "lenet_xp" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_data_dir() == tmp_path / "xdg" / "lenet_xp" / "mnist"
    monkeypatch.setenv("LENET_XP_DATA", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir(str(tmp_path / "arg")) == tmp_path / "arg"


def test_resolve_ignores_empty_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    monkeypatch.setenv("LENET_XP_DATA", "")
    assert resolve_data_dir() == tmp_path / ".cache" / "lenet_xp" / "mnist"


def test_load_uses_environment_variable(monkeypatch, tmp_path):
    sums = write_fake_mnist(tmp_path / "from-env")
    monkeypatch.setenv("LENET_XP_DATA", str(tmp_path / "from-env"))
    assert load_mnist(verify=sums, download=False).train_images.shape == (N_TRAIN, 28, 28)


# --- loading and checksums ----------------------------------------------------------------

def test_load_raw_and_gz_with_given_checksums(tmp_path):
    arrays = fake_arrays()
    sums = write_fake_mnist(tmp_path, arrays)
    splits = load_mnist(tmp_path, verify=sums, download=False)
    np.testing.assert_array_equal(splits.train_images, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(splits.train_labels, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(splits.test_images, arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(splits.test_labels, arrays["t10k-labels-idx1-ubyte"])


def test_verify_false_skips_checksums(tmp_path):
    write_fake_mnist(tmp_path)
    assert load_mnist(tmp_path, verify=False, download=False).test_labels.shape == (N_TEST,)


def test_mnist_checksums_reject_other_data(tmp_path):
    write_fake_mnist(tmp_path)
    with pytest.raises(DataError) as info:
        load_mnist(tmp_path, download=False)
    message = str(info.value)
    assert str(tmp_path / "train-images-idx3-ubyte.gz") in message
    assert MNIST_SHA256["train-images-idx3-ubyte"] in message
    assert "corrupt or is not MNIST" in message
    assert "verify=False" in message and "--no-verify" in message


def _swap(folder: Path, first: str, second: str) -> None:
    a, b = folder / f"{first}.gz", folder / f"{second}.gz"
    a.rename(folder / "swap"), b.rename(a), (folder / "swap").rename(b)


def test_swapped_files_are_named_for_what_they_hold(tmp_path):
    sums = write_fake_mnist(tmp_path, gz=(True, True, True, True))
    _swap(tmp_path, "train-images-idx3-ubyte", "t10k-images-idx3-ubyte")
    with pytest.raises(DataError) as info:
        load_mnist(tmp_path, verify=sums, download=False)
    assert str(info.value) == (
        f"MNIST files swapped or misnamed in {tmp_path}: train-images-idx3-ubyte.gz holds "
        f"{N_TEST} images, the test set's (what t10k-images-idx3-ubyte holds); "
        f"t10k-images-idx3-ubyte.gz holds {N_TRAIN} images, the training set's (what "
        "train-images-idx3-ubyte holds). Give each file the name of what it holds")
    assert "Delete it" not in str(info.value)


@pytest.mark.slow
def test_swapped_real_mnist_files_say_which_is_which(tmp_path):
    if not REAL_MNIST.is_dir():
        pytest.skip(f"real MNIST files not found in {REAL_MNIST}")
    for name in MNIST_FILES:
        (tmp_path / f"{name}.gz").symlink_to(REAL_MNIST / f"{name}.gz")
    _swap(tmp_path, "train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte")
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz holds 10,000 labels, the test "
                                        r"set's \(what t10k-labels-idx1-ubyte holds\)"):
        load_mnist(tmp_path, download=False)


def test_wrong_given_checksum(tmp_path):
    sums = write_fake_mnist(tmp_path)
    wrong = dict(sums, **{"t10k-labels-idx1-ubyte": "0" * 64})
    with pytest.raises(DataError, match="checksum mismatch for .*t10k-labels-idx1-ubyte") as info:
        load_mnist(tmp_path, verify=wrong, download=False)
    assert "0" * 64 in str(info.value) and sums["t10k-labels-idx1-ubyte"] in str(info.value)


def test_partial_checksum_dict_checks_only_named_files(tmp_path):
    sums = write_fake_mnist(tmp_path)
    load_mnist(tmp_path, verify={"train-labels-idx1-ubyte": sums["train-labels-idx1-ubyte"]},
               download=False)


def test_unknown_file_in_checksum_dict(tmp_path):
    write_fake_mnist(tmp_path)
    with pytest.raises(ValueError, match="unknown files.*train-images.gz"):
        load_mnist(tmp_path, verify={"train-images.gz": "0" * 64}, download=False)


def test_image_label_count_mismatch(tmp_path):
    arrays = fake_arrays()
    arrays["train-labels-idx1-ubyte"] = arrays["train-labels-idx1-ubyte"][:-1]
    write_fake_mnist(tmp_path, arrays)
    with pytest.raises(DataError, match=f"train-images-idx3-ubyte in {tmp_path} has {N_TRAIN} images "
                                        f"but train-labels-idx1-ubyte has {N_TRAIN - 1} labels"):
        load_mnist(tmp_path, verify=False, download=False)


def test_images_must_be_three_dimensional(tmp_path):
    arrays = fake_arrays()
    arrays["t10k-images-idx3-ubyte"] = arrays["t10k-images-idx3-ubyte"].reshape(N_TEST, -1)
    write_fake_mnist(tmp_path, arrays)
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte .* shape \(7, 784\); expected uint8 images"):
        load_mnist(tmp_path, verify=False, download=False)


def test_labels_beyond_the_models_classes_are_refused_naming_the_file(tmp_path):
    """An EMNIST-format file, or labels shifted by 200, trained silently to 0 % before."""
    arrays = fake_arrays()
    arrays["train-labels-idx1-ubyte"] = arrays["train-labels-idx1-ubyte"] + 200
    write_fake_mnist(tmp_path, arrays)
    path = tmp_path / "train-labels-idx1-ubyte"
    with pytest.raises(DataError) as info:
        load_mnist(tmp_path, verify=False, download=False, classes=10)
    assert str(info.value) == (f"{path} holds labels from 200 to 209, 30 of 30 beyond the "
                               "model's 10 classes (0 to 9): give a dataset whose labels are "
                               "0 to 9")
    write_fake_mnist(tmp_path)  # labels 0 to 9: fine for 10 classes, not for 5
    with pytest.raises(DataError, match=r"holds labels from 0 to 9, 15 of 30 beyond the "
                                        r"model's 5 classes \(0 to 4\)"):
        load_mnist(tmp_path, verify=False, download=False, classes=5)
    assert load_mnist(tmp_path, verify=False, download=False, classes=10).train_labels.max() == 9


def test_damaged_file_names_itself(tmp_path):
    write_fake_mnist(tmp_path)
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(DataError, match=f"file {path} is truncated"):
        load_mnist(tmp_path, verify=False, download=False)


# --- missing files and downloading ------------------------------------------------------------

def test_missing_files_without_download(tmp_path):
    write_fake_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError) as info:
        load_mnist(tmp_path, download=False)
    message = str(info.value)
    assert f"missing from {tmp_path}: t10k-images-idx3-ubyte[.gz];" in message
    assert "downloading is turned off" in message
    assert "--data-dir" in message and "LENET_XP_DATA" in message


def test_offline_download_fails_fast_and_clearly(tmp_path, offline):
    folder = tmp_path / "empty"
    start = time.perf_counter()
    with pytest.raises(DataError) as info:
        load_mnist(folder)
    assert time.perf_counter() - start < 1.0
    assert len(offline) == len(mnist.MIRRORS)  # one attempt per mirror, then give up
    message = str(info.value)
    assert f"missing from {folder}" in message
    assert all(f"{name}[.gz]" in message for name in MNIST_FILES)
    assert "download failed" in message and "Name or service not known" in message
    assert "--data-dir" in message and "LENET_XP_DATA" in message
    assert not folder.exists()


def _serve(monkeypatch, responses):
    """Downloader answering from ``responses(url) -> bytes`` (or raising); records the URLs."""
    tried = []

    def fetch(url, timeout):
        tried.append(url)
        assert timeout <= 10
        return responses(url)

    monkeypatch.setattr(mnist, "fetch_url", fetch)
    return tried


def _gz_payloads(tmp_path):
    arrays = fake_arrays()
    source = tmp_path / "source"
    sums = write_fake_mnist(source, arrays, gz=(True,) * 4)
    return {name: (source / f"{name}.gz").read_bytes() for name in MNIST_FILES}, sums, arrays


def test_download_stores_missing_files(monkeypatch, tmp_path):
    payloads, sums, arrays = _gz_payloads(tmp_path)
    folder = tmp_path / "cache" / "mnist"
    write_fake_mnist(folder, arrays)
    (folder / "train-images-idx3-ubyte.gz").unlink()
    tried = _serve(monkeypatch, lambda url: payloads[url.rsplit("/", 1)[1][:-3]])
    splits = load_mnist(folder, verify=sums)
    assert tried == [f"{mnist.MIRRORS[0]}train-images-idx3-ubyte.gz"]
    np.testing.assert_array_equal(splits.train_images, arrays["train-images-idx3-ubyte"])
    assert (folder / "train-images-idx3-ubyte.gz").read_bytes() == payloads["train-images-idx3-ubyte"]
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary files left
    load_mnist(folder, verify=sums, download=False)


def test_download_falls_back_to_next_mirror(monkeypatch, tmp_path):
    payloads, sums, _ = _gz_payloads(tmp_path)

    def responses(url):
        name = url.rsplit("/", 1)[1][:-3]
        if url.startswith(mnist.MIRRORS[0]):
            raise urllib.error.HTTPError(url, 403, "Forbidden", None, None)
        if url.startswith(mnist.MIRRORS[1]):
            return gzip.compress(b"<html>not here</html>")
        return payloads[name]

    tried = _serve(monkeypatch, responses)
    load_mnist(tmp_path / "dl", verify=sums)
    assert len(tried) == 3 * len(MNIST_FILES)


def test_download_rejects_wrong_checksum(monkeypatch, tmp_path):
    payloads, _, _ = _gz_payloads(tmp_path)
    _serve(monkeypatch, lambda url: payloads[url.rsplit("/", 1)[1][:-3]])
    with pytest.raises(DataError, match="download failed.*checksum mismatch.*not MNIST") as info:
        load_mnist(tmp_path / "dl")
    assert "https://" in str(info.value)
    assert not (tmp_path / "dl").exists()


# --- prepare_mnist -----------------------------------------------------------------------------

@pytest.fixture
def backend(backend_name):
    return get_backend(backend_name)


def test_prepare_shapes_and_standard_stats(backend, tmp_path):
    arrays = fake_arrays()
    sums = write_fake_mnist(tmp_path, arrays)
    train, val, test = prepare_mnist(backend, tmp_path, val_size=6, seed=3, verify=sums, download=False)
    assert (len(train), len(val), len(test)) == (N_TRAIN - 6, 6, N_TEST)
    assert train.images.shape == (N_TRAIN - 6, 1, 32, 32) and train.images.dtype == backend.xp.float32
    assert test.labels.dtype == backend.xp.int64
    train_images = to_numpy(train.images).astype(np.float64)
    assert abs(train_images.mean()) < 1e-5 and abs(train_images.std() - 1) < 1e-5
    # the split is validation_split's; val and test use the training split's statistics
    train_idx, val_idx = validation_split(N_TRAIN, 6, seed=3)
    np.testing.assert_array_equal(to_numpy(val.labels), arrays["train-labels-idx1-ubyte"][val_idx])
    padded = np.pad(arrays["train-images-idx3-ubyte"][train_idx], ((0, 0), (2, 2), (2, 2)))
    mean, std = padded.mean(dtype=np.float64), padded.std(dtype=np.float64)
    for dataset in (train, val, test):  # kept, to normalise new images the same way
        assert dataset.pixel_stats.mean == pytest.approx(mean) and dataset.pixel_stats.std == pytest.approx(std)
    for dataset, raw in ((val, arrays["train-images-idx3-ubyte"][val_idx]), (test, arrays["t10k-images-idx3-ubyte"])):
        expected = (np.pad(raw, ((0, 0), (2, 2), (2, 2))) - mean) / std
        np.testing.assert_allclose(to_numpy(dataset.images)[:, 0], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(to_numpy(test.labels), arrays["t10k-labels-idx1-ubyte"])


def test_prepare_lecun_unpadded_no_val(backend, tmp_path):
    sums = write_fake_mnist(tmp_path)
    train, val, test = prepare_mnist(backend, tmp_path, val_size=0, normalisation="lecun",
                                     pad_to=None, verify=sums, download=False)
    assert val is None and len(train) == N_TRAIN and train.pixel_stats is None
    assert test.images.shape == (N_TEST, 1, 28, 28)
    images = to_numpy(train.images)
    assert images.min() == pytest.approx(-0.1) and images.max() == pytest.approx(1.175)


def test_prepare_binarised_float64(tmp_path):
    sums = write_fake_mnist(tmp_path)
    train, _, _ = prepare_mnist(get_backend("cpu"), tmp_path, val_size=5, normalisation="zero_one",
                                binarise_threshold=128, dtype="float64", verify=sums, download=False)
    assert train.images.dtype == np.float64
    assert set(np.unique(to_numpy(train.images))) == {0.0, 1.0}


def test_prepare_split_is_seeded(tmp_path):
    sums = write_fake_mnist(tmp_path)
    cpu = get_backend("cpu")

    def val_images(seed):
        return to_numpy(prepare_mnist(cpu, tmp_path, val_size=10, seed=seed, verify=sums,
                                      download=False)[1].images)

    np.testing.assert_array_equal(val_images(0), val_images(0))
    assert not np.array_equal(val_images(0), val_images(1))


def test_prepare_rejects_unknown_normalisation(tmp_path):
    with pytest.raises(ValueError, match="unknown normalisation 'max'"):
        prepare_mnist(get_backend("cpu"), tmp_path, normalisation="max", download=False)


# --- the real files ----------------------------------------------------------------------------

@pytest.mark.slow
def test_real_mnist():
    if not all((REAL_MNIST / f"{name}.gz").is_file() for name in MNIST_FILES):
        pytest.skip(f"the real MNIST files are not in {REAL_MNIST} (shared/ is expected beside the repository)")
    start = time.perf_counter()
    splits = load_mnist(REAL_MNIST, verify=True, download=False)
    assert time.perf_counter() - start < 10
    assert splits.train_images.shape == (60000, 28, 28) and splits.train_images.dtype == np.uint8
    assert splits.train_labels.shape == (60000,)
    assert splits.test_images.shape == (10000, 28, 28) and splits.test_labels.shape == (10000,)
    np.testing.assert_array_equal(np.bincount(splits.train_labels, minlength=10),
                                  [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
    np.testing.assert_array_equal(splits.train_labels[:5], [5, 0, 4, 1, 9])
    np.testing.assert_array_equal(splits.test_labels[:5], [7, 2, 1, 0, 4])


@pytest.mark.slow
def test_real_mnist_prepared():
    if not all((REAL_MNIST / f"{name}.gz").is_file() for name in MNIST_FILES):
        pytest.skip(f"the real MNIST files are not in {REAL_MNIST} (shared/ is expected beside the repository)")
    train, val, test = prepare_mnist(get_backend("cpu"), REAL_MNIST, download=False)
    assert train.images.shape == (55000, 1, 32, 32) and len(val) == 5000 and len(test) == 10000
    images = to_numpy(train.images)
    assert abs(float(images.mean(dtype=np.float64))) < 1e-4
    assert abs(float(images.std(dtype=np.float64)) - 1) < 1e-4
