"""``python -m torchrack`` runs the torchrack command line."""

from torchrack.cli import main

raise SystemExit(main())
