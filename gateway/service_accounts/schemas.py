"""What developers and users send for a service account (responses are built in services)."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates

from gateway.http.schemas import StrictSchema, full_match
from gateway.poi.schemas import IMAGE_URL_PATTERN
from gateway.service_accounts.models import FIELD_TYPES, SOURCES

FIELD_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,19}$"


class ServiceAccountPutSchema(StrictSchema):
    spec_component = "ServiceAccountPut"

    name = fields.String(required=True, validate=validate.Length(min=1, max=40))
    avatar_url = fields.String(required=True, validate=[validate.Length(max=500),
                                                        full_match(IMAGE_URL_PATTERN, "Must be an https URL.")])
    description = fields.String(load_default="", validate=validate.Length(max=500))
    poi_ids = fields.List(fields.String(validate=validate.Length(min=1, max=64)), load_default=list,
                          validate=validate.Length(max=100))


class FollowSchema(StrictSchema):
    spec_component = "FollowCreate"

    source = fields.String(load_default="other", validate=validate.OneOf(SOURCES))
    source_id = fields.String(validate=validate.Length(min=1, max=32))


class InboundMessageSchema(StrictSchema):
    spec_component = "InboundMessageCreate"

    text = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class TagSchema(StrictSchema):
    spec_component = "TagCreate"

    name = fields.String(required=True, validate=validate.Length(min=1, max=30))


class TagUpdateSchema(StrictSchema):
    spec_component = "TagUpdate"

    name = fields.String(required=True, validate=validate.Length(min=1, max=30))


class TagMembersBatchSchema(StrictSchema):
    spec_component = "TagMembersBatch"

    add = fields.List(fields.String(validate=validate.Length(min=1, max=64)), load_default=list,
                      validate=validate.Length(max=1000))
    remove = fields.List(fields.String(validate=validate.Length(min=1, max=64)), load_default=list,
                         validate=validate.Length(max=1000))


class SegmentCreateSchema(StrictSchema):
    spec_component = "SegmentCreate"

    name = fields.String(required=True, validate=validate.Length(min=1, max=40))
    tag_ids = fields.List(fields.String(validate=validate.Length(min=1, max=64)), required=True,
                          validate=validate.Length(min=1, max=5))
    followed_after = fields.AwareDateTime(format="iso", default_timezone=None, allow_none=True)
    followed_before = fields.AwareDateTime(format="iso", default_timezone=None, allow_none=True)


class TemplateFieldSchema(StrictSchema):
    spec_component = "TemplateField"

    key = fields.String(required=True, validate=[validate.Length(min=1, max=20),
                                                 full_match(FIELD_KEY_PATTERN, "A key like voucher_name.")])
    type = fields.String(required=True, validate=validate.OneOf(FIELD_TYPES))
    label = fields.String(required=True, validate=validate.Length(min=1, max=20))


_field_schema = TemplateFieldSchema()


class TemplateCreateSchema(StrictSchema):
    spec_component = "TemplateCreate"

    title = fields.String(required=True, validate=validate.Length(min=1, max=40))
    fields = fields.List(fields.Dict(), required=True, validate=validate.Length(min=1, max=10))

    @validates("fields")
    def _each_field(self, value, **kwargs):
        errors = {}
        for index, item in enumerate(value):
            try:
                value[index] = _field_schema.load(item)
            except ValidationError as error:
                errors[index] = error.messages
        if errors:
            raise ValidationError(errors)


class MessageCreateSchema(StrictSchema):
    spec_component = "MessageCreate"

    open_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    type = fields.String(required=True, validate=validate.OneOf(("text", "template")))
    text = fields.String(validate=validate.Length(min=1, max=1000))
    template_id = fields.String(validate=validate.Length(min=1, max=64))
    data = fields.Dict()


class SendCreateSchema(StrictSchema):
    spec_component = "SendCreate"

    template_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    data = fields.Dict(required=True)
    tag_id = fields.String(validate=validate.Length(min=1, max=64))
    segment_id = fields.String(validate=validate.Length(min=1, max=64))


def check_message_shape(data: dict) -> dict:
    """text for a text message; template_id and data for a template message; nothing else."""
    wanted = {"text": {"text"}, "template": {"template_id", "data"}}[data["type"]]
    given = {k for k in ("text", "template_id", "data") if k in data}
    errors = {k: ["Missing for this type."] for k in wanted - given}
    errors.update({k: [f"Not allowed for type {data['type']}."] for k in given - wanted})
    if errors:
        raise ValidationError(errors)
    return data
