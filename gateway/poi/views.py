"""The POI HTTP API: partner writes under a merchant, operator review, public reads.

Handlers parse the request and call ``gateway.poi.services`` / ``review`` / ``search`` / ``page``;
the rules live there.
"""

from __future__ import annotations

import math
import re

from flask import Blueprint, g, request
from sqlalchemy import select

from gateway.clock import utcnow
from gateway.db import reader, session
from gateway.errors import NotFound, Problem
from gateway.http.auth import require_scope
from gateway.http.filters import text_arg
from gateway.http.idempotency import idempotent
from gateway.http.pagination import encode_cursor, page_params, paginate
from gateway.http.requests import json_body
from gateway.http.schemas import EmptySchema
from gateway.poi import categories, geo, review, search, services
from gateway.poi import schemas as s
from gateway.poi.models import POI_STATUSES, PRODUCT_STATUSES, PRODUCT_TYPES, REVIEW_STATUSES, Poi, Product

partner_bp = Blueprint("poi_partner", __name__, url_prefix="/v1/merchants/<merchant_id>")
review_bp = Blueprint("poi_review", __name__, url_prefix="/v1/review")
public_bp = Blueprint("poi_public", __name__, url_prefix="/v1")

submission_schema = s.ReviewSubmissionSchema()
rejection_schema = s.ReviewRejectionSchema()
empty_schema = EmptySchema()
batch_schemas = {"poi": s.BatchSchema(), "product": s.ProductBatchSchema()}

_EXTERNAL_ID = re.compile(s.EXTERNAL_ID_PATTERN)
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_INTEGER = re.compile(r"\d+")


def _caller(merchant_id: str) -> services.Caller:
    return services.Caller(app_id=g.token.app_id, merchant_id=merchant_id)


def _external_id(value: str) -> str:
    if not _EXTERNAL_ID.fullmatch(value):
        raise Problem("external_id must be 1 to 64 characters: letters, digits, . _ : -", code="INVALID_EXTERNAL_ID")
    return value


# --- query parameters ---------------------------------------------------------------------------
# Each helper takes the view's ``request.args``, read once: every ``request.args`` goes through the
# request proxy and the cached property again (the nearby view reads seven parameters).


def _first(args, name: str) -> str | None:
    # args.get() raises and catches a KeyError inside for an absent name; most of the nearby
    # view's parameters usually are absent, and the membership test is a plain dict lookup
    return args[name] if name in args else None


def _choice_arg(args, name: str, choices) -> str | None:
    value = _first(args, name)
    if value is not None and value not in choices:
        raise Problem(f"{name} must be one of: {', '.join(choices)}.", code="INVALID_FILTER")
    return value


def _number_arg(args, name: str, low: float, high: float, default=None, *, integer: bool = False):
    raw = _first(args, name)
    if raw is None:
        if default is None:
            raise Problem(f"{name} is required.", code="INVALID_PARAMETER")
        return default
    pattern = _INTEGER if integer else _NUMBER
    value = None
    if raw.isascii() and pattern.fullmatch(raw):
        value = int(raw) if integer else float(raw)
    if value is None or not math.isfinite(value) or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        raise Problem(f"{name} must be {kind} from {low:g} to {high:g}.", code="INVALID_PARAMETER")
    return value


def _bool_arg(args, name: str) -> bool:
    raw = _first(args, name)
    if raw is None:
        return False
    if raw not in ("true", "false"):
        raise Problem(f"{name} must be true or false.", code="INVALID_PARAMETER")
    return raw == "true"


def _page(statement, id_column, dump_page) -> dict:
    limit, after = page_params()
    if after is not None:
        statement = statement.where(id_column > after)
    rows = session().scalars(statement.order_by(id_column).limit(limit + 1)).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    return {"data": dump_page(rows), "has_more": has_more,
            "next_cursor": encode_cursor(rows[-1].id) if has_more else None}


# --- POIs (partner) -----------------------------------------------------------------------------


@partner_bp.get("/pois")
@require_scope("poi.read", merchant_param="merchant_id")
def list_pois(merchant_id):
    """List the merchant's POIs."""
    statement = select(Poi).where(Poi.merchant_id == merchant_id)
    for name, column, value in (
        ("city", Poi.city, text_arg("city", 32)),
        ("category", Poi.category, _choice_arg(request.args, "category", categories.CODES)),
        ("status", Poi.status, _choice_arg(request.args, "status", POI_STATUSES)),
        ("review_status", Poi.review_status, _choice_arg(request.args, "review_status", REVIEW_STATUSES)),
    ):
        if value is not None:
            statement = statement.where(column == value)
    external_id = request.args.get("external_id")
    if external_id is not None:
        statement = statement.where(Poi.source_app_id == g.token.app_id, Poi.external_id == _external_id(external_id))
    q = text_arg("q", 100)
    if q is not None:
        statement = statement.where(Poi.name.contains(q, autoescape=True))
    return _page(statement, Poi.id, lambda rows: services.poi_views(session(), rows))


@partner_bp.post("/pois")
@require_scope("poi.write", merchant_param="merchant_id")
@idempotent
def create_poi(merchant_id):
    """Create a POI (it waits for review)."""
    poi, _ = services.create_poi(session(), _caller(merchant_id), json_body())
    body = services.poi_views(session(), [poi])[0]
    return body, 201, {"Location": f"/v1/merchants/{merchant_id}/pois/{poi.id}"}


@partner_bp.get("/pois/<poi_id>")
@require_scope("poi.read", merchant_param="merchant_id")
def get_poi(merchant_id, poi_id):
    """Get one of the merchant's POIs."""
    return services.poi_views(session(), [services.get_poi(session(), merchant_id, poi_id)])[0]


@partner_bp.patch("/pois/<poi_id>")
@require_scope("poi.write", merchant_param="merchant_id")
def update_poi(merchant_id, poi_id):
    """Update a POI (reviewed fields wait for review; the approved version stays live)."""
    poi = services.get_poi(session(), merchant_id, poi_id)
    poi = services.update_poi(session(), _caller(merchant_id), poi, json_body())
    return services.poi_views(session(), [poi])[0]


@partner_bp.put("/pois/external/<external_id>")
@require_scope("poi.write", merchant_param="merchant_id")
def upsert_poi(merchant_id, external_id):
    """Create or replace a POI by the partner's external id."""
    poi, result = services.upsert_poi(session(), _caller(merchant_id), _external_id(external_id), json_body())
    return services.poi_views(session(), [poi])[0], 201 if result == "created" else 200


@partner_bp.post("/pois/batch")
@require_scope("poi.write", merchant_param="merchant_id")
@idempotent
def batch_upsert_pois(merchant_id):
    """Create or update up to 500 POIs by external id, with a result per item."""
    items = batch_schemas["poi"].load(json_body())["items"]
    return services.batch_upsert_pois(session(), _caller(merchant_id), items)


# --- products (partner) -------------------------------------------------------------------------


@partner_bp.get("/products")
@require_scope("poi.read", merchant_param="merchant_id")
def list_products(merchant_id):
    """List the merchant's products."""
    statement = select(Product).where(Product.merchant_id == merchant_id)
    for column, value in (
        (Product.type, _choice_arg(request.args, "type", PRODUCT_TYPES)),
        (Product.status, _choice_arg(request.args, "status", PRODUCT_STATUSES)),
        (Product.review_status, _choice_arg(request.args, "review_status", REVIEW_STATUSES)),
    ):
        if value is not None:
            statement = statement.where(column == value)
    external_id = request.args.get("external_id")
    if external_id is not None:
        statement = statement.where(Product.source_app_id == g.token.app_id,
                                    Product.external_id == _external_id(external_id))
    poi_id = text_arg("poi_id", 64)
    if poi_id is not None:
        from gateway.poi.models import ProductPoi

        statement = statement.where(Product.id.in_(select(ProductPoi.product_id).where(ProductPoi.poi_id == poi_id)))
    q = text_arg("q", 100)
    if q is not None:
        statement = statement.where(Product.title.contains(q, autoescape=True))
    return _page(statement, Product.id, lambda rows: services.product_views(session(), rows))


@partner_bp.post("/products")
@require_scope("poi.write", merchant_param="merchant_id")
@idempotent
def create_product(merchant_id):
    """Create a product (it waits for review)."""
    product, _ = services.create_product(session(), _caller(merchant_id), json_body())
    body = services.product_views(session(), [product])[0]
    return body, 201, {"Location": f"/v1/merchants/{merchant_id}/products/{product.id}"}


@partner_bp.get("/products/<product_id>")
@require_scope("poi.read", merchant_param="merchant_id")
def get_product(merchant_id, product_id):
    """Get one of the merchant's products."""
    return services.product_views(session(), [services.get_product(session(), merchant_id, product_id)])[0]


@partner_bp.patch("/products/<product_id>")
@require_scope("poi.write", merchant_param="merchant_id")
def update_product(merchant_id, product_id):
    """Update a product (reviewed fields wait for review; the approved version stays live)."""
    product = services.get_product(session(), merchant_id, product_id)
    product = services.update_product(session(), _caller(merchant_id), product, json_body())
    return services.product_views(session(), [product])[0]


@partner_bp.put("/products/external/<external_id>")
@require_scope("poi.write", merchant_param="merchant_id")
def upsert_product(merchant_id, external_id):
    """Create or replace a product by the partner's external id."""
    product, result = services.upsert_product(session(), _caller(merchant_id), _external_id(external_id), json_body())
    return services.product_views(session(), [product])[0], 201 if result == "created" else 200


@partner_bp.post("/products/batch")
@require_scope("poi.write", merchant_param="merchant_id")
@idempotent
def batch_upsert_products(merchant_id):
    """Create or update up to 500 products by external id, with a result per item."""
    items = batch_schemas["product"].load(json_body())["items"]
    return services.batch_upsert_products(session(), _caller(merchant_id), items)


# --- review (operators) -------------------------------------------------------------------------


@review_bp.get("/submissions")
@require_scope("platform.review")
def list_review_submissions():
    """List review submissions, oldest first."""
    review.require_operator(session(), g.token)
    statement = review.list_statement(request.args.get("status"), request.args.get("subject_type"),
                                      request.args.get("merchant_id"))
    from gateway.poi.models import ReviewSubmission

    return paginate(session(), statement, ReviewSubmission.id, submission_schema.dump)


@review_bp.get("/submissions/<submission_id>")
@require_scope("platform.review")
def get_review_submission(submission_id):
    """Get a review submission."""
    review.require_operator(session(), g.token)
    return submission_schema.dump(review.get_submission(session(), submission_id))


@review_bp.post("/submissions/<submission_id>/approve")
@require_scope("platform.review")
def approve_review_submission(submission_id):
    """Approve a submission: its changes go live."""
    operator = review.require_operator(session(), g.token)
    empty_schema.load(json_body(allow_empty=True))
    submission = review.approve(session(), review.get_submission(session(), submission_id), operator)
    return submission_schema.dump(submission)


@review_bp.post("/submissions/<submission_id>/reject")
@require_scope("platform.review")
def reject_review_submission(submission_id):
    """Reject a submission with a reason; the live version stays as it was."""
    operator = review.require_operator(session(), g.token)
    reason = rejection_schema.load(json_body())["reason"]
    submission = review.reject(session(), review.get_submission(session(), submission_id), operator, reason)
    return submission_schema.dump(submission)


# --- public reads --------------------------------------------------------------------------------


@public_bp.get("/poi-categories")
@require_scope("public.read")
def list_poi_categories():
    """List the POI categories and the attributes each accepts."""
    return {"data": categories.catalogue()}


@public_bp.get("/pois/nearby")
@require_scope("public.read")
def search_nearby_pois():
    """Find live POIs near a point, nearest first."""
    args = request._get_current_object().args  # see gateway.db.reader
    lat = _number_arg(args, "lat", -90, 90)
    lng = _number_arg(args, "lng", -180, 180)
    system = _choice_arg(args, "coord_system", s.COORD_SYSTEMS) or "gcj02"
    radius = _number_arg(args, "radius", 1, 50_000, 3000, integer=True)
    limit = _number_arg(args, "limit", 1, 50, 20, integer=True)
    category = _choice_arg(args, "category", categories.CODES)
    open_now = _bool_arg(args, "open_now")
    glng, glat = geo.to_gcj02(lng, lat, system)
    found = search.nearby(reader(), lat=glat, lng=glng, radius_m=radius, category=category, open_now=open_now,
                          at=utcnow(), limit=limit)
    return {"data": found, "center": {"lat": round(glat, 6), "lng": round(glng, 6), "coord_system": "gcj02"},
            "radius_m": radius}


# The public reads below run on ``reader()``: no ORM session, no transaction (one round trip per
# statement on PostgreSQL); they load columns, never entities (bench/README.md, "POI nearby").
_SUMMARY_COLUMNS = (Poi.id, Poi.name, Poi.category, Poi.address, Poi.city, Poi.district, Poi.lat, Poi.lng,
                    Poi.rating, Poi.rating_count, Poi.status, Poi.images, Poi.opening_hours)


@public_bp.get("/pois")
@require_scope("public.read")
def search_pois():
    """List live POIs by city, category and text."""
    statement = select(*_SUMMARY_COLUMNS).where(Poi.live.is_(True), Poi.status != "closed")
    city = text_arg("city", 32)
    if city is not None:
        statement = statement.where(Poi.city == city)
    category = _choice_arg(request.args, "category", categories.CODES)
    if category is not None:
        statement = statement.where(Poi.category == category)
    q = text_arg("q", 100)
    if q is not None:
        statement = statement.where(Poi.name.contains(q, autoescape=True))
    now = utcnow()
    limit, after = page_params()
    if after is not None:
        statement = statement.where(Poi.id > after)
    rows = reader().execute(statement.order_by(Poi.id).limit(limit + 1)).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    return {"data": [services.summary_of(p, now) for p in rows], "has_more": has_more,
            "next_cursor": encode_cursor(rows[-1].id) if has_more else None}


def _public_page(poi_id: str) -> dict:
    from gateway.poi import page

    composed = page.compose_page(reader(), poi_id, now=utcnow()) if len(poi_id) <= 32 else None
    if composed is None:
        raise NotFound("No such POI.", code="POI_NOT_FOUND")
    return composed


@public_bp.get("/pois/<poi_id>")
@require_scope("public.read")
def get_public_poi(poi_id):
    """Get a live POI."""
    return _public_page(poi_id)["poi"]


@public_bp.get("/pois/<poi_id>/page")
@require_scope("public.read")
def get_poi_page(poi_id):
    """Get a POI's page: the POI and its products on sale."""
    return _public_page(poi_id)
