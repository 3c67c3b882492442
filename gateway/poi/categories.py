"""The POI category taxonomy, each category with a JSON Schema (draft 2020-12) for its attributes.

A POI's ``attributes`` hold what only makes sense for its category (a hotel's star rating, a
scenic spot's A-level, the scripts a murder-mystery venue runs). Each category publishes the schema
its attributes must satisfy (``GET /v1/poi-categories`` serves :func:`catalogue`), and the same
schema validates what partners send (:func:`validate_attributes`), so what we document is exactly
what we enforce. Every schema refuses unknown attributes (``additionalProperties: false``): a typo
in a partner's field name is an error, not silently stored data no one ever shows.

No attribute is required: partners sync what they know, and a missing attribute is just not shown.
Money is integer fen; times of day are ``HH:MM`` (24-hour clock, local time of the POI).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.jsonschemas import SchemaValidator

DIALECT = "https://json-schema.org/draft/2020-12/schema"

# --- reusable pieces ------------------------------------------------------------------------------

_TIME_OF_DAY = {
    "type": "string",
    "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$",
    "description": "Local time of day, HH:MM (24-hour clock).",
    "examples": ["14:00"],
}
_FEN = {"type": "integer", "minimum": 0, "maximum": 100_000_000, "description": "Amount in fen (1/100 yuan)."}


def _count(description: str, maximum: int) -> dict:
    return {"type": "integer", "minimum": 1, "maximum": maximum, "description": description}


def _flag(description: str) -> dict:
    return {"type": "boolean", "description": description}


def _set_of(values: tuple[str, ...], description: str) -> dict:
    return {
        "type": "array",
        "items": {"enum": list(values)},
        "uniqueItems": True,
        "maxItems": len(values),
        "description": description,
    }


def _object(title: str, properties: dict) -> dict:
    return {
        "$schema": DIALECT,
        "title": title,
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }


CUISINES = (
    "sichuan", "cantonese", "hunan", "shandong", "jiangsu_zhejiang", "northeastern", "northwestern",
    "yunnan_guizhou", "hotpot", "barbecue", "seafood", "noodles_dumplings", "snacks", "fast_food",
    "vegetarian", "japanese", "korean", "southeast_asian", "western", "dessert_bakery", "tea_coffee",
    "other",
)
HOTEL_FACILITIES = (
    "wifi", "parking", "breakfast", "swimming_pool", "gym", "spa", "meeting_room", "airport_shuttle",
    "ev_charging", "luggage_storage",
)
LEISURE_KINDS = (
    "bath_spa", "foot_massage", "bar", "escape_room", "board_games", "cinema", "arcade",
    "billiards", "bowling", "internet_cafe", "other",
)
BEAUTY_SERVICES = (
    "haircut", "hair_coloring", "perm", "hair_care", "nails", "lashes", "skincare", "makeup",
    "massage", "spa",
)
MYSTERY_GENRES = (
    "deduction", "emotional", "horror", "comedy", "mechanism", "immersive", "historical", "campus",
    "wuxia", "sci_fi",
)
KTV_ROOM_SIZES = ("mini", "small", "medium", "large", "party")
FITNESS_FACILITIES = (
    "free_weights", "machines", "cardio", "group_classes", "yoga", "swimming_pool", "sauna",
    "showers", "lockers", "personal_training",
)

_PLAYERS = {"type": "integer", "minimum": 1, "maximum": 50}

# --- the taxonomy ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Category:
    code: str
    name_zh: str
    name_en: str
    attributes_schema: dict
    # rules one JSON Schema cannot state (comparing two values): (attributes) -> [(field, message)]
    extra_checks: tuple[Callable[[dict], list[tuple[str, str]]], ...] = field(default=(), repr=False)


def _min_not_above_max(low: str, high: str, where: str = ""):
    """min <= max, where both are present (JSON Schema cannot compare two values)."""

    def check(attributes: dict) -> list[tuple[str, str]]:
        problems = []
        holders = [("", attributes)] if not where else [
            (f"{where}.{i}.", item) for i, item in enumerate(attributes.get(where) or [])
        ]
        for prefix, holder in holders:
            if not isinstance(holder, dict):
                continue
            a, b = holder.get(low), holder.get(high)
            if isinstance(a, int) and isinstance(b, int) and a > b:
                problems.append((f"{prefix}{low}", f"{low} ({a}) is greater than {high} ({b})"))
        return problems

    return check


_CATEGORIES = (
    Category("food", "美食", "Food & drink", _object("Food & drink attributes", {
        "cuisine": {"enum": list(CUISINES), "description": "Main cuisine."},
        "avg_price_per_person": _FEN | {"description": "Average spend per person, in fen."},
        "reservations": _flag("Takes table reservations."),
        "private_rooms": _flag("Has private rooms (包间)."),
        "seats": _count("Number of seats.", 10_000),
        "parking": _flag("Has parking."),
    })),
    Category("hotel", "酒店", "Hotel", _object("Hotel attributes", {
        "star_rating": {"type": "integer", "minimum": 1, "maximum": 5, "description": "Official star rating, 1–5."},
        "check_in_time": _TIME_OF_DAY | {"description": "Earliest check-in, HH:MM."},
        "check_out_time": _TIME_OF_DAY | {"description": "Latest check-out, HH:MM."},
        "room_count": _count("Number of rooms.", 100_000),
        "facilities": _set_of(HOTEL_FACILITIES, "Facilities on site."),
        "foreign_guests_accepted": _flag("Licensed to host guests without a mainland ID card."),
    })),
    Category("homestay", "民宿", "Homestay", _object("Homestay attributes", {
        "max_guests": _count("Most guests one booking can host.", 100),
        "room_count": _count("Number of rooms.", 1_000),
        "pets_allowed": _flag("Pets are welcome."),
        "self_check_in": _flag("Guests can check in without staff."),
        "check_in_time": _TIME_OF_DAY | {"description": "Earliest check-in, HH:MM."},
        "check_out_time": _TIME_OF_DAY | {"description": "Latest check-out, HH:MM."},
        "kitchen": _flag("Guests may use a kitchen."),
    })),
    Category("scenic_spot", "景点", "Scenic spot", _object("Scenic spot attributes", {
        "level": {"enum": ["A", "AA", "AAA", "AAAA", "AAAAA"],
                  "description": "National tourist attraction grade (A to AAAAA)."},
        "ticket_required": _flag("Entry needs a ticket."),
        "suggested_visit_hours": {"type": "number", "exclusiveMinimum": 0, "maximum": 72,
                                  "description": "Suggested length of a visit, in hours."},
        "reservation_required": _flag("Visitors must book a time slot in advance."),
        "pets_allowed": _flag("Pets may enter."),
    })),
    Category("leisure", "休闲娱乐", "Leisure & entertainment", _object("Leisure attributes", {
        "kind": {"enum": list(LEISURE_KINDS), "description": "What kind of venue."},
        "avg_price_per_person": _FEN | {"description": "Average spend per person, in fen."},
        "private_rooms": _flag("Has private rooms."),
        "open_24h": _flag("Open around the clock."),
    })),
    Category("beauty", "丽人/美发", "Beauty & hair", _object("Beauty & hair attributes", {
        "services": _set_of(BEAUTY_SERVICES, "Services offered."),
        "appointment_required": _flag("Customers must book ahead."),
        "stylist_count": _count("Number of stylists or beauticians.", 1_000),
        "avg_price_per_person": _FEN | {"description": "Average spend per visit, in fen."},
    })),
    Category("murder_mystery", "剧本杀", "Murder-mystery games", _object("Murder-mystery attributes", {
        "scripts": {
            "type": "array",
            "maxItems": 500,
            "description": "Scripts (剧本) the venue runs.",
            "items": {
                "type": "object",
                "required": ["title"],
                "additionalProperties": False,
                "properties": {
                    "title": {"type": "string", "minLength": 1, "maxLength": 100},
                    "genres": _set_of(MYSTERY_GENRES, "Genres of this script."),
                    "min_players": _PLAYERS,
                    "max_players": _PLAYERS,
                    "duration_minutes": {"type": "integer", "minimum": 30, "maximum": 1440},
                },
            },
        },
        "genres": _set_of(MYSTERY_GENRES, "Genres the venue is known for."),
        "min_players": _PLAYERS | {"description": "Fewest players of any session."},
        "max_players": _PLAYERS | {"description": "Most players of any session."},
        "rooms": _count("Number of game rooms.", 200),
        "costumes_provided": _flag("Costumes are provided."),
    }), extra_checks=(
        _min_not_above_max("min_players", "max_players"),
        _min_not_above_max("min_players", "max_players", where="scripts"),
    )),
    Category("ktv", "KTV", "KTV (karaoke)", _object("KTV attributes", {
        "room_sizes": _set_of(KTV_ROOM_SIZES, "Sizes of private rooms."),
        "room_count": _count("Number of private rooms.", 1_000),
        "avg_price_per_person": _FEN | {"description": "Average spend per person, in fen."},
        "open_24h": _flag("Open around the clock."),
        "food_served": _flag("Serves food, not only drinks and snacks."),
    })),
    Category("fitness", "运动健身", "Sports & fitness", _object("Fitness attributes", {
        "facilities": _set_of(FITNESS_FACILITIES, "Facilities on site."),
        "open_24h": _flag("Open around the clock."),
        "trial_class": _flag("Offers a free or discounted trial session."),
        "membership_required": _flag("Only members may use it (no single visits)."),
    })),
)

CATEGORIES: dict[str, Category] = {c.code: c for c in _CATEGORIES}
CODES: tuple[str, ...] = tuple(CATEGORIES)

# built once: compiling a validator per call would cost more than validating
_VALIDATORS = {c.code: SchemaValidator(c.attributes_schema) for c in _CATEGORIES}


def get(code: str) -> Category | None:
    return CATEGORIES.get(code)


def _field(path) -> str:
    return ".".join(["attributes", *(str(part) for part in path)])


def _messages(error) -> list[tuple[str, str]]:
    """One jsonschema error as (field, message) pairs naming the attribute at fault."""
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        return [(_field([*path, name]), "unknown attribute for this category")
                for name in sorted(error.instance) if name not in allowed]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [n for n in error.validator_value if n not in error.instance]
        return [(_field([*path, name]), "is required") for name in missing]
    if error.validator == "pattern":  # the regex means nothing to a partner; the description does
        return [(_field(path), f"{error.instance!r} is not valid: {error.schema.get('description', 'bad format')}")]
    return [(_field(path), error.message)]


def validate_attributes(code: str, attributes) -> list[dict]:
    """Field-level problems of ``attributes`` for the category ``code`` (empty when valid)."""
    category = CATEGORIES.get(code)
    if category is None:
        return [{"field": "category", "message": f"unknown category; one of: {', '.join(CODES)}"}]
    problems: list[tuple[str, str]] = []
    for error in _VALIDATORS[code].iter_errors(attributes):
        problems.extend(_messages(error))
    if not problems:
        for check in category.extra_checks:
            problems.extend((_field([name]), message) for name, message in check(attributes))
    seen = set()
    result = []
    for name, message in sorted(problems):
        if (name, message) not in seen:
            seen.add((name, message))
            result.append({"field": name, "message": message})
    return result


def catalogue() -> list[dict]:
    """Every category with its names and attribute schema: what ``GET /v1/poi-categories`` serves."""
    return [
        {"code": c.code, "name_zh": c.name_zh, "name_en": c.name_en, "attributes_schema": c.attributes_schema}
        for c in _CATEGORIES
    ]
