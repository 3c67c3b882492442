"""Hand-written helpers on top of the generated client. The generator never writes here."""

from .merchants import authorised_merchants

__all__ = ["authorised_merchants"]
