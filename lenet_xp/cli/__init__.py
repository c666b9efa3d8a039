"""What the command-line scripts share: argparse value types (:mod:`~lenet_xp.cli.argtypes`),
flags made from declared settings (:mod:`~lenet_xp.cli.flags`), launching a script on MPI
ranks (:mod:`~lenet_xp.cli.mpi_launch`, :mod:`~lenet_xp.cli.rank_watch`; how many:
:mod:`lenet_xp.training.placement`), how a run stops (:mod:`~lenet_xp.cli.signals`) and
loading the models it was given (:mod:`~lenet_xp.cli.loading`). The commands
(:mod:`~lenet_xp.cli.commands`: ``lenet-xp train`` and the others, through
:mod:`~lenet_xp.cli.main`; ``scripts/train.py`` and the others wrap them) parse their flags
with these and call the library."""
