"""``python -m jafhost`` runs the CLI."""

import sys

from jafhost.cli import main

sys.exit(main())
