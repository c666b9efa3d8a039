"""MNIST from its four IDX files: where they are, fetching them, checking them.

The files (each raw or ``.gz``) live in one folder, found by :func:`resolve_data_dir`.
Their sha256 sums, of the decompressed bytes, identify the real MNIST whatever program
compressed them; other datasets in the same layout (Fashion-MNIST, KMNIST) load with
``verify=False`` or with their own sums.
"""

from __future__ import annotations

import dataclasses
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from lenet_xp.data.idx import GZIP_MAGIC, IdxError, atomic_write_bytes, decode_idx, read_idx

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
MNIST_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

#: what each file holds, in words (for messages about swapped files)
_KIND = {TRAIN_IMAGES: "images, the training set's", TRAIN_LABELS: "labels, the training set's",
         TEST_IMAGES: "images, the test set's", TEST_LABELS: "labels, the test set's"}

MNIST_SHA256 = {
    TRAIN_IMAGES: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    TRAIN_LABELS: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    TEST_IMAGES: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    TEST_LABELS: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
DOWNLOAD_TIMEOUT_S = 5.0
DATA_DIR_ENV = "LENET_XP_DATA"


class DataError(RuntimeError):
    """A dataset that cannot be loaded; the message names the files and the fix."""


@dataclasses.dataclass(frozen=True)
class MnistSplits:
    """The four MNIST arrays, as stored (uint8).

    Attributes:
        train_images: (60000, 28, 28) pixels, 0 = background, 255 = ink.
        train_labels: (60000,) digits 0-9.
        test_images: (10000, 28, 28).
        test_labels: (10000,).
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding the IDX files.

    Precedence: ``data_dir`` (the CLI's ``--data-dir``), else the environment variable
    ``LENET_XP_DATA``, else the user cache folder ``$XDG_CACHE_HOME/lenet_xp/mnist``
    (``~/.cache/lenet_xp/mnist`` when XDG_CACHE_HOME is unset).
    """
    if data_dir is not None:
        return Path(data_dir).expanduser().absolute()
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser().absolute()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser().absolute() / "lenet_xp" / "mnist"


def load_mnist(
    data_dir: str | os.PathLike | None = None,
    verify: bool | Mapping[str, str] = True,
    download: bool = True,
    classes: int | None = None,
) -> MnistSplits:
    """Load the four MNIST files from :func:`resolve_data_dir` ``(data_dir)``.

    Args:
        data_dir: the folder; None for the environment variable or the cache folder.
        verify: True checks the files against MNIST's sha256 sums; False checks nothing
            (other datasets in MNIST's layout); a dict ``{file name: sha256}`` (names as in
            :data:`MNIST_FILES`, without ``.gz``) checks the files it names.
        download: fetch missing files from the public mirrors into the folder.
        classes: the classes of the model the data is for (its output's width): every
            label must be one of 0 .. classes - 1 (None: not checked).

    Raises:
        DataError: missing files (and no download), files that are not valid IDX (empty,
            truncated, a corrupt gzip stream, a header declaring more data than the file
            holds), checksum mismatch, arrays of the wrong shape, labels beyond ``classes``.
    """
    folder = resolve_data_dir(data_dir)
    checksums = _checksums(verify)
    missing = [name for name in MNIST_FILES if _find(folder, name) is None]
    if missing and not download:
        raise DataError(_missing_message(folder, missing, "downloading is turned off"))
    if missing:
        _download(folder, missing, checksums)
    arrays = _read_checked(folder, checksums)
    for images_name, labels_name in ((TRAIN_IMAGES, TRAIN_LABELS), (TEST_IMAGES, TEST_LABELS)):
        _check_pair(folder, images_name, arrays[images_name], labels_name, arrays[labels_name])
        if classes is not None:
            _check_labels(_existing(folder, labels_name), arrays[labels_name], classes)
    return MnistSplits(
        train_images=arrays[TRAIN_IMAGES],
        train_labels=arrays[TRAIN_LABELS],
        test_images=arrays[TEST_IMAGES],
        test_labels=arrays[TEST_LABELS],
    )


def holds_mnist(data_dir: str | os.PathLike) -> bool:
    """Whether the folder holds the four files (each raw or ``.gz``), nothing downloaded."""
    return all(_find(Path(data_dir), name) is not None for name in MNIST_FILES)


def fetch_url(url: str, timeout: float) -> bytes:
    """The body of ``url`` (urllib; ``timeout`` applies to connecting and to each read)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def _checksums(verify: bool | Mapping[str, str]) -> Mapping[str, str]:
    if verify is True:
        return MNIST_SHA256
    if verify is False:
        return {}
    unknown = sorted(set(verify) - set(MNIST_FILES))
    if unknown:
        raise ValueError(
            f"verify names unknown files {unknown}: use the names {', '.join(MNIST_FILES)}"
        )
    return {name: digest.lower() for name, digest in verify.items()}


def _find(folder: Path, name: str) -> Path | None:
    """``folder/name`` or ``folder/name.gz``, whichever exists (raw first), else None."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _existing(folder: Path, name: str) -> Path:
    """:func:`_find`'s file, for a file found before: gone since is a DataError, not a crash."""
    path = _find(folder, name)
    if path is None:
        raise DataError(f"{folder / name} was removed while MNIST was being read: run it again")
    return path


def _read_checked(folder: Path, checksums: Mapping[str, str]) -> dict[str, np.ndarray]:
    """The four files' arrays, each checked against its checksum (where ``checksums`` has
    one). A file whose sum is another file's is named for what it holds (swapped files)."""
    try:
        read = {name: read_idx(_existing(folder, name), return_sha256=True) for name in MNIST_FILES}
    except IdxError as exc:  # a file that turned out unusable, as any other data error
        raise DataError(str(exc)) from None
    wrong = [name for name in MNIST_FILES
             if checksums.get(name) is not None and read[name][1] != checksums[name]]
    holds = {digest: name for name, digest in checksums.items()}
    swapped = [f"{_existing(folder, name).name} holds {read[name][0].shape[0]:,} "
               f"{_KIND[holds[read[name][1]]]} (what {holds[read[name][1]]} holds)"
               for name in wrong if read[name][1] in holds]
    if swapped:
        raise DataError(f"MNIST files swapped or misnamed in {folder}: {'; '.join(swapped)}. "
                        "Give each file the name of what it holds")
    if wrong:
        name = wrong[0]
        raise DataError(_checksum_message(str(_find(folder, name)), checksums[name],
                                          read[name][1], checksums))
    return {name: array for name, (array, _) in read.items()}


def _checksum_message(source: str, expected: str, found: str, checksums: Mapping[str, str]) -> str:
    dataset = "MNIST" if checksums is MNIST_SHA256 else "the dataset the given checksums describe"
    return (
        f"checksum mismatch for {source}: expected sha256 {expected} (of the decompressed "
        f"bytes), found {found}; the file is corrupt or is not {dataset}. Delete it and fetch "
        "it again, or, for another dataset in MNIST's format (such as Fashion-MNIST), turn "
        "the check off with verify=False (--no-verify on the command line)"
    )


def _check_pair(folder: Path, images_name: str, images: np.ndarray,
                labels_name: str, labels: np.ndarray) -> None:
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            f"{images_name} in {folder} holds a {images.dtype} array of shape {images.shape}; "
            "expected uint8 images of shape (N, rows, cols)"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataError(
            f"{labels_name} in {folder} holds a {labels.dtype} array of shape {labels.shape}; "
            "expected uint8 labels of shape (N,)"
        )
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{images_name} in {folder} has {images.shape[0]} images but {labels_name} has "
            f"{labels.shape[0]} labels; the two files must come from the same dataset"
        )


def _check_labels(path: Path, labels: np.ndarray, classes: int) -> None:
    """Every label one of 0 .. classes - 1: a file of other labels (EMNIST's letters, labels
    shifted) would train silently towards outputs the model does not have."""
    beyond = int(np.count_nonzero(labels >= classes))
    if beyond:
        raise DataError(
            f"{path} holds labels from {labels.min()} to {labels.max()}, {beyond:,} of "
            f"{labels.shape[0]:,} beyond the model's {classes} classes (0 to {classes - 1}): "
            f"give a dataset whose labels are 0 to {classes - 1}"
        )


def _download(folder: Path, names: list[str], checksums: Mapping[str, str]) -> None:
    """Fetch ``names`` (as .gz) into ``folder``, trying each mirror in turn.

    A mirror that cannot be reached at all (no network, DNS failure, timeout) is not tried
    again, so a machine without network fails after one quick attempt per mirror.
    """
    live_mirrors = list(MIRRORS)
    failures: list[str] = []
    still_missing = []
    for name in names:
        for mirror in list(live_mirrors):
            url = f"{mirror}{name}.gz"
            try:
                raw = fetch_url(url, timeout=DOWNLOAD_TIMEOUT_S)
                _, digest = decode_idx(raw, source=url)
            except urllib.error.HTTPError as exc:
                failures.append(f"{url}: HTTP {exc.code}")
                continue
            except http.client.HTTPException as exc:
                failures.append(f"{url}: {exc!r}")
                continue
            except (urllib.error.URLError, OSError) as exc:
                failures.append(f"{mirror}: {getattr(exc, 'reason', exc)}")
                live_mirrors.remove(mirror)
                continue
            except IdxError as exc:
                failures.append(str(exc))
                continue
            expected = checksums.get(name)
            if expected is not None and digest != expected:
                failures.append(_checksum_message(url, expected, digest, checksums))
                continue
            _store(folder, name + (".gz" if raw[:2] == GZIP_MAGIC else ""), raw)
            break
        else:
            still_missing.append(name)
    if still_missing:
        reason = "the download failed (" + "; ".join(failures or ["no mirror left to try"]) + ")"
        raise DataError(_missing_message(folder, still_missing, reason))


def _store(folder: Path, file_name: str, raw: bytes) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(folder / file_name, raw)
    except OSError as exc:
        raise DataError(
            f"cannot store the downloaded {file_name} in {folder} ({exc}); choose a writable "
            f"folder with --data-dir DIR or the environment variable {DATA_DIR_ENV}"
        ) from exc


def _missing_message(folder: Path, missing: list[str], reason: str) -> str:
    files = ", ".join(f"{name}[.gz]" for name in missing)
    return (
        f"MNIST files missing from {folder}: {files}; {reason}. To fix: put the four files "
        f"({', '.join(MNIST_FILES)}, each raw or .gz) in {folder}, or point to a folder that "
        f"has them with --data-dir DIR (data_dir=...) or the environment variable {DATA_DIR_ENV}"
    )
