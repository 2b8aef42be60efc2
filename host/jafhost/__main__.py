"""``python -m jafhost`` runs the CLI."""

import sys

from jafhost.cli.entry import main

sys.exit(main())
