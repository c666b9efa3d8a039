"""lenet_xp.tools.plots, lenet_xp.runs.curves and scripts/plot.py: every figure is a real PNG with its titles, labels and
legends, edge cases draw, files appear atomically, and the script's errors are one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from matplotlib.image import imread  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from lenet_xp.canvas import save_figure  # noqa: E402
from lenet_xp.runs import curves, metrics  # noqa: E402
from lenet_xp.tools import plots  # noqa: E402
from scripts_loader import load_script  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "plot.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def epoch_records(epochs=10, start=3.0, end=0.7, validation=True, test=0.75):
    """A made-up run's metrics.jsonl records: validation error from ``start`` to ``end`` %,
    then a test record with error ``test`` % (None: no test record)."""
    records = []
    for epoch in range(epochs):
        val_error = start * (end / start) ** (epoch / max(1, epochs - 1))
        records.append({"event": "epoch", "epoch": epoch, "lr": 0.002, "train_loss": 0.04 * val_error,
                        "train_accuracy": 1 - 1.2 * val_error / 100,
                        "val_loss": 0.03 * val_error if validation else None,
                        "val_accuracy": 1 - val_error / 100 if validation else None,
                        "seconds": 5.1, "images_per_second": 10700.0, "elapsed": 5.3 * (epoch + 1),
                        "optimizer": {}})
    if test is not None:
        records.append({"event": "test", "test_loss": 0.03, "test_accuracy": 1 - test / 100,
                        "epochs": epochs})
    return records


def texts(fig) -> list[str]:
    """Every text the figure draws: titles, labels, tick labels, legends, annotations."""
    fig.draw_without_rendering()  # tick labels exist only once drawn
    return [t.get_text() for t in fig.findobj(Text) if t.get_text() and t.get_visible()]


def png_shape(path: Path) -> tuple[int, ...]:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    return imread(path).shape


def assert_png(path: Path, written: Path, width=(400, 1200), height=(100, 1000)) -> None:
    """``written`` is ``path``, a PNG of a sensible pixel size and under 150 kB."""
    assert written == path and path.stat().st_size < 150_000
    rows, columns = png_shape(path)[:2]
    assert width[0] <= columns <= width[1] and height[0] <= rows <= height[1]


# ---- read_metrics -----------------------------------------------------------------------------

def test_read_metrics_gives_the_records_in_file_order(tmp_path):
    path = tmp_path / "metrics.jsonl"
    records = epoch_records(3)
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    assert metrics.read_metrics(path) == records


@pytest.mark.parametrize("bad, message", [('{"event": "epoch", "epoch": 1', "not valid JSON"),
                                          ("[1, 2]", "expected a JSON object, got list")])
def test_read_metrics_names_file_and_line_of_a_bad_line(tmp_path, bad, message):
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps(epoch_records(1)[0]) + "\n\n" + bad + "\n")
    with pytest.raises(ValueError, match=f"metrics.jsonl:3: {message}"):
        metrics.read_metrics(path)


# ---- learning curves and run comparisons ------------------------------------------------------

def test_learning_curves_show_loss_and_error_on_log_scales_with_the_test_error(tmp_path):
    written = curves.plot_learning_curves(epoch_records(), tmp_path / "curves.png")
    assert_png(tmp_path / "curves.png", written, width=(900, 1100), height=(350, 450))

    fig = curves._learning_curves_figure(epoch_records(), title=None)
    loss_ax, error_ax = fig.axes
    assert loss_ax.get_yscale() == error_ax.get_yscale() == "log"
    assert loss_ax.get_title() == "(a) loss" and error_ax.get_title() == "(b) error rate"
    assert loss_ax.get_xlabel() == error_ax.get_xlabel() == "epoch"
    assert "error, %" in error_ax.get_ylabel() and "loss" in loss_ax.get_ylabel()
    assert list(error_ax.get_xticks()) == list(range(1, 11))  # 1-based epochs
    # training error at epoch 1 is 1.2 × 3 %, validation error at epoch 10 is 0.7 %
    train, val, test = error_ax.get_lines()
    assert np.allclose(train.get_ydata()[0], 3.6) and np.allclose(val.get_ydata()[-1], 0.7)
    assert np.allclose(test.get_ydata(), 0.75)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == [curves.TRAIN_LABEL, curves.VAL_LABEL, "test, after 10 epochs: 0.75 %"]
    everything = texts(fig)
    assert "Learning curves (10 epochs)" in everything
    # plain error ticks (0.7 % to 3.6 %: a step finer than 1-2-5), not 10^0
    assert [t.get_text() for t in error_ax.get_yticklabels()] == ["0.7", "1", "1.5", "2", "3"]
    assert not any("10^" in text for text in everything)


def test_learning_curves_of_one_epoch_without_validation_or_test(tmp_path):
    records = epoch_records(1, validation=False, test=None) + [{"event": "resumed"}]
    fig = curves._learning_curves_figure(records, title="quick check")
    assert fig.get_suptitle() == "quick check"
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [curves.TRAIN_LABEL]
    assert list(fig.axes[1].get_xticks()) == [1]
    low, high = fig.axes[1].get_ylim()
    assert low < 3.6 < high and any(low <= t <= high for t in fig.axes[1].get_yticks())
    assert_png(tmp_path / "one.png", curves.plot_learning_curves(records, tmp_path / "one.png"))


def test_learning_curves_need_an_epoch_record(tmp_path):
    with pytest.raises(ValueError, match="no epoch records"):
        curves.plot_learning_curves(epoch_records(0), tmp_path / "curves.png")
    assert not list(tmp_path.iterdir())


def test_runs_are_compared_by_error_with_their_test_errors_in_the_legend(tmp_path):
    runs = {"lenet5": epoch_records(), "paper": epoch_records(20, 5.0, 1.0, test=1.1),
            "no validation": epoch_records(5, validation=False, test=None)}
    assert_png(tmp_path / "runs.png", curves.plot_runs(runs, tmp_path / "runs.png"))
    fig = curves._runs_figure(runs, title=None)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "epoch" and "error, %" in ax.get_ylabel()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["lenet5: test 0.75 %", "paper: test 1.10 %", "no validation",
                      "validation error", "training error"]
    # each run: training dashed and validation solid, in the run's colour
    lines = ax.get_lines()
    assert [line.get_linestyle() for line in lines[:2]] == ["--", "-"]
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()
    assert "Validation (solid) and training (dashed)" in fig.get_suptitle()
    with pytest.raises(ValueError, match="run 'empty': no epoch records"):
        curves.plot_runs({"lenet5": epoch_records(), "empty": []}, tmp_path / "bad.png")


# ---- evaluation figures -----------------------------------------------------------------------

def confusion_10k() -> np.ndarray:
    """10,000 test digits, 75 of them wrong, 9 of them 4s taken for 9s."""
    confusion = np.diag([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    rng = np.random.default_rng(0)
    for _ in range(66):
        true, predicted = rng.choice(10, 2, replace=False)
        confusion[true, predicted] += 1
        confusion[true, true] -= 1
    confusion[4, 9] += 9
    confusion[4, 4] -= 9
    return confusion


def test_confusion_annotates_every_nonzero_cell_and_greys_the_diagonal(tmp_path):
    confusion = confusion_10k()
    assert_png(tmp_path / "c.png", plots.plot_confusion(confusion, tmp_path / "c.png"))
    fig = plots._confusion_figure(confusion, title=None, class_names=None)
    ax, colour_bar = fig.axes
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(k) for k in range(10)]
    assert "misclassified" in colour_bar.get_ylabel()
    assert fig.get_suptitle() == "Confusion matrix: 75 of 10,000 misclassified, 0.75 %"
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    assert len(cells) == np.count_nonzero(confusion)
    assert cells[(1, 1)] == f"{confusion[1, 1]:,}" and cells[(4, 9)] == str(confusion[4, 9])
    # the colour scale spans the errors only: the diagonal's ~1,000 would wash them out
    assert ax.images[0].get_clim() == (0, confusion[~np.eye(10, dtype=bool)].max())


def test_confusion_takes_class_names_and_rejects_a_non_square_matrix(tmp_path):
    fig = plots._confusion_figure(np.array([[5, 1], [0, 4]]), "cats and dogs", ["cat", "dog"])
    assert "cat" in texts(fig) and fig.get_suptitle() == "cats and dogs"
    with pytest.raises(ValueError, match=r"\(K, K\)"):
        plots.plot_confusion(np.ones((2, 3), int), tmp_path / "c.png")


def test_misclassified_grid_titles_true_predicted_and_confidence(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (75, 28, 28), dtype=np.uint8)
    true, predicted = np.full(75, 7), np.ones(75, int)
    confidence = np.full(75, 0.93)
    written = plots.plot_misclassified(images, true, predicted, confidence, tmp_path / "m.png")
    assert_png(tmp_path / "m.png", written)
    fig = plots._misclassified_figure(images, true, predicted, confidence, None, 36)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 36 and shown[0].get_title() == "7→1 (0.93)"
    assert fig.get_suptitle() == ("Misclassified digits\n"
                                  "true → predicted (confidence), first 36 of 75")
    # (N, 1, H, W) network inputs of any scale draw too, each on its own grey range
    fig = plots._misclassified_figure(rng.normal(size=(2, 1, 32, 32)), [3, 5], [5, 3],
                                      [0.5, 0.61], "Test errors", 36)
    assert [ax.get_title() for ax in fig.axes if ax.images] == ["3→5 (0.50)", "5→3 (0.61)"]
    assert fig.get_suptitle() == "Test errors\ntrue → predicted (confidence), 2 digits"


def test_no_misclassified_digits_says_so(tmp_path):
    fig = plots._misclassified_figure(np.zeros((0, 28, 28)), [], [], [], None, 36)
    assert "no misclassified digits" in texts(fig) and not fig.axes
    assert_png(tmp_path / "m.png", plots.plot_misclassified([], [], [], [], tmp_path / "m.png"))
    with pytest.raises(ValueError, match="3 images but 2 true"):
        plots.plot_misclassified(np.zeros((3, 28, 28)), [1, 2], [2, 1], [0.5, 0.5], tmp_path / "x.png")


def test_filters_share_one_colour_scale_symmetric_around_zero(tmp_path):
    weights = np.random.default_rng(0).normal(0, 0.3, (6, 1, 5, 5))
    assert_png(tmp_path / "f.png", plots.plot_filters(weights, tmp_path / "f.png"))
    fig = plots._filters_figure(weights, title=None)
    kernels = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in kernels] == [f"filter {f}" for f in range(1, 7)]
    limit = np.abs(weights).max()
    assert all(ax.images[0].get_clim() == (-limit, limit) for ax in kernels)
    assert len(fig.axes) == 7 and fig.axes[-1].get_ylabel() == "weight"  # one colour bar
    assert fig.get_suptitle().startswith("Convolution filters (6×1×5×5 weights)")
    # C ≤ 3: every (filter, channel) pair, a row per channel; C > 3: channel 1 only
    fig = plots._filters_figure(np.ones((4, 3, 3, 3)), title=None)
    assert len([ax for ax in fig.axes if ax.images]) == 12 and "channel 3" in texts(fig)
    fig = plots._filters_figure(np.ones((16, 6, 5, 5)), title="C3")
    assert len([ax for ax in fig.axes if ax.images]) == 16
    assert "input channel 1 of 6" in fig.get_suptitle()


def test_feature_maps_have_a_labelled_row_per_layer(tmp_path):
    rng = np.random.default_rng(0)
    maps = [("C1", rng.random((6, 28, 28))), ("S2", rng.random((6, 14, 14))),
            ("C3", rng.random((16, 10, 10))), ("S4", rng.random((16, 5, 5))),
            ("C5", rng.random((120, 1, 1)))]
    image = rng.random((28, 28))
    fig = plots._feature_maps_figure(image, maps, title=None, max_maps=16)
    assert_png(tmp_path / "maps.png", save_figure(fig, tmp_path / "maps.png"))  # (drawn once)
    rows = [sub.get_suptitle() for sub in fig.subfigs]
    assert rows == ["input: 28×28", "C1: 6 maps of 28×28", "S2: 6 maps of 14×14",
                    "C3: 16 maps of 10×10", "S4: 16 maps of 5×5",
                    "C5: 120 maps of 1×1 (first 16 shown)"]
    assert [len([ax for ax in sub.axes if ax.images]) for sub in fig.subfigs] == [1, 6, 6, 16, 16, 16]
    with pytest.raises(ValueError, match="C1: expected one image's"):
        plots.plot_feature_maps(image, [("C1", rng.random((1, 6, 28, 28)))], tmp_path / "x.png")


def test_digit_bitmaps_are_seven_by_twelve_and_labelled(tmp_path):
    from lenet_xp.layers.digit_bitmaps import load_digit_bitmaps

    bitmaps = load_digit_bitmaps()
    assert_png(tmp_path / "b.png", plots.plot_digit_bitmaps(bitmaps, tmp_path / "b.png"))
    fig = plots._digit_bitmaps_figure(bitmaps, title=None)
    assert [ax.get_title() for ax in fig.axes] == [str(k) for k in range(10)]
    assert fig.axes[3].images[0].get_array().shape == (12, 7)
    assert "black = +1, white = −1" in fig.get_suptitle()
    with pytest.raises(ValueError, match="expected \\(K, 84\\)"):
        plots.plot_digit_bitmaps(np.ones((10, 80)), tmp_path / "x.png")


def test_prediction_shows_the_digit_and_the_scores_best_first(tmp_path):
    digit = np.random.default_rng(0).random((28, 28))
    top = [(7, 0.962), (1, 0.021), (9, 0.009)]
    assert_png(tmp_path / "p.png", plots.plot_prediction(digit, top, tmp_path / "p.png"))
    fig = plots._prediction_figure(digit, top, title=None, score_name="probability")
    image_ax, bar_ax = fig.axes
    assert image_ax.images and bar_ax.get_xlabel() == "probability"
    fig.draw_without_rendering()
    labels = sorted(bar_ax.get_yticklabels(), key=lambda t: t.get_position()[1])
    assert [t.get_text() for t in labels] == ["7", "1", "9"] and bar_ax.yaxis_inverted()  # best on top
    assert [t.get_text() for t in bar_ax.texts] == ["0.962", "0.021", "0.009"]
    assert fig.get_suptitle() == "Prediction: 7 (probability 0.962)"
    fig = plots._prediction_figure(digit, [(3, 2.1), (5, 8.7)], None, "RBF distance")
    assert fig.axes[1].get_xlabel() == "RBF distance" and fig.axes[1].get_xlim()[1] > 8.7


def test_distortions_put_the_originals_first(tmp_path):
    rng = np.random.default_rng(0)
    originals, distorted = rng.random((4, 28, 28)), rng.random((4, 6, 28, 28))
    written = plots.plot_distortions(originals, distorted, tmp_path / "d.png")
    assert_png(tmp_path / "d.png", written)
    fig = plots._distortions_figure(originals, distorted, title=None)
    left, right = fig.subfigs
    assert left.get_suptitle() == "original" and right.get_suptitle().startswith("distorted")
    assert len(left.axes) == 4 and len(right.axes) == 24
    assert np.array_equal(right.axes[7].images[0].get_array(), distorted[1, 1])
    with pytest.raises(ValueError, match="must be"):
        plots.plot_distortions(originals, distorted[:3], tmp_path / "x.png")


# ---- files ------------------------------------------------------------------------------------

def test_figures_are_written_atomically_and_leave_no_temporary_files(tmp_path):
    path = tmp_path / "figures" / "curves.png"  # folders are created
    curves.plot_learning_curves(epoch_records(3), path)
    first = path.read_bytes()
    curves.plot_learning_curves(epoch_records(4), path)
    assert path.read_bytes() != first and [p.name for p in path.parent.iterdir()] == ["curves.png"]
    # a failed write keeps the old file and removes its temporary file
    broken = tmp_path / "figures" / "curves.xyz"
    broken.write_bytes(b"old")
    with pytest.raises(ValueError, match="xyz"):
        curves.plot_learning_curves(epoch_records(3), broken)
    assert broken.read_bytes() == b"old"
    assert sorted(p.name for p in path.parent.iterdir()) == ["curves.png", "curves.xyz"]


def test_svg_by_suffix(tmp_path):
    written = plots.plot_digit_bitmaps(np.ones((2, 84)), tmp_path / "b.svg")
    assert b"<svg" in written.read_bytes()[:500]


def test_without_matplotlib_every_figure_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'lenet_xp\[plot\]'"):
        curves.plot_learning_curves(epoch_records(2), tmp_path / "curves.png")
    assert not list(tmp_path.iterdir())
    (tmp_path / "metrics.jsonl").write_text('{"event": "test"}\n')
    assert metrics.read_metrics(tmp_path / "metrics.jsonl") == [{"event": "test"}]  # no matplotlib needed


# ---- scripts/plot.py --------------------------------------------------------------------------

def write_run(folder: Path, records) -> Path:
    folder.mkdir(parents=True)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def plot_cli(*args, cwd):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_script_compares_two_runs_and_reports_a_missing_metrics_file(tmp_path):
    first = write_run(tmp_path / "seed0" / "lenet5", epoch_records())
    second = write_run(tmp_path / "seed1" / "lenet5", epoch_records(8, test=0.9))
    result = plot_cli(first, second, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "wrote runs_comparison.png"
    png_shape(tmp_path / "runs_comparison.png")

    empty = tmp_path / "empty"
    empty.mkdir()
    result = plot_cli(first, empty, cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [f"error: {empty} has no metrics.jsonl: give a run "
                                          "folder written by scripts/train.py"]


@pytest.fixture
def plot_script():
    """scripts/plot.py loaded as a module, to call its main() in this process (fast)."""
    return load_script("plot")


def test_script_with_one_run_draws_its_learning_curves(tmp_path, plot_script, capsys):
    run = write_run(tmp_path / "lenet5", epoch_records())
    assert plot_script.main([str(run)]) == 0
    assert png_shape(run / "curves.png")[1] == 1000  # the two-panel figure
    out = tmp_path / "one.png"
    assert plot_script.main([str(run), "--compare", "--out", str(out), "--labels", "mine"]) == 0
    assert png_shape(out)[1] == 900 and capsys.readouterr().out == f"wrote {run / 'curves.png'}\nwrote {out}\n"


def test_script_names_file_and_line_of_a_bad_metrics_line(tmp_path, plot_script, capsys):
    run = write_run(tmp_path / "broken", epoch_records(2))
    with (run / "metrics.jsonl").open("a") as file:
        file.write('{"event": "epo\n')
    assert plot_script.main([str(run)]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"error: {run / 'metrics.jsonl'}:4: not valid JSON")
    assert error.rstrip().endswith("fix or delete that line") and error.count("\n") == 1


def test_script_labels_and_flags(tmp_path, plot_script, capsys):
    from lenet_xp.cli.commands.plot import unique_labels

    assert unique_labels([tmp_path / "a" / "lenet5", tmp_path / "b" / "lenet5",
                          tmp_path / "b" / "other"]) == ["a/lenet5", "b/lenet5", "b/other"]
    assert unique_labels([tmp_path / "x", tmp_path / "x"]) == ["x (1)", "x (2)"]
    with pytest.raises(SystemExit) as exit_info:
        plot_script.main([str(tmp_path / "a"), str(tmp_path / "b"), "--labels", "only one"])
    assert exit_info.value.code == 2 and "1 label(s) for 2 RUN_DIR(s)" in capsys.readouterr().err
