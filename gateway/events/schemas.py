from marshmallow import fields

from gateway.http.schemas import StrictSchema, UTCDateTimeField


class EventSchema(StrictSchema):
    spec_component = "Event"

    id = fields.String(dump_only=True)
    type = fields.String(dump_only=True)
    created_at = UTCDateTimeField(dump_only=True)
    app_id = fields.String(dump_only=True)
    merchant_id = fields.String(dump_only=True, allow_none=True)
    data = fields.Dict(dump_only=True)
