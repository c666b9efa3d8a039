#!/usr/bin/env python3
"""``lenet-xp distortions`` from a clone: the same command, flags and exit codes
(lenet_xp.cli.commands.distortions holds it; ``python scripts/distortions.py --help`` shows them)."""

import sys

from lenet_xp.cli.commands.distortions import main

if __name__ == "__main__":
    sys.exit(main())
