"""``python -m hyperst``: the ``hyperst`` command line."""

import sys

from hyperst.cli import main

sys.exit(main())
