"""Data augmentation of a batch, on its own device: whole-pixel shifts
(:mod:`~lenet_xp.data.augment.shift`), and random distortions: affine maps
(:mod:`~lenet_xp.data.augment.affine`) and elastic fields
(:mod:`~lenet_xp.data.augment.elastic`), resampled in one pass
(:mod:`~lenet_xp.data.augment.warp`) as a recipe's :class:`Distortion` asks
(:mod:`~lenet_xp.data.augment.distortion`).

LeCun et al. (1998) trained their best LeNet-5 on distorted copies of MNIST: random
translations, scalings, squeezings and horizontal shears. Simard, Steinkraus & Platt (2003)
added elastic distortions: per image, a field of U(−1, 1) displacements per pixel, smoothed by
a Gaussian of standard deviation σ and scaled by α (σ = 4, α = 34 on 29×29 digits).

Conventions. Coordinates are (y, x) = (row, column) in pixels, row 0 at the top; the centre is
c = ((H − 1)/2, (W − 1)/2), the middle of the pixel grid. A distortion is given by its
*inverse* map: output pixel p = (i, j) takes the input's value at the source point

    q = A_n (p − c) + c + t_n + d_n(p)

with ``maps`` = [A_n | t_n] (N, 2, 3) per image n and ``field`` = d_n (N, 2, H, W), sampled by
bilinear interpolation of q's four neighbours (:func:`warp`). Source points outside the image
are clamped into [0, H − 1] × [0, W − 1]: the edge is replicated, which fills with background
for padded MNIST, whose border rows and columns are background whatever the normalisation.

Random draws and the deterministic warp are separate: :func:`random_maps` draws the affine
parameters on the host (six numbers per image) and :func:`affine_maps` turns them into maps,
made for 65,536 images at a time and moved to the device in one transfer
(``Random.staged``); :func:`elastic_field` draws its per-pixel field on the device
(``Random.uniform_like``). Nothing crosses the bus per batch, and nothing comes back.
:class:`Distortion` is what a recipe asks for, and applies the affine map and the elastic
field together in one resampling pass.
"""

from .affine import affine_maps, random_affine, random_maps
from .distortion import DISTORTION_KINDS, Distortion, distortion_examples
from .elastic import FIELD_SPACING_FROM, elastic, elastic_field, field_matrix, gaussian_matrix
from .shift import random_shift
from .warp import warp

__all__ = ["DISTORTION_KINDS", "FIELD_SPACING_FROM", "Distortion", "affine_maps",
           "distortion_examples", "elastic", "elastic_field", "field_matrix", "gaussian_matrix",
           "random_affine", "random_maps", "random_shift", "warp"]
