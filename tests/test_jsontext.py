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
