"""Figures on matplotlib's object API, saved all or nothing.

matplotlib is an optional dependency (``lenet_xp[plot]``). Every figure of lenet_xp (a run's
curves, :mod:`lenet_xp.runs.curves`; an exported graph, :mod:`lenet_xp.tools.export.drawing`;
the others, :mod:`lenet_xp.tools.plots`) starts as
:func:`new_figure` and ends in :func:`save_figure`. matplotlib is imported only when a figure
is drawn, through its object API on the Agg canvas: no pyplot, no global state, no window, so
plotting works on headless machines and from a training thread. The file is written
atomically, so a curve redrawn after every epoch is never seen half-written.
"""

from __future__ import annotations

from pathlib import Path

from .atomic import atomic_file

DPI = 100  # with lenet_xp's figure sizes: 500-1100 pixels across, PNGs of 10-70 kB


def new_figure(size):
    """A new matplotlib Figure of ``size`` inches (width, height), constrained layout."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("lenet_xp's figures need matplotlib: pip install 'lenet_xp[plot]'") from exc
    return Figure(figsize=size, dpi=DPI, layout="constrained")


def save_figure(fig, path) -> Path:
    """Write ``fig`` to ``path`` all or nothing (:func:`lenet_xp.atomic.atomic_file`: a
    temporary file beside it, renamed over it), in the format of its suffix (``.png``, or
    ``.svg``/``.pdf``; PNG without one)."""
    path = Path(path)
    with atomic_file(path) as file:
        fig.savefig(file, format=path.suffix.lstrip(".").lower() or "png")
    return path
