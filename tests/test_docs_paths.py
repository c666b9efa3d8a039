"""Every dotted path of lenet_xp that the README, docs/ and the package's docstrings and
comments name (``lenet_xp.tools.export.to_onnx``, ``lenet_xp.data.augment``, ...) imports:
a reader who types it finds it."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: a path of the package, not an attribute of something else (``result.lenet_xp.x``) nor a
#: table of pyproject.toml (``tool.lenet_xp.tiers``)
PATH = re.compile(r"(?<![\w.])lenet_xp(?:\.[A-Za-z_]\w*)+")


def named_paths(text: str) -> set[str]:
    return set(PATH.findall(text))


def resolves(path: str) -> bool:
    """Whether ``path`` is a module of lenet_xp or a name in one (a class's attribute too)."""
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for name in parts[split:]:
            if not hasattr(value, name):
                return inspect.isclass(value) and _sets(value, name)
            value = getattr(value, name)
        return True
    return False


def _sets(cls: type, name: str) -> bool:
    """Whether instances of ``cls`` get attribute ``name`` in ``__init__`` (``self.name =``)."""
    init = getattr(cls, "__init__", None)
    try:
        source = inspect.getsource(init)
    except (OSError, TypeError):
        return False
    return re.search(rf"self\.{name}\b\s*(?::[^=]+)?=", source) is not None


def _sources() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
            *sorted((ROOT / "docs" / "guide").glob("*.md")),
            *sorted((ROOT / "docs" / "api").glob("*.md")), *sorted((ROOT / "lenet_xp").rglob("*.py")),
            *sorted((ROOT / "scripts").glob("*.py"))]


@pytest.mark.parametrize("source", _sources(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_path_a_page_or_a_docstring_names_imports(source):
    missing = sorted(path for path in named_paths(source.read_text(encoding="utf-8"))
                     if not resolves(path))
    assert missing == [], f"{source.relative_to(ROOT)} names paths that do not import"


def test_the_check_reads_paths_as_a_reader_would():
    text = ("see :mod:`lenet_xp.data.augment` and ``lenet_xp.export.to_onnx``; "
            "result.lenet_xp.epoch_seconds and [tool.lenet_xp.tiers] are not paths; "
            "lenet_xp.layers.Conv2d.forward, lenet_xp.data.distort, "
            "lenet_xp.backend.Backend.launch_bound, lenet_xp.backend.Backend.nothing")
    paths = named_paths(text)
    assert paths == {"lenet_xp.data.augment", "lenet_xp.export.to_onnx",
                     "lenet_xp.layers.Conv2d.forward", "lenet_xp.data.distort",
                     "lenet_xp.backend.Backend.launch_bound", "lenet_xp.backend.Backend.nothing"}
    assert {path for path in paths if not resolves(path)} == {"lenet_xp.data.distort",
                                                              "lenet_xp.backend.Backend.nothing"}
