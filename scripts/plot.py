#!/usr/bin/env python3
"""``lenet-xp plot`` from a clone: the same command, flags and exit codes
(lenet_xp.cli.commands.plot holds it; ``python scripts/plot.py --help`` shows them)."""

import sys

from lenet_xp.cli.commands.plot import main

if __name__ == "__main__":
    sys.exit(main())
