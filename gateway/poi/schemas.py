"""What partners send and get back for POIs, products and review submissions.

Field types are strict (a number is not a string, ``1`` is not ``true``) so the server refuses
exactly what the contract refuses. Nested objects (a set meal's contents, usage rules, opening
hours) are checked against JSON Schemas kept here and published verbatim as spec components
(``tests/poi/test_api_schemas.py`` keeps the two equal); what one JSON Schema cannot say
(coordinates inside China, category attributes, the order of dates) is checked in
``gateway.poi.services``.
"""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate

from gateway.http.schemas import StrictSchema, UTCDateTimeField, full_match
from gateway.jsonschemas import SchemaValidator
from gateway.poi import categories
from gateway.poi.models import POI_STATUSES, PRODUCT_STATUSES, PRODUCT_TYPES, REVIEW_STATUSES

COORD_SYSTEMS = ("gcj02", "wgs84", "bd09")
REFUND_POLICIES = ("refundable_anytime", "auto_refund_on_expiry", "non_refundable")
MAX_FEN = 100_000_000  # one million yuan: above it is a typo (yuan sent as fen × 100), not a price
MAX_BATCH_ITEMS = 500
MAX_IMAGES = 20
MAX_POIS_PER_PRODUCT = 100

# ECMA-262 and Python read these patterns alike (ASCII classes only), so the contract and the
# server refuse the same strings.
EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
IMAGE_URL_PATTERN = r"^https://[!-~]+$"
PHONE_PATTERN = r"^[0-9+() -]*$"
TIME_OF_DAY_PATTERN = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
DATE_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


class StrictFloat(fields.Float):
    """A JSON number only: marshmallow's Float also takes ``"1.5"``. NaN and infinities refused."""

    def __init__(self, **kwargs):
        super().__init__(allow_nan=False, **kwargs)

    def _validated(self, value):
        if isinstance(value, (str, bytes, bool)):
            raise self.make_error("invalid")
        return super()._validated(value)


class StrictBoolean(fields.Boolean):
    """``true`` or ``false`` only: marshmallow's Boolean also takes ``"yes"`` and ``1``."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class JSONSchemaObject(fields.Dict):
    """A JSON object checked against a JSON Schema (the same one the contract publishes)."""

    def __init__(self, json_schema: dict, **kwargs):
        super().__init__(**kwargs)
        self.validator = SchemaValidator(json_schema)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        errors = {}
        for error in self.validator.iter_errors(value):
            where = ".".join(str(p) for p in error.absolute_path) or "_schema"
            errors.setdefault(where, []).append(error.message)
        if errors:
            raise ValidationError(errors)
        return value


def _object_list(json_schema: dict, max_items: int, **kwargs) -> fields.List:
    return fields.List(JSONSchemaObject(json_schema), validate=validate.Length(max=max_items), **kwargs)


# --- nested objects, published as components of the same names -----------------------------------

PRODUCT_CONTENT_ITEM = {
    "type": "object",
    "required": ["name", "quantity"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "quantity": {"type": "integer", "minimum": 1, "maximum": 999},
        "price": {"type": "integer", "minimum": 0, "maximum": MAX_FEN, "description": "Fen, per unit."},
    },
    "additionalProperties": False,
}

PRODUCT_USAGE_RULES = {
    "type": "object",
    "properties": {
        "notes": {"type": "string", "maxLength": 500},
        "max_per_order": {"type": "integer", "minimum": 1, "maximum": 99},
        "available_on_holidays": {"type": "boolean"},
        "appointment_hours_ahead": {"type": "integer", "minimum": 0, "maximum": 720},
    },
    "additionalProperties": False,
}

_TIME_RANGE = {
    "type": "object",
    "required": ["open", "close"],
    "properties": {
        "open": {"type": "string", "pattern": TIME_OF_DAY_PATTERN},
        "close": {"type": "string", "pattern": TIME_OF_DAY_PATTERN},
    },
    "additionalProperties": False,
}

OPENING_HOURS = {
    "type": "object",
    "properties": {
        "timezone": {"type": "string", "minLength": 1, "maxLength": 64},
        "weekly": {
            "type": "array",
            "maxItems": 28,
            "items": {
                "type": "object",
                "required": ["days", "open", "close"],
                "properties": {
                    "days": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 7,
                        "items": {"enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]},
                    },
                    "open": {"type": "string", "pattern": TIME_OF_DAY_PATTERN},
                    "close": {"type": "string", "pattern": TIME_OF_DAY_PATTERN},
                },
                "additionalProperties": False,
            },
        },
        "special_days": {
            "type": "array",
            "maxItems": 366,
            "items": {
                "type": "object",
                "required": ["date"],
                "properties": {
                    "date": {"type": "string", "pattern": DATE_PATTERN},
                    "closed": {"type": "boolean"},
                    "note": {"type": "string", "maxLength": 50},
                    "ranges": {"type": "array", "maxItems": 6, "items": _TIME_RANGE},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}

NESTED_COMPONENTS = {
    "ProductContentItem": PRODUCT_CONTENT_ITEM,
    "ProductUsageRules": PRODUCT_USAGE_RULES,
    "OpeningHours": OPENING_HOURS,
}


# --- POIs ----------------------------------------------------------------------------------------

def _external_id(**kwargs):
    return fields.String(validate=full_match(EXTERNAL_ID_PATTERN, "1 to 64 characters: letters, digits, . _ : -"),
                         **kwargs)


def _images(**kwargs):
    return fields.List(
        fields.String(validate=[validate.Length(max=500), full_match(IMAGE_URL_PATTERN, "Must be an https URL.")]),
        validate=validate.Length(max=MAX_IMAGES), **kwargs)


def _poi_fields() -> dict:
    """The fields a partner sends for a POI (all of them on create or upsert)."""
    return dict(
        name=fields.String(required=True, validate=validate.Length(min=1, max=100)),
        category=fields.String(required=True, validate=validate.OneOf(categories.CODES)),
        attributes=fields.Dict(load_default=dict),
        address=fields.String(required=True, validate=validate.Length(min=1, max=200)),
        province=fields.String(required=True, validate=validate.Length(min=1, max=32)),
        city=fields.String(required=True, validate=validate.Length(min=1, max=32)),
        district=fields.String(load_default="", validate=validate.Length(max=32)),
        lat=StrictFloat(required=True, validate=validate.Range(min=-90, max=90)),
        lng=StrictFloat(required=True, validate=validate.Range(min=-180, max=180)),
        coord_system=fields.String(load_default="gcj02", validate=validate.OneOf(COORD_SYSTEMS)),
        phone=fields.String(load_default="", validate=[validate.Length(max=32), full_match(PHONE_PATTERN, "Digits, spaces and + ( ) - only.")]),
        opening_hours=JSONSchemaObject(OPENING_HOURS, load_default=dict),
        images=_images(load_default=list),
        status=fields.String(load_default="open", validate=validate.OneOf(POI_STATUSES)),
        confirm_not_duplicate=StrictBoolean(load_default=False),
    )


# A batch item is a PoiCreate whose external_id is required (checked by the services): the
# contract's PoiBatchItem shares PoiCreate's properties.
PoiCreateSchema = type("PoiCreateSchema", (StrictSchema,), {
    "spec_component": "PoiCreate", **_poi_fields(), "external_id": _external_id()})

# The contract's PoiBatchItem as one JSON Schema, compiled once (jsonschema-rs) to say "valid" in a
# few microseconds where marshmallow's field-by-field load of an item took ~200 µs (bench/README.md,
# "POI: batch upsert"). Only the verdict is used: an item it refuses is loaded by PoiCreateSchema,
# whose errors are what the API reports. So it must accept nothing marshmallow refuses; it is as
# strict as the fields above, and equal to the contract's PoiBatchItem (tests/poi/test_batch_fast_path.py
# compares it with the contract, and its verdicts with marshmallow's).
POI_BATCH_ITEM = {
    "type": "object",
    "required": ["external_id", "name", "category", "address", "province", "city", "lat", "lng"],
    "properties": {
        "external_id": {"type": "string", "pattern": EXTERNAL_ID_PATTERN},
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "category": {"type": "string", "enum": list(categories.CODES)},
        "attributes": {"type": "object"},
        "address": {"type": "string", "minLength": 1, "maxLength": 200},
        "province": {"type": "string", "minLength": 1, "maxLength": 32},
        "city": {"type": "string", "minLength": 1, "maxLength": 32},
        "district": {"type": "string", "maxLength": 32},
        "lat": {"type": "number", "minimum": -90, "maximum": 90},
        "lng": {"type": "number", "minimum": -180, "maximum": 180},
        "coord_system": {"type": "string", "enum": list(COORD_SYSTEMS)},
        "phone": {"type": "string", "maxLength": 32, "pattern": PHONE_PATTERN},
        "opening_hours": OPENING_HOURS,
        "images": {"type": "array", "maxItems": MAX_IMAGES,
                   "items": {"type": "string", "maxLength": 500, "pattern": IMAGE_URL_PATTERN}},
        "status": {"type": "string", "enum": list(POI_STATUSES)},
        "confirm_not_duplicate": {"type": "boolean"},
    },
    "additionalProperties": False,
}

# ``PUT …/pois/external/{external_id}``: the whole POI; the external id is in the path
PoiUpsertSchema = type("PoiUpsertSchema", (StrictSchema,), {"spec_component": "PoiUpsert", **_poi_fields()})


class PoiUpdateSchema(StrictSchema):
    """PATCH: only the fields sent change. ``lat`` and ``lng`` come together."""

    spec_component = "PoiUpdate"

    name = fields.String(validate=validate.Length(min=1, max=100))
    category = fields.String(validate=validate.OneOf(categories.CODES))
    attributes = fields.Dict()
    address = fields.String(validate=validate.Length(min=1, max=200))
    province = fields.String(validate=validate.Length(min=1, max=32))
    city = fields.String(validate=validate.Length(min=1, max=32))
    district = fields.String(validate=validate.Length(max=32))
    lat = StrictFloat(validate=validate.Range(min=-90, max=90))
    lng = StrictFloat(validate=validate.Range(min=-180, max=180))
    coord_system = fields.String(validate=validate.OneOf(COORD_SYSTEMS))
    phone = fields.String(validate=[validate.Length(max=32), full_match(PHONE_PATTERN, "Digits, spaces and + ( ) - only.")])
    opening_hours = JSONSchemaObject(OPENING_HOURS)
    images = _images()
    status = fields.String(validate=validate.OneOf(POI_STATUSES))


class BatchSchema(StrictSchema):
    """The envelope of a batch: items are checked one by one (a bad item fails alone)."""

    spec_component = "PoiBatch"

    items = fields.List(fields.Dict(), required=True, validate=validate.Length(min=1, max=MAX_BATCH_ITEMS))


class ProductBatchSchema(BatchSchema):
    spec_component = "ProductBatch"


# --- products ------------------------------------------------------------------------------------

def _fen(**kwargs):
    return fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_FEN), **kwargs)


def _product_fields() -> dict:
    """The fields a partner sends for a product (all of them on create or upsert)."""
    return dict(
        type=fields.String(required=True, validate=validate.OneOf(PRODUCT_TYPES)),
        title=fields.String(required=True, validate=validate.Length(min=1, max=100)),
        contents=_object_list(PRODUCT_CONTENT_ITEM, 50, load_default=list),
        images=_images(load_default=list),
        usage_rules=JSONSchemaObject(PRODUCT_USAGE_RULES, load_default=dict),
        refund_policy=fields.String(load_default="refundable_anytime", validate=validate.OneOf(REFUND_POLICIES)),
        price=_fen(required=True),
        original_price=_fen(required=True),
        stock=fields.Integer(strict=True, load_default=0, validate=validate.Range(min=0, max=10_000_000)),
        sale_starts_at=fields.AwareDateTime(load_default=None, allow_none=True),
        sale_ends_at=fields.AwareDateTime(load_default=None, allow_none=True),
        valid_from=fields.AwareDateTime(load_default=None, allow_none=True),
        valid_until=fields.AwareDateTime(load_default=None, allow_none=True),
        booking_required=StrictBoolean(load_default=False),
        status=fields.String(load_default="on_sale", validate=validate.OneOf(PRODUCT_STATUSES)),
        poi_ids=fields.List(fields.String(validate=validate.Length(min=1, max=64)), validate=validate.Length(max=MAX_POIS_PER_PRODUCT)),
        poi_external_ids=fields.List(_external_id(), validate=validate.Length(max=MAX_POIS_PER_PRODUCT)),
    )


# as for POIs, a batch item is a ProductCreate whose external_id is required
ProductCreateSchema = type("ProductCreateSchema", (StrictSchema,), {
    "spec_component": "ProductCreate", **_product_fields(), "external_id": _external_id()})
ProductUpsertSchema = type("ProductUpsertSchema", (StrictSchema,), {
    "spec_component": "ProductUpsert", **_product_fields()})


class ProductUpdateSchema(StrictSchema):
    spec_component = "ProductUpdate"

    title = fields.String(validate=validate.Length(min=1, max=100))
    contents = _object_list(PRODUCT_CONTENT_ITEM, 50)
    images = _images()
    usage_rules = JSONSchemaObject(PRODUCT_USAGE_RULES)
    refund_policy = fields.String(validate=validate.OneOf(REFUND_POLICIES))
    price = _fen()
    original_price = _fen()
    stock = fields.Integer(strict=True, validate=validate.Range(min=0, max=10_000_000))
    sale_starts_at = fields.AwareDateTime(allow_none=True)
    sale_ends_at = fields.AwareDateTime(allow_none=True)
    valid_from = fields.AwareDateTime(allow_none=True)
    valid_until = fields.AwareDateTime(allow_none=True)
    booking_required = StrictBoolean()
    status = fields.String(validate=validate.OneOf(PRODUCT_STATUSES))
    poi_ids = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                          validate=validate.Length(max=MAX_POIS_PER_PRODUCT))
    poi_external_ids = fields.List(_external_id(), validate=validate.Length(max=MAX_POIS_PER_PRODUCT))


# --- review ---------------------------------------------------------------------------------------

class ReviewRejectionSchema(StrictSchema):
    spec_component = "ReviewRejection"

    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class ReviewSubmissionSchema(StrictSchema):
    spec_component = "ReviewSubmission"

    id = fields.String(dump_only=True)
    subject_type = fields.String(dump_only=True, validate=validate.OneOf(["poi", "product"]))
    subject_id = fields.String(dump_only=True)
    merchant_id = fields.String(dump_only=True)
    app_id = fields.String(dump_only=True, allow_none=True)
    changes = fields.Dict(dump_only=True)
    status = fields.String(dump_only=True, validate=validate.OneOf([*REVIEW_STATUSES, "superseded"]))
    reason = fields.String(dump_only=True, allow_none=True)
    created_at = UTCDateTimeField(dump_only=True)
    decided_at = UTCDateTimeField(dump_only=True, allow_none=True)


def field_errors(messages, prefix: str = "") -> list[dict]:
    """marshmallow's nested messages as a flat ``[{field, message}]`` list (dotted paths)."""
    out: list[dict] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = str(key) if key != "_schema" else ""
            out += field_errors(value, f"{prefix}.{name}" if prefix and name else (prefix or name))
    elif isinstance(messages, list):
        for value in messages:
            if isinstance(value, (dict, list)):
                out += field_errors(value, prefix)
            else:
                out.append({"field": prefix or "body", "message": str(value)})
    else:
        out.append({"field": prefix or "body", "message": str(messages)})
    return out
