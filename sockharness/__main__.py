"""``python -m sockharness`` is the same as the ``sockharness`` command."""

import sys

from sockharness._cli import main

sys.exit(main())
