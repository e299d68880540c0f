"""``python -m nets ...`` runs the ``minidl`` command line from a checkout."""
import sys

from .cli import main

sys.exit(main())
