"""The commands of torchrack-runs (``validate``, ``run``, ``eval``, ``runs``, ``lock``).

Each module is a ``torchrack.commands`` entry point with ``add_arguments(parser)`` and
``run(args)``; they parse arguments and print, and leave the work to :mod:`torchrack_runs`.
"""
