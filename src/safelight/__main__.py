"""`python -m safelight` is the `safelight` command."""

import sys

from safelight.cli import main

sys.exit(main())
