"""``python -m scratch_lstm`` runs the ``scratch-lstm`` command line."""

import sys

from .cli import main

sys.exit(main())
