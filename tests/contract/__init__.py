"""Checks responses against the OpenAPI contract: every test response is validated.

``SpecClient`` is the Flask test client used by every test: after each request it finds the
operation in ``openapi/openapi.yaml`` and fails the test if the route is not in the spec, the
status is not documented, the media type is not declared, or the JSON body does not validate
against the declared schema.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from gateway.config import REPO_ROOT
from gateway.platform.spec import load_spec

SPEC_PATH = str(REPO_ROOT / "openapi" / "openapi.yaml")
SPEC_URI = "urn:shijing:openapi"


def spec() -> dict:
    return load_spec(SPEC_PATH)


def resolve_ref(node: dict) -> dict:
    """``node`` with its $ref followed (repeatedly), keeping sibling keywords (OpenAPI 3.1 allows them)."""
    node = dict(node)
    while "$ref" in node:
        target = spec()
        for part in node.pop("$ref").lstrip("#/").split("/"):
            target = target[part]
        node = {**target, **node}
    return node


@lru_cache(maxsize=1)
def _registry() -> Registry:
    return Registry().with_resource(SPEC_URI, Resource.from_contents(spec(), default_specification=DRAFT202012))


@lru_cache(maxsize=1)
def _path_patterns() -> list[tuple[re.Pattern, str]]:
    patterns = []
    for template in spec()["paths"]:
        regex = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        patterns.append((re.compile(regex), template))
    # literal segments win over parameters (e.g. /v1/me/... vs /v1/{x}/...)
    patterns.sort(key=lambda item: item[1].count("{"))
    return patterns


def find_operation(method: str, path: str) -> tuple[str, dict] | None:
    for regex, template in _path_patterns():
        if regex.match(path):
            operation = spec()["paths"][template].get(method.lower())
            return (template, operation) if operation else None
    return None


def _resolve(node: dict) -> dict:
    while isinstance(node, dict) and "$ref" in node:
        target = spec()
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def schema_validator(schema: dict) -> Draft202012Validator:
    if "$ref" in schema:
        schema = {"$ref": SPEC_URI + schema["$ref"]}
    else:
        schema = json.loads(json.dumps(schema).replace('"$ref": "#', f'"$ref": "{SPEC_URI}#'))
    return Draft202012Validator(schema, registry=_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def check_response(method: str, path: str, response) -> None:
    found = find_operation(method, path)
    assert found is not None, f"{method} {path} is served but not in openapi/openapi.yaml"
    template, operation = found
    status = str(response.status_code)
    responses = operation["responses"]
    assert status in responses, f"{method} {template} answered {status}, not documented in the spec"
    documented = _resolve(responses[status])
    content = documented.get("content")
    body = response.get_data()
    if not content:
        assert not body, f"{method} {template} {status} has a body but the spec declares none"
        return
    mimetype = response.mimetype
    assert mimetype in content, f"{method} {template} {status}: {mimetype} not declared ({sorted(content)})"
    if mimetype == "application/json" or mimetype.endswith("+json"):  # not JSON Lines (application/x-ndjson)
        schema = content[mimetype].get("schema")
        if schema:
            errors = sorted(schema_validator(schema).iter_errors(json.loads(body)), key=str)
            assert not errors, f"{method} {template} {status} body breaks the spec: {errors[0].message}"


class SpecClient(FlaskClient):
    """A test client that validates every response against the contract."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        request = response.request
        check_response(request.method, request.path, response)
        return response
