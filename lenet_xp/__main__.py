"""``python -m lenet_xp SUBCOMMAND ...``: the same commands as ``lenet-xp`` (lenet_xp.cli.main)."""

import sys

from lenet_xp.cli.main import main

sys.exit(main(prog="python -m lenet_xp"))
