"""DANA: ask questions about your databases in plain language."""

__version__ = "0.1.0"
