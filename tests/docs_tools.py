"""What the tests of the documentation site, the tutorial's notebook and the wheel share.

Their tools come with the extras ``docs`` (mkdocs, nbclient, ipykernel) and ``dist`` (build,
twine). Where one is missing a test skips with the reason, except where
``LENET_XP_DOCS_TESTS=required`` (.ci/run's last block, which installs the extras): there it
fails, so that CI cannot pass them by skipping.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = "LENET_XP_DOCS_TESTS"


def require(*modules: str, extra: str = "docs") -> None:
    """Skip (or fail, under LENET_XP_DOCS_TESTS=required) unless every module imports."""
    missing = [name for name in modules if not _installed(name)]
    if missing:
        reason = f"{', '.join(missing)} not installed: pip install -e '.[{extra}]'"
        if os.environ.get(REQUIRED) == "required":
            pytest.fail(f"{REQUIRED}=required, but {reason}")
        pytest.skip(reason)


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported; a dotted name whose parent package is missing
    (``mkdocstrings_handlers.python`` without mkdocstrings) is not, where find_spec raises."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def docsite(name: str):
    """A module of docsite/ (the site's build helpers), imported from its file."""
    spec = importlib.util.spec_from_file_location(f"docsite_{name}", ROOT / "docsite" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
