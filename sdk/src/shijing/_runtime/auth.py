"""OAuth helpers: where the bearer token of every call comes from.

- :class:`BearerToken`: a token you already have.
- :class:`ClientCredentials`: the app's own token, fetched with its client id and secret,
  refreshed ``leeway`` seconds before it expires.
- :class:`AuthCodePKCE`: a merchant's, creator's or user's consent (authorization code + PKCE
  S256): build the URL, exchange the code, then refresh with the rotating refresh token.

Refreshes are single-flight across threads and processes: the provider reads the token store;
on a miss it takes ``store.lock(key)``, reads again (another worker may have refreshed
meanwhile), fetches, and writes. A 401 ``invalid_token`` makes the client call
:meth:`invalidate` with the token that failed: the provider refreshes once (unless the store
already holds a newer token) and the call is replayed once.

Rotated refresh tokens matter: presenting an already-used refresh token revokes the whole grant
at the gateway, so a refresh never runs twice for the same refresh token, and the rotated one
is written to the store before anyone else may read it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit

from .errors import APIStatusError, AuthenticationError
from .store import MemoryStore, TokenStore

if TYPE_CHECKING:
    from .client import BaseClient


class TokenProvider(Protocol):
    def bind(self, client: BaseClient) -> None: ...

    def token(self) -> str: ...

    def invalidate(self, token: str) -> bool: ...


class Token:
    """A token set as stored: ``access_token``, ``expires_at`` (epoch seconds), and for user
    consents ``refresh_token``; ``raw`` is the token response (``id_token``, ``open_id``…)."""

    __slots__ = ("access_token", "expires_at", "obtained_at", "raw", "refresh_expires_at", "refresh_token",
                 "scope")

    def __init__(self, access_token: str, expires_at: float, *, refresh_token: str | None = None,
                 refresh_expires_at: float | None = None, scope: str | None = None,
                 raw: dict[str, Any] | None = None, obtained_at: float | None = None) -> None:
        self.access_token = access_token
        self.expires_at = expires_at
        self.refresh_token = refresh_token
        self.refresh_expires_at = refresh_expires_at
        self.scope = scope
        self.raw = raw or {}
        self.obtained_at = obtained_at

    @classmethod
    def from_response(cls, body: dict[str, Any], now: float) -> Token:
        expires_in = body.get("expires_in")
        refresh_in = body.get("refresh_token_expires_in")
        return cls(
            body["access_token"],
            now + float(expires_in if expires_in is not None else 300),
            refresh_token=body.get("refresh_token"),
            refresh_expires_at=(now + float(refresh_in)) if refresh_in is not None else None,
            scope=body.get("scope"),
            raw={k: v for k, v in body.items() if k not in ("access_token", "refresh_token")},
            obtained_at=now,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"access_token": self.access_token, "expires_at": self.expires_at,
                "refresh_token": self.refresh_token, "refresh_expires_at": self.refresh_expires_at,
                "scope": self.scope, "raw": self.raw, "obtained_at": self.obtained_at}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Token:
        return cls(data["access_token"], float(data["expires_at"]), refresh_token=data.get("refresh_token"),
                   refresh_expires_at=data.get("refresh_expires_at"), scope=data.get("scope"),
                   raw=data.get("raw") or {}, obtained_at=data.get("obtained_at"))

    def fresh(self, now: float, leeway: float) -> bool:
        """Usable for a while yet: more than ``leeway`` seconds left (at most half the lifetime,
        so a short-lived token is not refreshed on every call)."""
        if self.obtained_at is not None:
            leeway = min(leeway, (self.expires_at - self.obtained_at) / 2)
        return self.expires_at - leeway > now

    def __repr__(self) -> str:  # never the token itself
        return f"<Token expires_at={self.expires_at:.0f} scope={self.scope!r} refresh={'yes' if self.refresh_token else 'no'}>"


class BearerToken:
    """A fixed access token (no refresh: a 401 is raised as is)."""

    def __init__(self, access_token: str) -> None:
        self._token = access_token

    def bind(self, client: BaseClient) -> None:
        pass

    def token(self) -> str:
        return self._token

    def invalidate(self, token: str) -> bool:
        return False

    def __repr__(self) -> str:
        return "BearerToken([redacted])"


class _RefreshingProvider:
    """Memory cache in front of a store, single-flight refresh, forced refresh on 401."""

    store: TokenStore
    leeway: float
    clock: Callable[[], float]
    _client: BaseClient | None

    def __init__(self, *, store: TokenStore | None, leeway: float, clock: Callable[[], float]) -> None:
        self.store = store if store is not None else MemoryStore()
        self.leeway = leeway
        self.clock = clock
        self._client = None
        self._cached: Token | None = None
        self._thread_lock = threading.Lock()
        self.fetches = 0  # token-endpoint calls made by this provider (for metrics and tests)

    @property
    def client(self) -> BaseClient:
        if self._client is None:
            raise RuntimeError("this auth helper is not bound to a client: pass it as Client(auth=...)")
        return self._client

    def bind(self, client: BaseClient) -> None:
        self._client = client

    # -- subclass hooks
    def store_key(self) -> str:
        raise NotImplementedError

    def _fetch(self, current: Token | None) -> Token:
        raise NotImplementedError

    def _missing(self) -> Token:
        """No token stored at all: client credentials fetch one, a consent flow cannot."""
        return self._fetch(None)

    # -- provider API
    def current(self) -> Token | None:
        """The token set in the store (refreshing nothing)."""
        data = self.store.get(self.store_key())
        return Token.from_dict(data) if data else None

    def token(self) -> str:
        cached = self._cached
        if cached is not None and cached.fresh(self.clock(), self.leeway):
            return cached.access_token
        return self._refresh(stale=None).access_token

    def invalidate(self, token: str) -> bool:
        self._refresh(stale=token)
        return True

    def _refresh(self, stale: str | None) -> Token:
        key = self.store_key()
        with self._thread_lock:
            cached = self._cached
            if cached is not None and self._usable(cached, stale):
                return cached
            stored = self.current()
            if stored is not None and self._usable(stored, stale):
                self._cached = stored
                return stored
            with self.store.lock(key):
                stored = self.current()  # another process may have refreshed while we waited
                if stored is not None and self._usable(stored, stale):
                    self._cached = stored
                    return stored
                token = self._missing() if stored is None else self._fetch(stored)
                self.fetches += 1
                latest = self.current()
                # compare-and-set: never overwrite a later token with an earlier one
                if latest is None or latest.expires_at <= token.expires_at or latest.access_token == (
                        stored.access_token if stored else None):
                    self.store.set(key, token.to_dict())
                self._cached = token
                return token

    def _usable(self, token: Token, stale: str | None) -> bool:
        return token.access_token != stale and token.fresh(self.clock(), self.leeway)


class ClientCredentials(_RefreshingProvider):
    """The app's own token (``grant_type=client_credentials``), refreshed before expiry.

    ``client_id``/``client_secret`` default to the client's. ``scope`` defaults to every scope
    the app may hold with client credentials.
    """

    def __init__(self, client_id: str | None = None, client_secret: str | None = None, *,
                 scope: str | None = None, store: TokenStore | None = None, leeway: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(store=store, leeway=leeway, clock=clock)
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope

    def bind(self, client: BaseClient) -> None:
        super().bind(client)
        self.client_id = self.client_id or client.client_id
        self.client_secret = self.client_secret or client.client_secret
        if not self.client_id or not self.client_secret:
            raise ValueError("ClientCredentials needs client_id and client_secret")

    def store_key(self) -> str:
        where = hashlib.sha256(self.client.token_url.encode()).hexdigest()[:12]
        return f"cc:{where}:{self.client_id}:{self.scope or '*'}"

    def _fetch(self, current: Token | None) -> Token:
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        now = self.clock()
        # issuing a client-credentials token changes nothing else: safe to retry
        body = self.client._token_request(form, client_id=self.client_id, client_secret=self.client_secret,
                                          retry_safe=True)
        return Token.from_response(body, now)

    def __repr__(self) -> str:
        return f"ClientCredentials(client_id={self.client_id!r}, scope={self.scope!r})"


class AuthorizationRequest:
    """Where to send the browser, and what to remember until the redirect comes back."""

    __slots__ = ("code_challenge", "code_verifier", "nonce", "state", "url")

    def __init__(self, url: str, state: str, code_verifier: str, code_challenge: str, nonce: str | None) -> None:
        self.url = url
        self.state = state
        self.code_verifier = code_verifier
        self.code_challenge = code_challenge
        self.nonce = nonce

    def __repr__(self) -> str:
        return f"AuthorizationRequest(url={self.url!r}, state={self.state!r})"


def pkce_pair() -> tuple[str, str]:
    """A code verifier (RFC 7636 §4.1, 86 characters) and its S256 challenge."""
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()
    return verifier, challenge


class AuthCodePKCE(_RefreshingProvider):
    """Authorization code + PKCE (S256) for a merchant's, creator's or user's consent.

    ::

        auth = AuthCodePKCE(client_id, redirect_uri="https://partner.example/cb",
                            scope="merchant.read", store=FileStore("/var/lib/partner/tokens"),
                            key=f"merchant:{merchant_ref}")
        client = Client(auth=auth, client_id=client_id, client_secret=client_secret)
        request = auth.start()            # redirect the browser to request.url
        auth.handle_redirect(callback)    # on the redirect: checks state (and iss), exchanges the code
        client.merchants.get(...)         # refreshed with the rotating refresh token as needed

    ``key`` names this consent in the store (one per merchant/user you act for). The state and
    code verifier wait in the store for ``pending_ttl`` seconds, so the redirect may land on
    another process. A public app has no secret: the ``client_id`` goes in the form instead.
    """

    def __init__(self, client_id: str | None = None, *, redirect_uri: str, client_secret: str | None = None,
                 scope: str | None = None, store: TokenStore | None = None, key: str = "default",
                 issuer: str | None = None, leeway: float = 60.0, pending_ttl: float = 600.0,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(store=store, leeway=leeway, clock=clock)
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.scope = scope
        self.key = key
        self.issuer = issuer
        self.pending_ttl = pending_ttl

    def bind(self, client: BaseClient) -> None:
        super().bind(client)
        self.client_id = self.client_id or client.client_id
        if self.client_secret is None and client.client_id == self.client_id:
            self.client_secret = client.client_secret
        if not self.client_id:
            raise ValueError("AuthCodePKCE needs a client_id")

    def store_key(self) -> str:
        return f"pkce:{self.client_id}:{self.key}"

    def _pending_key(self, state: str) -> str:
        return f"pkce-state:{self.client_id}:{state}"

    def start(self, *, scope: str | None = None, state: str | None = None, nonce: str | None = None,
              prompt: str | None = None, extra: dict[str, str] | None = None) -> AuthorizationRequest:
        verifier, challenge = pkce_pair()
        state = state or secrets.token_urlsafe(24)
        params = {"response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
                  "code_challenge": challenge, "code_challenge_method": "S256", "state": state}
        scope = scope or self.scope
        if scope:
            params["scope"] = scope
        if nonce:
            params["nonce"] = nonce
        if prompt:
            params["prompt"] = prompt
        params.update(extra or {})
        url = self.client.authorization_url + "?" + urlencode(params)
        self.store.set(self._pending_key(state), {"code_verifier": verifier, "expires_at": self.clock() + self.pending_ttl,
                                                  "redirect_uri": self.redirect_uri})
        return AuthorizationRequest(url, state, verifier, challenge, nonce)

    def handle_redirect(self, url: str) -> Token:
        """Finish the flow from the full redirect URL (``?code=…&state=…&iss=…`` or ``?error=…``)."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        if self.issuer is not None and query.get("iss") not in (None, self.issuer):
            raise AuthenticationError(status_code=400, code="invalid_issuer",
                                      detail="The authorization response came from another issuer.")
        if "error" in query:
            if "state" in query:
                self.store.delete(self._pending_key(query["state"]))
            raise AuthenticationError(status_code=400, code=query["error"], detail=query.get("error_description"))
        if "code" not in query or "state" not in query:
            raise AuthenticationError(status_code=400, code="invalid_request",
                                      detail="The redirect carries no code and state.")
        return self.exchange(query["code"], state=query["state"])

    def exchange(self, code: str, *, state: str) -> Token:
        """Exchange the code (once: a replayed code revokes its grant, so it is never retried
        after it may have reached the gateway) and store the token set under ``key``."""
        key = self._pending_key(state)
        with self.store.lock(key):
            pending = self.store.get(key)
            self.store.delete(key)
        if pending is None or pending.get("expires_at", 0) < self.clock():
            raise AuthenticationError(status_code=400, code="invalid_state",
                                      detail="Unknown or expired state: start the authorization again.")
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": pending["redirect_uri"],
                "code_verifier": pending["code_verifier"]}
        now = self.clock()
        body = self.client._token_request(form, client_id=self.client_id, client_secret=self.client_secret,
                                          retry_safe=False)
        token = Token.from_response(body, now)
        with self._thread_lock, self.store.lock(self.store_key()):
            self.store.set(self.store_key(), token.to_dict())
            self._cached = token
        return token

    def _missing(self) -> Token:
        raise AuthenticationError(status_code=401, code="authorization_required",
                                  detail=f"No tokens stored for {self.key!r}: run start() and handle_redirect() first.")

    def _fetch(self, current: Token | None) -> Token:
        if current is None or not current.refresh_token:
            return self._missing()
        form = {"grant_type": "refresh_token", "refresh_token": current.refresh_token}
        now = self.clock()
        try:
            # never retried once sent: the gateway rotates the refresh token on use
            body = self.client._token_request(form, client_id=self.client_id, client_secret=self.client_secret,
                                              retry_safe=False)
        except APIStatusError as error:
            if error.code != "invalid_grant":
                raise
            self.store.delete(self.store_key())  # the grant is gone: only a new consent helps
            self._cached = None
            raise AuthenticationError(
                status_code=error.status_code, code="invalid_grant", request_id=error.request_id,
                detail=error.detail or "The consent was revoked or has expired: authorize again.",
                body=error.body, response=error.response,
            ) from None
        token = Token.from_response(body, now)
        if token.refresh_token is None:  # a server that does not rotate keeps the old one valid
            token.refresh_token = current.refresh_token
            token.refresh_expires_at = current.refresh_expires_at
        return token

    def forget(self) -> None:
        """Drop the stored token set (after the user disconnects the app)."""
        with self._thread_lock, self.store.lock(self.store_key()):
            self.store.delete(self.store_key())
            self._cached = None

    def __repr__(self) -> str:
        return f"AuthCodePKCE(client_id={self.client_id!r}, key={self.key!r}, scope={self.scope!r})"
