"""The argparse value types of lenet_xp.cli.argtypes: every number a flag takes is finite, every
count in range, every --recipe value what it looks like."""

from __future__ import annotations

import argparse

import pytest

from lenet_xp.cli.argtypes import (finite_float, non_negative_float, port, positive_float,
                                   positive_int, recipe_setting)


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999"])
@pytest.mark.parametrize("kind", [finite_float, non_negative_float, positive_float])
def test_non_finite_numbers_are_refused(kind, text):
    with pytest.raises(argparse.ArgumentTypeError, match="a finite number"):
        kind(text)


def test_floats_in_range():
    assert finite_float("-2.5") == -2.5 and non_negative_float("0") == 0.0
    assert positive_float("1e-3") == 1e-3
    with pytest.raises(argparse.ArgumentTypeError, match="must be > 0, got 0.0"):
        positive_float("0")
    with pytest.raises(argparse.ArgumentTypeError, match="must be >= 0, got -1.0"):
        non_negative_float("-1")
    with pytest.raises(argparse.ArgumentTypeError, match="expected a number, got 'x'"):
        finite_float("x")


def test_counts():
    assert positive_int("3") == 3
    for text, message in [("0", "must be >= 1, got 0"), ("-5", "must be >= 1, got -5"),
                          ("2.5", "expected an integer")]:
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            positive_int(text)


def test_ports():
    assert port("0") == 0 and port("65535") == 65535
    for text in ("-1", "65536", "http"):
        with pytest.raises(argparse.ArgumentTypeError):
            port(text)


def test_recipe_values_parse_as_json_or_stay_words():
    assert recipe_setting("pieces=[[2,5e-4],[3,2e-4]]") == ("pieces", [[2, 5e-4], [3, 2e-4]])
    assert recipe_setting("distort=elastic") == ("distort", "elastic")
    assert recipe_setting("init=gaussian:0.01") == ("init", "gaussian:0.01")
    assert recipe_setting("nesterov=true") == ("nesterov", True)


@pytest.mark.parametrize("text, message", [
    ("pieces=[[", "pieces=[[ is not valid JSON"),
    ("pieces=[[2, 1e-3]", "is not valid JSON"),
    ("gamma={0.5", "is not valid JSON"),
    ("gamma=0.5.1", "is not valid JSON"),
    ("lr=NaN", "lr=NaN: not a finite number"),
    ("pieces=[[2, Infinity]]", "not a finite number"),
    ("lr=", "lr= has no value"),
    ("=3", "takes KEY=VALUE"),
])
def test_recipe_values_that_look_like_json_must_be_json(text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=__import__("re").escape(message)):
        recipe_setting(text)
