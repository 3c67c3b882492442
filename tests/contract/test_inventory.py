"""Inventory (SECURITY row 37, G19): what Flask serves is exactly what the contract describes."""

from __future__ import annotations

import inspect
import re

import pytest

from tests.contract import spec
from tests.contract.test_spec import OPERATIONS

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _template(rule: str) -> str:
    # <name>, <string:name>, <path:name> -> {name}
    return re.sub(r"<(?:[a-z_]+:)?([A-Za-z_][A-Za-z0-9_]*)>", r"{\1}", rule)


def served(flask_app) -> dict[tuple[str, str], str]:
    """(METHOD, /path/{param}) -> endpoint, for every rule of the app."""
    routes = {}
    for rule in flask_app.url_map.iter_rules():
        for method in sorted(rule.methods - IGNORED_METHODS):
            routes[(method, _template(rule.rule))] = rule.endpoint
    return routes


def described() -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, method, _ in OPERATIONS}


def test_every_served_route_is_in_the_spec(app):
    missing = sorted(set(served(app)) - described())
    assert not missing, f"served but not in openapi/openapi.yaml: {missing}"


def test_every_spec_operation_is_served(app):
    missing = sorted(described() - set(served(app)))
    assert not missing, f"in openapi/openapi.yaml but not served: {missing}"


def test_the_converter_normalisation_is_not_vacuous(app):
    templates = {path for _, path in served(app)}
    assert "/v1/apps/{app_id}" in templates
    assert "/assets/{filename}" in templates
    assert not any("<" in path for path in templates)


def _view(flask_app, method: str, path: str):
    return flask_app.view_functions[served(flask_app)[(method, path)]]


@pytest.mark.parametrize(
    ("path", "method", "operation"), OPERATIONS, ids=[f"{m.upper()} {p}" for p, m, _ in OPERATIONS]
)
def test_view_docstring_is_the_spec_summary(app, path, method, operation):
    view = _view(app, method.upper(), path)
    doc = inspect.getdoc(view)
    assert doc, f"{view.__name__} has no docstring"
    assert doc.splitlines()[0] == operation["summary"]


V1_PROTECTED = [(p, m, o) for p, m, o in OPERATIONS if p.startswith("/v1/") and o["security"]]


@pytest.mark.parametrize(
    ("path", "method", "operation"),
    V1_PROTECTED,
    ids=[f"{m.upper()} {p}" for p, m, _ in V1_PROTECTED],
)
def test_spec_scope_is_the_scope_the_view_requires(app, path, method, operation):
    view = _view(app, method.upper(), path)
    (scope,) = [s for requirement in operation["security"] for s in requirement.get("oauth2", [])]
    assert getattr(view, "required_scope", None) == scope


def test_public_v1_operations_require_no_scope(app):
    public = [(p, m) for p, m, o in OPERATIONS if p.startswith("/v1/") and o["security"] == []]
    assert public == [("/v1/scopes", "get")]
    assert getattr(_view(app, "GET", "/v1/scopes"), "required_scope", None) is None


def test_idempotent_views_declare_the_idempotency_key(app):
    for path, method, operation in OPERATIONS:
        view = _view(app, method.upper(), path)
        takes_key = any(
            p.get("$ref", "").endswith(("/IdempotencyKey", "/VerifyIdempotencyKey")) for p in operation.get("parameters", [])
        )
        assert takes_key == bool(getattr(view, "idempotent", False)), f"{method.upper()} {path}"
        assert takes_key == bool(operation.get("x-sdk-idempotent")), f"{method.upper()} {path}"
        if takes_key:
            assert "409" in operation["responses"] and "422" in operation["responses"]


def test_spec_servers_and_paths_are_not_empty():
    assert len(spec()["paths"]) > 20
