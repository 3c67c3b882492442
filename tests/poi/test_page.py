"""The composed POI page (JSON dict and public HTML page): what is shown, in what order, and the
page views recorded."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import select

from gateway.poi import geo
from gateway.poi.models import PoiPageView, ReviewSubmission
from gateway.poi.page import compose_page, map_url, record_page_view
from tests.poi.showcase import SHOWN, add_poi, add_product, hotpot_with_menu

# a Wednesday, 12:00 in Chengdu
NOON = datetime(2026, 11, 25, 4, 0, tzinfo=timezone.utc)


@pytest.fixture
def merchant(factory):
    return factory.merchant()


@pytest.fixture
def menu(app, db_session, merchant):
    """(poi id, {key: product id}) of the showcase restaurant, committed."""
    poi, products = hotpot_with_menu(db_session, merchant.id, now=datetime.now(timezone.utc))
    db_session.commit()
    return poi.id, {key: p.id for key, p in products.items()}


def page_views(app) -> list[PoiPageView]:
    with app.app_context(), app.extensions["shijing.db"].new_session() as s:
        return list(s.scalars(select(PoiPageView).order_by(PoiPageView.viewed_at, PoiPageView.id)))


# --- composition ----------------------------------------------------------------------------------


def test_page_of_a_live_poi(db_session, menu):
    poi_id, products = menu
    page = compose_page(db_session, poi_id, now=datetime.now(timezone.utc))
    poi = page["poi"]
    assert poi["id"] == poi_id and poi["name"] == "蜀香火锅（春熙路店）"
    assert poi["category"] == "food" and poi["city"] == "成都市" and poi["province"] == "四川省"
    assert (poi["rating"], poi["rating_count"]) == (4.6, 1234)
    assert poi["quality_tags"] == ["必吃榜", "老字号"]
    assert poi["phone"] == "028-8888 6666"
    assert poi["opening_hours_text"] == ["周一至周五 10:00–22:00", "周六、周日 10:00–次日02:00"]
    assert page["service_account"] is None and page["mini_programs"] == []  # the merchant has no service account
    assert [p["id"] for p in page["products"]] == [products[k] for k in SHOWN]


def test_the_page_shows_the_service_account_that_links_the_poi(app, client, db_session, menu, merchant):
    from gateway.service_accounts import services as service_accounts

    poi_id, _ = menu
    account, _ = service_accounts.put(db_session, merchant.id, {
        "name": "蜀香火锅", "avatar_url": "https://img.example/a.png", "description": "关注领券", "poi_ids": []})
    db_session.commit()
    # an account that does not link this POI is not on its page
    assert compose_page(db_session, poi_id, now=datetime.now(timezone.utc))["service_account"] is None
    account.poi_ids = [poi_id]
    db_session.commit()
    card = compose_page(db_session, poi_id, now=datetime.now(timezone.utc))["service_account"]
    assert card["id"] == account.id and card["name"] == "蜀香火锅" and card["follower_count"] == 0
    assert card["follow_hint"]
    html = client.get(f"/p/{poi_id}").get_data(as_text=True)
    assert "商家服务号" in html and "蜀香火锅" in html and card["follow_hint"] in html
    # a suspended account is shown nowhere
    account.status = "suspended"
    db_session.commit()
    assert compose_page(db_session, poi_id, now=datetime.now(timezone.utc))["service_account"] is None


def test_products_on_sale_sorted_set_meals_first_buyable_before_sold_out(db_session, menu):
    poi_id, _ = menu
    shown = compose_page(db_session, poi_id, now=datetime.now(timezone.utc))["products"]
    assert [(p["type"], p["title"], p["price"], p["sold_out"]) for p in shown] == [
        ("set_meal", "双人套餐", 8800, False),
        ("set_meal", "单人套餐", 6800, True),  # cheaper, but sold out
        ("voucher", "100元代金券", 8900, False),
        ("reservation", "包间预订", 0, False),
    ]
    titles = {p["title"] for p in shown}
    for hidden in ("未审核套餐", "已下架套餐", "下周开售套餐", "已结束套餐", "过期代金券"):
        assert hidden not in titles
    voucher = shown[2]
    assert voucher["valid_until"].endswith("Z")
    assert "stock" not in voucher, "the exact stock is the merchant's business; sold_out is enough"


def test_sale_window_follows_now(db_session, merchant):
    poi = add_poi(db_session, merchant.id)
    add_product(db_session, merchant.id, [poi.id], title="限时套餐",
                sale_starts_at=NOON, sale_ends_at=NOON + timedelta(hours=2))
    db_session.commit()

    def titles(at):
        return [p["title"] for p in compose_page(db_session, poi.id, now=at)["products"]]

    assert titles(NOON - timedelta(seconds=1)) == []
    assert titles(NOON) == ["限时套餐"]
    assert titles(NOON + timedelta(hours=2) - timedelta(seconds=1)) == ["限时套餐"]
    assert titles(NOON + timedelta(hours=2)) == []


def test_products_of_another_poi_are_not_shown(db_session, merchant):
    here = add_poi(db_session, merchant.id)
    there = add_poi(db_session, merchant.id, name="蜀香火锅（太古里店）", lat=30.6547, lng=104.0833)
    add_product(db_session, merchant.id, [there.id], title="太古里专享")
    add_product(db_session, merchant.id, [here.id, there.id], title="两店通用")
    db_session.commit()
    assert [p["title"] for p in compose_page(db_session, here.id, now=NOON)["products"]] == ["两店通用"]
    assert sorted(p["title"] for p in compose_page(db_session, there.id, now=NOON)["products"]) == ["两店通用", "太古里专享"]


@pytest.mark.parametrize("values", [
    {"live": False, "review_status": "pending"},     # never approved
    {"live": False, "review_status": "rejected"},
    {"status": "closed"},                            # closed for good
])
def test_not_public_is_none(db_session, merchant, values):
    poi = add_poi(db_session, merchant.id, **values)
    db_session.commit()
    assert compose_page(db_session, poi.id, now=NOON) is None


def test_unknown_poi_is_none(db_session):
    assert compose_page(db_session, "poi_nope", now=NOON) is None


def test_temporarily_closed_is_shown_but_not_open(db_session, merchant):
    poi = add_poi(db_session, merchant.id, status="temporarily_closed")
    db_session.commit()
    page = compose_page(db_session, poi.id, now=NOON)
    assert page["poi"]["status"] == "temporarily_closed"
    assert page["poi"]["open_now"] is False  # even at noon on a Wednesday


def test_open_now_follows_the_hours(db_session, merchant):
    poi = add_poi(db_session, merchant.id)
    db_session.commit()
    assert compose_page(db_session, poi.id, now=NOON)["poi"]["open_now"] is True
    saturday_1am = datetime(2026, 11, 28, 17, 0, tzinfo=timezone.utc)  # Sun 01:00 in Chengdu
    assert compose_page(db_session, poi.id, now=saturday_1am)["poi"]["open_now"] is True
    wednesday_3am = datetime(2026, 11, 24, 19, 0, tzinfo=timezone.utc)
    assert compose_page(db_session, poi.id, now=wednesday_3am)["poi"]["open_now"] is False


def test_unknown_hours_are_not_closed(db_session, merchant):
    poi = add_poi(db_session, merchant.id, opening_hours={})
    db_session.commit()
    page = compose_page(db_session, poi.id, now=NOON)
    assert page["poi"]["open_now"] is None and page["poi"]["opening_hours_text"] == []


def test_pending_edit_is_not_shown_while_the_approved_version_is(db_session, merchant):
    poi = add_poi(db_session, merchant.id, name="老店名")
    # an edit waiting for review leaves the row (the live version) untouched
    db_session.add(ReviewSubmission(subject_type="poi", subject_id=poi.id, merchant_id=merchant.id,
                                    changes={"name": "新店名", "address": "新地址1号"}, status="pending"))
    poi.review_status = "pending"
    db_session.commit()
    page = compose_page(db_session, poi.id, now=NOON)
    assert page is not None, "a pending edit does not hide the approved version"
    assert page["poi"]["name"] == "老店名" and page["poi"]["address"] == "春熙路88号3楼"
    assert "新店名" not in json.dumps(page, ensure_ascii=False)


def test_map_url_is_an_amap_marker_with_gcj02_coordinates(db_session, merchant):
    poi = add_poi(db_session, merchant.id)
    db_session.commit()
    url = compose_page(db_session, poi.id, now=NOON)["poi"]["map_url"]
    assert url.startswith("https://uri.amap.com/marker?")
    assert "position=104.080989%2C30.657512" in url  # lng,lat as stored (GCJ-02)
    assert "coordinate=gaode" in url
    assert "name=%E8%9C%80" in url  # the name, percent-encoded UTF-8
    assert map_url(104.0, 30.0, "a&b=c").count("&b=c") == 0, "the name cannot add parameters"


# --- page views -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "source_id", "recorded"), [
    ("video", "vid_01jd2m3k4n5p6q7r8s", ("video", "vid_01jd2m3k4n5p6q7r8s")),
    ("live", None, ("live", None)),
    ("nearby", "", ("nearby", None)),
    ("tiktok", "vid_1", ("direct", None)),            # unknown source
    (None, None, ("direct", None)),
    ("video", "v" * 200, ("video", "v" * 32)),         # capped to the column
    ("video", "<script>", ("video", None)),           # not an id: left out
    ("video", "vid\x00_1", ("video", None)),          # NUL would be a 500 on PostgreSQL
])
def test_record_page_view(app, db_session, merchant, source, source_id, recorded):
    poi = add_poi(db_session, merchant.id)
    record_page_view(db_session, poi, source=source, source_id=source_id, user_id=None)
    db_session.commit()
    (view,) = page_views(app)
    assert (view.source, view.source_id) == recorded
    assert view.poi_id == poi.id and view.merchant_id == merchant.id
    assert view.id.startswith("pgv_") and view.viewed_at.tzinfo is not None


# --- the HTML page --------------------------------------------------------------------------------


class Page(HTMLParser):
    """The parts of the HTML a test checks: text by CSS class, links, JSON-LD blocks."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.lang = None
        self.meta = {}
        self.links: list[dict] = []
        self.json_ld: list = []
        self.text_by_class: dict[str, list[str]] = {}
        self.scripts = 0
        self._open: list[tuple[str, list[str]]] = []
        self._in_json_ld = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.lang = attrs.get("lang")
        if tag == "meta" and "name" in attrs:
            self.meta[attrs["name"]] = attrs.get("content")
        if tag == "a":
            self.links.append(attrs)
        if tag == "script":
            self.scripts += 1
            self._in_json_ld = attrs.get("type") == "application/ld+json"
        if tag not in ("meta", "link", "img", "br"):
            self._open.append((tag, (attrs.get("class") or "").split()))

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()[0] == tag:
                break
        if tag == "script":
            self._in_json_ld = False

    def handle_data(self, data):
        if self._in_json_ld:
            self.json_ld.append(json.loads(data))
            return
        for _, classes in self._open:
            for name in classes:
                self.text_by_class.setdefault(name, []).append(data.strip())

    def texts(self, css_class: str) -> list[str]:
        return [t for t in self.text_by_class.get(css_class, []) if t]


def test_html_page(client, menu):
    poi_id, _ = menu
    response = client.get(f"/p/{poi_id}")
    assert response.status_code == 200
    assert response.mimetype == "text/html" and response.mimetype_params["charset"] == "utf-8"
    page = Page(response.get_data(as_text=True))
    assert page.lang == "zh-CN"
    assert "width=device-width" in page.meta["viewport"]
    assert page.texts("poi-name") == ["蜀香火锅（春熙路店）"]
    assert page.texts("poi-category") == ["美食"]
    assert page.texts("product-title") == ["双人套餐", "单人套餐", "100元代金券", "包间预订"]
    assert page.texts("price-now") == ["¥88.00", "¥68.00", "¥89.00", "免费"]
    assert page.texts("price-was") == ["¥128.00", "¥98.00", "¥100.00"]  # none when nothing was cut
    assert page.texts("price-discount") == ["6.9折", "6.9折", "8.9折"]
    assert page.texts("badge-sold-out") == ["已售罄"]
    assert page.texts("term-booking") == ["需预约", "需预约"]
    assert any(t.startswith("有效期至") for t in page.texts("term"))
    assert page.texts("tag") == ["必吃榜", "老字号"]
    assert page.texts("hours-line") == ["周一至周五 10:00–22:00", "周六、周日 10:00–次日02:00"]
    assert page.texts("item-price") == ["¥48.00", "¥38.00", "¥48.00", "¥38.00"]
    hrefs = [link["href"] for link in page.links]
    assert "tel:028-88886666" in hrefs
    assert any(h.startswith("https://uri.amap.com/marker?position=104.080989%2C30.657512") for h in hrefs)
    for link in page.links:
        if link.get("target") == "_blank":
            assert "noopener" in link["rel"]


def test_html_open_now_badge(client, db_session, merchant):
    poi = add_poi(db_session, merchant.id)
    closed = add_poi(db_session, merchant.id, name="暂停的店", status="temporarily_closed", lat=31.2, lng=121.4)
    db_session.commit()
    with time_machine.travel(NOON, tick=False):
        assert Page(client.get(f"/p/{poi.id}").get_data(as_text=True)).texts("badge-open") == ["营业中"]
        assert Page(client.get(f"/p/{closed.id}").get_data(as_text=True)).texts("badge-closed") == ["暂停营业"]
    with time_machine.travel(NOON - timedelta(hours=9), tick=False):  # 03:00 on a Wednesday
        assert Page(client.get(f"/p/{poi.id}").get_data(as_text=True)).texts("badge-closed") == ["休息中"]


def test_json_ld_local_business(client, menu):
    poi_id, _ = menu
    page = Page(client.get(f"/p/{poi_id}").get_data(as_text=True))
    (data,) = page.json_ld
    assert page.scripts == 1, "the JSON-LD data block is the only script element"
    assert data["@context"] == "https://schema.org"
    assert data["@type"] == ["LocalBusiness", "Restaurant"]
    assert data["name"] == "蜀香火锅（春熙路店）"
    assert data["url"] == f"http://127.0.0.1/p/{poi_id}"
    assert data["telephone"] == "028-8888 6666"
    assert data["address"] == {"@type": "PostalAddress", "streetAddress": "春熙路88号3楼",
                               "addressLocality": "成都市", "addressRegion": "四川省", "addressCountry": "CN"}
    # schema.org coordinates are WGS-84: the stored GCJ-02 point converted back
    lng, lat = geo.gcj02_to_wgs84(104.080989, 30.657512)
    assert data["geo"]["@type"] == "GeoCoordinates"
    assert data["geo"]["latitude"] == pytest.approx(lat, abs=1e-6)
    assert data["geo"]["longitude"] == pytest.approx(lng, abs=1e-6)
    assert geo.distance_m(lat, lng, 30.657512, 104.080989) > 100, "the conversion was applied"
    assert data["aggregateRating"] == {"@type": "AggregateRating", "ratingValue": 4.6, "reviewCount": 1234,
                                       "bestRating": 5, "worstRating": 0}
    assert data["openingHoursSpecification"][0] == {
        "@type": "OpeningHoursSpecification",
        "dayOfWeek": [f"https://schema.org/{d}" for d in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")],
        "opens": "10:00", "closes": "22:00",
    }
    assert data["openingHoursSpecification"][1]["closes"] == "02:00"  # past midnight: closes < opens
    offers = data["makesOffer"]
    assert [(o["name"], o["price"], o["priceCurrency"], o["availability"]) for o in offers] == [
        ("双人套餐", "88.00", "CNY", "https://schema.org/InStock"),
        ("单人套餐", "68.00", "CNY", "https://schema.org/SoldOut"),
        ("100元代金券", "89.00", "CNY", "https://schema.org/InStock"),
        ("包间预订", "0.00", "CNY", "https://schema.org/InStock"),
    ]


def test_json_ld_without_rating_phone_or_hours(client, db_session, merchant):
    poi = add_poi(db_session, merchant.id, rating=None, rating_count=0, phone="", opening_hours={},
                  category="scenic_spot", attributes={"level": "AAAAA"})
    db_session.commit()
    page = Page(client.get(f"/p/{poi.id}").get_data(as_text=True))
    (data,) = page.json_ld
    assert data["@type"] == ["LocalBusiness", "TouristAttraction"]
    for absent in ("aggregateRating", "telephone", "openingHoursSpecification", "makesOffer"):
        assert absent not in data
    assert page.texts("poi-rating-count") == ["暂无评分"]
    assert not [link for link in page.links if link["href"].startswith("tel:")]


def test_json_ld_cannot_be_broken_out_of(client, db_session, merchant):
    poi = add_poi(db_session, merchant.id, name="</script><script>alert(1)</script>")
    db_session.commit()
    html = client.get(f"/p/{poi.id}").get_data(as_text=True)
    assert "<script>alert(1)" not in html
    page = Page(html)
    assert page.scripts == 1
    assert page.json_ld[0]["name"] == "</script><script>alert(1)</script>"
    assert page.texts("poi-name") == ["</script><script>alert(1)</script>"]


def test_headers_security_and_caching(client, menu):
    poi_id, _ = menu
    response = client.get(f"/p/{poi_id}")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "img-src 'self' https:" in csp, "POI photos come from the partners' https CDNs"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-cache"
    etag = response.headers["ETag"]
    again = client.get(f"/p/{poi_id}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert len(page_views(client.application)) == 2, "a revalidated view is still a view"


def test_stylesheet_and_icon_are_served(client):
    with client.get("/assets/poi.css") as css:
        assert css.status_code == 200 and css.mimetype == "text/css"
    with client.get("/assets/poi-icon.png") as icon:
        assert icon.status_code == 200 and icon.mimetype == "image/png"


@pytest.mark.parametrize("values", [{"live": False}, {"status": "closed"}])
def test_html_not_public_is_a_friendly_404(client, db_session, merchant, values):
    poi = add_poi(db_session, merchant.id, **values)
    db_session.commit()
    response = client.get(f"/p/{poi.id}")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert 'lang="zh-CN"' in html and "这家店暂时无法访问" in html
    assert poi.name not in html
    assert page_views(client.application) == []


def test_html_unknown_id_is_a_404_page(client):
    for poi_id in ("poi_nope", "x" * 300, "%E2%80%AE", "poi_'--"):
        response = client.get(f"/p/{poi_id}")
        assert response.status_code == 404 and response.mimetype == "text/html"


def test_a_rendered_page_is_reused_for_a_few_seconds(app, client, db_session, merchant):
    poi = add_poi(db_session, merchant.id)
    product = add_product(db_session, merchant.id, [poi.id], title="双人套餐", stock=5)
    db_session.commit()
    pages = app.extensions["shijing.poi_pages"]
    assert pages.ttl == 5.0
    with time_machine.travel(NOON, tick=False):
        assert Page(client.get(f"/p/{poi.id}").get_data(as_text=True)).texts("badge-sold-out") == []
        product.stock = 0
        db_session.commit()
        # within the TTL the same rendering is served (and each view still counted)
        assert Page(client.get(f"/p/{poi.id}").get_data(as_text=True)).texts("badge-sold-out") == []
        clock = pages.clock
        later = clock() + pages.ttl + 0.1
        pages.clock = lambda: later
        try:
            assert Page(client.get(f"/p/{poi.id}").get_data(as_text=True)).texts("badge-sold-out") == ["已售罄"]
        finally:
            pages.clock = clock
    assert len(page_views(app)) == 3


def test_each_view_is_recorded_with_its_source(client, menu, factory):
    poi_id, _ = menu
    client.get(f"/p/{poi_id}?source=video&source_id=vid_01jd2m3k4n")
    client.get(f"/p/{poi_id}?source=search")
    client.get(f"/p/{poi_id}?source=spam&source_id=vid_1")
    client.get(f"/p/{poi_id}")
    # a HEAD (a link checker, not a user) is not counted; HEAD is implicit in Flask, not in the
    # contract, so this one request bypasses the contract-checking client
    assert FlaskClient(client.application).head(f"/p/{poi_id}").status_code == 200
    views = page_views(client.application)
    # as a multiset: ids sort by millisecond, and cached pages can be served within the same one
    assert sorted((v.source, v.source_id or "") for v in views) == sorted([
        ("video", "vid_01jd2m3k4n"), ("search", ""), ("direct", ""), ("direct", "")])
    assert {v.poi_id for v in views} == {poi_id}


def test_signed_in_viewer_is_recorded(app, menu, factory):
    from tests.tenants import Browser

    poi_id, _ = menu
    user = factory.user()
    browser = Browser(app, user.username, factory.password)
    browser.client.get(f"/p/{poi_id}?source=nearby")
    (view,) = page_views(app)
    assert view.user_id == user.id and view.source == "nearby"


def test_usage_rules_and_refund_policy_in_the_small_print(client, db_session, merchant):
    poi = add_poi(db_session, merchant.id)
    add_product(db_session, merchant.id, [poi.id], title="周末套餐", booking_required=True,
                refund_policy="auto_refund_on_expiry",
                usage_rules={"appointment_hours_ahead": 24, "available_on_holidays": False, "max_per_order": 2,
                             "notes": "不与其他优惠同享"})
    db_session.commit()
    page = Page(client.get(f"/p/{poi.id}").get_data(as_text=True))
    assert page.texts("term") == ["需提前24小时预约", "节假日不可用", "每单限2份", "过期自动退"]
    assert page.texts("term-booking") == ["需提前24小时预约"]
    assert page.texts("product-notes") == ["不与其他优惠同享"]


def test_prices_format_from_fen():
    from gateway.poi.web import discount, yuan

    assert [yuan(f) for f in (0, 1, 99, 100, 8800, 123456789)] == [
        "¥0.00", "¥0.01", "¥0.99", "¥1.00", "¥88.00", "¥1,234,567.89"]
    assert [discount(p, o) for p, o in ((6800, 9800), (8800, 8800), (9900, 0), (1, 100000), (5000, 10000))] == [
        "6.9折", None, None, "0.1折", "5折"]

