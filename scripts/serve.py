#!/usr/bin/env python3
"""``lenet-xp serve`` from a clone: the same command, flags and exit codes
(lenet_xp.cli.commands.serve holds it; ``python scripts/serve.py --help`` shows them)."""

import sys

from lenet_xp.cli.commands.serve import main

if __name__ == "__main__":
    sys.exit(main())
