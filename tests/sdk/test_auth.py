"""OAuth helpers against the real gateway: client credentials refreshed before expiry and
single-flight across threads, one forced refresh and one replay on 401 invalid_token, the
authorization code + PKCE flow with rotating refresh tokens kept in the store, token stores."""

from __future__ import annotations

import os
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
import shijing

from tests.sdk.conftest import ISSUER, PARTNER_REDIRECT


def test_client_credentials_token_is_fetched_once_and_refreshed_before_expiry(world, clock):
    merchant = world.merchants[0]
    auth = shijing.ClientCredentials(scope="merchant.read", leeway=60, clock=clock)
    client = world.client(auth=auth)

    for _ in range(3):
        client.merchants.get(merchant.id)
    assert world.token_count() == 1

    clock.advance(900 - 61)  # still more than the leeway left
    client.merchants.get(merchant.id)
    assert world.token_count() == 1

    clock.advance(2)  # inside the leeway: refreshed before the gateway would refuse it
    client.merchants.get(merchant.id)
    assert world.token_count() == 2
    assert auth.fetches == 2
    assert world.adapter.count("GET", "/v1/merchants/") == 5  # no 401 was ever seen


@pytest.mark.parametrize("shared_client", [True, False], ids=["one-client", "client-per-thread"])
def test_token_refresh_happens_exactly_once_under_a_thread_race(world, clock, tmp_path, shared_client):
    merchant = world.merchants[0]
    store = shijing.FileStore(tmp_path / "tokens")
    threads = 16
    barrier = threading.Barrier(threads)
    make = lambda: world.client(auth=shijing.ClientCredentials(store=store, clock=clock))
    shared = make()
    errors: list[BaseException] = []

    def work():
        client = shared if shared_client else make()
        barrier.wait()
        try:
            for _ in range(3):
                assert client.merchants.get(merchant.id).id == merchant.id
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)

    assert errors == []
    assert world.token_count() == 1
    assert world.adapter.count("POST", "/oauth2/token") == 1


def test_a_revoked_token_forces_one_refresh_and_one_replay(world):
    merchant = world.merchants[0]
    client = world.client()
    first = client.auth.token()
    client.oauth.revoke(token=first)

    assert client.merchants.get(merchant.id).id == merchant.id

    calls = [(m, p, s) for m, p, s in world.adapter.log if p.startswith(("/v1/merchants", "/oauth2/token"))]
    assert calls == [("POST", "/oauth2/token", 200), ("GET", f"/v1/merchants/{merchant.id}", 401),
                     ("POST", "/oauth2/token", 200), ("GET", f"/v1/merchants/{merchant.id}", 200)]
    assert client.auth.token() != first


def test_401_replays_only_once(world):
    class Broken:
        """Always hands out a token the gateway refuses."""

        invalidations = 0

        def bind(self, client):
            pass

        def token(self):
            return "sjat_not-a-real-token"

        def invalidate(self, token):
            Broken.invalidations += 1
            return True

    client = world.client(auth=Broken())
    with pytest.raises(shijing.AuthenticationError) as raised:
        client.merchants.get("mch_x")
    assert Broken.invalidations == 1
    assert world.adapter.count("GET", "/v1/merchants/") == 2
    assert raised.value.code == "INVALID_TOKEN"


def test_a_fixed_bearer_token_gets_no_replay(world):
    client = world.client(access_token="sjat_revoked", client_id=None, client_secret=None)
    with pytest.raises(shijing.AuthenticationError):
        client.apps.list()
    assert world.adapter.count("GET", "/v1/apps") == 1


def test_wrong_client_secret_is_an_authentication_error_with_the_oauth_code(world):
    client = world.client(client_secret="sjcs_wrong")
    with pytest.raises(shijing.AuthenticationError) as raised:
        client.apps.list()
    assert raised.value.code == "invalid_client"
    assert "sjcs_wrong" not in str(raised.value)


# --- authorization code + PKCE ------------------------------------------------------------------


def test_pkce_start_builds_an_s256_url_with_state_and_keeps_the_verifier_in_the_store(world):
    store = shijing.MemoryStore()
    auth = shijing.AuthCodePKCE(world.partner.id, redirect_uri=PARTNER_REDIRECT, scope="openid", store=store)
    world.client(auth=auth)

    request = auth.start(nonce="n1")

    query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
    assert request.url.startswith("http://gateway.test/oauth2/authorize?")
    assert query["code_challenge_method"] == "S256" and query["response_type"] == "code"
    assert query["state"] == request.state and query["client_id"] == world.partner.id
    assert query["redirect_uri"] == PARTNER_REDIRECT and query["scope"] == "openid" and query["nonce"] == "n1"
    import base64
    import hashlib

    digest = base64.urlsafe_b64encode(hashlib.sha256(request.code_verifier.encode()).digest()).rstrip(b"=").decode()
    assert query["code_challenge"] == digest and 43 <= len(request.code_verifier) <= 128
    assert "code_verifier" not in request.url
    assert store.get(f"pkce-state:{world.partner.id}:{request.state}")["code_verifier"] == request.code_verifier


def test_pkce_flow_for_a_merchant_then_rotated_refresh_tokens_persist_in_the_store(world, clock, tmp_path):
    merchant = world.merchants[0]
    store = shijing.FileStore(tmp_path / "tokens")
    auth = shijing.AuthCodePKCE(world.partner.id, redirect_uri=PARTNER_REDIRECT, scope="merchant.read",
                                store=store, key=f"merchant:{merchant.id}", issuer=ISSUER, clock=clock)
    client = world.client(auth=auth)
    request = auth.start()
    redirect = world.consent(request.url, world.merchant_owner, merchant_id=merchant.id)
    assert parse_qs(urlsplit(redirect).query)["iss"] == [ISSUER]

    tokens = auth.handle_redirect(redirect)

    assert tokens.raw["merchant_id"] == merchant.id and tokens.refresh_token.startswith("sjrt_")
    assert client.merchants.get(merchant.id).name == merchant.name
    first_refresh = store.get(auth.store_key())["refresh_token"]

    clock.advance(900)  # the access token is due: refreshed with the refresh token, which rotates
    assert client.merchants.get(merchant.id).id == merchant.id
    second_refresh = store.get(auth.store_key())["refresh_token"]
    assert second_refresh != first_refresh

    # another worker with the same store picks up the rotated token set (no reuse, no revocation)
    other = shijing.AuthCodePKCE(world.partner.id, redirect_uri=PARTNER_REDIRECT, store=store,
                                 key=f"merchant:{merchant.id}", clock=clock)
    other_client = world.client(auth=other)
    assert other_client.merchants.get(merchant.id).id == merchant.id
    clock.advance(900)
    assert other_client.merchants.get(merchant.id).id == merchant.id  # refreshes with the latest token
    assert client.merchants.get(merchant.id).id == merchant.id  # and the first worker follows
    assert world.token_count(grant_type="refresh_token") == 2
    assert world.adapter.count("POST", "/oauth2/token") == 3  # code, refresh, refresh


def test_pkce_rejects_an_unknown_state_and_reports_a_denied_consent(world):
    auth = shijing.AuthCodePKCE(world.partner.id, redirect_uri=PARTNER_REDIRECT, scope="openid profile")
    world.client(auth=auth)
    with pytest.raises(shijing.AuthenticationError) as raised:
        auth.handle_redirect(f"{PARTNER_REDIRECT}?code=abc&state=forged")
    assert raised.value.code == "invalid_state"

    request = auth.start()
    denied = world.consent(request.url, world.factory.user(), decision="deny")
    with pytest.raises(shijing.AuthenticationError) as raised:
        auth.handle_redirect(denied)
    assert raised.value.code == "access_denied"


def test_pkce_checks_the_issuer_of_the_redirect(world):
    auth = shijing.AuthCodePKCE(world.partner.id, redirect_uri=PARTNER_REDIRECT, issuer="https://shijing.example")
    world.client(auth=auth)
    request = auth.start(scope="openid")
    with pytest.raises(shijing.AuthenticationError) as raised:
        auth.handle_redirect(f"{PARTNER_REDIRECT}?code=c&state={request.state}&iss=https://evil.example")
    assert raised.value.code == "invalid_issuer"


def test_a_consent_revoked_at_the_gateway_clears_the_stored_tokens(world, clock):
    store = shijing.MemoryStore()
    client, auth = world.user_client(world.partner, "openid", store=store)
    auth.clock = clock
    refresh = store.get(auth.store_key())["refresh_token"]
    client.oauth.revoke(token=refresh, token_type_hint="refresh_token")

    clock.advance(900)
    with pytest.raises(shijing.AuthenticationError) as raised:
        client.oauth.userinfo()
    assert raised.value.code == "invalid_grant"
    assert store.get(auth.store_key()) is None


def test_exchange_of_a_code_is_never_retried_after_sending(world, clock):
    auth = shijing.AuthCodePKCE(world.partner.id, redirect_uri=PARTNER_REDIRECT, scope="openid")
    client = world.client(auth=auth, retry=shijing.RetryPolicy(3, sleep=clock.sleep))
    redirect = world.consent(auth.start().url, world.factory.user())
    world.adapter.faults = [503]
    with pytest.raises(shijing.InternalServerError):
        auth.handle_redirect(redirect)
    assert world.adapter.count("POST", "/oauth2/token") == 1 and clock.sleeps == []
    del client


# --- stores -------------------------------------------------------------------------------------


def _exercise(store):
    assert store.get("k") is None
    store.set("k", {"access_token": "a", "expires_at": 1})
    assert store.get("k") == {"access_token": "a", "expires_at": 1}
    with store.lock("k"):
        store.set("k", {"access_token": "b", "expires_at": 2})
    assert store.get("k")["access_token"] == "b"
    store.delete("k")
    assert store.get("k") is None


def test_memory_and_file_stores(tmp_path):
    _exercise(shijing.MemoryStore())
    store = shijing.FileStore(tmp_path / "s")
    _exercise(store)
    store.set("k", {"access_token": "secret"})
    files = [p for p in os.listdir(tmp_path / "s") if p.endswith(".json")]
    assert len(files) == 1 and (os.stat(tmp_path / "s" / files[0]).st_mode & 0o777) == 0o600
    assert "k" not in files[0]  # keys are hashed into file names


def test_redis_store_with_real_redis_or_a_duck():
    url = os.environ.get("SHIJING_REDIS_URL")
    if url:
        import redis

        client = redis.Redis.from_url(url)
    else:
        client = _DuckRedis()
    store = shijing.RedisStore(client, prefix=f"shijing:sdk-test:{os.getpid()}:")
    _exercise(store)
    order: list[str] = []

    def hold(name):
        with store.lock("race"):
            order.append(f"{name}-in")
            order.append(f"{name}-out")

    workers = [threading.Thread(target=hold, args=(str(i),)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    assert all(order[i][:-3] == order[i + 1][:-4] for i in range(0, len(order), 2))


class _DuckRedis:
    """Just the redis-py methods RedisStore uses (no eval: the get-and-delete fallback)."""

    def __init__(self):
        self.data = {}
        self.guard = threading.Lock()

    def get(self, key):
        return self.data.get(key)

    def set(self, key, value, ex=None, nx=False, px=None):
        with self.guard:
            if nx and key in self.data:
                return None
            self.data[key] = value.encode() if isinstance(value, str) else value
            return True

    def delete(self, key):
        self.data.pop(key, None)


def test_a_short_lived_token_is_not_refreshed_on_every_call(world, clock):
    from shijing._runtime.auth import Token

    token = Token("sjat_x", clock() + 30, obtained_at=clock())
    assert token.fresh(clock(), leeway=60)  # 30 s left of 30: the leeway shrinks to half the lifetime
    clock.advance(16)
    assert not token.fresh(clock(), leeway=60)
