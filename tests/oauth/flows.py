"""Driving the code flow the way a person's browser and a partner's backend do.

Two browsers share one vocabulary:
- :class:`Browser` wraps the Flask test client (every response checked against the contract);
- :class:`LiveBrowser` wraps a ``requests.Session`` against the live server on 127.0.0.1.

Both sign in by posting the real login form (CSRF token read from the page), consent by posting
the real consent form, and follow nothing on their own: every redirect is read from
``Location`` so a test can look at it. ``exchange``/``refresh`` talk to the token endpoint as a
partner backend does (HTTP Basic for confidential apps, ``client_id`` for public ones).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

from tests.conftest import AppCredentials, Factory

REDIRECT_URI = "https://partner.example/cb"


# --- reading pages and redirects ----------------------------------------------------------------


class _FormReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hidden: dict[str, str] = {}
        self.options: dict[str, list[str]] = {}
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "input" and attributes.get("type") == "hidden" and attributes.get("name"):
            self.hidden[attributes["name"]] = attributes.get("value") or ""
        elif tag == "select":
            self._select = attributes.get("name")
            self.options.setdefault(self._select, [])
        elif tag == "option" and self._select is not None:
            self.options[self._select].append(attributes.get("value") or "")

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


@dataclass
class Form:
    """The hidden inputs and ``<select>`` options of a page's forms."""

    hidden: dict[str, str]
    options: dict[str, list[str]]

    @property
    def csrf_token(self) -> str:
        assert self.hidden.get("csrf_token"), "no CSRF token on the page"
        return self.hidden["csrf_token"]


def read_form(html: str) -> Form:
    reader = _FormReader()
    reader.feed(html)
    return Form(reader.hidden, reader.options)


def query_of(location: str) -> dict[str, str]:
    """The query parameters of a redirect, one value each (a repeated one fails the test)."""
    params = parse_qs(urlsplit(location).query, keep_blank_values=True)
    repeated = [name for name, values in params.items() if len(values) > 1]
    assert not repeated, f"repeated parameters in {location}: {repeated}"
    return {name: values[0] for name, values in params.items()}


def without_query(location: str) -> str:
    parts = urlsplit(location)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


# --- PKCE and authorization requests ------------------------------------------------------------


def s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest())
        .rstrip(b"=")
        .decode()
    )


def new_verifier() -> str:
    return secrets.token_urlsafe(48)  # 64 characters of the unreserved set


@dataclass
class AuthorizationRequest:
    """One authorization request; ``params`` is exactly what goes in the query string."""

    client: AppCredentials
    scope: str | None = "merchant.read"
    redirect_uri: str | None = REDIRECT_URI
    state: str | None = field(default_factory=lambda: secrets.token_urlsafe(12))
    nonce: str | None = None
    verifier: str = field(default_factory=new_verifier)
    extra: dict = field(default_factory=dict)

    @property
    def params(self) -> dict:
        params = {
            "response_type": "code",
            "client_id": self.client.id,
            "code_challenge": s256(self.verifier),
            "code_challenge_method": "S256",
        }
        for name in ("redirect_uri", "scope", "state", "nonce"):
            if getattr(self, name) is not None:
                params[name] = getattr(self, name)
        params.update(self.extra)
        return {name: value for name, value in params.items() if value is not None}

    @property
    def url(self) -> str:
        return "/oauth2/authorize?" + urlencode(self.params)


@dataclass
class Code:
    """An issued code and what it takes to redeem it."""

    value: str
    request: AuthorizationRequest
    location: str

    @property
    def params(self) -> dict[str, str]:
        return query_of(self.location)


# --- the browser (Flask test client) ------------------------------------------------------------


class Browser:
    """A person's browser on the test client: cookies kept, redirects never followed."""

    def __init__(self, flask_app) -> None:
        self.http = flask_app.test_client()

    def get(self, url: str, **kwargs):
        return self.http.get(url, **kwargs)

    def post(self, url: str, **kwargs):
        return self.http.post(url, **kwargs)

    def sign_in(self, username: str, password: str = Factory.password, next_url: str = ""):
        page = self.http.get("/login")
        assert page.status_code == 200
        return self.http.post(
            "/login",
            data={
                "csrf_token": read_form(page.get_data(as_text=True)).csrf_token,
                "username": username,
                "password": password,
                "next": next_url,
            },
        )

    def session_csrf(self) -> str:
        """The session's CSRF token, from the sign-in page (its sign-out form when signed in)."""
        return read_form(self.http.get("/login").get_data(as_text=True)).csrf_token

    def consent_page(self, request: AuthorizationRequest):
        return self.http.get("/oauth2/authorize", query_string=request.params)

    def decide(
        self,
        request: AuthorizationRequest,
        *,
        decision: str = "allow",
        merchant_id: str | None = None,
        csrf_token: str | None = None,
    ):
        """Load the consent page, then post the form (with its CSRF token unless one is given)."""
        if csrf_token is None:
            page = self.consent_page(request)
            assert page.status_code == 200, page.get_data(as_text=True)[:400]
            csrf_token = read_form(page.get_data(as_text=True)).csrf_token
        form = {"csrf_token": csrf_token, "decision": decision}
        if merchant_id is not None:
            form["merchant_id"] = merchant_id
        return self.http.post("/oauth2/authorize", query_string=request.params, data=form)

    def authorize(self, request: AuthorizationRequest, *, merchant_id: str | None = None) -> Code:
        response = self.decide(request, merchant_id=merchant_id)
        assert response.status_code == 303, response.get_data(as_text=True)[:400]
        location = response.headers["Location"]
        params = query_of(location)
        assert "code" in params, location
        return Code(params["code"], request, location)


def signed_in(flask_app, user) -> Browser:
    browser = Browser(flask_app)
    response = browser.sign_in(user.username)
    assert response.status_code == 303
    return browser


# --- the partner backend at the token endpoint --------------------------------------------------


def token_request(http, client: AppCredentials, data: dict, *, auth: bool = True):
    """POST /oauth2/token as ``client``: Basic for confidential apps, ``client_id`` for public."""
    data = dict(data)
    if client.secret is None or not auth:
        data.setdefault("client_id", client.id)
        return http.post("/oauth2/token", data=data)
    return http.post("/oauth2/token", data=data, auth=client.basic)


def exchange(http, code: Code, *, client: AppCredentials | None = None, **overrides):
    data = {
        "grant_type": "authorization_code",
        "code": code.value,
        "redirect_uri": code.request.redirect_uri,
        "code_verifier": code.request.verifier,
    }
    data.update(overrides)
    return token_request(
        http, client or code.request.client, {k: v for k, v in data.items() if v is not None}
    )


def refresh(http, client: AppCredentials, refresh_token: str, **extra):
    return token_request(
        http, client, {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
    )


def introspect(http, client: AppCredentials, token: str, **extra):
    return http.post("/oauth2/introspect", data={"token": token, **extra}, auth=client.basic)


def revoke(http, client: AppCredentials, token: str, **extra):
    data = {"token": token, **extra}
    if client.secret is None:
        return http.post("/oauth2/revoke", data={"client_id": client.id, **data})
    return http.post("/oauth2/revoke", data=data, auth=client.basic)


def merchant_profile(http, token: str, merchant_id: str):
    """A protected call: the merchant's profile, with ``token`` as the bearer."""
    return http.get(f"/v1/merchants/{merchant_id}", headers={"Authorization": f"Bearer {token}"})


def code_flow(
    flask_app,
    client: AppCredentials,
    user,
    *,
    scope: str = "merchant.read",
    merchant_id: str | None = None,
    browser: Browser | None = None,
    **request_fields,
) -> dict:
    """Sign in as ``user``, consent, redeem the code; the token response as a dict."""
    browser = browser or signed_in(flask_app, user)
    request = AuthorizationRequest(client, scope=scope, **request_fields)
    code = browser.authorize(request, merchant_id=merchant_id)
    response = exchange(flask_app.test_client(), code)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# --- the browser against the live server --------------------------------------------------------


class LiveBrowser:
    """A person's browser at ``base_url``: a ``requests.Session`` against ``live_server``, or any
    client with the same ``get``/``post`` (an ``httpx2.Client`` on a WSGI transport)."""

    def __init__(self, base_url: str, http=None) -> None:
        import requests

        self.base_url = base_url
        self.http = http if http is not None else requests.Session()
        self._stay = (
            {"allow_redirects": False}
            if isinstance(self.http, requests.Session)
            else {"follow_redirects": False}
        )

    def _url(self, url: str) -> str:
        return urljoin(self.base_url + "/", url)

    def authorize(
        self,
        authorization_url: str,
        username: str,
        password: str = Factory.password,
        *,
        merchant_id: str | None = None,
    ) -> str:
        """From the partner's authorization URL to the callback URL (with ``code``), by posting
        the sign-in and consent forms as a person would."""
        response = self.http.get(self._url(authorization_url), **self._stay)
        if response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login":
            login_url = self._url(response.headers["Location"])
            page = self.http.get(login_url, **self._stay)
            assert page.status_code == 200, page.status_code
            form = read_form(page.text)
            response = self.http.post(
                self._url("/login"),
                **self._stay,
                data={
                    "csrf_token": form.csrf_token,
                    "username": username,
                    "password": password,
                    "next": form.hidden["next"],
                },
            )
            assert response.status_code == 303, response.status_code
            consent_url = self._url(response.headers["Location"])
            response = self.http.get(consent_url, **self._stay)
        else:
            consent_url = self._url(authorization_url)
        assert response.status_code == 200, (response.status_code, response.text[:400])
        form = read_form(response.text)
        data = {"csrf_token": form.csrf_token, "decision": "allow"}
        if merchant_id is not None:
            assert merchant_id in form.options.get("merchant_id", []), form.options
            data["merchant_id"] = merchant_id
        decided = self.http.post(consent_url, data=data, **self._stay)
        assert decided.status_code == 303, (decided.status_code, decided.text[:400])
        return decided.headers["Location"]
