"""Seeds: one range and two ways to get a seed, so every layer draws and derives them alike.

A run has one seed (``--sockharness-seed``); each test, scenario and engine derives its own from it and a
stable name, so a failure replays exactly from the seed it prints.
"""

from __future__ import annotations

import random
from typing import Final

#: Seeds are 32-bit so they are short to print and to pass back on the command line.
SEED_LIMIT: Final = 2**32


def fresh_seed() -> int:
    """A new seed from the OS's randomness, for a run that was given none."""
    return random.SystemRandom().randrange(SEED_LIMIT)


def derived_seed(*parts: object) -> int:
    """The seed for something named by ``parts`` under a run seed: ``derived_seed(run_seed, node_id)``."""
    return random.Random("/".join(str(part) for part in parts)).randrange(SEED_LIMIT)
