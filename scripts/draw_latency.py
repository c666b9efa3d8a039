#!/usr/bin/env python3
"""Time the Draw page from pen-up to answer, as a person meets it: start scripts/serve.py on
the given runs or models, draw digits on its pad in a headless Chromium (Selenium: pip
install -e ".[test]"; Debian's chromium and chromium-driver), and print the median, min and
max over the strokes, from the page's own clock (the pointerup event to the answer shown:
scores, the 28×28 digit and every layer of the first model). Issue 31's goal: a median of
150 ms or less on the 2-vCPU machine.

    python scripts/draw_latency.py runs/lenet5                       # 10 strokes
    python scripts/draw_latency.py runs/lenet5 runs/lenet5_paper --strokes 20

Timings depend on the machine and on what else runs on it: say which when you quote them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lenet_xp.cli.argtypes import positive_int
from lenet_xp.tools.bench.server_process import ServerDidNotStart, serving
from lenet_xp.web.latency import measure


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", metavar="RUN_OR_MODEL", help="what scripts/serve.py serves")
    parser.add_argument("--strokes", type=positive_int, default=10, help="how many digits (default 10)")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the browser")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver", help="its driver")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    for path in (args.chromium, args.chromedriver):
        if not Path(path).exists():
            print(f"error: {path} not found: apt-get install -y --no-install-recommends chromium "
                  "chromium-driver, or give --chromium and --chromedriver", file=sys.stderr)
            return 1
    try:
        import selenium  # noqa: F401
    except ImportError:
        print("error: selenium is not installed: pip install -e '.[test]'", file=sys.stderr)
        return 1
    try:
        with serving(args.paths) as server:
            result = measure(server.url, args.strokes, args.chromium, args.chromedriver)
    except ServerDidNotStart as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"served: {', '.join(args.paths)}")
    print("\n".join(result.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
