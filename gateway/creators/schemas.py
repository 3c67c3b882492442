from marshmallow import fields, validate

from gateway.http.schemas import StrictSchema


class VideoCreateSchema(StrictSchema):
    spec_component = "VideoCreate"

    title = fields.String(required=True, validate=validate.Length(min=1, max=100))


class LiveStreamCreateSchema(StrictSchema):
    spec_component = "LiveStreamCreate"

    title = fields.String(required=True, validate=validate.Length(min=1, max=100))
    scheduled_at = fields.AwareDateTime(format="iso", default_timezone=None, allow_none=True)
