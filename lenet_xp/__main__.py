"""``python -m lenet_xp SUBCOMMAND ...``: the same commands as ``lenet-xp`` (lenet_xp.cli.main).
Imported rather than run (by a tool that walks the package's modules), it does nothing."""

import sys

from lenet_xp.cli.main import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m lenet_xp"))
