"""The old import paths of moved modules (lenet_xp._moved): each still imports for one
release, warns with the new path, and gives the very objects of the new modules; the
top-level names import without a warning."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import lenet_xp
from lenet_xp._moved import MOVED


def _import_fresh(name: str):
    """Import ``name`` as if for the first time in this process (the alias warns once)."""
    parent, _, leaf = name.rpartition(".")
    sys.modules.pop(name, None)
    if leaf in vars(sys.modules[parent]):
        delattr(sys.modules[parent], leaf)
    __import__(name)  # (importlib.import_module would be the importing frame)
    return sys.modules[name]


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_path_imports_warns_and_gives_the_new_objects(old, monkeypatch):
    new = MOVED[old]
    targets = [importlib.import_module(name) for name in new]
    monkeypatch.setattr(sys, "modules", dict(sys.modules))  # forget the old path afterwards
    with pytest.warns(DeprecationWarning, match=f"{old} has moved to {new[0]}") as caught:
        module = _import_fresh(old)
    assert caught[0].filename == __file__, "the warning names the importing line"
    if len(new) == 1:
        assert module is targets[0]
    for target in targets:
        public = [name for name in vars(target) if not name.startswith("_")]
        for name in public:
            assert getattr(module, name) is getattr(targets[0], name, getattr(target, name)), name


def test_the_old_names_people_used_resolve(monkeypatch):
    from lenet_xp.runs import curves, metrics
    from lenet_xp.tools import plots
    from lenet_xp.training import experiment, resume

    monkeypatch.setattr(sys, "modules", dict(sys.modules))
    with pytest.warns(DeprecationWarning):
        old_experiment = _import_fresh("lenet_xp.experiment")
        old_plots = _import_fresh("lenet_xp.plots")
        old_resume = _import_fresh("lenet_xp.resume")
    assert (old_experiment.run, old_experiment.RunConfig) == (experiment.run, experiment.RunConfig)
    assert old_resume.resume_run is resume.resume_run
    assert (old_plots.plot_confusion, old_plots.plot_learning_curves, old_plots.read_metrics) == (
        plots.plot_confusion, curves.plot_learning_curves, metrics.read_metrics)
    with pytest.raises(AttributeError, match="lenet_xp.plots.*no attribute 'nothing'"):
        old_plots.nothing


def test_the_top_level_names_and_new_paths_import_without_warnings():
    code = ("import warnings; warnings.simplefilter('error')\n"
            "import lenet_xp\n"
            "from lenet_xp import Random, get_backend, layers, load_model, losses, optim\n"
            "import lenet_xp.training, lenet_xp.runs, lenet_xp.tools.bench, lenet_xp.cli.mpi_launch\n"
            "import lenet_xp.data.augment, lenet_xp.tools.plots, lenet_xp.tools.sweep\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_no_old_path_is_a_file_in_the_tree():
    root = Path(lenet_xp.__file__).parent
    for old in MOVED:
        path = root.joinpath(*old.split(".")[1:])
        assert not path.with_suffix(".py").exists() and not path.is_dir(), old
