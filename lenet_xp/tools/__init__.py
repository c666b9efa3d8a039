"""What uses trained models and finished runs: the figures of models, data and evaluations
(:mod:`~lenet_xp.tools.plots`, :mod:`~lenet_xp.tools.evaluation_figures`), ONNX export
(:mod:`~lenet_xp.tools.export`), sweeps of many runs (:mod:`~lenet_xp.tools.sweep`) and the
benchmark, the web app's load test included (:mod:`lenet_xp.tools.bench`). Trained models
themselves and their evaluation are a tier below: :mod:`lenet_xp.inference`."""
