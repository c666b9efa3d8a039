#!/usr/bin/env python3
"""``lenet-xp export`` from a clone: the same command, flags and exit codes
(lenet_xp.cli.commands.export holds it; ``python scripts/export.py --help`` shows them)."""

import sys

from lenet_xp.cli.commands.export import main

if __name__ == "__main__":
    sys.exit(main())
