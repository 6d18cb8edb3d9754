"""Internal: sockharness.faults._backends."""
