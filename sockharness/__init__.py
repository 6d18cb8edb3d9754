"""sockharness: real loopback socket peers, YAML scenarios and fault injection for testing network code."""

__version__ = "0.1.0"
