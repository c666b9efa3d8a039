"""Settings declared once: dataclass fields that carry their help text, their command-line
form and whether a resumed run may change them, and the flat form of a tree of them.

A configuration is a tree of frozen dataclasses (a run's,
:class:`lenet_xp.training.config.RunConfig`, holds a :class:`~lenet_xp.models.recipe.Recipe`,
which holds a :class:`~lenet_xp.data.augment.Distortion`). Each leaf is declared with :func:`setting`, in
one place, with its default; everything else reads that declaration:

- the flat form (:func:`flatten`, :func:`unflatten`): every leaf under its ``key`` (the field's
  name unless declared otherwise: ``Distortion.kind`` is the recipe's ``distort``), the JSON
  that checkpoints, grid files and ``--recipe key=value`` speak;
- ``scripts/train.py``'s flags (:func:`leaves` gives each leaf's declaration);
- what a resumed run may change (``free``).

    >>> @dataclasses.dataclass(frozen=True)
    ... class Inner:
    ...     rate: float = setting(0.1, "how fast", key="inner_rate")
    >>> @dataclasses.dataclass(frozen=True)
    ... class Outer:
    ...     size: int = setting(3, "how many", at_least=1)
    ...     inner: Inner = branch(Inner)
    >>> flatten(Outer())
    {'size': 3, 'inner_rate': 0.1}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any


@dataclasses.dataclass(frozen=True)
class Declared:
    """What a :func:`setting` declares beside its default.

    Attributes:
        help: one line for ``--help`` (without the default, which is added from the field).
        key: its name in the flat form (and its flag, ``--key-with-dashes``); the field's
            name when None.
        free: a resumed run may change it (where and how a run goes, not what it computes).
        flag: how the command line sets it: ``"value"`` (``--key VALUE``), ``"switch"``
            (``--key``/``--no-key``, unset: None), ``"off"`` (``--no-key`` turns a True
            default off), or None (no flag of its own).
        at_least: the lowest whole number it takes (ints), or None.
        choices: the values it takes (text), or None.
        auto: it also takes the word ``auto`` (the value chosen for the machine).
        metavar: the flag value's name in ``--help``, or None.
        shown: the default as ``--help`` shows it, where not the field's own (``runs/MODEL``).
    """

    help: str
    key: str | None = None
    free: bool = False
    flag: str | None = "value"
    at_least: int | None = None
    choices: tuple | None = None
    auto: bool = False
    metavar: str | None = None
    shown: str | None = None


def setting(default: Any, help: str, **declared) -> Any:
    """A dataclass field with ``default`` and its :class:`Declared` description."""
    return dataclasses.field(default=default, metadata={"setting": Declared(help, **declared)})


def branch(kind: type) -> Any:
    """A dataclass field holding a nested settings dataclass, by default ``kind()``."""
    return dataclasses.field(default_factory=kind, metadata={"branch": kind})


@dataclasses.dataclass(frozen=True)
class Leaf:
    """One setting of a tree: its ``key`` (flat name), the ``path`` of field names that reaches
    it, its ``field`` (type and default) and its :class:`Declared` description."""

    key: str
    path: tuple[str, ...]
    field: dataclasses.Field
    declared: Declared

    @property
    def default(self) -> Any:
        return self.field.default

    @property
    def kind(self) -> str:
        """The field's type as written (``"int"``, ``"float"``, ``"str | None"``, ...)."""
        kind = self.field.type
        return kind if isinstance(kind, str) else kind.__name__


def leaves(kind: type, path: tuple[str, ...] = ()) -> Iterator[Leaf]:
    """Every setting of the tree ``kind`` (a dataclass type), depth first, in declaration order."""
    for field in dataclasses.fields(kind):
        if "branch" in field.metadata:
            yield from leaves(field.metadata["branch"], (*path, field.name))
        elif "setting" in field.metadata:
            declared = field.metadata["setting"]
            yield Leaf(declared.key or field.name, (*path, field.name), field, declared)


def keys(kind: type) -> dict[str, Leaf]:
    """Flat key -> :class:`Leaf` of every setting of ``kind``."""
    return {leaf.key: leaf for leaf in leaves(kind)}


def flatten(tree) -> dict:
    """The tree's settings as one flat dict, key -> value, in declaration order."""
    flat = {}
    for leaf in leaves(type(tree)):
        value = tree
        for name in leaf.path:
            value = getattr(value, name)
        flat[leaf.key] = value
    return flat


def unflatten(kind: type, flat: dict, base=None):
    """A ``kind`` tree with the settings of ``flat`` (key -> value) set, the others as in
    ``base`` (default: ``kind()``'s defaults). Keys ``kind`` does not have are ignored:
    callers that must refuse them check against :func:`keys` first."""
    base = kind() if base is None else base
    changes = {}
    for field in dataclasses.fields(kind):
        if "branch" in field.metadata:
            inner = unflatten(field.metadata["branch"], flat, getattr(base, field.name))
            if inner != getattr(base, field.name):
                changes[field.name] = inner
        elif "setting" in field.metadata:
            key = field.metadata["setting"].key or field.name
            if key in flat:
                changes[field.name] = flat[key]
    return dataclasses.replace(base, **changes) if changes else base
