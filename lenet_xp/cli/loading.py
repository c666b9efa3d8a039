"""Loading the models a script was given: one ``model.npz``, or several (a committee)."""

from __future__ import annotations

import sys

from ..backend import DeviceError
from ..inference import load_model
from ..runs.checkpoint import CheckpointError


def load_models_or_exit(paths: list[str], device: str):
    """:func:`lenet_xp.load_model` of one path, or of several as a committee; on failure one
    line on stderr and ``SystemExit``: 2 for a usage error (no such device, a committee
    whose members' scores are of two kinds), 1 for a missing, damaged or foreign file."""
    try:
        return load_model(paths if len(paths) > 1 else paths[0], device=device)
    except (DeviceError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
