"""Internal: sockharness.faults._api."""
