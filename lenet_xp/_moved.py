"""The old import paths of the modules that moved into the tier folders: for one release each
still imports, with a DeprecationWarning that names the new path.

``import lenet_xp.experiment`` gives :mod:`lenet_xp.training.experiment` itself (the same
module object); an old module whose names went to several new ones (``lenet_xp.distributed``,
``lenet_xp.plots``, ``lenet_xp.train``) becomes a stand-in that finds each name in them, in
order. A finder on ``sys.meta_path`` (installed by ``lenet_xp/__init__.py``) answers for the
old paths only; everything else is imported as usual.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

#: old module -> the modules its names are in now
MOVED = {
    "lenet_xp.argtypes": ("lenet_xp.cli.argtypes",),
    "lenet_xp.bench": ("lenet_xp.tools.bench",),
    "lenet_xp.checkpoint": ("lenet_xp.runs.checkpoint",),
    "lenet_xp.data.distort": ("lenet_xp.data.augment",),
    "lenet_xp.distributed": ("lenet_xp.training.communicators", "lenet_xp.training.data_parallel",
                             "lenet_xp.cli.mpi_launch"),
    "lenet_xp.evaluation": ("lenet_xp.inference.evaluation",),
    "lenet_xp.experiment": ("lenet_xp.training.experiment",),
    "lenet_xp.models.digit_bitmaps": ("lenet_xp.layers.digit_bitmaps",),
    "lenet_xp.parallel": ("lenet_xp.training.split_batch", "lenet_xp.training.passes"),
    "lenet_xp.plots": ("lenet_xp.tools.plots", "lenet_xp.runs.curves", "lenet_xp.runs.metrics"),
    "lenet_xp.recipe": ("lenet_xp.models.recipe",),
    "lenet_xp.resume": ("lenet_xp.training.resume",),
    "lenet_xp.run_folder": ("lenet_xp.runs.folder", "lenet_xp.runs.metrics"),
    "lenet_xp.sweep": ("lenet_xp.tools.sweep",),
    "lenet_xp.train": ("lenet_xp.training.trainer", "lenet_xp.training.state"),
}


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports each old path of :data:`MOVED` as its new module (or a stand-in for several)."""

    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name in MOVED else None

    def create_module(self, spec):
        return None  # a plain module: exec_module fills it in, or puts the new one in its place

    def exec_module(self, module) -> None:
        new = MOVED[module.__name__]
        warnings.warn(f"{module.__name__} has moved to {' and '.join(new)}: import it from "
                      "there (the old path goes in the next release)", DeprecationWarning,
                      stacklevel=2)  # the importer's line: warnings skips the import system's
        if len(new) == 1:
            # the import system returns what sys.modules holds after exec_module
            sys.modules[module.__name__] = importlib.import_module(new[0])
            return
        targets = [importlib.import_module(name) for name in new]

        def __getattr__(name):
            for target in targets:
                if hasattr(target, name):
                    return getattr(target, name)
            raise AttributeError(f"module {module.__name__!r} (moved to {', '.join(new)}) has "
                                 f"no attribute {name!r}")

        module.__getattr__ = __getattr__
        module.__dir__ = lambda: sorted({n for target in targets for n in dir(target)})


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(MovedModules())
