"""Command-line flags made from declared settings (:mod:`lenet_xp.settings`): each setting
with a flag becomes ``--key-with-dashes``, with its help text, its default shown, and the
argparse type its declaration implies (:mod:`lenet_xp.cli.argtypes`: whole numbers from
``at_least``, finite numbers, choices, ``auto``). Flags left out are not in the parsed
namespace at all, so that :func:`given` tells what was asked for from what was defaulted
(what ``--resume`` needs).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from typing import Any

from ..settings import Leaf, leaves
from .argtypes import auto_or, finite_float, int_at_least


def add_flags(group, settings: Iterable[Leaf], defaults: bool = True) -> None:
    """Add to ``group`` (a parser or an argument group) the flag of each of ``settings``
    (:func:`lenet_xp.settings.leaves` of a tree, or some of them) that has one, in their
    order; ``defaults``: say each one's default in its help (the recipe's flags do not: their
    defaults are each model's own; a ``--no-key`` flag has none to say)."""
    for leaf in settings:
        declared = leaf.declared
        if declared.flag is None:
            continue
        name = "--" + leaf.key.replace("_", "-")
        shown = _shown(leaf) if defaults and declared.flag != "off" else ""
        help = declared.help + (f" (default: {shown})" if shown else "")
        if declared.flag == "off":
            group.add_argument("--no-" + leaf.key.replace("_", "-"), dest=leaf.key,
                               action="store_false", default=argparse.SUPPRESS, help=help)
        elif declared.flag == "switch":
            group.add_argument(name, dest=leaf.key, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=help)
        else:
            group.add_argument(name, dest=leaf.key, type=_type(leaf), choices=declared.choices,
                               metavar=declared.metavar, default=argparse.SUPPRESS, help=help)


def given(args: argparse.Namespace, kind: type) -> dict:
    """The settings of ``kind`` that the command line gave (flat key -> value)."""
    return {leaf.key: getattr(args, leaf.key) for leaf in leaves(kind) if hasattr(args, leaf.key)}


def _shown(leaf: Leaf) -> str:
    """The default as ``--help`` says it ('' for none)."""
    if leaf.declared.shown is not None:
        return leaf.declared.shown
    return "" if leaf.default is None else str(leaf.default)


def _type(leaf: Leaf):
    """The argparse type of a setting's value."""
    declared, kind = leaf.declared, leaf.kind
    parse: Callable[[str], Any]
    if declared.choices is not None or kind.startswith("str"):
        parse = str
    elif kind.startswith("int"):
        low = declared.at_least
        parse = int if low is None else (lambda text: int_at_least(text, low))
    else:
        parse = finite_float
    return auto_or(parse) if declared.auto else parse
