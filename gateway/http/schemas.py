"""Schema building blocks shared by every capability."""

from __future__ import annotations

from marshmallow import Schema, fields

from gateway.clock import isoformat


class UTCDateTimeField(fields.Field):
    """Dumps aware UTC datetimes as ISO-8601 with a Z suffix."""

    def _serialize(self, value, attr, obj, **kwargs):
        return isoformat(value)


class StrictSchema(Schema):
    """Unknown fields raise (marshmallow's default, stated): no mass assignment (OWASP API3)."""

    class Meta:
        unknown = "raise"
