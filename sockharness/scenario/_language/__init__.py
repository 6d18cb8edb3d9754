"""Internal: sockharness.scenario._language."""
