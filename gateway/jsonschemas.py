"""JSON Schema validation with a compiled fast path.

Most payloads are valid, and for a valid one only the verdict matters: ``jsonschema-rs`` (compiled)
gives it in microseconds, where the pure-Python ``jsonschema`` walk took about a millisecond per
POI's opening hours (bench/poi_upsert.py --profile). Only a payload the fast check refuses goes
through ``jsonschema`` itself, whose errors (path, keyword, message) are what the API reports.
Both implement draft 2020-12; the schemas use only core keywords (no ``format``).
"""

from __future__ import annotations

from collections.abc import Iterator

import jsonschema_rs
from jsonschema import Draft202012Validator, ValidationError


class SchemaValidator:
    def __init__(self, schema: dict) -> None:
        self._fast = jsonschema_rs.Draft202012Validator(schema)
        self._detailed = Draft202012Validator(schema)

    def iter_errors(self, instance) -> Iterator[ValidationError]:
        if self._fast.is_valid(instance):
            return iter(())
        return self._detailed.iter_errors(instance)
