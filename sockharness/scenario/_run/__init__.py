"""Internal: sockharness.scenario._run."""
