#!/usr/bin/env python3
"""``lenet-xp evaluate`` from a clone: the same command, flags and exit codes
(lenet_xp.cli.commands.evaluate holds it; ``python scripts/evaluate.py --help`` shows them)."""

import sys

from lenet_xp.cli.commands.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
