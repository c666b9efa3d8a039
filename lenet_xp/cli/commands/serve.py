"""Open trained models and runs in a browser: draw or upload a digit and see what every layer
makes of it, compare the models' scores, follow runs as they train, explore the mistakes.

    python scripts/serve.py runs/lenet5                                   # then open the address
    python scripts/serve.py runs/lenet5 runs/lenet5_paper --data-dir ../shared/data/mnist
    python scripts/serve.py runs/lenet5/model.npz other/model.npz --port 8001

Each argument is a run folder (its curves, and its model: the newer of model.npz and
checkpoint.npz, reloaded as the run writes new ones) or a model file. A run folder that does
not exist yet (serve.py started together with train.py) is waited for. Three pages: Draw, Runs, Evaluate (the test set of --data-dir, computed once per model
when first opened). The server answers on 127.0.0.1 only, unless --host says otherwise.
"""

from __future__ import annotations

import argparse
import sys

from lenet_xp.backend import DEVICE_STRINGS, DeviceError
from lenet_xp.cli.argtypes import port, positive_int
from lenet_xp.cli.signals import stopping_on_signals
from lenet_xp.data import DataError
from lenet_xp.web import ServeError, TestSet, WebServer, open_catalogue, serve
from lenet_xp.web.security import MAX_PIXELS


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command's flags; ``prog`` names it in the usage line (default: the script's name)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", metavar="RUN_OR_MODEL",
                        help="run folders written by scripts/train.py, or model.npz files")
    parser.add_argument("--data-dir", help="folder with the MNIST IDX files, for the Evaluate page "
                        "(without it the page says how to give one)")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip the MNIST checksums (other datasets in MNIST's layout)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only; "
                        "0.0.0.0 opens the server to your network)")
    parser.add_argument("--port", type=port, default=8000, help="port (default 8000; 0: any free port)")
    parser.add_argument("--device", default="cpu", help=f"{DEVICE_STRINGS} (README: Backends)")
    parser.add_argument("--max-pixels", type=positive_int, default=MAX_PIXELS,
                        help=f"the most pixels an uploaded image may have, checked before it is "
                             f"decoded (default {MAX_PIXELS:,}: 2048x2048)")
    return parser


def main(argv=None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        catalogue = open_catalogue(args.paths, device=args.device)
        test_set = TestSet(args.data_dir, verify=not args.no_verify)
        if test_set.available:
            test_set.arrays()  # a wrong --data-dir is said now, not on the Evaluate page
    except DeviceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ServeError, DataError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C while the models load
        print("stopped", file=sys.stderr)
        return 130
    try:
        server = WebServer(catalogue, test_set, host=args.host, port=args.port,
                           max_pixels=args.max_pixels)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port} ({exc.strerror or exc}): "
              "choose another --port or --host", file=sys.stderr)
        return 1
    for folder in catalogue.waiting():
        print(f"waiting for {folder}: it does not exist yet; its run shows once scripts/train.py "
              "makes it", file=sys.stderr)
    with stopping_on_signals():  # `kill` stops the server as Ctrl-C does: socket closed, one line
        serve(server, log=lambda line: print(line, flush=True))
    return 0

