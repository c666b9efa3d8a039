"""The package's layout (README, "Layout"): every module belongs to a tier of pyproject.toml's
``[tool.lenet_xp.tiers]`` and imports only from its own tier and the tiers below, in its source
(read with ``ast`` by scripts/import_graph.py, which also draws them) and at load time (the
modules a tier's entry loads); and no module is over 400 lines."""

from __future__ import annotations

import subprocess
import sys

import pytest

from scripts_loader import load_script

#: the most lines a module of lenet_xp/ may have: past it, split it into modules of one concept
MAX_LINES = 400
#: the tiers' entry modules, up to the models, and what none of them may load besides
#: lenet_xp's higher tiers: Pillow and matplotlib are for the modules that read photos and draw
ENTRIES = ("backend", "layers", "losses", "optim", "data", "models")
HEAVY = ("PIL", "matplotlib")


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


def test_no_module_of_the_package_is_over_400_lines(graph):
    lines = {path.relative_to(graph.ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
             for path in (graph.ROOT / graph.PACKAGE).rglob("*.py")}
    assert len(lines) > 100 and lines["lenet_xp/layers/conv.py"] > 300  # the real tree
    assert {path: count for path, count in lines.items() if count > MAX_LINES} == {}


@pytest.mark.parametrize("entry", ENTRIES)
def test_a_tier_s_entry_loads_no_higher_tier(graph, entry):
    """``import lenet_xp.layers`` in a fresh interpreter loads the core and what is below it,
    nothing above (the package's own __init__ imports its public names on first use)."""
    done = subprocess.run([sys.executable, "-c", f"import sys, lenet_xp.{entry}; "
                           "print('\\n'.join(sorted(sys.modules)))"],
                          capture_output=True, text=True, timeout=120, check=True)
    loaded = set(done.stdout.split())
    package, tiers = graph.ROOT / graph.PACKAGE, graph.load_tiers()
    rank = {tier: index for index, tier in enumerate(tiers)}

    def tier(name: str) -> str | None:
        return graph.tier_of(graph.module_file(name, package), package, tiers)

    mine = tier(f"lenet_xp.{entry}")
    above = sorted(name for name in loaded if name.startswith("lenet_xp.")
                   and rank[tier(name)] > rank[mine])
    assert f"lenet_xp.{entry}" in loaded and above == []
    assert sorted(set(HEAVY) & loaded) == []


def test_the_load_time_check_sees_a_higher_tier(graph):
    """What the test above reads: a trained model's loader loads its tier (inference), Pillow
    and the models."""
    done = subprocess.run([sys.executable, "-c", "import sys, lenet_xp; lenet_xp.load_model; "
                           "print('\\n'.join(sorted(sys.modules)))"],
                          capture_output=True, text=True, timeout=120, check=True)
    loaded = set(done.stdout.split())
    assert {"lenet_xp.inference.trained", "lenet_xp.models", "PIL"} <= loaded
