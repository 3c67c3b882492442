"""Coordinate conversion between WGS-84, GCJ-02 and BD-09, checked against published points."""

from __future__ import annotations

import random

import pytest

from gateway.poi import geo

# (WGS-84 lng, lat) -> (GCJ-02 lng, lat): the reference pairs that the common open implementations
# (eviltransform and its ports) publish in their test suites
WGS_GCJ_PAIRS = [
    pytest.param((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597), id="shanghai"),
    pytest.param((113.912316, 22.543847), (113.9171764808363, 22.540796131694766), id="shenzhen"),
    pytest.param((116.377817, 39.911954), (116.38404722455657, 39.91334545536069), id="beijing"),
    # wandergis/coordtransform's README example (the Baidu demo centre near Tiananmen)
    pytest.param((116.404, 39.915), (116.41024449916938, 39.91640428150164), id="tiananmen"),
]

# Amap's own conversion service (restapi.amap.com/v3/assistant/coordinate/convert) for a point at
# Tiananmen, as recorded by the `geoChina` test suite: the algorithm agrees to well under a metre
AMAP_SERVICE_WGS = (116.39089, 39.90734)
AMAP_SERVICE_GCJ = (116.39713623, 39.90874539)

# GCJ-02 -> BD-09 (Baidu's published formula), wandergis/coordtransform's README example
GCJ_BD_PAIR = ((116.404, 39.915), (116.41036949371029, 39.92133699351021))
BD_GCJ_PAIR = ((116.404, 39.915), (116.39762729119315, 39.90865673957631))


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return geo.distance_m(a[1], a[0], b[1], b[0])


@pytest.mark.parametrize(("wgs", "gcj"), WGS_GCJ_PAIRS)
def test_wgs84_to_gcj02_matches_the_published_pairs(wgs, gcj):
    assert geo.to_gcj02(*wgs, "wgs84") == pytest.approx(gcj, abs=1e-9)


@pytest.mark.parametrize(("wgs", "gcj"), WGS_GCJ_PAIRS)
def test_gcj02_to_wgs84_recovers_the_original_point_to_a_centimetre(wgs, gcj):
    assert _metres(geo.from_gcj02(*gcj, "wgs84"), wgs) < 0.01


def test_agrees_with_amaps_conversion_service_within_a_metre():
    assert _metres(geo.to_gcj02(*AMAP_SERVICE_WGS, "wgs84"), AMAP_SERVICE_GCJ) < 1.0


def test_gcj02_to_bd09_is_baidus_formula():
    gcj, bd = GCJ_BD_PAIR
    assert geo.from_gcj02(*gcj, "bd09") == pytest.approx(bd, abs=1e-12)


def test_bd09_to_gcj02_matches_the_published_approximation_and_is_exact_in_return():
    bd, gcj = BD_GCJ_PAIR
    converted = geo.to_gcj02(*bd, "bd09")
    # the usual one-step inverse is off by ~5 cm; ours iterates to the exact preimage
    assert _metres(converted, gcj) < 0.1
    assert _metres(geo.from_gcj02(*converted, "bd09"), bd) < 0.01


def test_the_offsets_are_hundreds_of_metres_in_china():
    beijing_wgs = (116.397, 39.909)
    assert 300 < _metres(geo.to_gcj02(*beijing_wgs, "wgs84"), beijing_wgs) < 800
    assert 500 < _metres(geo.to_gcj02(*beijing_wgs, "bd09"), beijing_wgs) < 1500


@pytest.mark.parametrize("system", geo.COORD_SYSTEMS)
def test_round_trips_stay_within_half_a_metre_across_china(system):
    rng = random.Random(4)
    for _ in range(500):
        point = (rng.uniform(75.0, 134.0), rng.uniform(18.0, 53.0))
        there = geo.to_gcj02(*point, system)
        back = geo.from_gcj02(*there, system)
        assert _metres(back, point) < 0.5, (system, point)
        assert _metres(geo.to_gcj02(*back, system), there) < 0.5


@pytest.mark.parametrize(
    "point",
    [(-0.1276, 51.5072), (139.6917, 35.6895), (-74.006, 40.7128), (151.2093, -33.8688)],
    ids=["london", "tokyo", "new-york", "sydney"],
)
def test_outside_china_gcj02_is_wgs84(point):
    assert not geo.in_china(*point)
    assert geo.to_gcj02(*point, "wgs84") == point
    assert geo.from_gcj02(*point, "wgs84") == point


def test_in_china():
    assert geo.in_china(116.397, 39.909)  # Beijing
    assert geo.in_china(87.6168, 43.8256)  # Urumqi
    assert not geo.in_china(2.3522, 48.8566)  # Paris
    assert not geo.in_china(116.397, -39.909)


def test_gcj02_is_unchanged_and_unknown_systems_are_refused():
    assert geo.to_gcj02(116.4, 39.9, "gcj02") == (116.4, 39.9)
    assert geo.from_gcj02(116.4, 39.9, "gcj02") == (116.4, 39.9)
    with pytest.raises(ValueError):
        geo.to_gcj02(116.4, 39.9, "epsg3857")
    with pytest.raises(ValueError):
        geo.from_gcj02(116.4, 39.9, "bd-09")


def test_distance_m_is_the_great_circle_distance():
    assert geo.distance_m(39.9, 116.4, 39.9, 116.4) == 0
    # one degree of latitude on the mean sphere: 2πR/360
    assert geo.distance_m(30.0, 120.0, 31.0, 120.0) == pytest.approx(111_195.08, abs=0.5)
    # Beijing (Tiananmen) to Shanghai (People's Square): ~1,067 km as the crow flies
    assert geo.distance_m(39.9087, 116.3975, 31.2304, 121.4737) == pytest.approx(1_067_000, rel=0.005)
    # symmetric, and well-behaved for antipodes
    assert geo.distance_m(10, 20, -30, 40) == pytest.approx(geo.distance_m(-30, 40, 10, 20))
    assert geo.distance_m(0, 0, 0, 180) == pytest.approx(geo.EARTH_MEAN_RADIUS_M * 3.141592653589793)
