"""regwas: what registration does to learned representations and their genetic associations."""

__version__ = "0.1.0"
