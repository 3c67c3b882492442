"""What partners send to create an export job."""

from __future__ import annotations

from marshmallow import fields, validate

from gateway.exports.datasets import DATASETS
from gateway.exports.models import EXPORT_FORMATS
from gateway.http.schemas import StrictSchema

DAY = validate.Length(equal=10)


class ExportCreateSchema(StrictSchema):
    spec_component = "ExportCreate"

    dataset = fields.String(required=True, validate=validate.OneOf(sorted(DATASETS)))
    format = fields.String(load_default="csv", validate=validate.OneOf(EXPORT_FORMATS))
    gzip = fields.Boolean(load_default=False)
    date_from = fields.String(required=True, validate=DAY)
    date_to = fields.String(required=True, validate=DAY)
    poi_id = fields.String(validate=validate.Length(min=1, max=64))
    mount_id = fields.String(validate=validate.Length(min=1, max=64))
    product_id = fields.String(validate=validate.Length(min=1, max=64))
    source = fields.String(validate=validate.Length(min=1, max=32))
    status = fields.String(validate=validate.Length(min=1, max=32))
