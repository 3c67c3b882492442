"""No drift between marshmallow schemas and their spec components.

Each schema names its component in ``spec_component`` (and, when its load fields form a separate
request component, ``spec_load_component``). apispec's converter turns the schema into JSON
Schema, which is compared with the component: field names, required, readOnly = dump_only, types
and validators.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

import gateway
from gateway.http.schemas import UTCDateTimeField
from tests.contract import resolve_ref, spec

CONSTRAINTS = (
    "type",
    "format",
    "enum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "default",
)


def _all_schema_classes() -> list[type[Schema]]:
    for module in pkgutil.walk_packages(gateway.__path__, "gateway."):
        if module.name.endswith((".schemas", ".views")):
            importlib.import_module(module.name)
    found, stack = [], list(Schema.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("gateway."):
            found.append(cls)
    return sorted(set(found), key=lambda c: c.__qualname__)


SCHEMAS = [cls for cls in _all_schema_classes() if "spec_component" in vars(cls)]


def _converter():
    plugin = MarshmallowPlugin()
    APISpec("shijing", "1", "3.1.0", plugins=[plugin])
    plugin.map_to_openapi_type(UTCDateTimeField, "string", "date-time")
    return plugin.converter


def _component(name: str) -> dict:
    component = spec()["components"]["schemas"][name]
    assert component.get("type") == "object" and "properties" in component, name
    return component


def _request_components() -> set[str]:
    names = set()
    for item in spec()["paths"].values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for content in (operation.get("requestBody") or {}).get("content", {}).values():
                ref = content.get("schema", {}).get("$ref", "")
                names.add(ref.rsplit("/", 1)[-1])
    return names


def _compare(name: str, converted: dict, *, request: bool) -> None:
    component = _component(name)
    spec_props, props = component["properties"], converted["properties"]
    assert set(spec_props) == set(props), (
        f"{name}: fields differ: spec {sorted(spec_props)}, schema {sorted(props)}"
    )
    if request:
        # what the server demands is what the spec demands
        assert set(component.get("required", [])) == set(converted.get("required", [])), name
    else:
        # a dumped object always carries every field
        assert set(component.get("required", [])) == set(props), name
    assert component.get("additionalProperties") is False, (
        f"{name}: unknown fields are rejected (unknown=RAISE)"
    )
    for field, prop in props.items():
        documented = resolve_ref(spec_props[field])
        if not request:
            assert bool(documented.get("readOnly")) == bool(prop.get("readOnly")), (
                f"{name}.{field} readOnly"
            )
        keys = CONSTRAINTS if request else [k for k in CONSTRAINTS if k in prop and k != "default"]
        for key in keys:
            assert documented.get(key) == prop.get(key), (
                f"{name}.{field}.{key}: spec {documented.get(key)!r}, schema {prop.get(key)!r}"
            )
        if prop.get("type") == "array":
            items = resolve_ref(documented["items"])
            for key in CONSTRAINTS:
                if request or key in prop["items"]:
                    assert items.get(key) == prop["items"].get(key), f"{name}.{field}[].{key}"


def test_every_schema_names_its_component():
    unnamed = [
        cls.__qualname__
        for cls in _all_schema_classes()
        if cls.__name__ != "StrictSchema" and "spec_component" not in vars(cls)
    ]
    assert not unnamed, f"schemas without spec_component: {unnamed}"
    assert len(SCHEMAS) >= 6  # App, AppUpdate, Authorization, Event, Merchant, Empty


@pytest.mark.parametrize("schema_class", SCHEMAS, ids=[cls.__qualname__ for cls in SCHEMAS])
def test_schema_agrees_with_its_component(schema_class):
    name = schema_class.spec_component
    request = name in _request_components()
    converted = _converter().schema2jsonschema(schema_class)
    if request:
        assert not any(p.get("readOnly") for p in converted["properties"].values()), (
            f"{name} is a request body but has dump_only fields"
        )
    _compare(name, converted, request=request)


LOADING = [cls for cls in SCHEMAS if "spec_load_component" in vars(cls)]


@pytest.mark.parametrize("schema_class", LOADING, ids=[cls.__qualname__ for cls in LOADING])
def test_load_fields_agree_with_the_request_component(schema_class):
    converted = _converter().schema2jsonschema(schema_class)
    converted["properties"] = {
        k: v for k, v in converted["properties"].items() if not v.get("readOnly")
    }
    _compare(schema_class.spec_load_component, converted, request=True)


def test_app_schema_loads_exactly_app_create():
    from gateway.apps.schemas import AppSchema

    assert AppSchema.spec_load_component == "AppCreate"
    assert set(AppSchema().load_fields) == set(_component("AppCreate")["properties"])
    assert set(AppSchema().dump_fields) == set(_component("App")["properties"])


def _validating(node):
    """A JSON Schema without its prose: what decides whether a value passes."""
    if isinstance(node, dict):
        return {k: _validating(v) for k, v in node.items() if k not in ("title", "description", "example")}
    if isinstance(node, list):
        return [_validating(v) for v in node]
    return node


def _nested_components() -> dict:
    from gateway.orders.schemas import NESTED_COMPONENTS as ORDERS
    from gateway.poi.schemas import NESTED_COMPONENTS as POI

    return {**POI, **ORDERS}


@pytest.mark.parametrize("name", sorted(_nested_components()))
def test_nested_json_schemas_are_their_components(name):
    """Objects validated as JSON Schema inside a request (``JSONSchemaObject``) check exactly what the
    contract's component of the same name says."""
    assert _validating(_nested_components()[name]) == _validating(spec()["components"]["schemas"][name])
