"""Schema building blocks shared by every capability."""

from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, pre_load, validate

from gateway.clock import isoformat
from gateway.jsontext import holds_nul


class UTCDateTimeField(fields.Field):
    """Dumps aware UTC datetimes as ISO-8601 with a Z suffix."""

    def _serialize(self, value, attr, obj, **kwargs):
        return isoformat(value)


class StrictSchema(Schema):
    """Unknown fields raise (marshmallow's default, stated): no mass assignment (OWASP API3)."""

    class Meta:
        unknown = "raise"

    @pre_load
    def _refuse_nul(self, data, **kwargs):
        """PostgreSQL text cannot hold NUL (it would be a 500): refused on every database alike."""
        # the walk below was a third of a batch item's load time (bench/poi_upsert.py --profile):
        # only after a quick look found a NUL escape in the data's JSON text
        if isinstance(data, dict) and holds_nul(data):
            bad = sorted(str(key) for key, value in data.items() if _has_nul(key) or _has_nul(value))
            if bad:
                raise ValidationError({key: ["Must not contain NUL characters."] for key in bad})
        return data


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class EmptySchema(StrictSchema):
    """A body that may be empty or ``{}``: any field is unknown, so nothing is silently ignored."""

    spec_component = "EmptyObject"


class FullMatch(validate.Regexp):
    """``Regexp`` that must match the whole string: ``re.match`` with ``$`` accepts a trailing
    newline, which the contract's pattern refuses."""

    def __call__(self, value):
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


def full_match(pattern: str, error: str) -> FullMatch:
    """A validator for the contract's ``pattern`` (ECMA-262 and Python read ASCII classes alike)."""
    return FullMatch(re.compile(pattern), error=error)
