"""One module per benchmark section; each exposes ``NAME`` and ``run(ctx) -> list[Row]``."""
