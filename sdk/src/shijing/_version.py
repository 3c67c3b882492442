"""The SDK's version (hand-written; bumped on release)."""

__version__ = "0.1.0"
