"""The package's commands (lenet_xp/cli/main.py, lenet_xp/cli/commands/): ``python -m lenet_xp``
and the console script ``lenet-xp`` list the subcommands, print the version, refuse an
unknown subcommand with the list (exit 2), give each subcommand the flags, help and defaults of
its script in scripts/, and train, evaluate, predict and export for real (tiny made-up
digits)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import lenet_xp
from lenet_xp.cli.commands import COMMANDS
from lenet_xp.cli.main import main
from lenet_xp.data.mnist import TEST_IMAGES, TEST_LABELS
from mnist_files import learnable_arrays, write_fake_mnist
from scripts_loader import SCRIPTS, load_script

#: the scripts in scripts/ that are the package's subcommands; the others are the repository's
#: own tools (import_graph, serve_load, draw_latency, gpu_check)
SUBCOMMANDS = ("train", "evaluate", "predict", "plot", "serve", "export", "sweep", "bench",
               "distortions")


def lenet_xp_module(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m lenet_xp ARGS`` in a process of its own."""
    return subprocess.run([sys.executable, "-m", "lenet_xp", *args], capture_output=True,
                          text=True, timeout=600, cwd=cwd)


def test_the_subcommands_are_the_scripts_that_train_evaluate_and_serve():
    assert tuple(COMMANDS) == SUBCOMMANDS
    tools = {path.stem for path in SCRIPTS.glob("*.py")} - set(SUBCOMMANDS)
    assert tools == {"import_graph", "serve_load", "draw_latency", "gpu_check"}


def test_help_lists_every_subcommand():
    done = lenet_xp_module("--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m lenet_xp [-h] [--version] SUBCOMMAND")
    listed = re.findall(r"^  (\w+) +\S", done.stdout, re.M)
    assert listed == list(SUBCOMMANDS)


def test_version_is_the_package_s():
    done = lenet_xp_module("--version")
    assert (done.returncode, done.stdout) == (0, f"lenet-xp {lenet_xp.__version__}\n")
    console = Path(sys.executable).parent / "lenet-xp"  # where pip put the console script
    if not console.is_file():
        pytest.skip(f"no console script {console}: pip install -e . makes it")
    done = subprocess.run([str(console), "--version"], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (0, f"lenet-xp {lenet_xp.__version__}\n")


@pytest.mark.parametrize("args, problem", [([], "no subcommand given"),
                                           (["trian", "--epochs", "1"], "unknown subcommand 'trian'"),
                                           (["--epochs", "1"], "unknown subcommand '--epochs'")])
def test_no_or_an_unknown_subcommand_is_a_usage_error_with_the_list(args, problem, capsys):
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: lenet-xp [-h] [--version] SUBCOMMAND")
    assert err.rstrip().endswith(f"lenet-xp: error: {problem}: choose one of "
                                 + ", ".join(SUBCOMMANDS))
    assert all(f"\n  {name} " in err for name in SUBCOMMANDS)


def _help(run, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        run()
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_a_subcommand_s_help_is_its_script_s(name, capsys, monkeypatch):
    """The same description, flags, help texts and defaults; only the usage line's program
    name differs (``lenet-xp train`` for ``train.py``)."""
    monkeypatch.setenv("COLUMNS", "100")  # argparse wraps to the terminal's width
    script = _help(lambda: load_script(name).main(["--help"]), capsys)
    command = _help(lambda: main([name, "--help"]), capsys)
    assert command.startswith(f"usage: lenet-xp {name} [-h]")
    flags = re.compile(r"(?<![\w-])--?[a-z][\w-]*")
    assert set(flags.findall(command)) == set(flags.findall(script))
    assert len(set(flags.findall(command))) >= 2
    # past the usage block (which wraps after the program's name), the text is the same
    assert command.split("\n\n", 1)[1] == script.split("\n\n", 1)[1]


def test_the_commands_entry_loads_no_numpy_before_bench_sets_its_threads():
    """``lenet-xp bench --threads N`` sets the BLAS threads before numpy loads (numpy's BLAS
    reads them once): nothing on the way to bench's main may import numpy."""
    code = ("import sys, lenet_xp.cli.main, lenet_xp.cli.commands.bench\n"
            "print(sorted(m for m in ('numpy', 'lenet_xp.backend') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr


# ---- a real short run through python -m lenet_xp -------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """``python -m lenet_xp train``: lenet5, one epoch on 600 learnable made-up digits."""
    root = tmp_path_factory.mktemp("commands")
    arrays = learnable_arrays(n_train=600, n_test=200)
    write_fake_mnist(root / "data", arrays)
    done = lenet_xp_module("train", "--model", "lenet5", "--epochs", "2", "--val-size", "100",
                           "--data-dir", str(root / "data"), "--no-verify", "--no-download",
                           "--out", str(root / "run"), "--ranks", "1", "--no-progress",
                           "--no-plot")
    assert done.returncode == 0, done.stderr[-3000:]
    four = arrays[TEST_IMAGES][np.flatnonzero(arrays[TEST_LABELS] == 4)[0]]
    Image.fromarray(four).save(root / "four.png")
    return {"root": root, "data": root / "data", "run": root / "run", "stdout": done.stdout,
            "four": root / "four.png"}


def test_train_writes_its_run(trained):
    assert {"checkpoint.npz", "metrics.jsonl", "model.npz"} <= {
        path.name for path in trained["run"].iterdir()}
    assert re.search(r"^test accuracy \d+\.\d+% \(error", trained["stdout"], re.M), trained["stdout"][-2000:]


def test_evaluate_reports_the_run_s_test_accuracy(trained):
    out = trained["root"] / "eval.json"
    done = lenet_xp_module("evaluate", str(trained["run"] / "model.npz"), "--data-dir",
                           str(trained["data"]), "--no-verify", "--no-download", "--json", str(out))
    assert done.returncode == 0, done.stderr
    record = json.loads(out.read_text())
    assert record["model"] == "lenet5" and record["test_accuracy"] >= 0.9
    assert f"{100 * record['test_accuracy']:.2f}" in done.stdout


def test_predict_classifies_a_digit_file(trained):
    done = lenet_xp_module("predict", str(trained["run"] / "model.npz"), str(trained["four"]),
                           "--json", "--top", "2")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["file"] == str(trained["four"]) and len(answer["top"]) == 2
    assert answer["top"][0][0] == 4


def test_export_writes_an_onnx_graph(trained):
    pytest.importorskip("onnx")
    out = trained["root"] / "lenet5.onnx"
    done = lenet_xp_module("export", str(trained["run"] / "model.npz"), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {out}: lenet5 as ONNX opset")
    assert out.stat().st_size > 10_000


def test_a_subcommand_s_usage_error_names_the_subcommand(trained):
    done = lenet_xp_module("evaluate", str(trained["run"] / "model.npz"), "--split", "train")
    assert done.returncode == 2
    assert "python -m lenet_xp evaluate: error: argument --split: invalid choice" in done.stderr

