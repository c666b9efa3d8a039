"""One :class:`~lenet_xp.backends.base.Backend` class per array library; the device strings
that choose them, and everything else, are in :mod:`lenet_xp.backend`."""
