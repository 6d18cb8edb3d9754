"""faults layer."""
