"""argparse value types shared by the command-line scripts (scripts/train.py, scripts/bench.py).

Each turns a flag's text into a value or raises ``argparse.ArgumentTypeError``, which argparse
reports as one line naming the flag, with exit code 2.
"""

from __future__ import annotations

import argparse
import json


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


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def recipe_setting(text: str) -> tuple[str, object]:
    """``--recipe KEY=VALUE`` -> (key, value): VALUE as JSON where it parses (numbers, lists,
    true/false), else as text (``distort=elastic``, ``init=gaussian:0.01``)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--recipe takes KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value
