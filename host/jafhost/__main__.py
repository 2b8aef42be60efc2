"""``python -m jafhost`` runs the CLI."""

import sys

from jafhost.entry import main

sys.exit(main())
