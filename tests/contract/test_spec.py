"""The contract itself: valid OpenAPI 3.1, and every operation fully described (SECURITY G19)."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from gateway.events.services import EVENT_TYPES
from gateway.oauth import scopes as scope_registry
from tests.contract import SPEC_PATH, spec

HTTP_METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")


def operations():
    for path, item in spec()["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


OPERATIONS = list(operations())
IDS = [f"{method.upper()} {path}" for path, method, _ in OPERATIONS]


def resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        target = spec()
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def test_spec_is_valid_openapi_3_1():
    document, _ = read_from_filename(SPEC_PATH)
    assert document["openapi"].startswith("3.1")
    validate(document)  # raises on the first violation


def test_operation_ids_are_unique():
    ids = [operation["operationId"] for _, _, operation in OPERATIONS]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS, ids=IDS)
def test_operation_is_fully_described(path, method, operation):
    declared_tags = {tag["name"] for tag in spec()["tags"]}
    assert operation.get("operationId"), "no operationId"
    assert len(operation.get("tags", [])) == 1, "exactly one tag"
    assert operation["tags"][0] in declared_tags
    assert operation.get("summary", "").strip(), "no summary"
    assert "security" in operation, (
        "no explicit security requirement (use `security: []` when public)"
    )


@pytest.mark.parametrize(
    ("path", "method", "operation"),
    [o for o in OPERATIONS if o[0].startswith("/v1/")],
    ids=[i for i, o in zip(IDS, OPERATIONS, strict=True) if o[0].startswith("/v1/")],
)
def test_v1_operations_name_their_oauth2_scope(path, method, operation):
    security = operation["security"]
    if path == "/v1/scopes":
        assert security == [], "the scope registry is public"
        return
    oauth2 = [requirement["oauth2"] for requirement in security if "oauth2" in requirement]
    assert len(oauth2) == 1 and len(oauth2[0]) == 1, f"one oauth2 scope expected, got {security}"
    assert oauth2[0][0] in scope_registry.SCOPES
    # the bearer alternative is the same token for generators without OAuth support
    assert {"bearerAuth": []} in security


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS, ids=IDS)
def test_every_2xx_body_has_an_example(path, method, operation):
    for status, response in operation["responses"].items():
        if not status.startswith("2"):
            continue
        for media_type, content in (resolve(response).get("content") or {}).items():
            if content.get("schema", {}).get("contentMediaType"):
                continue  # binary files have no meaningful example
            if media_type in ("text/javascript", "application/javascript"):
                continue  # alternative types of one asset response; text/css carries the example
            assert "example" in content or content.get("examples"), (
                f"{status} {media_type} has no example"
            )


def _bodies():
    for path, method, operation in OPERATIONS:
        request_body = resolve(operation.get("requestBody", {}))
        for media_type, content in (request_body.get("content") or {}).items():
            yield f"{method.upper()} {path} request {media_type}", content
        for status, response in operation["responses"].items():
            for media_type, content in (resolve(response).get("content") or {}).items():
                yield f"{method.upper()} {path} {status} {media_type}", content


@pytest.mark.parametrize(("where", "content"), list(_bodies()), ids=[w for w, _ in _bodies()])
def test_every_structured_body_is_a_named_component(where, content):
    schema = content.get("schema", {})
    if schema.get("type") == "string":
        return  # HTML pages, metrics text, static files
    assert set(schema) == {"$ref"}, f"{where}: inline schema {schema}"
    assert schema["$ref"].startswith("#/components/schemas/")


def test_every_component_schema_is_titled_with_its_name():
    for name, schema in spec()["components"]["schemas"].items():
        assert schema.get("title") == name, name


def test_every_example_validates_against_its_schema():
    from tests.contract import schema_validator

    checked = 0
    for where, content in _bodies():
        schema = content.get("schema")
        if not schema or "json" not in where.split()[-1]:
            continue
        examples = [content["example"]] if "example" in content else []
        examples += [resolve(e)["value"] for e in (content.get("examples") or {}).values()]
        for example in examples:
            errors = list(schema_validator(schema).iter_errors(example))
            assert not errors, f"{where}: example breaks its schema: {errors[0].message}"
            checked += 1
    assert checked > 20


def _flow_scopes(flow: str) -> dict:
    return spec()["components"]["securitySchemes"]["oauth2"]["flows"][flow]["scopes"]


def test_authorization_code_scopes_are_the_ones_a_person_grants():
    expected = {
        s.name: s.description for s in scope_registry.SCOPES.values() if s.subjects - {"app"}
    }
    assert _flow_scopes("authorizationCode") == expected


def test_client_credentials_scopes_are_the_ones_an_app_holds():
    expected = {
        s.name: s.description for s in scope_registry.SCOPES.values() if "app" in s.subjects
    }
    assert _flow_scopes("clientCredentials") == expected


def test_every_scope_is_in_some_flow():
    both = set(_flow_scopes("authorizationCode")) | set(_flow_scopes("clientCredentials"))
    assert both == set(scope_registry.SCOPES)


def test_event_type_enum_is_the_event_catalogue():
    assert spec()["components"]["schemas"]["EventType"]["enum"] == list(EVENT_TYPES)


def test_problem_schema_has_the_rfc9457_members():
    problem = spec()["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance", "code", "request_id"} <= set(
        problem["required"]
    )
