"""The POI category taxonomy: every schema is a valid draft 2020-12 schema, good attributes pass,
bad and unknown ones are named field by field, an unknown category is refused."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from gateway.poi import categories

GOOD = {
    "food": {"cuisine": "hotpot", "avg_price_per_person": 8800, "reservations": True, "private_rooms": False},
    "hotel": {"star_rating": 4, "check_in_time": "14:00", "check_out_time": "12:00", "room_count": 120,
              "facilities": ["wifi", "breakfast"]},
    "homestay": {"max_guests": 6, "pets_allowed": True, "room_count": 3, "check_in_time": "15:30"},
    "scenic_spot": {"level": "AAAAA", "ticket_required": True, "suggested_visit_hours": 3.5},
    "leisure": {"kind": "bath_spa", "avg_price_per_person": 15000, "open_24h": True},
    "beauty": {"services": ["haircut", "hair_coloring"], "appointment_required": True},
    "murder_mystery": {
        "scripts": [{"title": "雾都疑案", "genres": ["deduction", "horror"], "min_players": 5,
                     "max_players": 7, "duration_minutes": 240}],
        "genres": ["emotional"], "min_players": 4, "max_players": 10, "rooms": 6,
    },
    "ktv": {"room_sizes": ["small", "party"], "room_count": 30, "open_24h": False},
    "fitness": {"facilities": ["free_weights", "yoga"], "open_24h": True, "trial_class": True},
}

# (category, attributes, the field named in the error)
BAD = [
    ("food", {"cuisine": "martian"}, "attributes.cuisine"),
    ("food", {"avg_price_per_person": -1}, "attributes.avg_price_per_person"),
    ("food", {"avg_price_per_person": 12.5}, "attributes.avg_price_per_person"),  # fen are integers
    ("food", {"reservations": "yes"}, "attributes.reservations"),
    ("hotel", {"star_rating": 6}, "attributes.star_rating"),
    ("hotel", {"star_rating": 0}, "attributes.star_rating"),
    ("hotel", {"star_rating": True}, "attributes.star_rating"),
    ("hotel", {"check_in_time": "25:00"}, "attributes.check_in_time"),
    ("hotel", {"check_in_time": "2pm"}, "attributes.check_in_time"),
    ("hotel", {"room_count": 0}, "attributes.room_count"),
    ("hotel", {"facilities": ["wifi", "wifi"]}, "attributes.facilities"),
    ("homestay", {"max_guests": 0}, "attributes.max_guests"),
    ("homestay", {"pets_allowed": 1}, "attributes.pets_allowed"),
    ("scenic_spot", {"level": "AAAAAA"}, "attributes.level"),
    ("scenic_spot", {"level": "5A"}, "attributes.level"),
    ("scenic_spot", {"suggested_visit_hours": 0}, "attributes.suggested_visit_hours"),
    ("leisure", {"kind": "casino"}, "attributes.kind"),
    ("beauty", {"services": ["tattoo"]}, "attributes.services.0"),
    ("murder_mystery", {"min_players": 8, "max_players": 4}, "attributes.min_players"),
    ("murder_mystery", {"scripts": [{"title": "A", "min_players": 9, "max_players": 6}]},
     "attributes.scripts.0.min_players"),
    ("murder_mystery", {"scripts": [{"genres": ["horror"]}]}, "attributes.scripts.0.title"),
    ("murder_mystery", {"scripts": [{"title": "A", "dm": "x"}]}, "attributes.scripts.0.dm"),
    ("ktv", {"room_sizes": ["huge"]}, "attributes.room_sizes.0"),
    ("fitness", {"open_24h": "always"}, "attributes.open_24h"),
]


def fields(problems: list[dict]) -> list[str]:
    return [p["field"] for p in problems]


def test_the_taxonomy_covers_the_issue():
    assert {"food", "hotel", "homestay", "scenic_spot", "leisure", "beauty", "murder_mystery"} <= set(categories.CODES)
    assert set(GOOD) == set(categories.CODES), "every category has a good example here"


@pytest.mark.parametrize("code", categories.CODES)
def test_every_schema_is_a_valid_draft_2020_12_schema(code):
    schema = categories.get(code).attributes_schema
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)  # raises SchemaError when it is not
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize("code", categories.CODES)
def test_good_attributes_pass(code):
    assert categories.validate_attributes(code, GOOD[code]) == []
    assert categories.validate_attributes(code, {}) == [], "no attribute is required"


@pytest.mark.parametrize(("code", "attributes", "field"), BAD, ids=[f"{c}-{f}" for c, _, f in BAD])
def test_bad_attributes_are_named(code, attributes, field):
    problems = categories.validate_attributes(code, attributes)
    assert field in fields(problems), problems
    assert all(p["message"] for p in problems)


@pytest.mark.parametrize("code", categories.CODES)
def test_unknown_attributes_are_refused(code):
    problems = categories.validate_attributes(code, {**GOOD[code], "stars": 5, "colour": "red"})
    assert problems == [
        {"field": "attributes.colour", "message": "unknown attribute for this category"},
        {"field": "attributes.stars", "message": "unknown attribute for this category"},
    ]


def test_another_categorys_attribute_is_unknown():
    # a hotel's star rating means nothing for a hotpot restaurant
    assert fields(categories.validate_attributes("food", {"star_rating": 4})) == ["attributes.star_rating"]


def test_several_problems_are_all_reported():
    problems = categories.validate_attributes("hotel", {"star_rating": 9, "check_in_time": "noon", "pool": True})
    assert fields(problems) == ["attributes.check_in_time", "attributes.pool", "attributes.star_rating"]
    assert "HH:MM" in problems[0]["message"]


def test_attributes_must_be_an_object():
    assert fields(categories.validate_attributes("food", ["hotpot"])) == ["attributes"]
    assert fields(categories.validate_attributes("food", None)) == ["attributes"]


def test_unknown_category():
    problems = categories.validate_attributes("spaceport", {})
    assert fields(problems) == ["category"]
    assert "hotel" in problems[0]["message"]
    assert categories.get("spaceport") is None


def test_catalogue_lists_every_category_with_names_and_schema():
    catalogue = categories.catalogue()
    assert [c["code"] for c in catalogue] == list(categories.CODES)
    hotel = next(c for c in catalogue if c["code"] == "hotel")
    assert hotel["name_zh"] == "酒店" and hotel["name_en"] == "Hotel"
    assert hotel["attributes_schema"]["properties"]["star_rating"]["maximum"] == 5
    for entry in catalogue:
        assert set(entry) == {"code", "name_zh", "name_en", "attributes_schema"}
        assert entry["name_zh"] and entry["name_en"]


def test_published_schema_validates_like_the_gateway():
    """A partner validating with the published schema gets the same verdict as the gateway
    (cross-field rules aside, which the schema cannot state)."""
    for entry in categories.catalogue():
        validator = Draft202012Validator(entry["attributes_schema"])
        assert validator.is_valid(GOOD[entry["code"]])
    for code, attributes, _ in BAD:
        published = Draft202012Validator(categories.get(code).attributes_schema).is_valid(attributes)
        cross_field = code == "murder_mystery" and "max_players" in str(attributes)
        assert published is cross_field, (code, attributes)
