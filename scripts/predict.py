#!/usr/bin/env python3
"""``lenet-xp predict`` from a clone: the same command, flags and exit codes
(lenet_xp.cli.commands.predict holds it; ``python scripts/predict.py --help`` shows them)."""

import sys

from lenet_xp.cli.commands.predict import main

if __name__ == "__main__":
    sys.exit(main())
