"""Windows by gathering: the path of convolutions and pooling where every operation costs a
launch (a GPU, :func:`lenet_xp.primitives.launch_bound`).

The CPU's path (:mod:`.windows`, :func:`lenet_xp.layers.conv.im2col`) copies one strided
slice per kernel offset, k_h·k_w operations a layer, each cache-friendly, and adds gradients
back slice by slice. On a GPU each of those is a kernel launch of a few microseconds, so here
a layer takes all its windows in one ``xp.take`` of the input seen as one flat array, and
computes every gradient without a scatter-add:

- im2col (:func:`gather_columns`): cols[(c, i, j), (n, p, q)] = x_pad[c, n, p·s + i, q·s + j],
  one gather whose flat index is the sum of a row part (c, i, j) and a column part (n, p, q);
- a convolution's input gradient (:func:`correlate_input_gradient`) is the full correlation of
  dy, spread s apart (stride) and framed by k − 1 zeros, with the kernel flipped:
  dx_pad[c, h, w] = Σ_{f,i,j} W[f, c, k−1−i, k−1−j] · dz[f, h + i, w + j]: one strided
  assignment, one gather, one matrix product;
- pooling over tiles (stride = window) gathers its (k², ...) windows at once
  (:func:`gather_tiles`), and puts a gradient back by one reshaping copy (:func:`untile`).

Layout: the maps this path makes are (N, C, H, W) views of channel-major (C, N, H, W) memory
(a product W₂ @ cols is (F, N·OH·OW)); :func:`channel_major_flat` then reads the next layer's
input as one flat array without a copy, and with one copy where the layout is another. The
index arrays are made on the device from ``xp.arange``, once per shape (:func:`_cached`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from array_api_compat import array_namespace, device

from ..primitives import gather
from .windows import Workspace, output_size

#: index arrays on the devices, by (array type, device, role, sizes), the most recently used last
_INDICES: OrderedDict = OrderedDict()
#: at most this many index arrays are kept (a run meets a handful of shapes; a server may
#: meet a new batch size at every request)
MAX_INDICES = 64
_LOCK = threading.Lock()  # the web app's threads run forward passes side by side


def _cached(like, key: tuple, make):
    """The index array ``make(xp, device)`` for ``key`` on ``like``'s device, made once."""
    key = (type(like), str(device(like)), *key)
    with _LOCK:
        index = _INDICES.get(key)
        if index is None:
            index = _INDICES[key] = make(array_namespace(like), device(like))
            if len(_INDICES) > MAX_INDICES:
                _INDICES.popitem(last=False)
        else:
            _INDICES.move_to_end(key)
        return index


def _grid(xp, where, *axes):
    """Σ_a stride_a · i_a over the row-major grid of ``axes`` = (size, stride) pairs, as a
    1-D int64 array: the flat offsets of a strided block."""
    total = xp.zeros((1,) * len(axes), dtype=xp.int64, device=where)
    for axis, (size, stride) in enumerate(axes):
        shape = [1] * len(axes)
        shape[axis] = size
        total = total + xp.reshape(xp.arange(size, dtype=xp.int64, device=where) * stride,
                                   tuple(shape))
    return xp.reshape(total, (-1,))


def _take(flat, rows, columns):
    """flat[rows[r] + columns[c]] as an (R, C) array: one index sum, one gather."""
    xp = array_namespace(flat)
    index = xp.reshape(rows, (-1, 1)) + xp.reshape(columns, (1, -1))
    return xp.reshape(gather(flat, xp.reshape(index, (-1,))), tuple(index.shape))


def channel_major_flat(x, padding: int = 0, workspace: Workspace | None = None):
    """x (N, C, H, W) -> its entries in (c, n, h, w) order as one flat array, framed by
    ``padding`` zeros on each side of H and W: (C·N·(H + 2P)·(W + 2P),). A view where x is a
    view of channel-major memory and P = 0; otherwise one copy (into the workspace's framed
    buffer, whose zero frame is written once)."""
    xp = array_namespace(x)
    n, c, h, w = x.shape
    rows = xp.permute_dims(x, (1, 0, 2, 3))
    if padding == 0:
        return xp.reshape(rows, (-1,))
    framed = (workspace or Workspace()).get("gathered framed", x,
                                            (c, n, h + 2 * padding, w + 2 * padding), zeros=True)
    framed[:, :, padding:padding + h, padding:padding + w] = rows
    return xp.reshape(framed, (-1,))


def gather_columns(x, kh: int, kw: int, stride: int = 1, padding: int = 0,
                   workspace: Workspace | None = None):
    """im2col in one gather: x (N, C, H, W) -> cols (C·kh·kw, N·OH·OW), where
    cols[(c, i, j), (n, p, q)] = x_pad[n, c, p·s + i, q·s + j]. Returns ``(cols, (OH, OW))``.
    The product W₂ @ cols is then (F, N·OH·OW): channel-major outputs."""
    xp = array_namespace(x)
    n, c, h, w = x.shape
    oh, ow = output_size(h, kh, stride, padding), output_size(w, kw, stride, padding)
    if padding == 0 and (kh, kw) == (h, w):
        # one window over the whole input (LeNet-5's C5): the columns are x, batch-last
        return xp.reshape(xp.permute_dims(x, (1, 2, 3, 0)), (c * h * w, n)), (oh, ow)
    hp, wp = h + 2 * padding, w + 2 * padding
    flat = channel_major_flat(x, padding, workspace)
    rows = _cached(x, ("kernel", c, n * hp * wp, kh, kw, wp), lambda xp, where: _grid(
        xp, where, (c, n * hp * wp), (kh, wp), (kw, 1)))
    columns = _cached(x, ("windows", n, hp, wp, oh, ow, stride), lambda xp, where: _grid(
        xp, where, (n, hp * wp), (oh, stride * wp), (ow, stride)))
    return _take(flat, rows, columns), (oh, ow)


def flipped_kernel(weight):
    """W (F, C, kh, kw) -> (C, F·kh·kw) with entry [c, (f, i, j)] = W[f, c, kh−1−i, kw−1−j]:
    the kernel of the correlation that gives a convolution's input gradient (one gather)."""
    xp = array_namespace(weight)
    f, c, kh, kw = weight.shape
    index = _cached(weight, ("flip", f, c, kh, kw), lambda xp, where: _grid(
        xp, where, (c, kh * kw), (f, c * kh * kw), (kh, -kw), (kw, -1)) + (kh * kw - 1))
    return xp.reshape(gather(xp.reshape(weight, (-1,)), index), (c, f * kh * kw))


def correlate_input_gradient(dy, weight, input_shape, stride: int = 1, padding: int = 0,
                             workspace: Workspace | None = None):
    """A convolution's dE/dx without a scatter-add: dy (N, F, OH, OW), W (F, C, kh, kw) ->
    dx (N, C, H, W) (a view of channel-major memory).

    dy is written s apart into dz (F, N, H + 2P + kh − 1, W + 2P + kw − 1), whose frame and
    gaps are zeros (written once into the workspace's buffer): dz[f, n, kh−1 + p·s, kw−1 + q·s]
    = dy[n, f, p, q]. Then dx[c, n, h, w] = Σ_{f,i,j} flipped[c, (f, i, j)] ·
    dz[f, n, h + P + i, w + P + j]: :func:`flipped_kernel` @ the columns of dz (one gather).
    """
    xp = array_namespace(dy)
    n, c, h, w = input_shape
    f, _, kh, kw = weight.shape
    oh, ow = dy.shape[2], dy.shape[3]
    hz, wz = h + 2 * padding + kh - 1, w + 2 * padding + kw - 1
    spread = (workspace or Workspace()).get("gathered spread", dy, (f, n, hz, wz), zeros=True)
    spread[:, :, kh - 1:kh + stride * (oh - 1):stride,
           kw - 1:kw + stride * (ow - 1):stride] = xp.permute_dims(dy, (1, 0, 2, 3))
    rows = _cached(dy, ("kernel", f, n * hz * wz, kh, kw, wz), lambda xp, where: _grid(
        xp, where, (f, n * hz * wz), (kh, wz), (kw, 1)))
    columns = _cached(dy, ("inputs", n, hz, wz, h, w, padding), lambda xp, where: _grid(
        xp, where, (n, hz * wz), (h, wz), (w, 1)) + (padding * wz + padding))
    cols = _take(xp.reshape(spread, (-1,)), rows, columns)
    dx = xp.matmul(flipped_kernel(weight), cols)
    return xp.permute_dims(xp.reshape(dx, (c, n, h, w)), (1, 0, 2, 3))


def gather_tiles(x, k: int):
    """The k×k tiles of x (N, C, H, W), stride k, in one gather: (k², C·N·OH·OW) with entry
    [(i, j), (c, n, p, q)] = x[n, c, p·k + i, q·k + j]; rows and columns past the last whole
    tile are left out. Returns ``(tiles, (OH, OW))``."""
    n, c, h, w = x.shape
    oh, ow = output_size(h, k, k), output_size(w, k, k)
    rows = _cached(x, ("tile", k, w), lambda xp, where: _grid(xp, where, (k, w), (k, 1)))
    columns = _cached(x, ("tiles", c * n, h, w, oh, ow, k), lambda xp, where: _grid(
        xp, where, (c * n, h * w), (oh, k * w), (ow, k)))
    return _take(channel_major_flat(x), rows, columns), (oh, ow)


def untile(tiles, input_shape, k: int):
    """The adjoint of :func:`gather_tiles`: (k², C·N·OH·OW) -> dx (N, C, H, W) (a view of
    channel-major memory), each tile entry put back where it was read (one reshaping copy;
    zeros in the rows and columns past the last whole tile)."""
    xp = array_namespace(tiles)
    n, c, h, w = input_shape
    oh, ow = h // k, w // k
    blocks = xp.permute_dims(xp.reshape(tiles, (k, k, c, n, oh, ow)), (2, 3, 4, 0, 5, 1))
    whole = xp.reshape(blocks, (c, n, oh * k, ow * k))
    if (oh * k, ow * k) != (h, w):
        dx = xp.zeros((c, n, h, w), dtype=tiles.dtype, device=device(tiles))
        dx[:, :, :oh * k, :ow * k] = whole
        whole = dx
    return xp.permute_dims(whole, (1, 0, 2, 3))


def spread_tiles(values, input_shape, k: int):
    """Each value of (N, C, OH, OW) copied into every entry of its k×k tile: -> dx (N, C, H, W)
    (a view of channel-major memory; zeros past the last whole tile). The adjoint of a sum
    over tiles, in one broadcasting copy."""
    xp = array_namespace(values)
    n, c, oh, ow = values.shape
    grid = xp.reshape(xp.permute_dims(values, (1, 0, 2, 3)), (1, c * n * oh * ow))
    return untile(xp.broadcast_to(grid, (k * k, c * n * oh * ow)), input_shape, k)
