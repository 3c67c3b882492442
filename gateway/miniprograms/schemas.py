"""What developers send for a mini-program, and what the API shows of it."""

from __future__ import annotations

from marshmallow import fields, validate

from gateway.clock import isoformat
from gateway.http.schemas import StrictSchema, full_match
from gateway.miniprograms.models import CAPABILITIES, CATEGORIES, TARGET_TYPES
from gateway.poi.categories import CATEGORIES as POI_CATEGORIES
from gateway.poi.schemas import IMAGE_URL_PATTERN

# a page of the mini-program: "pages/menu/index"; no scheme, no leading slash, no ".."
ENTRY_PATH_PATTERN = r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$"
# key=value pairs, URL-encoded: what the card's page gets as its query
QUERY_PATTERN = r"^([A-Za-z0-9_.~%-]+=[A-Za-z0-9_.~%-]*(&[A-Za-z0-9_.~%-]+=[A-Za-z0-9_.~%-]*)*)?$"


def _fields(required: bool) -> dict:
    extra = {"required": True} if required else {}
    return {
        "name": fields.String(validate=validate.Length(min=1, max=40), **extra),
        "description": fields.String(validate=validate.Length(max=500), **({"load_default": ""} if required else {})),
        "icon_url": fields.String(validate=[validate.Length(max=500), full_match(IMAGE_URL_PATTERN,
                                                                              "Must be an https URL.")], **extra),
        "category": fields.String(validate=validate.OneOf(CATEGORIES), **extra),
        "service_categories": fields.List(fields.String(validate=validate.OneOf(sorted(POI_CATEGORIES))),
                                          validate=validate.Length(max=9),
                                          **({"load_default": list} if required else {})),
        "poi_ids": fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                               validate=validate.Length(max=100), **({"load_default": list} if required else {})),
        "entry_paths": fields.List(
            fields.String(validate=[validate.Length(min=1, max=200),
                                    full_match(ENTRY_PATH_PATTERN, "A page path like pages/index/index.")]),
            validate=validate.Length(min=1, max=20), **extra),
    }


MiniProgramCreateSchema = type("MiniProgramCreateSchema", (StrictSchema,),
                               {"spec_component": "MiniProgramCreate", **_fields(required=True)})
MiniProgramUpdateSchema = type("MiniProgramUpdateSchema", (StrictSchema,),
                               {"spec_component": "MiniProgramUpdate", **_fields(required=False)})


class LoginCodeExchangeSchema(StrictSchema):
    spec_component = "LoginCodeExchange"

    code = fields.String(required=True, validate=validate.Length(min=1, max=200))


def to_dict(miniprogram) -> dict:
    return {
        "id": miniprogram.id, "app_id": miniprogram.app_id, "name": miniprogram.name,
        "description": miniprogram.description, "icon_url": miniprogram.icon_url, "category": miniprogram.category,
        "service_categories": list(miniprogram.service_categories), "poi_ids": list(miniprogram.poi_ids),
        "entry_paths": list(miniprogram.entry_paths), "live": miniprogram.live,
        "review": {"status": miniprogram.review_status, "reason": miniprogram.review_reason,
                   "pending_changes": miniprogram.pending_changes, "reviewed_at": isoformat(miniprogram.reviewed_at)},
        "created_at": isoformat(miniprogram.created_at), "updated_at": isoformat(miniprogram.updated_at),
    }


class CapabilityApplicationCreateSchema(StrictSchema):
    spec_component = "CapabilityApplicationCreate"

    capability = fields.String(required=True, validate=validate.OneOf(CAPABILITIES))
    intro = fields.String(load_default="", validate=validate.Length(max=500))


class MountCreateSchema(StrictSchema):
    spec_component = "MountCreate"

    target_type = fields.String(required=True, validate=validate.OneOf(TARGET_TYPES))
    target_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    miniprogram_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    path = fields.String(required=True, validate=[validate.Length(min=1, max=200),
                                                  full_match(ENTRY_PATH_PATTERN, "A page path like pages/index/index.")])
    query = fields.String(load_default="", validate=[validate.Length(max=512),
                                                     full_match(QUERY_PATTERN, "A URL query string without '?'.")])
    title = fields.String(required=True, validate=validate.Length(min=1, max=30))
    poi_id = fields.String(validate=validate.Length(min=1, max=64))
    product_ids = fields.List(fields.String(validate=validate.Length(min=1, max=64)), load_default=list,
                              validate=validate.Length(max=10))
