"""What users and partners send for orders, payments, verifications, refunds and bookings."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from gateway.http.schemas import StrictSchema, full_match
from gateway.poi.schemas import JSONSchemaObject

CODE_PATTERN = r"^[0-9]{16}$"
MAX_SLOT_CAPACITY = 10000
SOURCE_TYPES = ("poi_page", "service_account", "search")


# nested objects, published as components of the same names (checked as JSON Schema)
ORDER_ITEM_CREATE = {
    "type": "object",
    "required": ["product_id", "quantity"],
    "properties": {
        "product_id": {"type": "string", "minLength": 1, "maxLength": 64},
        "quantity": {"type": "integer", "minimum": 1, "maximum": 99},
    },
    "additionalProperties": False,
}
ORDER_SOURCE_CREATE = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"type": "string", "enum": list(SOURCE_TYPES)},
        "id": {"type": "string", "minLength": 1, "maxLength": 64},
    },
    "additionalProperties": False,
}
NESTED_COMPONENTS = {"OrderItemCreate": ORDER_ITEM_CREATE, "OrderSourceCreate": ORDER_SOURCE_CREATE}


class OrderCreateSchema(StrictSchema):
    spec_component = "OrderCreate"

    poi_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    items = fields.List(JSONSchemaObject(ORDER_ITEM_CREATE), required=True, validate=validate.Length(min=1, max=20))
    channel = fields.String(load_default="poi_page", validate=validate.OneOf(("poi_page", "mini_program")))
    miniprogram_id = fields.String(validate=validate.Length(min=1, max=64))
    click_id = fields.String(validate=validate.Length(min=1, max=64))
    source = JSONSchemaObject(ORDER_SOURCE_CREATE)

    @validates_schema
    def _consistent(self, data, **kwargs):
        if (data.get("channel") == "mini_program") != ("miniprogram_id" in data):
            raise ValidationError("miniprogram_id is required with channel mini_program, and only then.",
                                  field_name="miniprogram_id")
        if "click_id" in data and "source" in data:
            raise ValidationError("Send click_id (a mounted card's tap) or source, not both.", field_name="source")
        products = [item["product_id"] for item in data.get("items", [])]
        if len(set(products)) != len(products):
            raise ValidationError("Each product may appear once; use quantity.", field_name="items")


class SimulatedPaymentSchema(StrictSchema):
    spec_component = "SimulatedPaymentOutcome"

    outcome = fields.String(load_default="succeeded", validate=validate.OneOf(("succeeded", "failed")))


class PaymentCallbackSchema(StrictSchema):
    spec_component = "PaymentCallback"

    payment_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    status = fields.String(required=True, validate=validate.OneOf(("succeeded", "failed")))
    amount = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    provider_transaction_id = fields.String(required=True, validate=validate.Length(min=1, max=64))


def _codes():
    return fields.List(fields.String(validate=full_match(CODE_PATTERN, "16 digits.")),
                       validate=validate.Length(min=1, max=20))


class VerificationCreateSchema(StrictSchema):
    spec_component = "VerificationCreate"

    poi_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    codes = _codes()
    qr_payloads = fields.List(fields.String(validate=validate.Length(min=1, max=200)),
                              validate=validate.Length(min=1, max=20))

    @validates_schema
    def _one_kind(self, data, **kwargs):
        if ("codes" in data) == ("qr_payloads" in data):
            raise ValidationError("Send codes or qr_payloads (one of them).", field_name="codes")


class RefundCreateSchema(StrictSchema):
    spec_component = "RefundCreate"

    certificate_ids = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                                  validate=validate.Length(min=1, max=99))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))


class RefundRejectionSchema(StrictSchema):
    spec_component = "RefundRejection"

    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))


class BookingSlotCreateSchema(StrictSchema):
    spec_component = "BookingSlotCreate"

    product_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    starts_at = fields.AwareDateTime(required=True, format="iso")
    ends_at = fields.AwareDateTime(required=True, format="iso")
    capacity = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_SLOT_CAPACITY))

    @validates_schema
    def _window(self, data, **kwargs):
        if "starts_at" in data and "ends_at" in data:
            length = (data["ends_at"] - data["starts_at"]).total_seconds()
            if not 0 < length <= 86400:
                raise ValidationError("ends_at must be after starts_at, and a slot at most 24 hours long.",
                                      field_name="ends_at")


class BookingSlotUpdateSchema(StrictSchema):
    spec_component = "BookingSlotUpdate"

    capacity = fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_SLOT_CAPACITY))
    status = fields.String(validate=validate.OneOf(("open", "closed")))


class BookingCreateSchema(StrictSchema):
    spec_component = "BookingCreate"

    slot_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
