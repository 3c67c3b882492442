"""Every model of the contract (``from shijing.models import App``), loaded lazily per module."""

from ._generated.models import __all__, __dir__, __getattr__  # noqa: F401
