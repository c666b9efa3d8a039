"""The subcommands of ``lenet-xp`` (and ``python -m lenet_xp``), one module each, each with
``build_parser(prog)`` (its flags) and ``main(argv, prog) -> int`` (its exit code). The scripts
``scripts/<name>.py`` call the same ``main``. :data:`COMMANDS` names them with one line each,
so that the top-level help lists them without importing any (``bench`` must set the BLAS
threads before numpy loads)."""

from __future__ import annotations

#: subcommand -> what it does, in one line (the module is lenet_xp.cli.commands.<subcommand>)
COMMANDS = {
    "train": "train a model on MNIST, or continue a run that was stopped",
    "evaluate": "evaluate a trained model, or a committee of several, on the test set",
    "predict": "classify your own digit images with a trained model",
    "plot": "plot the learning curves of training runs",
    "serve": "open trained models and runs in a browser (the web app)",
    "export": "export a trained model to ONNX",
    "sweep": "run a grid of training runs and tabulate their errors",
    "bench": "benchmark training and inference speed (synthetic data)",
    "distortions": "show the distorted digits a model's recipe trains on",
}
