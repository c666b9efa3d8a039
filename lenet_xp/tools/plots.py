"""The figures of a trained model and its data, drawn with matplotlib (an optional
dependency: ``lenet_xp[plot]``): confusion matrix, misclassified digits, filters, feature maps,
the RBF prototypes, one prediction, distortions. A run's learning curves are in
:mod:`lenet_xp.runs.curves`, an exported ONNX graph's drawing in
:mod:`lenet_xp.tools.export.drawing`.

Each ``plot_*`` function takes host arrays or Python lists (device arrays are copied to the
host), writes one image to ``path`` (atomically, in the format of its suffix: see
:func:`lenet_xp.canvas.save_figure`) and returns that path.

Images are drawn dark on white, high values (the ink) dark: each digit on its own grey range,
each layer's feature maps on one.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..backend import to_numpy
from ..canvas import new_figure, save_figure
from ..layers.digit_bitmaps import HEIGHT, WIDTH

IMAGE_CMAP = "gray_r"  # digits and feature maps: high values (ink) dark on white


# ---- the figures ----------------------------------------------------------------------------

def plot_confusion(confusion, path, title=None, class_names=None) -> Path:
    """Heat map of a (K, K) confusion matrix, rows = true class, columns = predicted class.

    Off-diagonal cells (the errors) are coloured by count, the diagonal (correct) is grey so
    it does not swamp the scale, and every nonzero cell shows its count. ``class_names``
    (K labels) default to 0..K−1.
    """
    return save_figure(_confusion_figure(confusion, title, class_names), path)


def plot_misclassified(images, true, predicted, confidence, path, title=None,
                       max_images=36) -> Path:
    """A grid of misclassified digits, each titled ``true→predicted (confidence)``.

    ``images``: (N, H, W) (or (N, 1, H, W)) of any scale; ``true``, ``predicted``: (N,)
    classes; ``confidence``: (N,) the model's probability for its predicted class. Shows the
    first ``max_images`` (saying "first 36 of 75"); N = 0 gives a figure saying so. The
    notation is explained on the line below ``title``.
    """
    return save_figure(_misclassified_figure(images, true, predicted, confidence, title,
                                       max_images), path)


def plot_filters(weights, path, title=None) -> Path:
    """Convolution kernels (F, C, kh, kw) as small images on one diverging colour scale,
    symmetric around 0 (red positive, blue negative), with one shared colour bar.

    Every (filter, channel) pair is shown where C ≤ 3 (one row per channel), otherwise
    input channel 0 of each filter. C1 of LeNet-5: (6, 1, 5, 5).
    """
    return save_figure(_filters_figure(weights, title), path)


def plot_feature_maps(image, maps, path, title=None, max_maps=16) -> Path:
    """What each layer makes of one input: one row per layer, the input digit first.

    ``image``: (H, W); ``maps``: ``(layer_name, (C, h, w) array)`` pairs in network order,
    e.g. ``[("C1", c1[0]), ("S2", s2[0]), ...]``. At most ``max_maps`` maps per row; each
    row is labelled like "C3: 16 maps of 10×10".
    """
    return save_figure(_feature_maps_figure(image, maps, title, max_maps), path)


def plot_digit_bitmaps(bitmaps, path, title=None) -> Path:
    """(K, 84) vectors as 7-wide, 12-high bitmaps in one row, labelled 0..K−1: LeNet-5's RBF
    prototypes (``load_digit_bitmaps()``) or, e.g., F6 outputs. Grey scale symmetric around
    0: +1 (ink) black, −1 white. ``render_digit_bitmaps`` draws them as text."""
    return save_figure(_digit_bitmaps_figure(bitmaps, title), path)


def plot_prediction(digit, top, path, title=None, score_name="probability") -> Path:
    """One prediction: the (H, W) image the network saw (after preprocessing) on the left,
    the scores of ``top`` (``(class, score)`` pairs sorted best first) as horizontal bars on
    the right, the best one highlighted; the x axis is labelled ``score_name``."""
    return save_figure(_prediction_figure(digit, top, title, score_name), path)


def plot_distortions(originals, distorted, path, title=None) -> Path:
    """Data augmentation at a glance: ``originals`` (N, H, W) in the first column, their M
    distorted versions ``distorted`` (N, M, H, W) beside them (cf. LeCun et al. 1998, fig. 13)."""
    return save_figure(_distortions_figure(originals, distorted, title), path)


# ---- figure builders (each returns the Figure, so tests can read its texts) ----------------

def _confusion_figure(confusion, title, class_names):
    counts = to_numpy(confusion)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"confusion must be a (K, K) matrix, got shape {counts.shape}")
    if (counts < 0).any() or (counts != np.round(counts)).any():
        raise ValueError("confusion must hold counts (nonnegative integers)")
    counts = counts.astype(np.int64)
    k = counts.shape[0]
    names = [str(i) for i in range(k)] if class_names is None else [str(n) for n in class_names]
    if len(names) != k:
        raise ValueError(f"{len(names)} class names for a {k}×{k} matrix")
    total, errors = int(counts.sum()), int(counts.sum() - np.trace(counts))
    diagonal = np.eye(k, dtype=bool)

    fig = new_figure((6.4, 5.6))
    ax = fig.subplots()
    # errors coloured by count; zeros and the diagonal masked (transparent: white)
    errors_only = np.ma.masked_where(diagonal | (counts == 0), counts)
    top = int(errors_only.max()) if errors_only.count() else 1  # the colour scale's top
    image = ax.imshow(errors_only, cmap="viridis_r", vmin=0, vmax=top)
    grey = np.zeros((k, k, 4))
    grey[diagonal] = (0.85, 0.85, 0.85, 1.0)
    ax.imshow(grey)
    size = max(5.0, min(9.0, 90 / k))  # 9 pt at 10×10, smaller for many classes
    for (row, column), count in np.ndenumerate(counts):
        if count == 0:
            continue
        dark_cell = not diagonal[row, column] and count / top > 0.4
        ax.text(column, row, f"{count:,}", ha="center", va="center", fontsize=size,
                color="white" if dark_cell else "black",
                fontweight="normal" if diagonal[row, column] else "bold")
    ax.set_xticks(range(k), labels=names)
    ax.set_yticks(range(k), labels=names)
    ax.tick_params(length=0)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("grey diagonal: correct; coloured: errors; blank: none", fontsize=9)
    bar = fig.colorbar(image, ax=ax, shrink=0.8, label="misclassified digits (count)")
    bar.ax.yaxis.get_major_locator().set_params(integer=True)
    rate = f", {100 * errors / total:.2f} %" if total else ""
    fig.suptitle(title or f"Confusion matrix: {errors:,} of {total:,} misclassified{rate}")
    return fig


def _misclassified_figure(images, true, predicted, confidence, title, max_images):
    true, predicted = to_numpy(true).reshape(-1), to_numpy(predicted).reshape(-1)
    confidence = to_numpy(confidence).reshape(-1)
    count = len(true)
    heading = f"{title or 'Misclassified digits'}\ntrue → predicted (confidence)"
    if count == 0:
        fig = new_figure((5, 1.6))
        fig.suptitle(heading)
        fig.text(0.5, 0.4, "no misclassified digits", ha="center", va="center", fontsize=12)
        return fig
    images = _stack(images, "images", 3)
    if not len(images) == len(predicted) == len(confidence) == count:
        raise ValueError(f"{len(images)} images but {count} true, {len(predicted)} predicted "
                         f"and {len(confidence)} confidence values")
    shown = min(count, max_images)
    columns = min(shown, 9)
    rows = math.ceil(shown / columns)
    fig = new_figure((max(5.0, 0.95 * columns + 0.3), 1.05 * rows + 0.8))
    for index, ax in enumerate(fig.subplots(rows, columns, squeeze=False).flat):
        if index >= shown:
            ax.set_axis_off()
        else:
            _show_image(ax, images[index])
            ax.set_title(f"{int(true[index])}→{int(predicted[index])} "
                         f"({float(confidence[index]):.2f})", fontsize=9)
    note = f"first {shown} of {count}" if shown < count else f"{count} digit{'s' * (count != 1)}"
    fig.suptitle(f"{heading}, {note}")
    return fig


def _filters_figure(weights, title):
    weights = _stack(weights, "weights", 4)
    filters, channels, kh, kw = weights.shape
    shown_channels = channels if channels <= 3 else 1
    per_row = min(filters, 12)
    blocks = math.ceil(filters / per_row)
    limit = float(np.abs(weights[:, :shown_channels]).max()) or 1.0
    fig = new_figure((max(5.0, 0.72 * per_row + 1.4), 0.95 * blocks * shown_channels + 0.9))
    axes = fig.subplots(blocks * shown_channels, per_row, squeeze=False)
    for row, row_axes in enumerate(axes):
        block, channel = divmod(row, shown_channels)
        for column, ax in enumerate(row_axes):
            f = block * per_row + column
            ax.set_xticks([])
            ax.set_yticks([])
            if f >= filters:
                ax.set_axis_off()
                continue
            image = ax.imshow(weights[f, channel], cmap="RdBu_r", vmin=-limit, vmax=limit,
                              interpolation="nearest")
            if channel == 0:
                ax.set_title(f"filter {f + 1}", fontsize=9)
            if shown_channels > 1 and column == 0:
                ax.set_ylabel(f"channel {channel + 1}", fontsize=9)
    fig.colorbar(image, ax=axes, shrink=0.9, label="weight")
    which = (f"input channel 1 of {channels}" if channels > 3
             else "one row per input channel" if channels > 1 else f"{kh}×{kw} kernels")
    heading = title or f"Convolution filters ({filters}×{channels}×{kh}×{kw} weights)"
    fig.suptitle(f"{heading}\n{which}; red > 0, blue < 0", fontsize=11)
    return fig


def _feature_maps_figure(image, maps, title, max_maps):
    rows = [("input", _stack(image, "image", 2)[None], None)]
    for name, array in maps:
        array = to_numpy(array)
        if array.ndim != 3:
            raise ValueError(f"{name}: expected one image's (C, h, w) maps, got shape "
                             f"{array.shape} (for a batch, pass maps[0])")
        rows.append((name, array, array.shape[0]))
    columns = max(min(max_maps, array.shape[0]) for _, array, _ in rows)
    fig = new_figure((max(6.0, 0.62 * columns + 0.4), 1.05 * len(rows) + 0.7))
    subfigures = np.atleast_1d(fig.subfigures(len(rows), 1))
    for subfigure, (name, array, count) in zip(subfigures, rows, strict=True):
        height, width = array.shape[1:]
        if count is None:
            label = f"{name}: {height}×{width}"
        else:
            label = f"{name}: {count} map{'s' * (count != 1)} of {height}×{width}"
            if count > max_maps:
                label += f" (first {max_maps} shown)"
        subfigure.suptitle(label, x=0.01, ha="left", fontsize=9)
        # one grey scale per layer: weak maps look weak, and 1×1 maps still show
        low, high = float(array.min()), float(array.max())
        for index, ax in enumerate(subfigure.subplots(1, columns, squeeze=False)[0]):
            if index < min(array.shape[0], max_maps):
                _show_image(ax, array[index], low, high)
            else:
                ax.set_axis_off()
    fig.suptitle(f"{title or 'Feature maps, layer by layer'}\n"
                 "dark = high, one grey scale per layer", fontsize=11)
    return fig


def _digit_bitmaps_figure(bitmaps, title):
    values = _stack(bitmaps, "bitmaps", 2)
    if values.shape[1] != WIDTH * HEIGHT:
        raise ValueError(f"expected (K, {WIDTH * HEIGHT}) vectors, got shape {values.shape}")
    count = values.shape[0]
    limit = float(np.abs(values).max()) or 1.0
    fig = new_figure((max(5.0, 0.7 * count + 0.4), 2.3))
    for k, ax in enumerate(fig.subplots(1, count, squeeze=False)[0]):
        ax.imshow(values[k].reshape(HEIGHT, WIDTH), cmap="gray_r", vmin=-limit, vmax=limit,
                  interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(str(k))
    heading = title or "LeNet-5's RBF prototypes"
    fig.suptitle(f"{heading}\n{WIDTH} wide × {HEIGHT} high; black = +{limit:g}, white = −{limit:g}",
                 fontsize=11)
    return fig


def _prediction_figure(digit, top, title, score_name):
    digit = _stack(digit, "digit", 2)
    if not top:
        raise ValueError("top needs at least one (class, score) pair")
    classes = [str(c) for c, _ in top]
    scores = np.array([float(s) for _, s in top])
    fig = new_figure((7.5, max(2.8, 0.3 * len(top) + 1.3)))
    image_ax, bar_ax = fig.subplots(1, 2, width_ratios=[1, 1.8])
    _show_image(image_ax, digit)
    image_ax.set_title(f"input, {digit.shape[0]}×{digit.shape[1]}", fontsize=9)
    rows = np.arange(len(top))
    bars = bar_ax.barh(rows, scores, color=["C0"] + ["0.65"] * (len(top) - 1))
    bar_ax.bar_label(bars, labels=[f"{s:.3g}" for s in scores], padding=3, fontsize=9)
    bar_ax.set_yticks(rows, labels=classes)
    bar_ax.invert_yaxis()  # best on top
    if scores.min() >= 0 and scores.max() <= 1:
        bar_ax.set_xlim(0, 1.18)  # probabilities on their own 0-1 scale, room for the labels
        bar_ax.set_xticks([0, 0.25, 0.5, 0.75, 1])
    else:
        bar_ax.margins(x=0.18)
    bar_ax.set_xlabel(score_name)
    bar_ax.set_ylabel("class")
    bar_ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(title or f"Prediction: {classes[0]} ({score_name} {scores[0]:.3g})")
    return fig


def _distortions_figure(originals, distorted, title):
    originals, distorted = _stack(originals, "originals", 3), _stack(distorted, "distorted", 4)
    count, versions = distorted.shape[:2]
    if originals.shape[0] != count or originals.shape[1:] != distorted.shape[2:]:
        raise ValueError(f"originals {originals.shape} and distorted {distorted.shape} must "
                         "be (N, H, W) and (N, M, H, W)")
    fig = new_figure((max(4.5, 0.85 * (versions + 1) + 0.5), 0.85 * count + 1.0))
    left, right = fig.subfigures(1, 2, width_ratios=[1, versions], wspace=0.04)
    left.set_facecolor("0.92")  # sets the originals apart from their versions
    left.suptitle("original", fontsize=10)
    right.suptitle(f"distorted ({versions} random version{'s' * (versions != 1)} of each)",
                   fontsize=10)
    for n, ax in enumerate(left.subplots(count, 1, squeeze=False)[:, 0]):
        _show_image(ax, originals[n])
    for (n, m), ax in np.ndenumerate(right.subplots(count, versions, squeeze=False)):
        _show_image(ax, distorted[n, m])
    fig.suptitle(title or "Data augmentation: each original and its distorted versions")
    return fig



# ---- helpers --------------------------------------------------------------------------------

def _stack(array, name: str, ndim: int) -> np.ndarray:
    """``array`` on the host as floats with ``ndim`` axes; a channel axis of size 1 just
    before the last two, as in (N, 1, H, W), is dropped."""
    values = to_numpy(array).astype(float)
    if values.ndim == ndim + 1 and values.shape[-3] == 1:
        values = values.reshape(values.shape[:-3] + values.shape[-2:])
    if values.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} axes, got shape {values.shape}")
    return values


def _show_image(ax, image: np.ndarray, low=None, high=None) -> None:
    """One (H, W) image, dark = high, scaled to ``low``..``high`` (default: its own range; a
    constant image shows white), in a thin grey frame so a blank one still shows its place."""
    low = float(image.min()) if low is None else low
    high = float(image.max()) if high is None else high
    ax.imshow(image, cmap=IMAGE_CMAP, vmin=low, vmax=high if high > low else low + 1,
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor("0.75")
