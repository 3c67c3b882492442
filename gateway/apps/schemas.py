from marshmallow import fields, validate

from gateway.apps.models import APP_KINDS
from gateway.http.schemas import StrictSchema, UTCDateTimeField


class AppSchema(StrictSchema):
    """An app as its developer sees it. Secrets are never shown again after issuance."""

    spec_component = "App"
    spec_load_component = "AppCreate"  # what a POST may send: the fields that are not dump_only

    id = fields.String(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    description = fields.String(load_default="", validate=validate.Length(max=500))
    kind = fields.String(required=True, validate=validate.OneOf(APP_KINDS))
    client_type = fields.String(load_default="confidential", validate=validate.OneOf(["confidential", "public"]))
    redirect_uris = fields.List(fields.String(validate=validate.Length(min=1, max=2000)),
                                load_default=list, validate=validate.Length(max=10))
    scopes = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                         load_default=list, validate=validate.Length(max=50))
    status = fields.String(dump_only=True)
    created_at = UTCDateTimeField(dump_only=True)
    updated_at = UTCDateTimeField(dump_only=True)


class AppUpdateSchema(StrictSchema):
    spec_component = "AppUpdate"

    name = fields.String(validate=validate.Length(min=1, max=100))
    description = fields.String(validate=validate.Length(max=500))
    redirect_uris = fields.List(fields.String(validate=validate.Length(min=1, max=2000)),
                                validate=validate.Length(max=10))
    scopes = fields.List(fields.String(validate=validate.Length(min=1, max=64)), validate=validate.Length(max=50))
