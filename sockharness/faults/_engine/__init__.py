"""Internal: sockharness.faults._engine."""
