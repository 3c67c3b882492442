"""Test transports: ``FlaskAdapter`` (in-process gateway), ``MockAdapter`` (canned answers)."""

from ._runtime.testing import FlaskAdapter, MockAdapter, build_response, json_response

__all__ = ["FlaskAdapter", "MockAdapter", "build_response", "json_response"]
