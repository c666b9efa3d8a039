"""The package's face, lenet_xp/__init__.py: its public names (``lenet_xp.load_model``,
``lenet_xp.export``, ...) and every module of the package resolve on first use (PEP 562), to
the very objects of their modules; type checkers and the API reference, which read the source,
find the same names."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import types
from pathlib import Path

import pytest

import lenet_xp

INIT = Path(lenet_xp.__file__)


def test_every_public_name_is_its_module_s_object_in_a_fresh_interpreter():
    code = ("import importlib, lenet_xp\n"
            "for name, (module, attribute) in lenet_xp._PUBLIC.items():\n"
            "    value = importlib.import_module(module)\n"
            "    value = value if attribute is None else getattr(value, attribute)\n"
            "    assert getattr(lenet_xp, name) is value, name\n"
            "assert set(lenet_xp.__all__) == set(lenet_xp._PUBLIC) <= set(dir(lenet_xp))\n"
            "print(lenet_xp.load_model.__module__, lenet_xp.export.__name__)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["lenet_xp.inference.trained", "lenet_xp.tools.export"]


def test_a_module_of_the_package_is_reached_from_the_package_alone():
    """``import lenet_xp`` then ``lenet_xp.data.augment.warp``, as the README's readers write
    (each of the package's modules and folders, and what their own __init__ imports)."""
    code = ("import lenet_xp, sys\n"
            "assert 'lenet_xp.data' not in sys.modules and 'lenet_xp.runs' not in sys.modules\n"
            "print(lenet_xp.data.augment.warp.__name__, lenet_xp.runs.__name__)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["warp", "lenet_xp.runs"]


def test_a_name_the_package_lacks_is_an_attribute_error():
    with pytest.raises(AttributeError, match="module 'lenet_xp' has no attribute 'nothing'"):
        lenet_xp.nothing  # noqa: B018 (the attribute access is the test)
    with pytest.raises(AttributeError, match="__wrapped__"):
        lenet_xp.__wrapped__  # noqa: B018
    assert not hasattr(lenet_xp, "experiment")  # the flat tree's old paths are gone


def _is_module(name: str) -> bool:
    try:
        return isinstance(importlib.import_module(name), types.ModuleType)
    except ModuleNotFoundError:  # lenet_xp.backend.Random: a name in a module
        return False


def test_the_source_imports_the_names_the_package_resolves():
    """The ``if TYPE_CHECKING:`` block (what mypy and the API reference read) imports each
    public name from the module ``_PUBLIC`` names, and nothing else."""
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    block = next(node for node in tree.body if isinstance(node, ast.If)
                 and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
    imported = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.level == 1
        source = "lenet_xp" + (f".{node.module}" if node.module else "")
        for alias in node.names:
            if _is_module(f"{source}.{alias.name}"):
                imported[alias.name] = (f"{source}.{alias.name}", None)  # from .tools import export
            else:
                imported[alias.name] = (source, alias.name)  # from .backend import Random
    assert imported == lenet_xp._PUBLIC
