#!/usr/bin/env python3
"""``lenet-xp train`` from a clone: the same command, flags and exit codes
(lenet_xp.cli.commands.train holds it; ``python scripts/train.py --help`` shows them)."""

import sys

from lenet_xp.cli.commands.train import main

if __name__ == "__main__":
    sys.exit(main())
