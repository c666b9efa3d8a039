"""What uses trained models and finished runs: a trained model that classifies digits
(:mod:`~lenet_xp.tools.inference`, ``lenet_xp.load_model``), its evaluation
(:mod:`~lenet_xp.tools.evaluation`), the figures of models and data
(:mod:`~lenet_xp.tools.plots`), sweeps of many runs (:mod:`~lenet_xp.tools.sweep`) and the
benchmark (:mod:`lenet_xp.tools.bench`)."""
