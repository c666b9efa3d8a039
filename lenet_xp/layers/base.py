"""The layer protocol every lenet_xp layer follows.

A layer is a small object with

- ``forward(x) -> y``: computes the output and, in training mode, keeps exactly what the
  backward pass needs (nothing in evaluation mode);
- ``backward(dy) -> dx``: given dE/dy, stores dE/dθ in each parameter's ``grad`` and returns
  dE/dx (or ``None`` when ``needs_input_grad`` is False, e.g. for the first layer);
- ``backward_curvature(d2y) -> d2x``: the same walk for the diagonal Gauss-Newton second
  derivatives used by the SDLM optimiser (LeCun et al. 1998, appendix C): given the diagonal of
  d²E/dy², stores the diagonal of d²E/dθ² in each parameter's ``curvature`` and returns the
  diagonal of d²E/dx². Off-diagonal terms and the f''(a) term are dropped, as in the paper:
  through y = w·x it propagates h_x = Σ w² h_y and h_w = Σ x² h_y; through y = f(a) it
  propagates h_a = f'(a)² h_y.

Parameters are :class:`Parameter` objects held as attributes (``self.weight``, ``self.bias``),
so that the value, its gradient and its curvature sit side by side for the optimisers. An
optimiser updates all of a model's parameters at once, as one flat array, and then points each
``data`` at its slice of the result (:mod:`lenet_xp.optim.flat`), so a layer reads
``self.weight.data`` afresh at every forward pass and never keeps it from one step to the
next. A layer may also hold arrays of two other kinds: *buffers* (``buffer_names``),
constants its constructor rebuilds (connection masks, RBF bitmaps), and *state*
(``state_names``), values it learns without gradients (batch normalisation's running
statistics), which :meth:`Sequential.state_dict` saves and restores beside the parameters.
"""

from __future__ import annotations

from typing import TypedDict

from ..backend import Backend, Random, get_backend, to_numpy


class Parameter:
    """A trainable array with its gradient and (for SDLM) its diagonal curvature.

    Attributes:
        data: the value, any shape.
        grad: dE/d(data), same shape, set by the owning layer's ``backward``.
        curvature: diagonal of the Gauss-Newton d²E/d(data)², set by ``backward_curvature``.
        decay: whether L2 weight decay applies (True for weights, False for biases).
        mask: optional 0/1 array of data's shape; entries where it is 0 are not parameters
            (a sparse connection table) and stay exactly 0.
    """

    def __init__(self, data, *, decay: bool = True, mask=None):
        self.data = data
        self.grad = None
        self.curvature = None
        self.decay = decay
        self.mask = mask

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def size(self) -> int:
        """The number of free values (the connection mask's ones when there is a mask)."""
        if self.mask is not None:
            return int(to_numpy(self.mask).sum())
        count = 1
        for n in self.data.shape:
            count *= n
        return count


class Drawn(TypedDict):
    """How a layer's weights are drawn: the keywords that Conv2d, Linear and Subsample2d share,
    given to each alike by a model's builder (``Conv2d(1, 6, 5, **drawn)``)."""

    init: str
    random: Random
    dtype: str


class Layer:
    """Base class: parameter bookkeeping, train/eval mode and device moves."""

    #: Names of the :class:`Parameter` attributes, in a stable order.
    param_names: tuple[str, ...] = ()
    #: Names of non-trainable array attributes that move with the layer (masks, prototypes).
    buffer_names: tuple[str, ...] = ()
    #: Names of non-trainable arrays the layer updates itself (running statistics): they move
    #: with the layer, and checkpoints save and restore them with the parameters.
    state_names: tuple[str, ...] = ()

    training: bool = True
    needs_input_grad: bool = True

    def forward(self, x):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    def backward_curvature(self, d2y):
        raise NotImplementedError(f"{type(self).__name__} has no second-derivative backward")

    def __call__(self, x):
        return self.forward(x)

    def parameters(self) -> dict[str, Parameter]:
        return {name: getattr(self, name) for name in self.param_names}

    def state_arrays(self) -> dict:
        """Name -> array of the layer's state (see ``state_names``); no copies."""
        return {name: getattr(self, name) for name in self.state_names}

    def train(self, mode: bool = True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def to(self, backend: Backend | str, dtype: str | None = None):
        """Move parameters and buffers to ``backend`` (and cast floats to ``dtype``)."""
        if isinstance(backend, str):
            backend = get_backend(backend)
        for param in self.parameters().values():
            param.data = _moved(param.data, backend, dtype)
            if param.mask is not None:
                param.mask = _moved(param.mask, backend, dtype)
            param.grad = param.curvature = None
        for name in self.buffer_names + self.state_names:
            setattr(self, name, _moved(getattr(self, name), backend, dtype))
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def extra_repr(self) -> str:
        return ""


class WeightedSum(Layer):
    """A layer whose outputs are weighted sums of its inputs plus a bias: :class:`Linear` and
    :class:`Conv2d`, y = W·x + b. Its gradient and its curvature are one backward walk with
    other operands: (dy, W, x) gives dW, db and dx; (d²y, W², x²) gives the diagonal second
    derivatives h_W = Σ x² h_y, h_b = Σ h_y and h_x = Σ W² h_y (module docstring).

    A subclass keeps ``weight``, ``bias`` (a :class:`Parameter` or None) and its saved input
    (``_saved_input()``: None before a training-mode forward) and gives
    ``_backprop(dy, weight, x) -> (dW, db, dx)``."""

    weight: Parameter
    bias: Parameter | None

    def backward(self, dy):
        return self._store("grad", self._backprop(dy, self.weight.data, self._input()))

    def backward_curvature(self, d2y):
        x = self._input()
        return self._store("curvature", self._backprop(d2y, self.weight.data ** 2, x ** 2))

    def _input(self):
        x = self._saved_input()
        if x is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before a training-mode "
                               "forward")
        return x

    def _store(self, kind: str, result: tuple):
        """Keep (dW, db) as the parameters' ``kind`` ("grad" or "curvature"); return dx."""
        dw, db, dx = result
        setattr(self.weight, kind, dw)
        if self.bias is not None:
            setattr(self.bias, kind, db)
        return dx

    def _saved_input(self):
        raise NotImplementedError

    def _backprop(self, dy, weight, x) -> tuple:
        raise NotImplementedError


def _moved(array, backend: Backend, dtype: str | None):
    host = to_numpy(array)
    if dtype is not None and host.dtype.kind == "f":
        return backend.asarray(host, dtype=backend.dtype(dtype))
    return backend.asarray(host)
