"""The package's layout (README, "Layout"): every module belongs to a tier of pyproject.toml's
``[tool.lenet_xp.tiers]`` and imports only from its own tier and the tiers below. The imports
are read with ``ast`` by scripts/import_graph.py, which also draws them."""

from __future__ import annotations

import pytest

from scripts_loader import load_script


@pytest.fixture(scope="module")
def graph():
    return load_script("import_graph")


def test_no_module_imports_from_a_higher_tier(graph):
    assert graph.upward_imports() == []


def test_every_tier_entry_names_a_module_or_folder_of_the_package(graph):
    package = graph.ROOT / graph.PACKAGE
    for tier, entries in graph.load_tiers().items():
        for entry in entries:
            path = package / entry
            assert (path.is_dir() if entry.endswith("/") else path.is_file()), f"{tier}: {entry}"


def test_an_upward_import_is_found_even_inside_a_function(graph, tmp_path):
    package = tmp_path / "lenet_xp"
    (package / "runs").mkdir(parents=True)
    (package / "training").mkdir()
    for name in ("__init__.py", "backend.py", "runs/__init__.py", "training/__init__.py",
                 "training/loop.py"):
        (package / name).write_text("")
    (package / "runs" / "folder.py").write_text(
        "from ..backend import x\n\ndef f():\n    from ..training import loop\n")
    (package / "stray.py").write_text("import lenet_xp.backend\n")
    assert graph.upward_imports(package) == [
        "runs/folder.py -> training/loop.py (runs -> training)",
        "stray.py: no tier names it (pyproject.toml)"]


def test_the_script_draws_the_graph(graph, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "graph.png"
    assert graph.main(["--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
