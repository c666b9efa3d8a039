"""Sequential: a chain of layers, with named parameters, modes and a state dict."""

from __future__ import annotations

from ..backend import Backend, backend_of, get_backend, to_numpy
from .base import Layer, Parameter


class Sequential(Layer):
    """y = f_L(… f_2(f_1(x))); backward runs the layers in reverse.

    Build it from layers, or from ``(name, layer)`` pairs to use the paper's names::

        Sequential(("C1", Conv2d(1, 6, 5)), ("A1", ReLU()), ...)

    Unnamed layers are named by position ("0", "1", ...). Parameters are then named
    ``"C1.weight"``, ``"0.bias"``, and so on.

    ``needs_input_grad`` is False by default: nothing upstream of a whole network wants dE/dx,
    so the layers up to the first with parameters skip that work (for a convolution, its
    col2im): the layers in front of it learn nothing, so they need no gradient either (LeNet-1's
    fixed zoom before its first convolution), and backward stops where it gets ``None``. Set it
    to True to get the input gradient (saliency maps, adversarial examples, nesting in a
    larger network).
    """

    def __init__(self, *layers):
        self.names: list[str] = []
        self.layers: list[Layer] = []
        for index, item in enumerate(layers):
            name, layer = item if isinstance(item, tuple) else (str(index), item)
            if name in self.names:
                raise ValueError(f"two layers are named {name!r}")
            if not isinstance(layer, Layer):
                raise TypeError(f"layer {name!r} is a {type(layer).__name__}, not a Layer")
            self.names.append(name)
            self.layers.append(layer)
        self.needs_input_grad = False

    @property
    def needs_input_grad(self) -> bool:
        return self.layers[0].needs_input_grad if self.layers else False

    @needs_input_grad.setter
    def needs_input_grad(self, value: bool) -> None:
        for layer in self.layers:
            layer.needs_input_grad = value
            if layer.parameters():
                break

    def __getitem__(self, name: str) -> Layer:
        return self.layers[self.names.index(name)]

    def __len__(self) -> int:
        return len(self.layers)

    def named_layers(self) -> list[tuple[str, Layer]]:
        """``(name, layer)`` of every layer, in order."""
        return list(zip(self.names, self.layers, strict=True))

    def __repr__(self) -> str:
        lines = [f"  ({name}): {layer!r}" for name, layer in self.named_layers()]
        return "Sequential(\n" + "\n".join(lines) + "\n)"

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dy):
        for layer in reversed(self.layers):
            if dy is None:  # no input gradient wanted, and the layers in front learn nothing
                return None
            dy = layer.backward(dy)
        return dy

    def backward_curvature(self, d2y):
        for layer in reversed(self.layers):
            if d2y is None:
                return None
            d2y = layer.backward_curvature(d2y)
        return d2y

    def parameters(self) -> dict[str, Parameter]:
        return {f"{name}.{param_name}": param
                for name, layer in self.named_layers()
                for param_name, param in layer.parameters().items()}

    def gradients(self) -> dict:
        return {name: param.grad for name, param in self.parameters().items()}

    def num_parameters(self) -> int:
        """The number of free parameters (a sparse connection table counts only its links)."""
        return sum(param.size for param in self.parameters().values())

    def train(self, mode: bool = True):
        self.training = mode
        for layer in self.layers:
            layer.train(mode)
        return self

    def to(self, backend: Backend | str, dtype: str | None = None):
        backend = get_backend(backend) if isinstance(backend, str) else backend
        for layer in self.layers:
            layer.to(backend, dtype)
        return self

    def state_arrays(self) -> dict:
        """``"<layer>.<name>"`` -> each layer's state array (BN running statistics); no copies."""
        return {f"{name}.{state_name}": value
                for name, layer in self.named_layers()
                for state_name, value in layer.state_arrays().items()}

    def state_dict(self) -> dict:
        """Name -> array of every parameter and every layer's state (running statistics), on
        the model's device; no copies. Checkpoints and ``model.npz`` save this."""
        return {**{name: param.data for name, param in self.parameters().items()},
                **self.state_arrays()}

    def point_at(self, arrays: dict) -> None:
        """Make each array of ``arrays`` (named as in :meth:`state_dict`) the parameter's data
        or the layer's state array itself, without a copy: what a moving average that keeps
        them end to end in one flat array calls with its slices after every update (the
        layers read both afresh at every use)."""
        params = self.parameters()
        for name, value in arrays.items():
            if name in params:
                params[name].data = value
                continue
            layer_name, _, state_name = name.rpartition(".")
            layer = self[layer_name]
            if state_name not in layer.state_names:
                raise KeyError(f"{name} is neither a parameter nor a state array of the model")
            setattr(layer, state_name, value)

    def load_state_dict(self, state: dict) -> None:
        """Copy arrays (numpy or any backend's) into the parameters and the layers' state,
        in place.

        Raises:
            KeyError: an entry is missing from ``state``, or ``state`` has one the model lacks.
            ValueError: a shape differs.
        """
        targets = self.state_dict()
        missing, unexpected = targets.keys() - state.keys(), state.keys() - targets.keys()
        if missing or unexpected:
            raise KeyError(f"state does not match the model: missing {sorted(missing)}, "
                           f"unexpected {sorted(unexpected)}")
        for name, target in targets.items():
            value = to_numpy(state[name])
            if tuple(value.shape) != tuple(target.shape):
                raise ValueError(f"{name}: state has shape {tuple(value.shape)}, model has "
                                 f"{tuple(target.shape)}")
            target[...] = backend_of(target).asarray(value, dtype=target.dtype)
