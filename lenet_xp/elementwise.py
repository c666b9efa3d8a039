"""Two gaps between the array API standard and a GPU that never waits, filled in one place.

- :func:`clamp`: ``xp.clip`` is the standard's, but array-api-compat's clip for CuPy is a
  generic one that assigns through boolean masks, and CuPy reads each mask's count back to
  the host: a wait for the GPU at every call. ``xp.minimum``/``xp.maximum`` are one kernel each.
- :func:`constant`: a number where an array function wants an array. array-api-compat turns a
  Python number given to ``xp.maximum`` or ``xp.minimum`` on PyTorch into a tensor by a
  host-to-device copy at every call (on CUDA a copy the host waits for), and one given to
  ``xp.where`` into a tensor filled on the device (a launch more); a 0-d array made once on
  the device costs nothing after its first use.
"""

from __future__ import annotations

from array_api_compat import array_namespace, device

# 0-d constants on the devices, by (array type, device, dtype, value): a handful per run
_CONSTANTS: dict = {}


def constant(like, value: float):
    """``value`` as a 0-d array of ``like``'s dtype on its device, made once."""
    key = (type(like), str(device(like)), str(like.dtype), float(value))
    if key not in _CONSTANTS:
        _CONSTANTS[key] = array_namespace(like).full((), value, dtype=like.dtype,
                                                     device=device(like))
    return _CONSTANTS[key]


def clamp(x, low: float | None = None, high: float | None = None):
    """x with every value below ``low`` raised to it and every value above ``high`` lowered
    to it: min(max(x, low), high), one elementwise operation per bound, on any device."""
    xp = array_namespace(x)
    if low is not None:
        x = xp.maximum(x, constant(x, low))
    if high is not None:
        x = xp.minimum(x, constant(x, high))
    return x
