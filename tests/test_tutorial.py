"""The tutorial, docs/tutorial.md, and its notebook, examples/lenet5_from_scratch.ipynb: the
notebook is exactly what docsite/notebook.py makes of the page, and it runs in a Jupyter
kernel from examples/ (as a reader opens it) on MNIST's files and on the synthetic digits it
falls back to, printing what the page shows under each cell (its numbers may move in the last
digits with the BLAS; its words and layout may not)."""

from __future__ import annotations

import json
import re

import pytest

from conftest import SHARED_MNIST
from docs_tools import ROOT, docsite, require

NOTEBOOK = docsite("notebook")


def test_the_notebook_is_what_the_page_makes():
    page = NOTEBOOK.PAGE.read_text(encoding="utf-8")
    assert NOTEBOOK.NOTEBOOK.read_text(encoding="utf-8") == NOTEBOOK.notebook_text(page), \
        "examples/lenet5_from_scratch.ipynb is stale: run python docsite/notebook.py"


def test_the_notebook_has_every_code_block_of_the_page_and_no_outputs():
    page = NOTEBOOK.PAGE.read_text(encoding="utf-8")
    cells = json.loads(NOTEBOOK.NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    code = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    assert code == [block.rstrip("\n") for block in re.findall(r"^```python\n(.*?)^```$", page,
                                                               re.M | re.S)]
    assert all(cell["outputs"] == [] for cell in cells if cell["cell_type"] == "code")
    markdown = "".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown")
    assert "```text" not in markdown  # the page's outputs are the site's; the notebook makes its own
    assert "](../docs/api/layers.md#lenet_xp.layers.Linear)" in markdown  # links reach docs/


def test_the_page_makes_code_and_markdown_cells_in_order():
    page = ("# Title\n\nSome text.\n\n```python\nx = 1\n```\n\n```text\n1\n```\n\nMore, "
            "[a page](api/index.md).\n\n```bash\nls\n```\n\n```python\nprint(x)\n```\n")
    assert NOTEBOOK.cells_of(page) == [
        ("markdown", "# Title\n\nSome text."), ("code", "x = 1"),
        ("markdown", "More, [a page](api/index.md).\n\n```bash\nls\n```"), ("code", "print(x)")]


def _expected_outputs(page: str) -> list[str | None]:
    """What the page shows under each python block (its ```text block), None where nothing."""
    outputs: list[str | None] = []
    for fence in NOTEBOOK.FENCE.finditer(page):
        if fence.group(1) == "python":
            outputs.append(None)
        elif fence.group(1) == "text":
            outputs[-1] = fence.group(2)
    return outputs


def _skeleton(text: str) -> str:
    return re.sub(r"\d+(?:\.\d+)?", "#", text)


def _run(monkeypatch, tmp_path, data_dir) -> list[str]:
    """Each code cell's printed text, the notebook run in a fresh kernel from examples/."""
    require("nbclient", "nbformat", "ipykernel")
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("LENET_XP_DATA", str(data_dir))  # the kernel inherits the environment
    monkeypatch.setenv("HOME", str(tmp_path))  # nothing written into the user's Jupyter folders
    notebook = nbformat.read(NOTEBOOK.NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "examples")}}).execute()
    return ["".join(output.get("text", "") for output in cell.outputs if output.output_type == "stream")
            for cell in notebook.cells if cell.cell_type == "code"]


def _final_accuracy(printed: list[str]) -> float:
    return float(re.findall(r"test accuracy ([\d.]+) %", printed[-1])[-1])


@pytest.mark.slow
def test_the_notebook_trains_on_mnist_and_prints_what_the_page_shows(monkeypatch, tmp_path):
    if not (SHARED_MNIST / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST files not found in {SHARED_MNIST}")
    printed = _run(monkeypatch, tmp_path, SHARED_MNIST)
    expected = _expected_outputs(NOTEBOOK.PAGE.read_text(encoding="utf-8"))
    assert len(printed) == len(expected)
    for cell, (shown, got) in enumerate(zip(expected, printed)):
        if shown is not None:
            assert _skeleton(got) == _skeleton(shown), f"code cell {cell} printed {got!r}"
    assert _final_accuracy(printed) >= 90.0


def test_the_notebook_trains_on_synthetic_digits_without_mnist(monkeypatch, tmp_path):
    empty = tmp_path / "no-mnist"
    empty.mkdir()
    printed = _run(monkeypatch, tmp_path, empty)
    assert f"no MNIST files in {empty}: synthetic digits instead" in "".join(printed)
    assert "x_train (6000, 1, 32, 32) float32" in "".join(printed)
    assert _final_accuracy(printed) >= 90.0
