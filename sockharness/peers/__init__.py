"""peers layer."""
