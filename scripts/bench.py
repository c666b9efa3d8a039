#!/usr/bin/env python3
"""``lenet-xp bench`` from a clone: the same command, flags and exit codes
(lenet_xp.cli.commands.bench holds it; ``python scripts/bench.py --help`` shows them)."""

import sys

from lenet_xp.cli.commands.bench import main

if __name__ == "__main__":
    sys.exit(main())
