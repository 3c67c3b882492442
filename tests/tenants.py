"""Tenants for the contract suites (schemathesis, cross-tenant matrix, function-level authz).

Everything here goes through the gateway's own code: accounts, apps and authorizations through
the services, client-credentials tokens through ``POST /oauth2/token``, and user- or
merchant-bound tokens through the real authorization-code flow (sign-in page, consent page with
its CSRF token, PKCE S256, code exchange). Nothing writes a token row by hand.

The operations come from ``openapi/openapi.yaml``, so a new operation is covered (or makes a
test fail) without anyone editing these suites.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from gateway.oauth import scopes as scope_registry
from tests.conftest import AppCredentials, pkce_pair
from tests.contract import spec

HTTP_METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")
REDIRECT_URI = "https://partner.example/cb"
CONSOLE_REDIRECT_URI = "http://127.0.0.1:8766/callback"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


# --- the spec's operations ----------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    definition: dict = field(repr=False, compare=False, hash=False)
    path_parameters: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"

    @property
    def required_scopes(self) -> tuple[str, ...]:
        """The OAuth scopes of the operation's ``oauth2`` security requirement (empty if public)."""
        scopes: list[str] = []
        for requirement in self.definition.get("security", spec().get("security", [])):
            scopes += requirement.get("oauth2", [])
        return tuple(scopes)

    @property
    def is_list(self) -> bool:
        return "x-sdk-pagination" in self.definition


def _resolve(node: dict) -> dict:
    while "$ref" in node:
        target = spec()
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def operations() -> list[Operation]:
    found = []
    for path, item in spec()["paths"].items():
        shared = [_resolve(p) for p in item.get("parameters", [])]
        for method in HTTP_METHODS:
            if method not in item:
                continue
            definition = item[method]
            parameters = shared + [_resolve(p) for p in definition.get("parameters", [])]
            names = tuple(p["name"] for p in parameters if p["in"] == "path")
            found.append(Operation(method, path, definition["operationId"], definition, names))
    return found


def fill_path(operation: Operation, values: dict[str, str]) -> str:
    path = operation.path
    for name in operation.path_parameters:
        path = path.replace("{" + name + "}", values[name])
    return path


# --- the real authorization-code flow ------------------------------------------------------------


def _csrf(response) -> str:
    match = _CSRF.search(response.get_data(as_text=True))
    assert match, "no CSRF token on the page"
    return match.group(1)


class Browser:
    """A person's browser: signs in once through the sign-in page, then consents as often as asked."""

    def __init__(self, flask_app, username: str, password: str) -> None:
        self.flask_app = flask_app
        self.client = flask_app.test_client()
        page = self.client.get("/login")
        signed_in = self.client.post(
            "/login", data={"csrf_token": _csrf(page), "username": username, "password": password, "next": "/login"}
        )
        assert signed_in.status_code == 303, signed_in.status_code
        self.csrf_token = _csrf(self.client.get("/login"))

    @property
    def session_cookie(self) -> str:
        return self.client.get_cookie("shijing_session").value

    def authorize(self, client: AppCredentials, scope: str, *, redirect_uri: str = REDIRECT_URI,
                  merchant_id: str | None = None) -> dict:
        """Consent to ``scope`` for ``client`` (choosing ``merchant_id`` on the merchant picker),
        exchange the code with PKCE S256 and return the token response."""
        verifier, challenge = pkce_pair()
        query = {
            "response_type": "code", "client_id": client.id, "redirect_uri": redirect_uri, "scope": scope,
            "state": "contract-suite", "code_challenge": challenge, "code_challenge_method": "S256",
        }
        consent = self.client.get("/oauth2/authorize", query_string=query)
        assert consent.status_code == 200, consent.get_data(as_text=True)[:500]
        form = {"csrf_token": _csrf(consent), "decision": "allow"}
        if merchant_id is not None:
            form["merchant_id"] = merchant_id
        allowed = self.client.post("/oauth2/authorize", query_string=query, data=form)
        assert allowed.status_code == 303, allowed.get_data(as_text=True)[:500]
        params = parse_qs(urlsplit(allowed.headers["Location"]).query)
        assert "code" in params, params
        exchange = {"grant_type": "authorization_code", "code": params["code"][0], "redirect_uri": redirect_uri,
                    "code_verifier": verifier}
        token_client = self.flask_app.test_client()
        if client.secret is None:
            exchange["client_id"] = client.id
            response = token_client.post("/oauth2/token", data=exchange)
        else:
            response = token_client.post("/oauth2/token", data=exchange, auth=client.basic)
        assert response.status_code == 200, response.get_json()
        return response.get_json()


# --- scopes and objects ------------------------------------------------------------------------


def client_credentials_scopes(client_scopes) -> list[str]:
    return scope_registry.client_credentials_scopes(client_scopes)


def merchant_grant_scopes() -> list[str]:
    """Every scope a merchant can grant (the consent page offers exactly these)."""
    return [s.name for s in scope_registry.SCOPES.values() if "merchant" in s.subjects and not s.first_party
            and "user" not in s.subjects]


def first_event_id(flask_app, app_id: str) -> str:
    from sqlalchemy import select

    from gateway.events.models import Event

    with flask_app.app_context(), flask_app.extensions["shijing.db"].new_session() as s:
        event_id = s.scalar(select(Event.id).where(Event.app_id == app_id).order_by(Event.id))
    assert event_id is not None
    return event_id


# --- snapshots: build a world once, put it back before every test -------------------------------
#
# The suite empties every table after each test (tests/conftest.py). Building a world costs
# several argon2 hashes and a code flow, so the contract suites build it once per module, keep
# the rows, and re-insert them before each test: the same users, merchants, apps, grants and
# (hashed) tokens, so the tokens and the signed browser cookie work again.


def snapshot_rows(flask_app) -> list[tuple[object, list[dict]]]:
    from gateway.models import metadata

    engine = flask_app.extensions["shijing.db"].engine
    with engine.connect() as connection:
        return [(table, [dict(row._mapping) for row in connection.execute(table.select())])
                for table in metadata.sorted_tables]


def restore_rows(flask_app, rows: list[tuple[object, list[dict]]]) -> None:
    engine = flask_app.extensions["shijing.db"].engine
    with engine.begin() as connection:
        for table, _ in reversed(rows):
            connection.execute(table.delete())
        for table, values in rows:
            if values:
                connection.execute(table.insert(), values)
    flask_app.extensions["shijing.token_cache"].invalidate_all(broadcast=False)
