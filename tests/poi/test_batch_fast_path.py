"""A batch item's compiled fast check (``POI_BATCH_ITEM``) never disagrees with ``PoiCreateSchema``.

The fast check only says "valid"; marshmallow still loads (and words the errors of) everything it
refuses. So the property that matters: whatever it accepts, marshmallow accepts too, loaded to the
same data and digest, and the item comes out of ``_poi_item`` exactly as the slow path makes it.
"""

from __future__ import annotations

import copy
import math

import pytest

from gateway.poi import services
from gateway.poi.schemas import PoiCreateSchema
from tests.poi.api_world import STORE

BASE = {**copy.deepcopy(STORE), "external_id": "s-1"}
MINIMAL = {k: BASE[k] for k in ("external_id", "name", "category", "address", "province", "city", "lat", "lng")}


def _with(**changes) -> dict:
    item = copy.deepcopy(BASE)
    for name, value in changes.items():
        if value is _DROP:
            item.pop(name, None)
        else:
            item[name] = value
    return item


_DROP = object()

VALID = [
    BASE, MINIMAL, {**MINIMAL, "lat": 29, "lng": 106}, _with(coord_system="wgs84"), _with(coord_system="bd09"),
    _with(confirm_not_duplicate=True), _with(district=""), _with(phone=""), _with(images=[]),
    _with(name="x" * 100), _with(name="店" * 100), _with(external_id="a" * 64), _with(external_id="A.b_c:d-9"),
    _with(status="temporarily_closed"), _with(opening_hours={}), _with(attributes={}),
    _with(images=["https://img.example/" + "a" * 480]), _with(lat=-0.0), _with(name="😀"), _with(name="😀" * 100),
]

INVALID = [
    "not an object", None, [], {}, _with(external_id=_DROP), _with(name=_DROP), _with(lat=_DROP),
    _with(external_id=""), _with(external_id="a" * 65), _with(external_id="s-1\n"), _with(external_id="é"),
    _with(external_id="-a"), _with(external_id=1), _with(name=""), _with(name="x" * 101), _with(name=None),
    _with(name=1), _with(name="😀" * 101), _with(category="nope"), _with(category=None), _with(attributes=[]), _with(attributes=None),
    _with(address=""), _with(province="x" * 33), _with(city=""), _with(district="x" * 33), _with(district=None),
    _with(lat="29.5"), _with(lat=True), _with(lat=None), _with(lat=90.0001), _with(lng=-180.5),
    _with(lat=math.nan), _with(lng=math.inf), _with(lat=10 ** 30), _with(coord_system="GCJ02"),
    _with(phone="call me"), _with(phone="1" * 33), _with(opening_hours=[]), _with(opening_hours={"weekly": 1}),
    _with(opening_hours={"weekly": [{"days": ["mon"], "open": "25:00", "close": "02:00"}]}),
    _with(images="https://img.example/a.jpg"), _with(images=["http://img.example/a.jpg"]),
    _with(images=["https://img.example/a b.jpg"]), _with(images=["https://img.example/" + "a" * 481]),
    _with(images=["https://img.example/a.jpg"] * 21), _with(status="gone"), _with(confirm_not_duplicate=1),
    _with(confirm_not_duplicate="true"), _with(unknown=1), _with(id="poi_x"), _with(name="a\x00b"),
    _with(attributes={"cuisine": "hot\x00pot"}), _with(lat=2 ** 64),
]


def _slow(payload, monkeypatch) -> services.Item:
    """The item as marshmallow alone makes it (the fast check switched off)."""
    with monkeypatch.context() as patch:
        patch.setattr(services, "_fast_batch_load", lambda payload: None)
        return services._poi_item(0, copy.deepcopy(payload), PoiCreateSchema(), batch=True)


@pytest.mark.parametrize("payload", VALID, ids=range(len(VALID)))
def test_what_the_fast_check_accepts_loads_as_marshmallow_loads_it(payload, monkeypatch):
    fast = services._fast_batch_load(payload)
    assert fast is not None
    data, digest = fast
    expected = PoiCreateSchema().load(copy.deepcopy(payload))
    assert data == expected and [type(data[k]) for k in sorted(data)] == [type(expected[k]) for k in sorted(data)]
    assert digest == services.digest_of(payload)
    item = services._poi_item(0, payload, PoiCreateSchema(), batch=True)
    assert vars(item) == vars(_slow(payload, monkeypatch))


@pytest.mark.parametrize("payload", INVALID, ids=range(len(INVALID)))
def test_what_marshmallow_refuses_the_fast_check_refuses(payload, monkeypatch):
    assert services._fast_batch_load(payload) is None
    item = services._poi_item(0, payload, PoiCreateSchema(), batch=True)
    assert vars(item) == vars(_slow(payload, monkeypatch))
    assert item.error is not None and item.record is None


def test_defaults_are_fresh_per_item():
    a, _ = services._fast_batch_load(copy.deepcopy(MINIMAL))
    b, _ = services._fast_batch_load(copy.deepcopy(MINIMAL))
    assert a["attributes"] == {} and a["attributes"] is not b["attributes"]
    assert a["images"] is not b["images"] and a["opening_hours"] is not b["opening_hours"]


def _validation_keywords(node):
    """``node`` with $refs resolved and annotations (title, description, default, examples) dropped."""
    from tests.contract import resolve_ref

    if isinstance(node, list):
        return [_validation_keywords(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = resolve_ref(node)
    return {k: (v if k in ("enum", "required") else _validation_keywords(v)) for k, v in node.items()
            if k not in ("title", "description", "default", "examples")}


def test_the_fast_schema_is_the_contracts_poi_batch_item():
    """The compiled check is the published PoiBatchItem (what marshmallow is kept equal to by
    tests/contract/test_schemas_match_spec.py), so neither can drift from the other."""
    from gateway.poi.schemas import POI_BATCH_ITEM
    from tests.contract import spec

    assert _validation_keywords(spec()["components"]["schemas"]["PoiBatchItem"]) == _validation_keywords(POI_BATCH_ITEM)
