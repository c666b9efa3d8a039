"""A local web app over trained models and runs: draw or upload a digit and see what every
layer makes of it, compare models, follow runs as they train, explore a model's mistakes.

    python scripts/serve.py runs/lenet5 runs/deep_cnn --data-dir ../shared/data/mnist

==============  ==================================================================
served          what is served, by name: models (reloaded as a run writes new
                weights) and runs
testset         the test digits of the Evaluate page, loaded on first use
explain         what each layer does (a sentence, its formula) and its parameters
views           the JSON answers: digits, scores, layers, curves, evaluations
api             the endpoints under /api/
security        hosts answered, body and image limits
handler         one HTTP request: checks, static files, API, headers
static          the fixed table of the pages' files (static/, package data)
server          ThreadingHTTPServer with the app; serve() until Ctrl-C
latency         pen-up to answer in a browser, behind scripts/draw_latency.py
==============  ==================================================================
"""

from .served import Catalogue, ServeError, open_catalogue
from .server import WebServer, serve
from .testset import TestSet

__all__ = ["Catalogue", "ServeError", "TestSet", "WebServer", "open_catalogue", "serve"]
