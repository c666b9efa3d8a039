"""A training run's files, read and written: checkpoints (:mod:`~lenet_xp.runs.checkpoint`),
the run folder (:mod:`~lenet_xp.runs.folder`), its ``metrics.jsonl``
(:mod:`~lenet_xp.runs.metrics`) and its learning curves (:mod:`~lenet_xp.runs.curves`).

Above the model zoo and below training: the training loop writes these files, the tools read
them, and nothing here knows how a run trains."""
