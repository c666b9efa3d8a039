"""Three array operations whose best form depends on the device, chosen in one place.

Where every operation costs a launch (a GPU: :attr:`lenet_xp.backend.Backend.launch_bound`,
asked by :func:`launch_bound`), the fewest operations and no wait for the device win; on the
CPU, the fastest library call. Layers, losses and the distortions call these instead of:

- ``xp.clip`` (:func:`clamp`): array-api-compat's clip for CuPy is a generic one that assigns
  through boolean masks, and CuPy reads each mask's count back to the host, a wait for the GPU
  at every call; on a launch-bound device ``xp.maximum``/``xp.minimum`` take its place, one
  kernel each. The CPU libraries' own clip is one pass.
- a Python number given to ``xp.maximum``/``xp.minimum`` (:func:`constant`): array-api-compat
  turns it into a tensor for PyTorch by a host-to-device copy at every call (on CUDA a copy
  the host waits for), and into a tensor filled on the device for ``xp.where`` (a launch
  more); a 0-d array made once on the device costs nothing after its first use.
- ``xp.take`` of a 1-D array (:func:`gather`): array-api-compat's take for PyTorch first
  rewrites negative indices, three more passes over the index, where integer-array indexing
  is one; numpy's take is faster than its indexing.
"""

from __future__ import annotations

from array_api_compat import array_namespace, device

from .backend import backend_of

# 0-d constants on the devices, by (array type, device, dtype, value): a handful per run
_CONSTANTS: dict = {}


def launch_bound(x) -> bool:
    """Whether the device of x pays per operation launched more than per byte moved (a GPU:
    :attr:`lenet_xp.backend.Backend.launch_bound`): the one question numerical code asks a
    backend. Convolutions and pooling then gather all their windows at once
    (:mod:`lenet_xp.layers.gather`) rather than slice by slice."""
    return backend_of(x).launch_bound


def constant(like, value: float):
    """``value`` as a 0-d array of ``like``'s dtype on its device, made once."""
    key = (type(like), str(device(like)), str(like.dtype), float(value))
    if key not in _CONSTANTS:
        _CONSTANTS[key] = array_namespace(like).full((), value, dtype=like.dtype,
                                                     device=device(like))
    return _CONSTANTS[key]


def clamp(x, low=None, high=None):
    """x with every value below ``low`` raised to it and every value above ``high`` lowered
    to it: min(max(x, low), high). ``low`` and ``high``: numbers, arrays that broadcast
    against x, or None. One pass on the CPU (the library's clip), one elementwise operation
    per bound where operations cost their launch."""
    xp = array_namespace(x)
    if not launch_bound(x):
        return xp.clip(x, low, high)
    if low is not None:
        x = xp.maximum(x, constant(x, low) if isinstance(low, (int, float)) else low)
    if high is not None:
        x = xp.minimum(x, constant(x, high) if isinstance(high, (int, float)) else high)
    return x


def gather(flat, index):
    """flat[index]: the entries of a 1-D array at the positions of a 1-D integer array. By
    integer-array indexing where operations cost their launch (one operation; the standard
    allows it where every axis gets an index array), else by ``xp.take``."""
    if launch_bound(flat):
        return flat[index]
    return array_namespace(flat).take(flat, index)
