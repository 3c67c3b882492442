"""The composed POI page: what a user sees of a place, its products on sale, and who looked.

Only the **live** (approved) version of a POI or product is ever shown: a pending edit waits in its
review submission and does not touch the row (``gateway.poi.models``). A POI that was never
approved, or is closed for good, has no public page (``None``; the callers answer 404).

Products shown are the live ones sold at that POI, on sale, inside their sale window and still
valid; one whose stock is used up stays on the page marked ``sold_out`` (users see it exists and
come back) rather than vanishing. Order: set meals, then vouchers, then reservations; within a
type what can be bought before what is sold out, then the cheapest first.

Both the JSON page (``GET /v1/pois/{poi_id}/page``) and the HTML page (``/p/{poi_id}``, see
``gateway.poi.web``) are built from :func:`compose_page`, so they never disagree.
"""

from __future__ import annotations

import re
import weakref
from datetime import datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import Row, bindparam, case, insert, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from gateway.clock import isoformat, utcnow
from gateway.db import driver_execute
from gateway.ids import new_id
from gateway.miniprograms import mounts
from gateway.service_accounts import services as service_accounts
from gateway.poi import geo, hours
from gateway.poi.models import Poi, PoiPageView, Product, ProductPoi

#: where a page view came from (the ``source`` query parameter); anything else counts as direct
SOURCES = ("direct", "search", "nearby", "video", "live", "service_account")
SOURCE_ID_MAX_LENGTH = PoiPageView.__table__.c.source_id.type.length  # 32
# a source id names a video, a live stream, an account…: an opaque id, never free text
_SOURCE_ID = re.compile(r"^[A-Za-z0-9_.:-]+$")

#: products listed on one page at most (a merchant with thousands of vouchers gets the first ones)
MAX_PRODUCTS = 100
TYPE_ORDER = {"set_meal": 0, "voucher": 1, "reservation": 2}

# Prebuilt statements: composing a select() per request costs far more than running it
# (PERFORMANCE.md); executed on the session's connection (Core) since no entity is loaded.
_POI = select(
    Poi.id, Poi.merchant_id, Poi.name, Poi.category, Poi.address, Poi.province, Poi.city,
    Poi.district, Poi.lat, Poi.lng, Poi.images, Poi.phone, Poi.opening_hours, Poi.status,
    Poi.rating, Poi.rating_count, Poi.quality_tags, Poi.live,
).where(Poi.id == bindparam("poi_id"))

_now = bindparam("now", type_=Product.sale_starts_at.type)
_PRODUCTS = (
    select(
        Product.id, Product.type, Product.title, Product.contents, Product.images, Product.price,
        Product.original_price, Product.stock, Product.sale_starts_at, Product.sale_ends_at,
        Product.valid_from, Product.valid_until, Product.usage_rules, Product.refund_policy,
        Product.booking_required,
    )
    .join(ProductPoi, ProductPoi.product_id == Product.id)
    .where(
        ProductPoi.poi_id == bindparam("poi_id"),
        Product.live.is_(True),
        Product.status == "on_sale",
        or_(Product.sale_starts_at.is_(None), Product.sale_starts_at <= _now),
        or_(Product.sale_ends_at.is_(None), Product.sale_ends_at > _now),
        # an expired voucher cannot be used: selling it would only cause refunds
        or_(Product.valid_until.is_(None), Product.valid_until > _now),
    )
    .order_by(
        case(TYPE_ORDER, value=Product.type, else_=len(TYPE_ORDER)),
        case((Product.stock <= 0, 1), else_=0),
        Product.price,
        Product.id,
    )
    .limit(MAX_PRODUCTS)
)
_VIEW_COLUMNS = ("id", "poi_id", "merchant_id", "source", "source_id", "user_id", "viewed_at")


class _PageViewInsert:
    """The page-view INSERT compiled once per dialect and run on the DB-API cursor directly.

    Core's ``Connection.execute`` costs ~100 µs of Python per statement (compiled-cache lookup,
    execution context, result set-up) against ~15 µs for the driver call, on the one write every
    page view makes. The SQL text and parameter order still come from SQLAlchemy compiling
    ``insert(PoiPageView)`` for the connection's dialect, and each value passes through its column
    type's bind processor (``viewed_at``: ``UTCDateTime``), as in ``gateway.db.PrebuiltSelect``.
    """

    def __init__(self) -> None:
        self._by_dialect: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _prepare(self, dialect) -> tuple:
        compiled = insert(PoiPageView).compile(dialect=dialect, column_keys=list(_VIEW_COLUMNS))
        processors = tuple(
            PoiPageView.__table__.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in _VIEW_COLUMNS
        )
        if compiled.positiontup is not None:
            order = [_VIEW_COLUMNS.index(name) for name in compiled.positiontup]
        else:
            order = None
        prepared = (compiled.string, processors, order)
        self._by_dialect[dialect] = prepared
        return prepared

    def run(self, connection: Connection, values: tuple) -> None:
        dialect = connection.dialect
        sql, processors, order = self._by_dialect.get(dialect) or self._prepare(dialect)
        values = [v if p is None or v is None else p(v) for p, v in zip(processors, values)]
        params = tuple(values[i] for i in order) if order is not None else dict(zip(_VIEW_COLUMNS, values))
        driver_execute(connection, sql, params)


_INSERT_VIEW = _PageViewInsert()


def _connection(db: Session | Connection) -> Connection:
    return db if isinstance(db, Connection) else db.connection()


def public_poi(db: Session | Connection, poi_id: str) -> Row | None:
    """The POI's live row if it has a public page (approved once, not closed for good), else None.

    ``db``: a session or a Core connection (``gateway.db.reader()``, what the public reads use)."""
    row = _connection(db).execute(_POI, {"poi_id": poi_id}).first()
    if row is None or not row.live or row.status == "closed":
        return None
    return row


def compose_page(db: Session | Connection, poi_id: str, *, now: datetime) -> dict | None:
    """The ``PoiPage`` of ``poi_id`` at ``now``, or None when the POI is not public."""
    poi = public_poi(db, poi_id)
    return None if poi is None else compose(db, poi, now=now)


def compose(db: Session | Connection, poi: Row, *, now: datetime) -> dict:
    """The ``PoiPage`` of a row :func:`public_poi` returned."""
    products = _connection(db).execute(_PRODUCTS, {"poi_id": poi.id, "now": now}).all()
    return {
        "poi": _public_poi(poi, now),
        "products": [_public_product(p) for p in products],
        "service_account": service_accounts.card_for_poi(_connection(db), poi.merchant_id, poi.id),
        "mini_programs": mounts.cards_for_poi(_connection(db), poi.id),
    }


def _public_poi(poi: Row, now: datetime) -> dict:
    opening_hours = poi.opening_hours or {}
    if poi.status == "temporarily_closed":
        open_now = False  # whatever the hours say
    else:
        open_now = hours.is_open(opening_hours, now)
    return {
        "id": poi.id,
        "name": poi.name,
        "category": poi.category,
        "address": poi.address,
        "province": poi.province,
        "city": poi.city,
        "district": poi.district,
        "lat": poi.lat,
        "lng": poi.lng,
        "rating": poi.rating,
        "rating_count": poi.rating_count,
        "status": poi.status,
        "images": list(poi.images or []),
        "open_now": open_now,
        "phone": poi.phone,
        "opening_hours": opening_hours,
        "opening_hours_text": hours.describe(opening_hours, today=_local_date(opening_hours, now)),
        "quality_tags": list(poi.quality_tags or []),
        "map_url": map_url(poi.lng, poi.lat, poi.name),
    }


def _public_product(p: Row) -> dict:
    return {
        "id": p.id,
        "type": p.type,
        "title": p.title,
        "contents": p.contents or [],
        "images": p.images or [],
        "price": p.price,
        "original_price": p.original_price,
        "sold_out": p.stock <= 0,
        "sale_starts_at": isoformat(p.sale_starts_at),
        "sale_ends_at": isoformat(p.sale_ends_at),
        "valid_from": isoformat(p.valid_from),
        "valid_until": isoformat(p.valid_until),
        "usage_rules": p.usage_rules or {},
        "refund_policy": p.refund_policy,
        "booking_required": p.booking_required,
    }


def _local_date(opening_hours: dict, now: datetime):
    """Today where the POI is (past special days are left out of the hours text)."""
    name = opening_hours.get("timezone") or hours.DEFAULT_TIMEZONE
    try:
        zone = ZoneInfo(name)
    except (ValueError, KeyError):  # stored hours were validated; never fail a page on them
        zone = ZoneInfo(hours.DEFAULT_TIMEZONE)
    return now.astimezone(zone).date()


def map_url(lng: float, lat: float, name: str) -> str:
    """An Amap marker link (opens the Amap app on phones that have it, the web map otherwise).

    ``coordinate=gaode`` tells Amap the position is GCJ-02, which is what we store.
    """
    query = urlencode({
        "position": f"{lng:.6f},{lat:.6f}",
        "name": name,
        "src": "shijing",
        "coordinate": "gaode",
        "callnative": "1",
    })
    return f"https://uri.amap.com/marker?{query}"


# --- page views ---------------------------------------------------------------------------------


def clean_source(source: str | None, source_id: str | None) -> tuple[str, str | None]:
    """The (source, source_id) to record: a known source or ``direct``; an opaque id or nothing."""
    if source not in SOURCES:
        source = "direct"
    if source == "direct" or not source_id:
        return source, None
    source_id = source_id[:SOURCE_ID_MAX_LENGTH]
    return source, source_id if _SOURCE_ID.match(source_id) else None


def record_page_view(db: Session | Connection, poi, *, source: str | None, source_id: str | None,
                     user_id: str | None, viewed_at: datetime | None = None) -> str:
    """Add one row to ``poi_page_views`` in ``db``'s transaction (the caller commits); returns its id.

    ``poi`` is anything with ``id`` and ``merchant_id`` (a :func:`public_poi` row, a ``Poi``).
    The query string is untrusted: an unknown ``source`` is recorded as ``direct``, and a
    ``source_id`` is cut to the column's length and dropped unless it looks like an id.
    One Core INSERT, no ORM unit of work (the public page writes one row per view).
    """
    source, source_id = clean_source(source, source_id)
    view_id = new_id("page_view")
    _INSERT_VIEW.run(_connection(db), (view_id, poi.id, poi.merchant_id, source, source_id, user_id,
                                       viewed_at or utcnow()))
    return view_id


# --- schema.org ---------------------------------------------------------------------------------

# the most precise LocalBusiness subtype per category (shown beside LocalBusiness itself)
_SCHEMA_ORG_TYPES = {
    "food": "Restaurant",
    "hotel": "Hotel",
    "homestay": "BedAndBreakfast",
    "scenic_spot": "TouristAttraction",
    "leisure": "EntertainmentBusiness",
    "beauty": "HealthAndBeautyBusiness",
    "murder_mystery": "EntertainmentBusiness",
    "ktv": "EntertainmentBusiness",
    "fitness": "ExerciseGym",
}
_SCHEMA_ORG_DAYS = dict(zip(hours.DAYS, (
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")))


def _fen_to_decimal_text(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _hours_specification(opening_hours: dict) -> list[dict]:
    """schema.org OpeningHoursSpecification: a range past midnight keeps closes < opens, as
    schema.org documents it; a day open around the clock is 00:00–23:59."""
    spec = []
    for entry in opening_hours.get("weekly") or []:
        spec.append({
            "@type": "OpeningHoursSpecification",
            "dayOfWeek": [f"https://schema.org/{_SCHEMA_ORG_DAYS[d]}" for d in entry["days"]],
            "opens": entry["open"],
            "closes": "23:59" if entry["close"] == "24:00" else entry["close"],
        })
    for day in opening_hours.get("special_days") or []:
        ranges = [] if day.get("closed") else day.get("ranges") or []
        for r in ranges or [{"open": "00:00", "close": "00:00"}]:  # 00:00–00:00 = closed all day
            spec.append({
                "@type": "OpeningHoursSpecification",
                "validFrom": day["date"],
                "validThrough": day["date"],
                "opens": r["open"],
                "closes": "23:59" if r["close"] == "24:00" else r["close"],
            })
    return spec


def schema_org(page: dict, *, url: str) -> dict:
    """The page as schema.org ``LocalBusiness`` JSON-LD (for search engines and link previews)."""
    poi = page["poi"]
    # schema.org coordinates are WGS-84; we store GCJ-02 (hundreds of metres apart in China)
    lng, lat = geo.from_gcj02(poi["lng"], poi["lat"], "wgs84")
    subtype = _SCHEMA_ORG_TYPES.get(poi["category"])
    data: dict = {
        "@context": "https://schema.org",
        "@type": ["LocalBusiness", subtype] if subtype else "LocalBusiness",
        "@id": url,
        "url": url,
        "name": poi["name"],
        "address": {
            "@type": "PostalAddress",
            "streetAddress": poi["address"],
            "addressLocality": poi["city"],
            "addressRegion": poi["province"],
            "addressCountry": "CN",
        },
        "geo": {"@type": "GeoCoordinates", "latitude": round(lat, 6), "longitude": round(lng, 6)},
        "hasMap": poi["map_url"],
    }
    if poi["images"]:
        data["image"] = poi["images"]
    if poi["phone"]:
        data["telephone"] = poi["phone"]
    specification = _hours_specification(poi["opening_hours"])
    if specification:
        data["openingHoursSpecification"] = specification
    if poi["rating"] is not None and poi["rating_count"] > 0:
        data["aggregateRating"] = {
            "@type": "AggregateRating",
            "ratingValue": poi["rating"],
            "reviewCount": poi["rating_count"],
            "bestRating": 5,
            "worstRating": 0,
        }
    offers = []
    for product in page["products"]:
        offer = {
            "@type": "Offer",
            "name": product["title"],
            "price": _fen_to_decimal_text(product["price"]),
            "priceCurrency": "CNY",
            "availability": "https://schema.org/" + ("SoldOut" if product["sold_out"] else "InStock"),
            "itemOffered": {"@type": "Service", "name": product["title"]},
        }
        if product["sale_ends_at"]:
            offer["priceValidUntil"] = product["sale_ends_at"][:10]
        if product["valid_from"]:
            offer["validFrom"] = product["valid_from"]
        offers.append(offer)
    if offers:
        data["makesOffer"] = offers
    return data
