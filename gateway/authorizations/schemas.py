from marshmallow import fields

from gateway.http.schemas import StrictSchema, UTCDateTimeField


class AuthorizationSchema(StrictSchema):
    spec_component = "Authorization"

    id = fields.String(dump_only=True)
    app_id = fields.String(dump_only=True)
    subject_type = fields.String(dump_only=True)
    subject_id = fields.String(dump_only=True)
    scopes = fields.List(fields.String(), dump_only=True)
    status = fields.String(dump_only=True)
    created_at = UTCDateTimeField(dump_only=True)
    updated_at = UTCDateTimeField(dump_only=True)
    revoked_at = UTCDateTimeField(dump_only=True, allow_none=True)
