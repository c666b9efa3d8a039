"""argparse value types shared by the command-line scripts (scripts/train.py, scripts/bench.py,
...).

Each turns a flag's text into a value or raises ``argparse.ArgumentTypeError``, which argparse
reports as one line naming the flag, with exit code 2. Every number a flag takes goes through
:func:`finite_float` or :func:`int_at_least`: ``nan``, ``inf`` and ``1e999`` never reach a run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Callable
from pathlib import Path

#: how a --recipe value that is meant as JSON starts: a number, a list, an object or a string
#: (words such as ``elastic`` or ``gaussian:0.01`` are taken as text)
JSON_STARTS = tuple("[{\"-+.0123456789")


def int_at_least(text: str, low: int) -> int:
    """An integer >= ``low``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
    return value


def positive_int(text: str) -> int:
    return int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    return int_at_least(text, 0)


def auto_or(kind: Callable[[str], object]) -> Callable[[str], object]:
    """The type of a flag that takes ``auto`` (the machine's choice) or what ``kind`` takes
    (``--ranks auto`` or ``--ranks 2``)."""
    def checked(text: str):
        return "auto" if text.strip().lower() == "auto" else kind(text)
    return checked


def port(text: str) -> int:
    """A TCP port number, 0 (any free port) to 65535."""
    value = int_at_least(text, 0)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {value}")
    return value


def output_file(example: str) -> Callable[[str], str]:
    """The type of a flag naming a file to write (``example``: a file name shown in the
    message, e.g. ``model.onnx``): not a folder, and in a folder that may be written, or may
    be made (nothing in its way is a file). Checked when the flags are read, so that a long
    export does not fail at its end."""
    def checked(text: str) -> str:
        path = Path(text)
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{text} is a folder: name a file in it, such as "
                                             f"{path / example}")
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent  # the folders still to make are made when it is written
        if not folder.is_dir():
            raise argparse.ArgumentTypeError(f"cannot write {text}: {folder} is a file, not a "
                                             "folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise argparse.ArgumentTypeError(f"cannot write {text}: the folder {folder} may "
                                             "not be written")
        return text
    return checked


def finite_float(text: str) -> float:
    """A finite number: ``nan``, ``inf`` and numbers too large for a float are refused."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def recipe_setting(text: str) -> tuple[str, object]:
    """``--recipe KEY=VALUE`` -> (key, value): VALUE as JSON (numbers, lists, true/false) or, for a
    word such as ``elastic`` or ``gaussian:0.01``, as text. A VALUE that starts as JSON does (a
    digit, a sign, ``[``, ``{`` or ``"``) must be valid JSON, and its numbers finite."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--recipe takes KEY=VALUE, got {text!r}")
    if not value:
        raise argparse.ArgumentTypeError(f"--recipe {text} has no value: give KEY=VALUE")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        if value.startswith(JSON_STARTS):
            raise argparse.ArgumentTypeError(
                f"--recipe {text} is not valid JSON ({exc.msg} at character {exc.pos + 1}): "
                f"write numbers and lists as JSON, e.g. {key}=[[2,5e-4],[3,2e-4]] or {key}=0.5"
            ) from None
        return key, value
    if not _finite(parsed):
        raise argparse.ArgumentTypeError(f"--recipe {text}: not a finite number")
    return key, parsed


def _finite(value) -> bool:
    """Whether every number in a JSON value (nested lists and objects too) is finite."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_finite(item) for item in value)
    if isinstance(value, dict):
        return all(_finite(item) for item in value.values())
    return True
