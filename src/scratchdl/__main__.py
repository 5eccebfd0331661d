"""`python -m scratchdl` runs the command line."""

import sys

from scratchdl.app.cli import main

sys.exit(main())
