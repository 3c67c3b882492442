"""gateway.jsontext: the JSON text of the database's JSON columns and of the quick NUL look."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, Table, select

from gateway import jsontext

VALUES = [
    {"name": "老北京炸酱面（人民路473号店）", "lat": 28.167511, "tags": ["a", "b"], "n": None, "ok": True},
    {"nested": {"deeper": [{"x": 1.5e-7}, {"y": -2 ** 63}]}, "line\u2028sep": "tab\tquote\"back\\slash"},
    [],
    {},
    "中",
    0,
]


@pytest.mark.parametrize("value", VALUES)
def test_compact_text_is_the_same_json_without_spaces(value):
    text = jsontext.compact(value)
    assert json.loads(text) == value
    assert " " not in text  # none of the values has a space of its own
    assert ("中" in text) == ("中" in json.dumps(value, ensure_ascii=False))  # characters as they are


@pytest.mark.parametrize("value", [{"big": 2 ** 70}, [-(2 ** 64)], {1: "a", "b": [2 ** 100]}])
def test_what_orjson_refuses_gets_the_standard_librarys_text(value):
    assert jsontext.compact(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize("value, holds", [
    ({"name": "a\x00b"}, True),
    ({"a\x00": "key"}, True),
    ({"items": [{"attributes": {"x": ["", "\x00"]}}]}, True),
    ({"items": [{"big": 2 ** 70, "name": "\x00"}]}, True),  # through the standard library
    ({"name": "中文", "n": 1, "big": 2 ** 70}, False),
    ({"name": "backslash-u: \\u0001"}, False),
    ({"at": object()}, True),  # not JSON: the caller looks closely
])
def test_holds_nul_is_a_quick_look_that_never_misses_one(value, holds):
    assert jsontext.holds_nul(value) is holds


def test_a_json_column_stores_what_orjson_refuses_and_reads_it_back(app):
    engine = app.extensions["shijing.db"].engine
    probe = Table("jsontext_probe", MetaData(), Column("id", Integer, primary_key=True), Column("doc", JSON))
    stored = {"name": "市井", "big": 2 ** 70, "list": [1, 2.5, None]}
    probe.create(engine)
    try:
        with engine.begin() as connection:
            connection.execute(probe.insert(), [{"id": 1, "doc": stored}, {"id": 2, "doc": {"plain": "中文"}}])
        with engine.connect() as connection:
            assert dict(connection.execute(select(probe.c.id, probe.c.doc)).all()) == {1: stored, 2: {"plain": "中文"}}
    finally:
        probe.drop(engine)


def test_canonical_text_is_what_digests_were_taken_over_before():
    # stored content digests must still match a resend: the text json.dumps wrote, byte for byte
    import random
    from datetime import datetime, timedelta, timezone

    from tests.poi.api_world import store, voucher

    rng = random.Random(7)
    when = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
    values = [store(name=f"火锅{n}号店（{rng.choice('东南西北')}门）", lat=round(rng.uniform(18, 54), rng.randint(0, 7)),
                    lng=round(rng.uniform(73, 135), rng.randint(0, 7)), images=[f"https://img.example.com/{n}.jpg"])
              for n in range(300)]
    values += [voucher(sale_starts_at=when + timedelta(minutes=n), price=rng.randint(1, 10 ** 6)) for n in range(100)]
    values += [{"z": 1, "a": {"y": [2 ** 70, -1.5, 0.25], "b": None, "c": "\t\"\\\u2028"}}]

    def default(value):
        return value.isoformat()

    for value in values:
        assert jsontext.canonical(value, default) == json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=default)


def test_canonical_text_of_what_json_cannot_write_fails_as_json_did():
    with pytest.raises(TypeError):
        jsontext.canonical({"at": object()})
