"""POIs and products for the page tests, written through the models (as an approved review leaves
them), so these tests do not depend on the partner API being built beside them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from gateway.poi.models import Poi, Product, ProductPoi

HOURS = {
    "timezone": "Asia/Shanghai",
    "weekly": [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "open": "10:00", "close": "22:00"},
        {"days": ["sat", "sun"], "open": "10:00", "close": "02:00"},
    ],
}


def add_poi(s, merchant_id: str, **values) -> Poi:
    poi = Poi(**{
        "merchant_id": merchant_id,
        "name": "蜀香火锅（春熙路店）",
        "category": "food",
        "attributes": {"cuisine": "hotpot", "avg_price_per_person": 9800},
        "address": "春熙路88号3楼",
        "province": "四川省",
        "city": "成都市",
        "district": "锦江区",
        "lat": 30.657_512,
        "lng": 104.080_989,
        "images": [],
        "phone": "028-8888 6666",
        "opening_hours": HOURS,
        "status": "open",
        "rating": 4.6,
        "rating_count": 1234,
        "quality_tags": ["必吃榜", "老字号"],
        "live": True,
        "review_status": "approved",
        **values,
    })
    s.add(poi)
    s.flush()
    return poi


def add_product(s, merchant_id: str, poi_ids, **values) -> Product:
    product = Product(**{
        "merchant_id": merchant_id,
        "type": "set_meal",
        "title": "双人套餐",
        "contents": [{"name": "精品肥牛", "quantity": 1, "price": 4800},
                     {"name": "鸳鸯锅底", "quantity": 1, "price": 3800}],
        "price": 8800,
        "original_price": 12800,
        "stock": 50,
        "live": True,
        "review_status": "approved",
        "status": "on_sale",
        **values,
    })
    s.add(product)
    s.flush()
    for poi_id in poi_ids:
        s.add(ProductPoi(product_id=product.id, poi_id=poi_id))
    s.flush()
    return product


def hotpot_with_menu(s, merchant_id: str, now: datetime | None = None) -> tuple[Poi, dict[str, Product]]:
    """A live hotpot restaurant with a few products in every state the page distinguishes."""
    now = now or datetime.now(timezone.utc)
    poi = add_poi(s, merchant_id)
    ids = [poi.id]
    products = {
        "voucher": add_product(s, merchant_id, ids, type="voucher", title="100元代金券", contents=[],
                               price=8900, original_price=10000, valid_until=now + timedelta(days=90)),
        # cheaper, but sold out: listed after the set meal that can be bought
        "set_meal_sold_out": add_product(s, merchant_id, ids, title="单人套餐", price=6800,
                                         original_price=9800, stock=0),
        "set_meal": add_product(s, merchant_id, ids, title="双人套餐", price=8800, original_price=12800,
                                booking_required=True),
        "reservation": add_product(s, merchant_id, ids, type="reservation", title="包间预订", contents=[],
                                   price=0, original_price=0, booking_required=True),
        # never shown
        "pending": add_product(s, merchant_id, ids, title="未审核套餐", live=False, review_status="pending"),
        "off_sale": add_product(s, merchant_id, ids, title="已下架套餐", status="off_sale"),
        "not_yet": add_product(s, merchant_id, ids, title="下周开售套餐", sale_starts_at=now + timedelta(days=7)),
        "ended": add_product(s, merchant_id, ids, title="已结束套餐", sale_ends_at=now - timedelta(minutes=1)),
        "expired": add_product(s, merchant_id, ids, type="voucher", title="过期代金券",
                               valid_until=now - timedelta(days=1)),
    }
    return poi, products


SHOWN = ["set_meal", "set_meal_sold_out", "voucher", "reservation"]  # in page order
