"""Configuration: every setting comes from an environment variable named ``SHIJING_<NAME>``.

The embedded default needs nothing: a SQLite file and job queue under the instance folder, an
in-memory rate-limit store. Production sets ``SHIJING_DATABASE_URL`` (PostgreSQL) and
``SHIJING_REDIS_URL`` (Redis), which then carry the data, the rate limits, the token-cache
invalidation and the job queue.
"""

from __future__ import annotations

import os
from pathlib import Path

PREFIX = "SHIJING_"
REPO_ROOT = Path(__file__).resolve().parent.parent

# name -> (default, parser). Defaults are the embedded, single-machine setup.
_SETTINGS: dict[str, tuple[object, type]] = {
    "ENV": ("development", str),  # development | production | testing
    "INSTANCE_PATH": (str(REPO_ROOT / "instance"), str),
    "DATABASE_URL": ("", str),  # empty: sqlite file under INSTANCE_PATH
    "REDIS_URL": ("", str),  # empty: in-process memory stores
    "SECRET_KEY": ("", str),  # empty: generated once into INSTANCE_PATH
    "ISSUER": ("http://127.0.0.1:8000", str),
    "OPENAPI_PATH": (str(REPO_ROOT / "openapi" / "openapi.yaml"), str),
    "ACCESS_TOKEN_TTL": (900, int),  # seconds; RFC 9700 keeps access tokens short
    "AUTHORIZATION_CODE_TTL": (60, int),
    "REFRESH_TOKEN_IDLE_TTL": (30 * 86400, int),
    "REFRESH_TOKEN_ABSOLUTE_TTL": (90 * 86400, int),
    "SECRET_ROTATION_GRACE": (86400, int),  # old client secret keeps working this long
    "TOKEN_CACHE_TTL": (5.0, float),  # seconds a worker may trust a cached token lookup
    "POI_PAGE_CACHE_TTL": (5.0, float),  # seconds a worker reuses a rendered public POI page (0: off)
    "RATELIMIT_APP": ("1200/minute", str),
    "RATELIMIT_MERCHANT": ("600/minute", str),
    "RATELIMIT_IP": ("300/minute", str),  # unauthenticated endpoints: token, login
    "QUOTA_APP_CREATIONS": ("20/day", str),
    "QUOTA_SECRET_ROTATIONS": ("10/day", str),
    # Service accounts: per-merchant send rate and daily recipients quota (limits syntax)
    "SERVICE_ACCOUNT_SEND_RATE": ("20/second", str),
    "SERVICE_ACCOUNT_DAILY_QUOTA": ("200000/day", str),
    # Data export (gateway/exports): seconds a finished file is kept, and a download link lives
    "EXPORT_RETENTION": (86400, int),
    "EXPORT_LINK_TTL": (300, int),
    "EXPORT_SYNC_SETTLE": (5, int),  # incremental sync leaves rows this young for the next call
    "IDEMPOTENCY_TTL": (86400, int),
    "MAX_CONTENT_LENGTH": (1024 * 1024, int),
    "CORS_ORIGINS": ("", str),  # comma-separated allow-list
    "LOG_LEVEL": ("INFO", str),
    "ACCESS_LOG": (True, bool),
    "JOBS_IMMEDIATE": (False, bool),  # run background tasks inline (tests)
    "DB_POOL_SIZE": (5, int),
    "DB_STATEMENT_TIMEOUT_MS": (15000, int),
    "BENCH_ROUTES": (False, bool),
    "ALLOW_INSECURE_TRANSPORT": (False, bool),  # http issuer outside loopback; never in production
    "MINIPROGRAM_LOGIN_CODE_TTL": (300, int),  # seconds a mini-program login code can be exchanged
    "MINIPROGRAM_SESSION_TTL": (3 * 86400, int),  # what the exchange tells the developer to keep a session
    # Orders (gateway/orders): the rules the spec documents, in seconds unless named otherwise
    "ORDER_PAYMENT_TTL": (900, int),  # an unpaid order is cancelled after this, its stock released
    "CERTIFICATE_VALIDITY_DAYS": (180, int),  # when the product sets no validity window
    "VERIFICATION_REVOKE_WINDOW": (3600, int),  # a verification can be revoked this long after
    "REFUND_DECISION_WINDOW": (48 * 3600, int),  # an undecided refund request is then approved
    "PLATFORM_COMMISSION_BP": (200, int),  # basis points of an order's amount
    "CREATOR_COMMISSION_BP": (500, int),  # basis points, for orders from a creator's mounted card
    "PAYMENT_PROVIDER": ("simulated", str),  # the only one built in; never in production
    # Webhooks (gateway/webhooks): seconds between attempts after the first, ± jitter
    "WEBHOOK_RETRY_SCHEDULE": ("5,300,1800,7200,18000,36000,50400,72000,86400", str),
    "WEBHOOK_RETRY_JITTER": (0.1, float),
    "WEBHOOK_CONNECT_TIMEOUT": (5.0, float),
    "WEBHOOK_TIMEOUT": (15.0, float),  # a whole attempt, reading the response included
    "WEBHOOK_MAX_RESPONSE_BYTES": (64 * 1024, int),
    "WEBHOOK_LEASE": (60.0, float),  # a claimed delivery is handed out again after this (crashed worker)
    "WEBHOOK_SWEEP_GRACE": (30.0, float),  # how late a due delivery must be before the sweeper re-queues it
    "WEBHOOK_SECRET_OVERLAP": (86400, int),  # default seconds the old secret keeps signing after a rotation
    "WEBHOOK_ENDPOINT_LIMIT": (20, int),  # endpoints per app
    # hosts admitted over http, on any port and at any address (a local receiver); never in production
    "WEBHOOK_TEST_ALLOWLIST": ("", str),
}


def _parse(raw: str, kind: type) -> object:
    if kind is bool:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return kind(raw)


def load(overrides: dict | None = None, environ: os._Environ | dict | None = None) -> dict:
    """Read every ``SHIJING_*`` setting, then apply ``overrides`` (used by tests)."""
    environ = os.environ if environ is None else environ
    config: dict[str, object] = {}
    for name, (default, kind) in _SETTINGS.items():
        raw = environ.get(PREFIX + name)
        config[name] = default if raw in (None, "") else _parse(raw, kind)
    if overrides:
        unknown = set(overrides) - set(_SETTINGS) - {"TESTING"}
        if unknown:
            raise KeyError(f"unknown settings: {sorted(unknown)}")
        config.update(overrides)
    instance = Path(str(config["INSTANCE_PATH"]))
    if not config["DATABASE_URL"]:
        config["DATABASE_URL"] = f"sqlite:///{instance / 'shijing.db'}"
    config["DATABASE_URL"] = normalise_database_url(str(config["DATABASE_URL"]))
    return config


def normalise_database_url(url: str) -> str:
    """Accept the usual ``postgresql://`` spelling and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def is_production(config: dict) -> bool:
    return config["ENV"] == "production"
