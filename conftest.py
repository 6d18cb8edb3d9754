"""Root conftest: the plugin itself arrives through its pytest11 entry point (an installed package),
so this file only holds settings for the project's own suite."""
