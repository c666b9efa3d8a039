#!/usr/bin/env python3
"""``lenet-xp sweep`` from a clone: the same command, flags and exit codes
(lenet_xp.cli.commands.sweep holds it; ``python scripts/sweep.py --help`` shows them)."""

import sys

from lenet_xp.cli.commands.sweep import main

if __name__ == "__main__":
    sys.exit(main())
