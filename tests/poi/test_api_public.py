"""Public reads: categories, nearby, search, a POI and its page. Only live, non-closed POIs."""

from __future__ import annotations

import pytest

from gateway.poi import geo
from tests.conftest import bearer
from tests.poi.api_world import cheap_password_hashing, build, store  # noqa: F401 (autouse)
from tests.problems import assert_problem


@pytest.fixture
def world(app, factory):
    return build(app, factory)


def test_categories_publish_their_attribute_schemas(client, world):
    body = client.get("/v1/poi-categories", headers=world.headers).get_json()
    codes = [c["code"] for c in body["data"]]
    assert {"food", "hotel", "homestay", "scenic_spot", "leisure", "beauty", "murder_mystery"} <= set(codes)
    hotel = next(c for c in body["data"] if c["code"] == "hotel")
    assert hotel["name_zh"] == "酒店" and hotel["attributes_schema"]["additionalProperties"] is False


def test_any_apps_client_credentials_token_reads_public_data(client, world, factory):
    other = factory.app_client(scopes=["public.read"])
    assert client.get("/v1/poi-categories", headers=bearer(factory.token(other))).status_code == 200


def test_nearby_finds_live_pois_nearest_first_and_converts_the_centre(client, world):
    near = world.create_live_poi(client, "near", name="近的火锅", lat=29.5632, lng=106.5772)
    far = world.create_live_poi(client, "far", name="远的茶馆", lat=29.5700, lng=106.5800, category="leisure",
                                attributes={})
    client.put(f"{world.base()}/pois/external/pending", json=store(name="待审核", lat=29.5631), headers=world.headers)
    wgs_lng, wgs_lat = geo.gcj02_to_wgs84(106.5770, 29.5630)

    body = client.get("/v1/pois/nearby", query_string={"lat": wgs_lat, "lng": wgs_lng, "coord_system": "wgs84",
                                                        "radius": 2000}, headers=world.headers).get_json()

    assert [p["id"] for p in body["data"]] == [near["id"], far["id"]]
    assert body["data"][0]["distance_m"] < body["data"][1]["distance_m"]
    assert body["data"][0]["distance_m"] < 40  # the WGS-84 centre was converted before searching
    assert body["center"]["coord_system"] == "gcj02"
    food = client.get("/v1/pois/nearby", query_string={"lat": 29.563, "lng": 106.577, "category": "food"},
                      headers=world.headers).get_json()
    assert [p["id"] for p in food["data"]] == [near["id"]]


@pytest.mark.parametrize("query", [{"lat": 29.5}, {"lat": "x", "lng": 106.5}, {"lat": 29.5, "lng": 106.5, "radius": 0},
                                   {"lat": 29.5, "lng": 106.5, "radius": 50001}, {"lat": "nan", "lng": 106.5},
                                   {"lat": 29.5, "lng": 106.5, "coord_system": "mars"},
                                   {"lat": 29.5, "lng": 106.5, "open_now": "yes"}])
def test_nearby_refuses_bad_parameters(client, world, query):
    assert_problem(client.get("/v1/pois/nearby", query_string=query, headers=world.headers), 400)


def test_search_lists_only_live_open_pois(client, world):
    live = world.create_live_poi(client, "a", name="火锅一号")
    closed = world.create_live_poi(client, "b", name="火锅二号", lat=29.60)
    client.patch(f"{world.base()}/pois/{closed['id']}", json={"status": "closed"}, headers=world.headers)
    client.put(f"{world.base()}/pois/external/c", json=store(name="火锅三号", lat=29.61), headers=world.headers)

    body = client.get("/v1/pois", query_string={"q": "火锅", "city": "重庆"}, headers=world.headers).get_json()

    assert [p["id"] for p in body["data"]] == [live["id"]]
    assert "merchant_id" not in body["data"][0]
    assert_problem(client.get(f"/v1/pois/{closed['id']}", headers=world.headers), 404, "POI_NOT_FOUND")
    assert_problem(client.get(f"/v1/pois/{closed['id']}/page", headers=world.headers), 404, "POI_NOT_FOUND")


def test_public_poi_and_page_show_the_live_version(client, world):
    poi = world.create_live_poi(client)
    client.patch(f"{world.base()}/pois/{poi['id']}", json={"name": "待审核的新名字"}, headers=world.headers)

    shown = client.get(f"/v1/pois/{poi['id']}", headers=world.headers).get_json()
    page = client.get(f"/v1/pois/{poi['id']}/page", headers=world.headers).get_json()

    assert shown["name"] == page["poi"]["name"] == "山城老火锅（解放碑店）"
    assert shown["map_url"].startswith("https://uri.amap.com/marker?")
    assert page["service_account"] is None and page["mini_programs"] == []
