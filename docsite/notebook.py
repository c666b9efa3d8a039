"""Makes the tutorial's notebook from its page: docs/tutorial.md -> examples/lenet5_from_scratch.ipynb.

The page is the source; the notebook is made from it, never edited by hand, so the two cannot
drift apart (tests/test_tutorial.py fails where the committed notebook is not what this makes).
Each ```python block becomes a code cell and the text between them a Markdown cell; a ```text
block is an output shown on the site, which the notebook makes for itself, so it is left out.
Links to other pages of the site become links to their files in docs/. The notebook is
written without outputs: they are a run's, not the source's (the tests run it).

    python docsite/notebook.py            # writes the notebook
    python docsite/notebook.py --check    # exit 1 where the committed notebook differs
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "tutorial.md"
NOTEBOOK = ROOT / "examples" / "lenet5_from_scratch.ipynb"

#: a fenced block: its language and its lines
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.M | re.S)
#: a Markdown link to another page of the site, relative to docs/
PAGE_LINK = re.compile(r"\]\((?!https?:|#)([^)]+\.md(?:#[^)]*)?)\)")


def cells_of(page: str) -> list[tuple[str, str]]:
    """The page as (kind, source) cells, kind "markdown" or "code", in order."""
    cells, position = [], 0
    for fence in FENCE.finditer(page):
        text = page[position:fence.start()].strip()
        position = fence.end()
        language, body = fence.group(1), fence.group(2).rstrip("\n")
        if language == "python":
            if text:
                cells.append(("markdown", text))
            cells.append(("code", body))
        elif language == "text":
            if text:
                cells.append(("markdown", text))
        else:  # any other block is part of the text
            cells.append(("markdown", f"{text}\n\n{fence.group(0).rstrip()}".strip()))
    if page[position:].strip():
        cells.append(("markdown", page[position:].strip()))
    return _merged(cells)


def _merged(cells: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Adjacent Markdown cells joined into one."""
    out: list[tuple[str, str]] = []
    for kind, source in cells:
        if out and kind == "markdown" and out[-1][0] == "markdown":
            out[-1] = ("markdown", f"{out[-1][1]}\n\n{source}")
        else:
            out.append((kind, source))
    return out


def notebook_of(page: str) -> dict:
    """The nbformat 4.5 notebook of the page, without outputs."""
    cells = []
    for index, (kind, source) in enumerate(cells_of(page)):
        if kind == "markdown":
            source = PAGE_LINK.sub(r"](../docs/\1)", source)
        cell = {"cell_type": kind, "id": f"cell-{index}", "metadata": {},
                "source": source.splitlines(keepends=True)}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        cells.append(cell)
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def notebook_text(page: str) -> str:
    """The notebook file's text: JSON, one-space indents as Jupyter writes them, a final newline."""
    return json.dumps(notebook_of(page), indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 where the notebook is not what the page makes")
    args = parser.parse_args(argv)
    page = PAGE.read_text(encoding="utf-8")
    text = notebook_text(page)
    if args.check:
        if not NOTEBOOK.exists() or NOTEBOOK.read_text(encoding="utf-8") != text:
            print(f"{NOTEBOOK.relative_to(ROOT)} is not what {PAGE.relative_to(ROOT)} makes: "
                  "run python docsite/notebook.py", file=sys.stderr)
            return 1
        return 0
    NOTEBOOK.parent.mkdir(exist_ok=True)
    NOTEBOOK.write_text(text, encoding="utf-8")
    print(f"wrote {NOTEBOOK.relative_to(ROOT)} ({len(cells_of(page))} cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
