"""``python -m hybrid`` is the ``hybrid`` command."""

import sys

from hybrid.cli import main

sys.exit(main())
