"""The PyTorch autograd twin of lenet_xp's benchmark runner: the same network in PyTorch,
to measure lenet_xp's hand-written passes against (not an array backend of lenet_xp).

PyTorch is only a peer to measure against, never a dependency: it is imported by
:func:`import_torch`, only when asked for, and a missing torch is a note, not an error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ...backends.torch_backend import pin_full_float32
from .machine import host_peak_rss_bytes
from .results import Repeat

TORCH_VERSION_HINT = "pip install torch==2.13.0 for the comparison"


class TwinError(ValueError):
    """The twin does not match lenet_xp's model."""


def import_torch():
    """The torch module, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def torch_lenet5(torch):
    """The modern LeNet-5 of :mod:`lenet_xp.models.lenet5` in PyTorch, layer for layer (ReLU
    after max-pooling there too, so both frameworks do the same work)."""
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(6, 16, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(16, 120, 5), nn.ReLU(), nn.Flatten(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )


TORCH_TWINS: dict[str, Callable] = {"lenet5": torch_lenet5}
"""Model name -> ``build(torch) -> torch.nn.Module`` with the same parameters in the same order
(shapes checked when lenet_xp's initial weights are copied in); its loss is cross-entropy."""


def torch_optimizer(torch, model, recipe):
    """The recipe's optimiser in PyTorch, with L2 decay on weights only, as lenet_xp does."""
    params = list(model.parameters())
    groups = [{"params": [p for p in params if p.ndim > 1], "weight_decay": recipe.weight_decay},
              {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}]
    return TORCH_OPTIMIZERS[recipe.optimizer](torch, groups, recipe)


TORCH_OPTIMIZERS = {
    "sgd": lambda torch, groups, r: torch.optim.SGD(groups, lr=r.lr, momentum=r.momentum,
                                                    nesterov=r.nesterov),
    "adam": lambda torch, groups, r: torch.optim.Adam(groups, lr=r.lr),
    "adagrad": lambda torch, groups, r: torch.optim.Adagrad(groups, lr=r.lr),
}


def torch_device(torch, backend) -> tuple[Any, str | None]:
    """(torch device, None) for the hardware lenet_xp's ``backend`` computes on (the same
    GPU), or (None, why not). On CUDA the twin computes in full float32, as lenet_xp does
    (:func:`~lenet_xp.backends.torch_backend.pin_full_float32`: no TF32 in its convolutions)."""
    if not backend.is_gpu:
        return torch.device("cpu"), None
    module = getattr(torch, backend.hardware, None)
    if module is None or not module.is_available():
        return None, (f"this PyTorch ({torch.__version__}) sees no {backend.hardware} device, "
                      "so the comparison on the GPU is skipped")
    if backend.hardware == "cuda":
        pin_full_float32(torch)
    return torch.device(backend.hardware, backend.index), None


class TorchAutogradTwin:
    """The PyTorch twin of a :class:`~lenet_xp.tools.bench.lenet_runner.LenetRunner`: the same
    network (:data:`TORCH_TWINS`), weights, data, optimiser and dtype, trained by PyTorch's
    autograd; timed as the runner is."""

    framework = "torch"
    workers = 1

    def __init__(self, torch, device, config, twin_of):
        self.torch, self.device, self.batch_size = torch, device, twin_of.batch_size
        self.device_name = f"torch {device}"
        self.threads = config.torch_threads
        dtype = getattr(torch, config.dtype)
        self.model = TORCH_TWINS[config.model](torch).to(device=device, dtype=dtype)
        load_twin_weights(torch, self.model, twin_of.initial_state())
        self.model.train()
        self.optimizer = torch_optimizer(torch, self.model, config.recipe())
        self.loss = torch.nn.CrossEntropyLoss()
        images = torch.from_numpy(twin_of.host_images).to(device=device, dtype=dtype)
        labels = torch.from_numpy(twin_of.host_labels).to(device=device)
        b = self.batch_size
        self.batches = [(images[i * b:(i + 1) * b], labels[i * b:(i + 1) * b])
                        for i in range(len(twin_of.batches))]
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)

    def close(self) -> None:
        """Nothing to release (the twin has no worker threads)."""

    def _sync(self):
        if self.device.type != "cpu":
            getattr(self.torch, self.device.type).synchronize()

    def _step(self, x, y):
        self.optimizer.zero_grad(set_to_none=True)
        batch_loss = self.loss(self.model(x), y)
        batch_loss.backward()
        self.optimizer.step()
        return batch_loss

    def _set_threads(self) -> None:
        """PyTorch's intra-op threads, set before each of its turns (lenet_xp's runners set
        theirs before theirs: the threads are the process's)."""
        if self.threads is not None:
            self.torch.set_num_threads(self.threads)

    def warm_up(self, steps: int) -> None:
        self._set_threads()
        for i in range(steps):
            self._step(*self.batches[i % len(self.batches)])
        self._sync()

    def run(self, batches: int) -> Repeat:
        self._set_threads()
        pool = self.batches
        self._sync()
        start = time.perf_counter()
        for i in range(batches):
            batch_loss = self._step(*pool[i % len(pool)])
        self._sync()
        train_seconds = time.perf_counter() - start
        final_loss = float(batch_loss.item())
        self.model.eval()
        with self.torch.inference_mode():
            self._sync()
            start = time.perf_counter()
            for i in range(batches):
                self.model(pool[i % len(pool)][0])
            self._sync()
            inference_seconds = time.perf_counter() - start
        self.model.train()
        return Repeat(self.batch_size, batches, train_seconds, inference_seconds, final_loss)

    def peak_memory(self) -> tuple[int, str]:
        if self.device.type == "cuda":
            return int(self.torch.cuda.max_memory_reserved(self.device)), "torch CUDA reserved peak"
        return host_peak_rss_bytes(), "process peak RSS"


def load_twin_weights(torch, module, state: dict[str, np.ndarray]) -> None:
    """Copy lenet_xp's parameters, in order, into the PyTorch twin's (same shapes required)."""
    params = list(module.parameters())
    values = list(state.values())
    if len(params) != len(values):
        raise TwinError(f"the PyTorch twin has {len(params)} parameters, lenet_xp's model "
                         f"{len(values)}")
    with torch.no_grad():
        for (name, value), param in zip(state.items(), params, strict=True):
            if tuple(param.shape) != tuple(value.shape):
                raise TwinError(f"twin parameter for {name} has shape {tuple(param.shape)}, "
                                 f"lenet_xp's {tuple(value.shape)}")
            param.copy_(torch.from_numpy(np.ascontiguousarray(value)))
