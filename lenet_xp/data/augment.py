"""Data augmentation on device batches."""

from __future__ import annotations

from array_api_compat import array_namespace

from lenet_xp.backend import Random


def random_shift(images, max_shift: int, random: Random, groups: int = 8):
    """Translate images by whole pixels, a shift (dy, dx) uniform in [−s, s]² per group.

    images: (N, C, H, W) -> (N, C, H, W). The batch is cut into ``groups`` runs of consecutive
    images (batches come shuffled, so the runs are random), and each run is rolled by its own
    shift: ``xp.roll`` along H and W. Rolling wraps the border around, which is exact for
    padded MNIST, whose outer rows and columns are all background (a 28×28 digit box holds its
    20×20 digit centred, plus 2 pixels of padding to 32×32: any shift up to 4 only moves
    background into view).
    """
    if max_shift <= 0:
        return images
    xp = array_namespace(images)
    n = images.shape[0]
    bounds = [n * g // groups for g in range(groups + 1)]
    shifts = random.integers(-max_shift, max_shift + 1, size=(groups, 2))
    pieces = [xp.roll(images[a:b, ...], shift=(int(dy), int(dx)), axis=(2, 3))
              for (a, b), (dy, dx) in zip(zip(bounds, bounds[1:]), shifts) if b > a]
    return xp.concat(pieces, axis=0)
