"""The public HTML page of a POI (``/p/<poi_id>``): what a user lands on from a video or a search.

Server-rendered, no JavaScript: it is the first thing a user sees after a tap, so it must be fast
on a phone and readable before anything else loads. The data is :func:`gateway.poi.page.compose`
(the same as ``GET /v1/pois/{poi_id}/page``), the layout ``templates/poi_page.html``.

Caching: ``Cache-Control: no-cache`` with an ``ETag``. Every view must reach us, because every view
is counted (``poi_page_views``) and stock, sale windows and "open now" change by the minute; but a
browser or CDN that already holds the same page revalidates it and gets a body-less 304. Nothing on
the page depends on who asks, so a shared cache may keep it too.

Inside the gateway each worker reuses a rendered page for a few seconds (:class:`RenderedPages`):
a popular POI is read and rendered a few times a minute instead of on every view, which is what
makes the page cheap (bench/README.md, "POI page"). Edits, stock and closing show up at most
``SHIJING_POI_PAGE_CACHE_TTL`` seconds (default 5) late; "open now" and sale windows are exact to
the minute, since the minute is part of the key. The page view is still written on every request.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, render_template, request
from flask import session as web_session
from werkzeug.http import generate_etag

from gateway.clock import utcnow
from gateway.db import get_db, reader
from gateway.poi import categories, hours, page

bp = Blueprint("poi_web", __name__)

# The site-wide HTML policy, plus images from the partners' https CDNs (a POI's photos). The
# JSON-LD block is a data block (type application/ld+json): browsers never execute it, so no
# script-src exception is needed and the page runs no script at all.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' https:; script-src 'none'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'"
)

PRODUCT_TYPES_ZH = {"set_meal": "套餐", "voucher": "代金券", "reservation": "预订"}
REFUND_POLICIES_ZH = {  # gateway.poi.schemas.REFUND_POLICIES
    "refundable_anytime": "随时退",
    "auto_refund_on_expiry": "过期自动退",
    "non_refundable": "不可退",
}
STATUS_ZH = {"temporarily_closed": "暂停营业"}


def yuan(fen: int) -> str:
    """¥88.00 from 8800 fen (integer arithmetic: no float ever touches money)."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}¥{fen // 100:,}.{fen % 100:02d}"


def discount(price: int, original_price: int) -> str | None:
    """Chinese discount notation: 6.8折 = 68 % of the original price; None when there is none."""
    if original_price <= 0 or price >= original_price:
        return None
    tenths = max(1, round(price * 100 / original_price))  # percent
    return f"{tenths / 10:g}折"


def local_date(iso_utc: str | None, zone: ZoneInfo) -> str | None:
    if not iso_utc:
        return None
    day = datetime.fromisoformat(iso_utc).astimezone(zone)
    return f"{day.year}年{day.month}月{day.day}日"


def product_terms(product: dict, zone: ZoneInfo, now: datetime) -> list[str]:
    """The small print under a product, most important first."""
    terms = []
    rules = product["usage_rules"]
    if product["booking_required"]:
        ahead = rules.get("appointment_hours_ahead")
        terms.append("需预约" if not ahead else f"需提前{ahead}小时预约")
    if rules.get("available_on_holidays") is False:
        terms.append("节假日不可用")
    if rules.get("max_per_order"):
        terms.append(f"每单限{rules['max_per_order']}份")
    refund = REFUND_POLICIES_ZH.get(product["refund_policy"])
    if refund:
        terms.append(refund)
    valid_from = product["valid_from"]
    if valid_from and datetime.fromisoformat(valid_from) > now:
        terms.append(f"{local_date(valid_from, zone)}起可用")
    if product["valid_until"]:
        terms.append(f"有效期至{local_date(product['valid_until'], zone)}")
    return terms


def _zone(opening_hours: dict) -> ZoneInfo:
    try:
        return ZoneInfo(opening_hours.get("timezone") or hours.DEFAULT_TIMEZONE)
    except (ValueError, KeyError):
        return ZoneInfo(hours.DEFAULT_TIMEZONE)


def _not_found() -> Response:
    html = render_template("poi_not_found.html")
    return Response(html, status=404, mimetype="text/html")


PAGE_CACHE_ENTRIES = 4096


@dataclass(frozen=True)
class RenderedPage:
    id: str  # the POI's (what record_page_view needs)
    merchant_id: str
    body: bytes
    etag: str
    expires: float  # time.monotonic()


class RenderedPages:
    """Pages rendered in the last ``ttl`` seconds by this process, keyed by (POI id, minute)."""

    def __init__(self, ttl: float, size: int = PAGE_CACHE_ENTRIES) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[tuple, RenderedPage] = {}
        self._lock = threading.Lock()  # the development server is threaded
        self.clock = time.monotonic

    def get(self, key: tuple) -> RenderedPage | None:
        entry = self._entries.get(key)
        return entry if entry is not None and entry.expires > self.clock() else None

    def put(self, key: tuple, entry: RenderedPage) -> RenderedPage:
        if self.ttl > 0:
            with self._lock:
                if len(self._entries) >= self.size:
                    # drop what expired; if all is fresh, start over (bounded memory, no LRU book-keeping)
                    now = self.clock()
                    self._entries = {k: v for k, v in self._entries.items() if v.expires > now}
                    if len(self._entries) >= self.size:
                        self._entries = {}
                self._entries[key] = entry
        return entry


@bp.record_once
def _init(state) -> None:
    state.app.extensions["shijing.poi_pages"] = RenderedPages(state.app.config["SHIJING"]["POI_PAGE_CACHE_TTL"])


def _render(poi, now: datetime, expires: float) -> RenderedPage:
    data = page.compose(reader(), poi, now=now)
    url = f"{current_app.config['SHIJING']['ISSUER'].rstrip('/')}/p/{poi.id}"
    zone = _zone(data["poi"]["opening_hours"])
    category = categories.get(data["poi"]["category"])
    html = render_template(
        "poi_page.html",
        poi=data["poi"],
        products=[
            dict(p, type_zh=PRODUCT_TYPES_ZH.get(p["type"], ""), terms=product_terms(p, zone, now),
                 discount=discount(p["price"], p["original_price"]))
            for p in data["products"]
        ],
        mini_programs=data["mini_programs"],
        service_account=data["service_account"],
        category_name=category.name_zh if category else "",
        status_text=STATUS_ZH.get(data["poi"]["status"]),
        url=url,
        structured_data=page.schema_org(data, url=url),
        yuan=yuan,
    )
    body = html.encode()
    return RenderedPage(poi.id, poi.merchant_id, body, generate_etag(body),
                        expires)


def _record_view(rendered: RenderedPage) -> None:
    """One INSERT committed on its own, before the response: the page reads nothing else and
    writes nothing else, so the ORM session and its unit of work (~0.5 ms of CPU a view, most of
    the page's cost on a cache hit: bench/README.md, "POI page") would buy nothing. On
    PostgreSQL the reader connection is in autocommit: the INSERT is one round trip. Should a
    request ever have an ORM session by now, the view joins it and commits with the request."""
    database = get_db()
    connection = reader()  # the session's connection if the request has one
    page.record_page_view(
        connection, rendered, source=request.args.get("source"),
        source_id=request.args.get("source_id"), user_id=web_session.get("user_id"),
    )
    if not database.session.registry.has():
        # the INSERT ran on the DB-API connection (page.record_page_view), below Core's
        # transaction bookkeeping, so it is committed there too (a no-op in autocommit)
        connection.connection.commit()


@bp.get("/p/<poi_id>")
def poi_page(poi_id):
    """Show a POI's public page."""
    now = utcnow()
    pages: RenderedPages = current_app.extensions["shijing.poi_pages"]
    key = (poi_id, now.replace(second=0, microsecond=0))
    rendered = pages.get(key)
    if rendered is None:
        poi = page.public_poi(reader(), poi_id)
        if poi is None:
            return _not_found()
        rendered = pages.put(key, _render(poi, now, pages.clock() + pages.ttl))
    if request.method == "GET":  # a HEAD is a link checker, not a user
        _record_view(rendered)
    response = Response(rendered.body, mimetype="text/html")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.set_etag(rendered.etag)
    return response.make_conditional(request)
