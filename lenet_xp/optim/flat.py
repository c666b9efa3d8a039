"""A list of parameters seen as one flat array, so that an update is a dozen operations for a
whole model, not a dozen per parameter.

On a GPU every array operation is a kernel launch that costs microseconds whatever its size;
Adam's 13 operations per parameter made 130 launches a step for LeNet-5's 10 parameters and
221 for bn_cnn's 17. :class:`FlatParameters` lays the values and gradients of the parameters
end to end (one concatenation each), the optimiser updates that one array, and
:meth:`FlatParameters.scatter` points every ``param.data`` at its slice of the result.

Nothing relies on a slice or reshape aliasing its base, which the array API standard leaves
unspecified: every step gathers the values afresh from ``param.data`` (so a value written into
a parameter between two steps, by ``load_state_dict`` or a test, is what the step starts
from), and a layer reads ``self.weight.data`` afresh at every forward pass, so it sees the
new slice whether the library made it a view (numpy, PyTorch, CuPy) or a copy.

Parameters keep their own arrays and shapes (``layer.weight.data``, ``.grad``: the protocol of
:mod:`lenet_xp.layers.base`); checkpoints keep per-parameter arrays (:meth:`FlatParameters.split`).
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace, device


class FlatLayout:
    """Arrays of the given ``shapes`` end to end in one flat array: array k holds entries
    [offsets[k], offsets[k + 1]), in row-major order."""

    def __init__(self, shapes):
        self.shapes = [tuple(shape) for shape in shapes]
        self.offsets = [0]
        for shape in self.shapes:
            self.offsets.append(self.offsets[-1] + math.prod(shape))

    @property
    def size(self) -> int:
        """The number of entries."""
        return self.offsets[-1]

    def concat(self, arrays, what: str = "array"):
        """The arrays (one per shape, of one dtype) end to end: a new 1-D array."""
        if len(arrays) != len(self.shapes):
            raise ValueError(f"{len(arrays)} {what}s for {len(self.shapes)} shapes")
        xp = array_namespace(arrays[0])
        for k, (array, shape) in enumerate(zip(arrays, self.shapes, strict=True)):
            if tuple(array.shape) != shape:
                raise ValueError(f"{what} {k} has shape {tuple(array.shape)}, expected {shape}")
        return xp.concat([xp.reshape(array, (-1,)) for array in arrays])

    def split(self, flat) -> list:
        """The flat array's entries as one array per shape (views where the library makes
        them; nothing may rely on that)."""
        xp = array_namespace(flat)
        return [xp.reshape(flat[start:stop], shape)
                for start, stop, shape in zip(self.offsets[:-1], self.offsets[1:], self.shapes, strict=True)]


class FlatParameters:
    """``params`` (one dtype, one device) end to end (:class:`FlatLayout`):

    - :meth:`values` and :meth:`gradients`: (P,) concatenations of every ``data`` and ``grad``;
    - :meth:`scatter` (P,) -> every ``data`` the reshaped slice of its entries;
    - :meth:`split` (P,) -> one array per parameter, in its shape;
    - :meth:`decay` and :meth:`mask`: (P,) 1 where weight decay applies / the connection
      table links (0 elsewhere), made once, on the parameters' device.
    """

    def __init__(self, params):
        self.params = list(params)
        self.layout = FlatLayout(tuple(param.data.shape) for param in self.params)
        kinds = {(param.data.dtype, str(device(param.data))) for param in self.params}
        if len(kinds) > 1:
            raise ValueError("the parameters of one optimiser must share a dtype and a device, "
                             f"got {sorted(str(kind) for kind in kinds)}: move the model with "
                             ".to(device, dtype) first")
        self._constants: dict = {}

    @property
    def size(self) -> int:
        """P, the number of entries."""
        return self.layout.size

    def values(self):
        """(P,) the parameters' current values, end to end (a new array)."""
        return self.layout.concat([param.data for param in self.params], "parameter")

    def gradients(self):
        """(P,) the parameters' gradients, end to end (a new array). Raises RuntimeError
        naming the parameter that has none (no backward pass reached it)."""
        missing = [k for k, param in enumerate(self.params) if param.grad is None]
        if missing:
            raise RuntimeError(f"parameter {missing[0]} (shape {self.layout.shapes[missing[0]]}) "
                               "has no gradient: run a backward pass through every parameter "
                               "before the optimiser's step")
        return self.layout.concat([param.grad for param in self.params], "gradient")

    def split(self, flat) -> list:
        """(P,) -> one array per parameter, in its shape."""
        return self.layout.split(flat)

    def concat(self, arrays):
        """(P,) from one array per parameter, each of its parameter's shape (a saved state)."""
        return self.layout.concat(arrays, "parameter state")

    def scatter(self, flat) -> None:
        """Point every parameter's ``data`` at its entries of ``flat`` (P,)."""
        for param, value in zip(self.params, self.split(flat), strict=True):
            param.data = value

    def set_gradients(self, flat) -> None:
        """Point every parameter's ``grad`` at its entries of ``flat`` (P,)."""
        for param, value in zip(self.params, self.split(flat), strict=True):
            param.grad = value

    def decay(self, like):
        """(P,) 1 for the entries of parameters with weight decay, 0 for the others."""
        return self._constant("decay", like, lambda param: 1.0 if param.decay else 0.0)

    def mask(self, like):
        """(P,) the connection masks end to end (1 for parameters without one), or None
        where no parameter has a mask."""
        if all(param.mask is None for param in self.params):
            return None
        xp = array_namespace(like)
        return self._constant("mask", like, lambda param: (
            xp.ones(param.data.shape, dtype=like.dtype, device=device(like))
            if param.mask is None else xp.astype(param.mask, like.dtype)))

    def _constant(self, name: str, like, per_param):
        """A (P,) array made once from ``per_param(param)`` (a number or an array)."""
        key = (name, like.dtype, str(device(like)))
        if key not in self._constants:
            xp = array_namespace(like)
            parts = []
            for param, shape in zip(self.params, self.layout.shapes, strict=True):
                part = per_param(param)
                if isinstance(part, float):
                    part = xp.full(shape, part, dtype=like.dtype, device=device(like))
                parts.append(part)
            self._constants[key] = self.layout.concat(parts, name)
        return self._constants[key]
