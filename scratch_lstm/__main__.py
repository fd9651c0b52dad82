"""``python -m scratch_lstm`` runs the ``scratch-lstm`` command line."""

import sys

from .app.cli import main

sys.exit(main())
