"""``lenet-xp SUBCOMMAND ...`` and ``python -m lenet_xp SUBCOMMAND ...``: the one entry of the
package's commands. It reads the subcommand, imports its module
(``lenet_xp.cli.commands.<name>``) and hands it the rest of the command line; ``--version``
prints the version, and no or an unknown subcommand is a usage error (exit 2) that lists them.
"""

from __future__ import annotations

import importlib
import sys

from lenet_xp._version import __version__
from lenet_xp.cli.commands import COMMANDS

PROG = "lenet-xp"


def usage(prog: str) -> str:
    """The top-level help: the synopsis and every subcommand with its line."""
    width = max(len(name) for name in COMMANDS)
    lines = [f"usage: {prog} [-h] [--version] SUBCOMMAND [ARGS ...]", "",
             "lenet_xp's commands: LeNet-5 and friends with hand-written backward passes.", "",
             "subcommands:"]
    lines += [f"  {name:<{width}}  {line}" for name, line in COMMANDS.items()]
    lines += ["", "options:", "  -h, --help  show this help message and exit",
              "  --version   print the version and exit", "",
              f"`{prog} SUBCOMMAND --help` shows a subcommand's flags."]
    return "\n".join(lines)


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    """Run the subcommand that ``argv`` (default: the process's arguments) names; its exit
    code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(usage(prog))
        return 0
    if argv[:1] == ["--version"]:
        print(f"{PROG} {__version__}")
        return 0
    if not argv or argv[0] not in COMMANDS:
        problem = ("no subcommand given" if not argv else
                   f"unknown subcommand {argv[0]!r}")
        print(f"{usage(prog)}\n\n{prog}: error: {problem}: choose one of "
              f"{', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    command = importlib.import_module(f"lenet_xp.cli.commands.{argv[0]}")
    return command.main(argv[1:], prog=f"{prog} {argv[0]}")
