"""What the command-line scripts share: argparse value types (:mod:`~lenet_xp.cli.argtypes`)
and launching a script on MPI ranks (:mod:`~lenet_xp.cli.mpi_launch`). The scripts in
``scripts/`` parse their flags with these and call the library."""
