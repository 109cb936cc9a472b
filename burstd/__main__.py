"""``python -m burstd``: the same as the ``burstd`` command."""

import sys

from burstd.cli import main

sys.exit(main())
