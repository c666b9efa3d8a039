"""The Python examples of the README and of the user guide's pages (docs/guide/*.md, the
README's sections before) run as written. Each ```python block is marked by an HTML comment
just above it, ``<!-- tests/test_readme.py runs this block with:
NEEDS -->``, naming what it needs in its working folder: ``model`` (runs/lenet5/model.npz,
trained here on made-up digits), ``digit`` (my_four.jpg, one of those digits) or ``mnist``
(the real files at ../shared/data/mnist; skipped without them). A block that another test
file runs (it needs what only that file makes) is marked ``<!-- tests/OTHER.py runs this
block -->``, and that file names the page. Every ```python block must be marked, so none is
left untested by mistake."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lenet_xp.data.mnist import TEST_IMAGES, TEST_LABELS
from mnist_files import learnable_arrays, train_quietly, write_fake_mnist

ROOT = Path(__file__).resolve().parents[1]
#: the pages whose examples run: the README and the user guide
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs" / "guide").glob("*.md"))]
MARK = re.compile(r"<!-- tests/test_readme.py runs this block(?: with: (?P<needs>[a-z, ]+))? -->\n"
                  r"```python\n(?P<code>.*?)```", re.S)


def _blocks() -> list[tuple[set[str], str]]:
    blocks = []
    for page in PAGES:
        text, name = page.read_text(encoding="utf-8"), page.relative_to(ROOT).as_posix()
        marked = [(set(filter(None, re.split(r"[, ]+", m["needs"] or ""))), m["code"])
                  for m in MARK.finditer(text)]
        elsewhere = [test for test in re.findall(
            r"<!-- tests/(\w+\.py) runs this block -->\n```python", text) if test != "test_readme.py"]
        for test in elsewhere:
            assert name in (ROOT / "tests" / test).read_text(), f"tests/{test} does not read {name}"
        assert len(marked) + len(elsewhere) == text.count("```python"), \
            f"a ```python block of {name} is unmarked"
        blocks += marked
    return blocks


BLOCKS = _blocks()


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """runs/lenet5/model.npz of a lenet5 trained briefly on made-up digits, and a test 4."""
    root = tmp_path_factory.mktemp("readme_model")
    arrays = learnable_arrays(n_train=600, n_test=200)
    write_fake_mnist(root / "data", arrays)
    train_quietly(root / "data", root / "run", {"epochs": 2})
    images, labels = arrays[TEST_IMAGES], arrays[TEST_LABELS]
    four = images[np.flatnonzero(labels == 4)[0]]
    return root / "run" / "model.npz", four


@pytest.mark.parametrize("needs, code", [
    pytest.param(needs, code, id=f"block{i}-{'+'.join(sorted(needs)) or 'alone'}",
                 marks=[pytest.mark.slow] if "mnist" in needs else [])
    for i, (needs, code) in enumerate(BLOCKS)])
def test_readme_example_runs(needs, code, tmp_path, request):
    work = tmp_path / "lenet_xp"  # the reader's clone, with ../shared beside it
    work.mkdir()
    if "model" in needs:
        model, four = request.getfixturevalue("trained_model")
        (work / "runs" / "lenet5").mkdir(parents=True)
        (work / "runs" / "lenet5" / "model.npz").write_bytes(model.read_bytes())
        if "digit" in needs:
            Image.fromarray(255 - four).convert("RGB").save(work / "my_four.jpg", quality=95)
    if "mnist" in needs:
        (tmp_path / "shared").symlink_to(request.getfixturevalue("shared_mnist").parents[1])
    done = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    if "digit" in needs:  # the top three (class, score) pairs, best first
        top = ast.literal_eval(done.stdout.strip())
        assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1], done.stdout
