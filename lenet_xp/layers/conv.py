"""2-D convolution by im2col and matrix product, with an optional sparse connection table."""

from __future__ import annotations

from array_api_compat import array_namespace, device

from .. import init as initializers
from ..backend import Random, get_backend
from ..backends.base import Array
from ..init import Initializer
from ..primitives import launch_bound
from .base import Parameter, WeightedSum
from .gather import correlate_input_gradient, gather_columns
from .windows import Workspace, output_size, window_slices

# Layout. Convolutions keep their feature maps batch-last, as (C, H, W, N) in memory, and
# hand them on as (N, C, H, W) views (``permute_dims``, no copy). Every window slice
# x[:, i:i+OH, j:j+OW, :] then reads and writes runs of OW·N contiguous numbers, where the
# (N, C, H, W) layout gives runs of OW (10 for C3), which makes im2col and col2im several times
# faster. Elementwise layers and pooling keep their input's memory order, so the next
# convolution finds the layout it wants.
#
# Blocks. A convolution with few inputs per output, C·kh·kw, makes thin matrix products
# (LeNet-5's C1: 6×25 by 25×200,704 at batch 256) whose time goes to writing and reading the
# columns (20 MB for C1). Taking the outputs B adjacent columns at a time, one column of the
# matrix holds the T = kw + S·(B − 1) input columns that a block reads (kh·T = 40 numbers
# for C1 with B = 4), the weight matrix has one row per (map, place d in the block) holding
# the map's kernel shifted by S·d taps and zeros elsewhere (:func:`block_weight`), and one
# product gives all B outputs. C1's columns shrink to 40 % and its product widens to 24×40.
# :func:`block_size` takes B = 4 for products as thin as C1's, B = 2 up to C3's 150 inputs per
# output (deep_cnn's 3×3 layers on 16 maps, 144, gain as much), and leaves wider products
# (lenet_theano's 500) at B = 1, where blocks gained nothing measurable. Blocks only pay once
# the plain columns outgrow the caches, which depends on the CPU: the threshold below sits
# between the break-even points of the two machines measured. The measurements (µs per layer
# and batch size, plain against blocked, on an Intel Xeon and an AMD EPYC) are in
# docs/benchmarks.md, "Measurements behind the code".

#: Blocks are used from this many entries of the plain column matrix (2 MB in float32) up:
#: C1 from batch 27, C3 (10×10 outputs) from batch 35.
BLOCK_MIN_ENTRIES = 2**19


def block_size(inner: int, out_height: int, out_width: int, batch: int) -> int:
    """Outputs per column for a convolution whose plain product is (F × inner) by
    (inner × OH·OW·N), inner = C·kh·kw (see "Blocks" above): 4 for products as thin as C1's
    (inner ≤ 25), 2 up to C3's (inner ≤ 150), where the block divides the output width and
    the plain columns have at least :data:`BLOCK_MIN_ENTRIES` entries; otherwise 1."""
    if inner * out_height * out_width * batch < BLOCK_MIN_ENTRIES:
        return 1
    for block, thinnest in ((4, 25), (2, 150)):
        if inner <= thinnest and out_width % block == 0:
            return block
    return 1


def im2col(x, kh: int, kw: int, stride: int = 1, padding: int = 0,
           workspace: Workspace | None = None, block: int = 1):
    """Unfold sliding windows into columns.

    x: (N, C, H, W) -> cols: (C·kh·kw, OH·OW·N), where
    cols[(c, i, j), (p, q, n)] = x_padded[n, c, p·s + i, q·s + j]. First x is copied once into
    a batch-last (C, H + 2P, W + 2P, N) buffer with a zero border, then each of the kh·kw
    kernel offsets is one strided slice copy (a window as large as the unpadded input needs
    only the first copy). With a ``workspace`` the buffers reuse last step's memory. Returns
    ``(cols, (OH, OW))``.

    With ``block`` B > 1 (OW a multiple of B; see "Blocks" above) a column covers B adjacent
    outputs: cols (C·kh·T, OH·(OW/B)·N), T = kw + s·(B − 1), and
    cols[(c, i, t), (p, q, n)] = x_padded[n, c, p·s + i, q·s·B + t].
    """
    xp = array_namespace(x)
    workspace = workspace or Workspace()
    n, c, h, w = x.shape
    oh = output_size(h, kh, stride, padding)
    ow = output_size(w, kw, stride, padding)
    if block == 1 and padding == 0 and (kh, kw) == (h, w):
        # One window covering the whole input (LeNet-5's C5): the columns are x itself.
        cols = workspace.get("cols", x, (c, kh, kw, n))
        cols[...] = xp.permute_dims(x, (1, 2, 3, 0))
        return xp.reshape(cols, (c * kh * kw, n)), (oh, ow)
    padded = workspace.get("padded", x, (c, h + 2 * padding, w + 2 * padding, n), zeros=True)
    if c == 1:
        # A one-channel input is in practice the network's input, in the standard (N, 1, H, W)
        # layout, which a direct permute reads H·W numbers apart. Two passes that each move
        # runs of W or N numbers, (N, H, W) -> (H, N, W) -> (H, W, N), are faster (measured:
        # docs/benchmarks.md). The array API cannot see a layout: on a batch-last one-channel
        # input this costs a little time, never exactness.
        rows = workspace.get("rows", x, (h, n, w))
        rows[...] = xp.permute_dims(x[:, 0, ...], (1, 0, 2))
        padded[0, padding:padding + h, padding:padding + w, :] = xp.permute_dims(rows, (0, 2, 1))
    else:
        padded[:, padding:padding + h, padding:padding + w, :] = xp.permute_dims(x, (1, 2, 3, 0))
    taps = kw + stride * (block - 1)
    cols = workspace.get("cols", x, (c, kh, taps, oh, ow // block, n))
    for i, j, rows, columns in window_slices(kh, kw, stride, oh, ow, block):
        cols[:, i, j, ...] = padded[:, rows, columns, :]
    return xp.reshape(cols, (c * kh * taps, oh * (ow // block) * n)), (oh, ow)


def col2im(dcols, input_shape, kh: int, kw: int, stride: int = 1, padding: int = 0,
           block: int = 1):
    """The adjoint of :func:`im2col` (with the same ``block``): add each column entry back
    where it was read from.

    dcols: (C·kh·T, OH·(OW/B)·N) -> dx: (N, C, H, W) (a view of batch-last memory), T = kw
    when B = 1, in two rounds of shifted slice additions: first each kernel row i adds its
    (T, OH, OW/B) block at row offset i into ``rows`` (C, T, H + 2P, OW/B, N), then each
    column offset t adds rows[:, t] at columns t, t + s·B, ... of dx. That is kh + T slice
    additions where adding each (i, t) block on its own takes kh·T: fewer, larger steps.
    """
    xp = array_namespace(dcols)
    n, c, h, w = input_shape
    oh = output_size(h, kh, stride, padding)
    ow = output_size(w, kw, stride, padding)
    if block == 1 and padding == 0 and (kh, kw) == (h, w):
        return xp.permute_dims(xp.reshape(dcols, (c, h, w, n)), (3, 0, 1, 2))
    taps, blocks = kw + stride * (block - 1), ow // block
    dcols = xp.reshape(dcols, (c, kh, taps, oh, blocks, n))
    hp, wp = h + 2 * padding, w + 2 * padding
    rows = xp.zeros((c, taps, hp, blocks, n), dtype=dcols.dtype, device=device(dcols))
    for i in range(kh):
        rows[:, :, i:i + stride * (oh - 1) + 1:stride, ...] += dcols[:, i, ...]
    dx = xp.zeros((c, hp, wp, n), dtype=dcols.dtype, device=device(dcols))
    step = stride * block
    for t in range(taps):
        dx[:, :, t:t + step * (blocks - 1) + 1:step, :] += rows[:, t, ...]
    return xp.permute_dims(dx[:, padding:padding + h, padding:padding + w, :], (3, 0, 1, 2))


def block_weight(weight, block: int, stride: int = 1):
    """The weight matrix for blocked columns: (F, C, kh, kw) -> (F·B, C·kh·T), T = kw + s·(B − 1).

    Row (f, d) computes output d of each block of B: it holds W[f] at taps s·d ... s·d + kw − 1
    and zeros elsewhere. With B = 1 it is W reshaped to (F, C·kh·kw).
    """
    xp = array_namespace(weight)
    f, c, kh, kw = weight.shape
    if block == 1:
        return xp.reshape(weight, (f, c * kh * kw))
    taps = kw + stride * (block - 1)
    blocked = xp.zeros((f, block, c, kh, taps), dtype=weight.dtype, device=device(weight))
    for d in range(block):
        blocked[:, d, :, :, stride * d:stride * d + kw] = weight
    return xp.reshape(blocked, (f * block, c * kh * taps))


def unblock_weight(dblocked, shape, block: int, stride: int = 1):
    """The adjoint of :func:`block_weight`: (F·B, C·kh·T) -> (F, C, kh, kw), the sum of the B
    shifted copies (a weight's gradient gathers what each place in the block contributed)."""
    xp = array_namespace(dblocked)
    f, c, kh, kw = shape
    if block == 1:
        return xp.reshape(dblocked, shape)
    dblocked = xp.reshape(dblocked, (f, block, c, kh, kw + stride * (block - 1)))
    total = dblocked[:, 0, :, :, :kw]
    for d in range(1, block):
        total = total + dblocked[:, d, :, :, stride * d:stride * d + kw]
    return total


def connection_table(inputs, in_channels: int) -> tuple[tuple[int, ...], ...]:
    """``connections`` for :class:`Conv2d` from the input maps each output map reads:
    ``inputs[f]`` lists the maps of output map f; the table's row f has a 1 in those columns
    (of ``in_channels``) and 0 elsewhere."""
    return tuple(tuple(int(c in read) for c in range(in_channels)) for read in inputs)


class Conv2d(WeightedSum):
    """2-D convolution (cross-correlation, as in every framework).

    x: (N, C, H, W) -> y: (N, F, OH, OW), OH = (H + 2P − K)/S + 1, and

        y[n, f, p, q] = b[f] + Σ_{c, i, j} W[f, c, i, j] · x_pad[n, c, p·S + i, q·S + j]

    computed as one matrix product Y = W₂ @ cols with W₂ = W reshaped to (F, C·K·K) and
    cols (C·K·K, OH·OW·N) from :func:`im2col`. Backward, with dY of shape (F, OH·OW·N):

        dW₂ = dY @ colsᵀ      db = Σ_{p,q,n} dY      dx = col2im(W₂ᵀ @ dY)

    The output is an (N, F, OH, OW) view of batch-last (F, OH, OW, N) memory (see the note on
    layout above :func:`im2col`). Thin layers (C·K·K ≤ 150) run the same products on blocked
    columns and weights, B outputs per column (:func:`block_size`, "Blocks" above):
    W₂ = :func:`block_weight` (F·B, C·K·T), dW = :func:`unblock_weight` of dY @ colsᵀ.
    ``block`` fixes B instead (it must divide OW; 1 turns blocks off).

    ``connections`` (F, C) of 0/1 makes a sparse connection table (LeNet-5's C3): output map f
    sees input map c only where connections[f, c] is 1. Unconnected weights are fixed at 0
    (their gradient is masked), so the parameter count and gradients are exactly those of the
    sparse layer.

    ``bias=False`` leaves b out (b = 0, no parameter), for a convolution that batch
    normalisation follows: its shift β takes the bias's place.

    Where every operation costs a launch (a GPU, :func:`~lenet_xp.primitives.launch_bound`)
    the columns come from one gather instead of K·K slice copies, blocks are not used, the
    output is an (N, F, OH, OW) view of channel-major (F, N, OH, OW) memory, and dx is the
    correlation of the spread-out dY with the flipped kernel instead of col2im's slice
    additions (:mod:`lenet_xp.layers.gather`): the same numbers, in a handful of operations.
    """

    param_names: tuple[str, ...] = ("weight", "bias")

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, *, connections=None, init: str | Initializer = "he_normal",
                 random: Random | None = None, dtype: str = "float32", block: int | None = None,
                 bias: bool = True):
        if block is not None and block < 1:
            raise ValueError(f"Conv2d block must be >= 1 (outputs per column), got {block}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.block = block
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        random = random or Random(None)
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        area = kernel_size * kernel_size
        mask = None
        if connections is None:
            weight = initializers.initialize(init, random, shape, in_channels * area,
                                             out_channels * area, dtype)
        else:
            mask, weight = self._sparse_weight(connections, init, random, shape, dtype)
        self.weight = Parameter(weight, mask=mask)
        self.bias = Parameter(initializers.zeros((out_channels,), dtype), decay=False) if bias else None
        if not bias:
            self.param_names = ("weight",)
        self._cols: Array = None
        self._input_shape: tuple[int, ...] = ()
        self._block = 1
        self._gathered = False  # whether the last training forward took the gathering path
        self._workspace = Workspace()

    @staticmethod
    def _sparse_weight(connections, init, random, shape, dtype):
        """Per-map draws with each map's own fan-in, then zeros where there is no connection."""
        cpu = get_backend("cpu")
        xp = cpu.xp
        table = xp.asarray(connections, dtype=cpu.dtype(dtype))
        out_channels, in_channels, kh, kw = shape
        if tuple(table.shape) != (out_channels, in_channels):
            raise ValueError(f"connection table has shape {tuple(table.shape)}, "
                             f"expected (out_channels, in_channels) = {(out_channels, in_channels)}")
        fan_out = [int(n) * kh * kw for n in xp.sum(table, axis=0)]
        maps = []
        for f in range(out_channels):
            fan_in = int(xp.sum(table[f, ...])) * kh * kw
            maps.append(initializers.initialize(init, random, shape[1:], fan_in,
                                                max(sum(fan_out) / in_channels, 1), dtype))
        mask = xp.broadcast_to(xp.reshape(table, (out_channels, in_channels, 1, 1)), shape)
        mask = xp.asarray(mask, copy=True)
        return mask, xp.stack(maps) * mask

    def extra_repr(self) -> str:
        sparse = ", sparse" if self.weight.mask is not None else ""
        block = f", block={self.block}" if self.block is not None else ""
        bias = ", bias=False" if self.bias is None else ""
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}{sparse}{block}{bias}")

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"Conv2d expects input (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        # In training the columns are kept for backward, in reusable memory; in evaluation
        # they are temporary.
        workspace = self._workspace if self.training else None
        gathered = launch_bound(x)
        y, cols = (self._forward_gathered if gathered else self._forward_sliced)(x, workspace)
        if self.training:
            self._cols, self._input_shape, self._gathered = cols, tuple(x.shape), gathered
        return y

    def _forward_sliced(self, x, workspace):
        """The CPU's forward: im2col by slices, blocked where thin; batch-last outputs."""
        xp = array_namespace(x)
        k = self.kernel_size
        oh = output_size(x.shape[2], k, self.stride, self.padding)
        ow = output_size(x.shape[3], k, self.stride, self.padding)
        block = self.block or block_size(self.in_channels * k * k, oh, ow, x.shape[0])
        if ow % block:
            raise ValueError(f"Conv2d block={block} does not divide the output width {ow}")
        cols, (oh, ow) = im2col(x, k, k, self.stride, self.padding, workspace, block)
        y = xp.matmul(block_weight(self.weight.data, block, self.stride), cols)
        y = _unblock_outputs(y, (self.out_channels, oh, ow, x.shape[0]), block)
        if self.bias is not None:
            y += xp.reshape(self.bias.data, (self.out_channels, 1, 1, 1))
        self._block = block
        return xp.permute_dims(y, (3, 0, 1, 2)), cols

    def _forward_gathered(self, x, workspace):
        """The GPU's forward: im2col in one gather; channel-major outputs."""
        xp = array_namespace(x)
        k = self.kernel_size
        cols, (oh, ow) = gather_columns(x, k, k, self.stride, self.padding, workspace)
        y = xp.matmul(xp.reshape(self.weight.data, (self.out_channels, -1)), cols)
        y = xp.reshape(y, (self.out_channels, x.shape[0], oh, ow))
        if self.bias is not None:
            y += xp.reshape(self.bias.data, (self.out_channels, 1, 1, 1))
        return xp.permute_dims(y, (1, 0, 2, 3)), cols

    def _saved_input(self):
        return self._cols

    def _backprop(self, dy, weight, cols):
        """(dW, db, dx) for output gradient dy given the weight and columns to use (db None
        without a bias), by the path the forward pass took.

        The curvature pass calls this with W² and cols² (Gauss-Newton), the gradient pass with
        W and cols.
        """
        dw, db, dx = (self._backprop_gathered if self._gathered else self._backprop_sliced)(
            dy, weight, cols)
        if self.weight.mask is not None:
            dw = dw * self.weight.mask
        return dw, db, dx

    def _backprop_sliced(self, dy, weight, cols):
        xp = array_namespace(dy)
        block, stride = self._block, self.stride
        dy = _block_outputs(xp.permute_dims(dy, (1, 2, 3, 0)), block)  # (F·B, OH·(OW/B)·N)
        db = xp.sum(xp.reshape(dy, (self.out_channels, -1)), axis=1) if self.bias is not None else None
        dw = unblock_weight(xp.matmul(dy, xp.matrix_transpose(cols)), weight.shape, block, stride)
        dx = None
        if self.needs_input_grad:
            k = self.kernel_size
            dcols = xp.matmul(xp.matrix_transpose(block_weight(weight, block, stride)), dy)
            dx = col2im(dcols, self._input_shape, k, k, stride, self.padding, block)
        return dw, db, dx

    def _backprop_gathered(self, dy, weight, cols):
        xp = array_namespace(dy)
        f = self.out_channels
        dy2 = xp.reshape(xp.permute_dims(dy, (1, 0, 2, 3)), (f, -1))  # (F, N·OH·OW)
        db = xp.sum(dy2, axis=1) if self.bias is not None else None
        dw = xp.reshape(xp.matmul(dy2, xp.matrix_transpose(cols)), weight.shape)
        dx = None
        if self.needs_input_grad:
            n, c, h, w = self._input_shape
            if self.padding == 0 and (self.kernel_size, self.kernel_size) == (h, w):
                # one window over the whole input (C5): dcols is dx, batch-last
                dcols = xp.matmul(xp.matrix_transpose(xp.reshape(weight, (f, -1))), dy2)
                dx = xp.permute_dims(xp.reshape(dcols, (c, h, w, n)), (3, 0, 1, 2))
            else:
                dx = correlate_input_gradient(dy, weight, self._input_shape, self.stride,
                                              self.padding, self._workspace)
        return dw, db, dx


def _unblock_outputs(y, shape: tuple, block: int):
    """The product of blocked weights and columns, (F·B, OH·(OW/B)·N), as the batch-last
    outputs (F, OH, OW, N) of ``shape`` (output d of block q is column q·B + d)."""
    xp = array_namespace(y)
    f, oh, ow, n = shape
    if block == 1:
        return xp.reshape(y, shape)
    y = xp.reshape(y, (f, block, oh, ow // block, n))
    return xp.reshape(xp.permute_dims(y, (0, 2, 3, 1, 4)), shape)


def _block_outputs(dy, block: int):
    """The adjoint of :func:`_unblock_outputs`: (F, OH, OW, N) -> (F·B, OH·(OW/B)·N)."""
    xp = array_namespace(dy)
    f, oh, ow, n = dy.shape
    if block == 1:
        return xp.reshape(dy, (f, oh * ow * n))
    dy = xp.reshape(dy, (f, oh, ow // block, block, n))
    return xp.reshape(xp.permute_dims(dy, (0, 3, 1, 2, 4)), (f * block, oh * (ow // block) * n))
