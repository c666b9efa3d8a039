"""Sliding-window index arithmetic shared by convolution and pooling.

The one piece of index gymnastics in lenet_xp: a k_h×k_w window sliding with stride s over an
(N, C, H, W) array is the set of k_h·k_w strided views ``x[:, :, i:i+s·(OH-1)+1:s, j:...:s]``,
one per kernel offset (i, j), each of shape (N, C, OH, OW) (convolutions apply the same
slices to their batch-last buffers). im2col stacks these views, pooling
combines them elementwise, and the backward passes add gradients into the same views (col2im
groups them by kernel row, then by kernel column).
No Python loop runs over images or output pixels: only over the k_h·k_w offsets.

That is the CPU's path, where each slice copy runs through the caches. Where every operation
costs a launch (a GPU), convolutions and pooling take all their windows in one gather instead
(:mod:`.gather`); :func:`lenet_xp.primitives.launch_bound` chooses.
"""

from __future__ import annotations

from array_api_compat import array_namespace, device


def output_size(size: int, kernel: int, stride: int, padding: int = 0) -> int:
    """OH = floor((H + 2·padding − k) / stride) + 1; raises ValueError when the window does not fit."""
    out = (size + 2 * padding - kernel) // stride + 1
    if out < 1:
        raise ValueError(
            f"input of size {size} (padding {padding}) is smaller than the {kernel}-wide window"
        )
    return out


def window_slices(kh: int, kw: int, stride: int, out_h: int, out_w: int, block: int = 1):
    """Yield ``(i, j, rows, columns)`` for each kernel offset (i, j): the row and column slices
    that pick, from an array with H and W axes, the (OH, OW) window view of that offset.

    With ``block`` B > 1 (OW a multiple of B) the output columns are taken B at a time, as a
    convolution's blocked columns want (see :func:`lenet_xp.layers.conv.im2col`): j then runs
    over the T = kw + S·(B − 1) input columns that a block of B adjacent outputs reads, and
    picks (OH, OW/B) views, column q of offset j being input column q·S·B + j.
    """
    taps, out_w = kw + stride * (block - 1), out_w // block
    step = stride * block
    for i in range(kh):
        rows = slice(i, i + stride * (out_h - 1) + 1, stride)
        for j in range(taps):
            yield i, j, rows, slice(j, j + step * (out_w - 1) + 1, step)


class Workspace:
    """Arrays a layer reuses from one training step to the next.

    Allocating a few megabytes per step costs page faults on the CPU and allocator traffic on
    the GPU; a layer instead asks its workspace for an array of a given role, shape, dtype and
    device, and gets last step's memory back when all four match. ``zeros=True`` zeroes a new
    array once; the caller must then leave the parts it relies on being zero untouched.
    """

    def __init__(self):
        self._arrays: dict = {}

    def get(self, role: str, like, shape: tuple, zeros: bool = False):
        """An array for ``role`` with ``shape`` and the dtype and device of ``like``."""
        xp = array_namespace(like)
        array = self._arrays.get(role)
        if (array is None or tuple(array.shape) != tuple(shape) or array.dtype != like.dtype
                or device(array) != device(like)):
            make = xp.zeros if zeros else xp.empty
            array = make(tuple(shape), dtype=like.dtype, device=device(like))
            self._arrays[role] = array
        return array
