"""The ONNX graph being built: its nodes and constants, each name used once, and the names of
the graph's input and outputs. onnx (and ONNX Runtime) are optional dependencies, imported
through :func:`require` when a function needs them."""

from __future__ import annotations

from types import ModuleType

import numpy as np

from ...backend import to_numpy

#: The graph's input and outputs (see :mod:`lenet_xp.tools.export`).
DIGITS, SCORES, LABELS, OUTPUTS = "digits", "scores", "labels", "outputs"
INSTALL = 'pip install "lenet_xp[onnx]"'
MISSING = {"onnx": f"lenet_xp's ONNX export needs the onnx package: {INSTALL}",
           "onnxruntime": "running an exported model needs ONNX Runtime: pip install onnxruntime"}


class ExportError(ValueError):
    """A model that cannot be exported: a layer or loss with no ONNX mapping, or a name used
    twice in the graph."""


class Graph:
    """Nodes and constants of the graph being built. A node's output tensor has the node's
    name; every name is used once (a second use is an ExportError, not an invalid graph)."""

    def __init__(self, onnx: ModuleType):
        self.onnx = onnx
        self.nodes: list = []
        self.constants: list = []
        self._names = {DIGITS}

    def node(self, op: str, inputs: list[str], name: str, **attributes) -> str:
        """Append node ``name`` computing ``op`` of ``inputs``; returns its output's name."""
        self._claim(name)
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [name], name=name, **attributes))
        return name

    def weight(self, name: str, array) -> str:
        """A float32 constant (weights, a bias, a scalar factor) named ``name``."""
        return self._constant(name, np.asarray(to_numpy(array), dtype=np.float32))

    def ints(self, *values: int) -> str:
        """An int64 vector constant (axes, pads, slice bounds), shared by every node using it."""
        name = f"ints({','.join(map(str, values))})"
        return name if name in self._names else self._constant(name, np.asarray(values, np.int64))

    def _constant(self, name: str, array: np.ndarray) -> str:
        self._claim(name)
        self.constants.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def _claim(self, name: str) -> None:
        if name in self._names:
            raise ExportError(f"the name {name!r} is used twice in the graph: rename the layer "
                              f"(names {DIGITS}, {SCORES}, {LABELS}, {OUTPUTS} and prepare "
                              "are the graph's own)")
        self._names.add(name)


def require(package: str) -> ModuleType:
    """onnx or onnxruntime, or an ImportError that says how to install it."""
    try:
        return __import__(package)
    except ImportError as exc:
        raise ImportError(MISSING[package]) from exc
