"""Coordinate systems of Chinese maps, and distances on the Earth.

Partners send coordinates in the system of the map they use:

- ``wgs84``: GPS, OpenStreetMap, Google outside China;
- ``gcj02``: the national "Mars" system of Amap (高德) and Tencent Maps, which is what we store;
- ``bd09``: Baidu Maps, a second obfuscation on top of GCJ-02.

The WGS-84 → GCJ-02 offset is the widely published reimplementation of the national algorithm
(Krasovsky 1940 ellipsoid constants); it reproduces Amap's own conversion service to well under a
metre. GCJ-02 → BD-09 is Baidu's published formula. Neither has a closed-form inverse, so the inverse
directions refine a first guess by fixed-point iteration until the forward conversion of the result
lands within ``_INVERSE_TOLERANCE_DEG`` of the input (about a centimetre).

No PyPI library was taken for this: the candidates (eviltransform, coord-convert, prcoords and a few
copies of them) are unmaintained for years and most do the inverse with the one-step approximation
(metres of error); the formula is short and the tests pin it to published reference points.

Outside mainland China (by the customary bounding box, as Amap does it) GCJ-02 equals WGS-84.
"""

from __future__ import annotations

import math

COORD_SYSTEMS = ("gcj02", "wgs84", "bd09")

# Krasovsky 1940 ellipsoid, as the GCJ-02 algorithm uses it
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
# Baidu's constant: pi * 3000 / 180
_BD_X_PI = math.pi * 3000.0 / 180.0
_BD_LNG_SHIFT = 0.0065
_BD_LAT_SHIFT = 0.006

_INVERSE_TOLERANCE_DEG = 1e-7  # ~1 cm
_INVERSE_MAX_STEPS = 30  # converges in 2–4 steps in practice

EARTH_MEAN_RADIUS_M = 6_371_008.8  # IUGG mean radius: what haversine assumes


def in_china(lng: float, lat: float) -> bool:
    """Whether the point is in the area where GCJ-02 differs from WGS-84 (a rough box, as customary)."""
    return 72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271


def to_gcj02(lng: float, lat: float, system: str) -> tuple[float, float]:
    """``(lng, lat)`` given in ``system`` as GCJ-02 ``(lng, lat)``."""
    if system == "gcj02":
        return lng, lat
    if system == "wgs84":
        return wgs84_to_gcj02(lng, lat)
    if system == "bd09":
        return bd09_to_gcj02(lng, lat)
    raise ValueError(f"unknown coordinate system {system!r}; expected one of {COORD_SYSTEMS}")


def from_gcj02(lng: float, lat: float, system: str) -> tuple[float, float]:
    """GCJ-02 ``(lng, lat)`` as ``(lng, lat)`` in ``system``."""
    if system == "gcj02":
        return lng, lat
    if system == "wgs84":
        return gcj02_to_wgs84(lng, lat)
    if system == "bd09":
        return gcj02_to_bd09(lng, lat)
    raise ValueError(f"unknown coordinate system {system!r}; expected one of {COORD_SYSTEMS}")


def wgs84_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    if not in_china(lng, lat):
        return lng, lat
    d_lng, d_lat = _gcj02_offset(lng, lat)
    return lng + d_lng, lat + d_lat


def gcj02_to_wgs84(lng: float, lat: float) -> tuple[float, float]:
    if not in_china(lng, lat):
        return lng, lat
    return _invert(wgs84_to_gcj02, lng, lat)


def gcj02_to_bd09(lng: float, lat: float) -> tuple[float, float]:
    z = math.hypot(lng, lat) + 0.00002 * math.sin(lat * _BD_X_PI)
    theta = math.atan2(lat, lng) + 0.000003 * math.cos(lng * _BD_X_PI)
    return z * math.cos(theta) + _BD_LNG_SHIFT, z * math.sin(theta) + _BD_LAT_SHIFT


def bd09_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    # Baidu's approximate inverse is the first guess; the iteration removes its residue (~1e-7°)
    x, y = lng - _BD_LNG_SHIFT, lat - _BD_LAT_SHIFT
    z = math.hypot(x, y) - 0.00002 * math.sin(y * _BD_X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _BD_X_PI)
    return _invert(gcj02_to_bd09, lng, lat, guess=(z * math.cos(theta), z * math.sin(theta)))


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres (haversine on a sphere of the Earth's mean radius)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lng2 - lng1)
    h = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_MEAN_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _gcj02_offset(lng: float, lat: float) -> tuple[float, float]:
    """The GCJ-02 shift at a WGS-84 point, in degrees ``(d_lng, d_lat)``."""
    x, y = lng - 105.0, lat - 35.0
    d_lat = _shift_lat(x, y)
    d_lng = _shift_lng(x, y)
    rad_lat = math.radians(lat)
    magic = 1 - _KRASOVSKY_EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_KRASOVSKY_A * (1 - _KRASOVSKY_EE)) / (magic * sqrt_magic) * math.pi)
    d_lng = (d_lng * 180.0) / (_KRASOVSKY_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return d_lng, d_lat


def _shift_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _shift_lng(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def _invert(forward, lng: float, lat: float, guess: tuple[float, float] | None = None):
    """The point p with ``forward(p) == (lng, lat)``: the offsets vary slowly, so p -= forward(p) - target converges."""
    g_lng, g_lat = guess if guess is not None else (lng, lat)
    for _ in range(_INVERSE_MAX_STEPS):
        f_lng, f_lat = forward(g_lng, g_lat)
        e_lng, e_lat = f_lng - lng, f_lat - lat
        if abs(e_lng) < _INVERSE_TOLERANCE_DEG and abs(e_lat) < _INVERSE_TOLERANCE_DEG:
            break
        g_lng, g_lat = g_lng - e_lng, g_lat - e_lat
    return g_lng, g_lat
