"""``python -m sockharness`` is the same as the ``sockharness`` command."""

import sys

from sockharness.cli import main

sys.exit(main())
