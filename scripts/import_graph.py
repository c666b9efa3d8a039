"""Draw lenet_xp's import graph by tier, and find the imports that go up a tier.

    python scripts/import_graph.py                                  # docs/figures/import_graph.png
    python scripts/import_graph.py --package OTHER/lenet_xp --out other.png --title "..."

Each module of the package and each folder in it is a box, placed in the row of its tier
(``[tool.lenet_xp.tiers]`` in pyproject.toml, lowest at the bottom); an arrow runs from the
importer to what it imports, red where it goes up a tier. Imports are read with ``ast`` (every
``import`` in a module, lazy ones inside functions too); nothing is imported.
tests/test_layout.py uses :func:`package_imports` and :func:`upward_imports` to keep every
import at or below its tier.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 has no tomllib: the same parser, published as tomli (lenet_xp needs it there)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "lenet_xp"
TIER_COLOURS = ["#d9d9d9", "#c6dbef", "#c7e9c0", "#fdd0a2", "#dadaeb", "#fcbba1", "#c9eae6",
                "#fff3b0", "#d4b9da", "#bdbdbd"]


def load_tiers(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, list[str]]:
    """Tier name -> its entries (module files and folders of the package), low to high."""
    return tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["lenet_xp"]["tiers"]


def module_name(path: Path, package_dir: Path) -> str:
    """``lenet_xp/runs/folder.py`` -> ``lenet_xp.runs.folder``; a package's __init__ -> the
    package."""
    parts = path.relative_to(package_dir.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_file(name: str, package_dir: Path) -> Path | None:
    """The file of module ``name`` in the tree of ``package_dir``, or None."""
    base = package_dir.parent.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def package_imports(package_dir: Path = ROOT / PACKAGE) -> dict[Path, set[Path]]:
    """Each module file of the package -> the package's module files it imports."""
    graph = {}
    for path in sorted(package_dir.rglob("*.py")):
        graph[path] = {target for name in _imported_names(path, package_dir)
                       if (target := module_file(name, package_dir)) is not None}
    return graph


def _imported_names(path: Path, package_dir: Path) -> set[str]:
    """The absolute names of the modules (or packages) that ``path`` imports: ``from P import
    x`` imports module P.x where that is a module, else a name of P."""
    package = module_name(path, package_dir).split(".")
    if path.name != "__init__.py":
        package = package[:-1]  # relative imports start from the module's package
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                module = f"{base}.{alias.name}"
                names.add(module if module_file(module, package_dir) is not None else base)
    return {name for name in names if name == PACKAGE or name.startswith(PACKAGE + ".")}


def tier_of(path: Path, package_dir: Path, tiers: dict[str, list[str]]) -> str | None:
    """The tier whose entry names ``path`` (or a folder above it), or None."""
    relative = path.relative_to(package_dir).as_posix()
    for tier, entries in tiers.items():
        if any(relative == entry or (entry.endswith("/") and relative.startswith(entry))
               for entry in entries):
            return tier
    return None


def upward_imports(package_dir: Path = ROOT / PACKAGE, tiers=None) -> list[str]:
    """``importer -> imported (tier -> higher tier)`` for every import that goes up a tier,
    and ``module: no tier`` for every module that no tier names."""
    tiers = tiers or load_tiers()
    rank = {tier: index for index, tier in enumerate(tiers)}
    problems = []
    for path, imported in package_imports(package_dir).items():
        mine = tier_of(path, package_dir, tiers)
        if mine is None:
            problems.append(f"{path.relative_to(package_dir)}: no tier names it (pyproject.toml)")
            continue
        for target in sorted(imported):
            theirs = tier_of(target, package_dir, tiers)
            if theirs is not None and rank[theirs] > rank[mine]:
                problems.append(f"{path.relative_to(package_dir)} -> "
                                f"{target.relative_to(package_dir)} ({mine} -> {theirs})")
    return problems


# ---- the drawing ------------------------------------------------------------------------------

def box_of(path: Path, package_dir: Path) -> str:
    """The box a module is drawn in: its top folder (``training/``), or its own file name."""
    parts = path.relative_to(package_dir).parts
    return parts[0] + "/" if len(parts) > 1 else parts[0]


def draw(package_dir: Path, out: Path, title: str) -> Path:
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch

    tiers = load_tiers()
    rank = {tier: index for index, tier in enumerate(tiers)}
    graph = package_imports(package_dir)
    box_tier, modules = {}, {}
    for path in graph:
        box = box_of(path, package_dir)
        tier = tier_of(path, package_dir, tiers)
        if tier is None:
            raise SystemExit(f"error: {path} has no tier: name it in pyproject.toml's "
                             "[tool.lenet_xp.tiers]")
        # a folder sits in the lowest tier of its modules
        box_tier[box] = min(box_tier.get(box, tier), tier, key=rank.get)
        modules[box] = modules.get(box, 0) + 1
    edges = {}
    for path, imported in graph.items():
        for target in imported:
            a, b = box_of(path, package_dir), box_of(target, package_dir)
            if a != b:
                edges[(a, b)] = edges.get((a, b), False) or (
                    rank[tier_of(target, package_dir, tiers)]
                    > rank[tier_of(path, package_dir, tiers)])
    rows = {tier: sorted((box for box, t in box_tier.items() if t == tier),
                         key=lambda box: (not box.endswith("/"), box)) for tier in tiers}
    widest = max(len(row) for row in rows.values())
    width = max(12.0, 2.0 * widest + 2.0)
    fig = Figure(figsize=(width, 1.05 * len(tiers) + 1.2), dpi=100, layout="constrained")
    ax = fig.subplots()
    where = {}
    for level, (tier, row) in enumerate(rows.items()):
        ax.axhspan(level - 0.45, level + 0.45, color=TIER_COLOURS[level % len(TIER_COLOURS)],
                   alpha=0.35, linewidth=0)
        ax.text(-0.3, level, tier, ha="right", va="center", fontsize=12, fontweight="bold")
        for index, box in enumerate(row):
            # a row's boxes spread evenly; a box alone in its row sits left or right of the
            # middle by turns, so that arrows through several tiers do not run on top of it
            x = (index + 0.5) * widest / len(row) if len(row) > 1 else widest * (0.4 + 0.2 * (level % 2))
            where[box] = (x, level)
    for (a, b), upward in sorted(edges.items(), key=lambda item: item[1]):
        (xa, ya), (xb, yb) = where[a], where[b]
        ax.add_patch(FancyArrowPatch(
            (xa, ya), (xb, yb), arrowstyle="-|>", mutation_scale=12, shrinkA=16, shrinkB=16,
            connectionstyle=f"arc3,rad={0.25 if ya == yb else 0.12}",
            color="#d62728" if upward else "0.45", linewidth=2.4 if upward else 0.8,
            alpha=1.0 if upward else 0.55, zorder=3 if upward else 1))
    for box, (x, y) in where.items():
        label = box if modules[box] == 1 else f"{box}  ({modules[box]})"
        ax.text(x, y, label, ha="center", va="center", fontsize=10.5, zorder=4,
                fontweight="bold" if box.endswith("/") else "normal",
                bbox=dict(boxstyle="round,pad=0.35", facecolor="white", edgecolor="0.3"))
    ax.set_xlim(-1.6, widest)
    ax.set_ylim(-0.6, len(tiers) - 0.4)
    ax.set_axis_off()
    upward = sum(edges.values())
    fig.suptitle(f"{title}\n{len(graph)} modules; boxes: a module, or a folder (its module "
                 f"count); arrows: importer → imported, {upward} in red going up a tier",
                 fontsize=12)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", type=Path, default=ROOT / PACKAGE,
                        help="the lenet_xp folder to draw (default: this tree's)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "figures" / "import_graph.png")
    parser.add_argument("--title", default="lenet_xp's imports by tier")
    args = parser.parse_args(argv)
    if not (args.package / "__init__.py").is_file():
        parser.error(f"--package {args.package} is not a package folder (no __init__.py)")
    print(f"wrote {draw(args.package.resolve(), args.out, args.title)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
