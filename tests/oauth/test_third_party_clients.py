"""Goal G3: OAuth client libraries we did not write complete the code flow with PKCE S256.

Each runs against the live gateway on 127.0.0.1; the person's side (sign-in and consent) is
played by posting the real HTML forms with a ``requests.Session``.
"""

from __future__ import annotations

from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from requests_oauthlib import OAuth2Session

from tests.oauth.flows import REDIRECT_URI, LiveBrowser, query_of


def test_requests_oauthlib_completes_the_code_flow(
    live_server, partner, owner, merchant, monkeypatch
):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the token endpoint is http://127.0.0.1
    oauth = OAuth2Session(
        partner.id, redirect_uri=REDIRECT_URI, scope=["merchant.read"], pkce="S256"
    )
    authorization_url, state = oauth.authorization_url(live_server.url + "/oauth2/authorize")
    sent = query_of(authorization_url)
    assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) == 43

    callback = LiveBrowser(live_server.url).authorize(
        authorization_url, owner.username, merchant_id=merchant.id
    )
    returned = query_of(callback)
    assert returned["state"] == state and returned["iss"] == "http://127.0.0.1"

    token = oauth.fetch_token(
        live_server.url + "/oauth2/token",
        authorization_response=callback,
        client_secret=partner.secret,
    )
    assert token["token_type"] == "Bearer" and token["merchant_id"] == merchant.id

    profile = oauth.get(f"{live_server.url}/v1/merchants/{merchant.id}")
    assert profile.status_code == 200
    assert profile.json()["id"] == merchant.id

    rotated = oauth.refresh_token(live_server.url + "/oauth2/token", auth=partner.basic)
    assert rotated["refresh_token"] != token["refresh_token"]
    assert oauth.get(f"{live_server.url}/v1/merchants/{merchant.id}").status_code == 200


def test_requests_oauthlib_as_a_public_client(
    live_server, public_client, owner, merchant, monkeypatch
):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    oauth = OAuth2Session(
        public_client.id, redirect_uri=REDIRECT_URI, scope=["openid", "merchant.read"], pkce="S256"
    )
    authorization_url, _ = oauth.authorization_url(live_server.url + "/oauth2/authorize")
    callback = LiveBrowser(live_server.url).authorize(
        authorization_url, owner.username, merchant_id=merchant.id
    )
    token = oauth.fetch_token(
        live_server.url + "/oauth2/token", authorization_response=callback, include_client_id=True
    )
    assert token["id_token"].count(".") == 2
    userinfo = oauth.get(live_server.url + "/oauth2/userinfo")
    assert userinfo.status_code == 200 and userinfo.json()["sub"] == token["open_id"]


def test_requests_oauthlib_without_pkce_gets_an_error_not_a_code(
    live_server, partner, owner, monkeypatch
):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    oauth = OAuth2Session(partner.id, redirect_uri=REDIRECT_URI, scope=["merchant.read"])  # no pkce
    authorization_url, state = oauth.authorization_url(live_server.url + "/oauth2/authorize")
    browser = LiveBrowser(live_server.url)
    response = browser.http.get(authorization_url, allow_redirects=False)
    assert response.status_code == 302
    returned = query_of(response.headers["Location"])
    assert (
        returned["error"] == "invalid_request"
        and returned["state"] == state
        and "code" not in returned
    )


def test_authlib_client_completes_the_code_flow(live_server, partner, owner, merchant, monkeypatch):
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    session = AuthlibSession(
        partner.id,
        partner.secret,
        scope="openid merchant.read",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = generate_token(64)
    authorization_url, state = session.create_authorization_url(
        live_server.url + "/oauth2/authorize", code_verifier=verifier, nonce="n-authlib"
    )
    assert query_of(authorization_url)["code_challenge_method"] == "S256"

    callback = LiveBrowser(live_server.url).authorize(
        authorization_url, owner.username, merchant_id=merchant.id
    )
    token = session.fetch_token(
        live_server.url + "/oauth2/token",
        authorization_response=callback,
        code_verifier=verifier,
        state=state,
    )
    assert token["merchant_id"] == merchant.id and "id_token" in token

    profile = session.get(f"{live_server.url}/v1/merchants/{merchant.id}")
    assert profile.status_code == 200 and profile.json()["id"] == merchant.id

    # Authlib's own revocation and introspection helpers speak our endpoints too
    introspected = session.introspect_token(
        live_server.url + "/oauth2/introspect", token=token["access_token"]
    )
    assert introspected.json()["active"] is True
    assert (
        session.revoke_token(
            live_server.url + "/oauth2/revoke",
            token=token["refresh_token"],
            token_type_hint="refresh_token",
        ).status_code
        == 200
    )
    assert session.get(f"{live_server.url}/v1/merchants/{merchant.id}").status_code == 401


def test_authlib_httpx_client_completes_the_code_flow_in_process(app, partner, owner, merchant):
    """SECURITY.md G3 as written: Authlib's httpx client over a WSGI transport, no sockets."""
    import httpx2
    from authlib.integrations.httpx_client import OAuth2Client

    base = "http://127.0.0.1"  # the configured issuer
    transport = httpx2.WSGITransport(app=app)
    with (
        OAuth2Client(
            partner.id,
            partner.secret,
            scope="merchant.read",
            redirect_uri=REDIRECT_URI,
            code_challenge_method="S256",
            transport=transport,
        ) as oauth,
        httpx2.Client(transport=transport) as person,
    ):
        verifier = generate_token(48)
        authorization_url, state = oauth.create_authorization_url(
            base + "/oauth2/authorize", code_verifier=verifier
        )
        callback = LiveBrowser(base, person).authorize(
            authorization_url, owner.username, merchant_id=merchant.id
        )
        assert query_of(callback)["iss"] == base
        token = oauth.fetch_token(
            base + "/oauth2/token",
            authorization_response=callback,
            code_verifier=verifier,
            state=state,
        )
        profile = oauth.get(f"{base}/v1/merchants/{merchant.id}")
        assert profile.status_code == 200 and profile.json()["id"] == merchant.id
        refreshed = oauth.refresh_token(base + "/oauth2/token")
        assert refreshed["refresh_token"] != token["refresh_token"]
        assert oauth.get(f"{base}/v1/merchants/{merchant.id}").status_code == 200
