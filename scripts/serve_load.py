#!/usr/bin/env python3
"""Load-test the web app: start scripts/serve.py on the given runs or models, send it many
POST /api/predict requests from a loopback client, several at a time, and print how many
were answered right, wrong, failed or shed (503: the server too busy to take the upload on
now), the latency (p50, p95, max), the throughput and the server's memory.

    python scripts/serve_load.py runs/lenet5                      # 200 requests, 8 at a time
    python scripts/serve_load.py runs/lenet5 runs/deep_cnn --image my_seven.png
    python scripts/serve_load.py runs/lenet5 --requests 1000 --concurrency 16

Each request is what the Draw page sends (top=10, every layer of the first model); an answer
is right when every model's scores equal what lenet_xp.load_model(...).predict_files gives for
the same image. It exits 0 when some answer was right and none wrong or failed (shed answers
are the server's way of staying within its memory), 1 otherwise. Memory is the server
process's resident set (VmRSS) before the first request and after the last, and its peak
(VmHWM), from /proc (Linux). Timings depend on the machine and on what else runs on it: say
which when you quote them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lenet_xp.cli.argtypes import positive_int
from lenet_xp.data.images import ImageError
from lenet_xp.runs.checkpoint import CheckpointError
from lenet_xp.tools.bench.server_process import ServerDidNotStart, serving
from lenet_xp.tools.bench.web_load import drawn_seven, run_load, top_scores
from lenet_xp.web import ServeError, open_catalogue
from lenet_xp.web.served import NotReady


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", metavar="RUN_OR_MODEL", help="what scripts/serve.py serves")
    parser.add_argument("--image", help="the image every request sends (default: a drawn 7, "
                        "as the Draw page sends it)")
    parser.add_argument("--requests", type=positive_int, default=200, help="how many (default 200)")
    parser.add_argument("--concurrency", type=positive_int, default=8,
                        help="how many at a time (default 8)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        image = Path(args.image).read_bytes() if args.image else drawn_seven()
        # every served model's answer as the library computes it, the models opened as
        # serve.py opens them (a run folder's newest weights)
        expected = [served.use(lambda model: top_scores(model, image))
                    for served in open_catalogue(args.paths).models.values()]
    except (OSError, ImageError, ServeError, CheckpointError, NotReady) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        with serving(args.paths) as server:
            result = run_load(server.port, server.pid, image, expected, args.requests,
                              args.concurrency)
    except ServerDidNotStart as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"served: {', '.join(args.paths)}; image: {args.image or 'a drawn 7 (280x280 PNG)'}")
    print("\n".join(result.lines()))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
