"""What uses trained models and finished runs: a trained model that classifies digits
(:mod:`~lenet_xp.tools.inference`, ``lenet_xp.load_model``), its evaluation
(:mod:`~lenet_xp.tools.evaluation`), the figures of models and data
(:mod:`~lenet_xp.tools.plots`), its ONNX graph (:mod:`~lenet_xp.tools.export`), sweeps of many
runs (:mod:`~lenet_xp.tools.sweep`) and the benchmark, the web app's load test included
(:mod:`lenet_xp.tools.bench`)."""
