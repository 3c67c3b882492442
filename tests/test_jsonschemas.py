"""gateway.jsonschemas: the compiled fast check and jsonschema agree on what is valid, so the fast
path never accepts what the detailed validator (whose errors the API reports) would refuse."""

from __future__ import annotations

import jsonschema_rs
import pytest
from jsonschema import Draft202012Validator

from gateway.jsonschemas import SchemaValidator
from gateway.poi import categories
from gateway.poi.schemas import OPENING_HOURS, PRODUCT_CONTENT_ITEM, PRODUCT_USAGE_RULES
from tests.poi.test_categories import BAD, GOOD

HOURS = [
    {},
    {"timezone": "Asia/Shanghai", "weekly": [{"days": ["fri", "sat"], "open": "18:00", "close": "02:00"}],
     "special_days": [{"date": "2026-10-01", "closed": True, "note": "国庆"}]},
    {"weekly": [{"days": ["mon"], "open": "00:00", "close": "24:00"}]},
    {"weekly": [{"days": ["mon"], "open": "24:30", "close": "02:00"}]},
    {"weekly": [{"days": ["someday"], "open": "10:00", "close": "22:00"}]},
    {"weekly": [{"days": [], "open": "10:00", "close": "22:00"}]},
    {"weekly": [{"days": ["mon"], "open": "10:00"}]},
    {"weekly": "always"},
    {"special_days": [{"date": "2026-13-45x"}]},
    {"special_days": [{"date": "2026-10-01", "ranges": [{"open": "9:00", "close": "12:00"}]}]},
    {"special_days": [{"date": "2026-10-01", "closed": "yes"}]},
    {"timezone": ""},
    {"lunch_break": True},
]
CONTENTS = [{"name": "锅底", "quantity": 1, "price": 3800}, {"name": "", "quantity": 1},
            {"name": "x", "quantity": 0}, {"name": "x", "quantity": 1.0}, {"name": "x", "quantity": True},
            {"name": "x", "quantity": 1, "price": -1}, {"quantity": 1}, {"name": "x", "quantity": 1, "sku": 1}]
RULES = [{}, {"max_per_order": 2, "available_on_holidays": False}, {"max_per_order": 0},
         {"appointment_hours_ahead": 721}, {"notes": 5}, {"notes": "x" * 501}, {"refundable": True}]

CASES = (
    [(categories.get(code).attributes_schema, value) for code, value in GOOD.items()]
    + [(categories.get(code).attributes_schema, value) for code, value, _ in BAD]
    + [(OPENING_HOURS, value) for value in HOURS]
    + [(PRODUCT_CONTENT_ITEM, value) for value in CONTENTS]
    + [(PRODUCT_USAGE_RULES, value) for value in RULES]
)


@pytest.mark.parametrize(("schema", "instance"), CASES)
def test_the_fast_check_agrees_with_jsonschema(schema, instance):
    detailed_valid = not list(Draft202012Validator(schema).iter_errors(instance))
    assert jsonschema_rs.Draft202012Validator(schema).is_valid(instance) == detailed_valid
    assert (not list(SchemaValidator(schema).iter_errors(instance))) == detailed_valid


def test_the_cases_hold_both_verdicts():
    verdicts = {not list(Draft202012Validator(s).iter_errors(i)) for s, i in CASES}
    assert verdicts == {True, False}


def test_a_refused_instance_gets_jsonschemas_detailed_errors():
    errors = list(SchemaValidator(OPENING_HOURS).iter_errors({"weekly": [{"days": ["mon"], "open": "10:00"}]}))
    assert [(list(e.absolute_path), e.validator) for e in errors] == [(["weekly", 0], "required")]
