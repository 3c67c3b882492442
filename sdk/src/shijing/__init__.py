"""Python SDK for the Shijing (市井) open platform.

::

    import shijing

    client = shijing.Client(base_url="http://127.0.0.1:8000", client_id="app_…", client_secret="sjcs_…")
    for authorization in client.authorizations.list(status="active"):
        print(client.merchants.get(authorization.subject_id).name)

``Client`` and the models are generated from the contract (``openapi/openapi.yaml``); retries,
OAuth, errors, pagination and webhook signatures are the hand-written runtime.
"""

from ._generated import API_VERSION, SPEC_SHA256
from ._generated.client import Client
from ._runtime.auth import (
    AuthCodePKCE,
    AuthorizationRequest,
    BearerToken,
    ClientCredentials,
    Token,
    TokenProvider,
)
from ._runtime.client import BaseClient
from ._runtime.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    ShijingError,
    SignatureVerificationError,
    UnprocessableEntityError,
)
from ._runtime.pagination import Page
from ._runtime.response import APIResponse, StreamedResponse
from ._runtime.retry import RetryPolicy
from ._runtime.store import FileStore, MemoryStore, RedisStore, TokenStore
from ._runtime.types import OMIT, Omit, RequestOptions, Timeout
from ._version import __version__

__all__ = [
    "API_VERSION",
    "OMIT",
    "SPEC_SHA256",
    "APIConnectionError",
    "APIResponse",
    "APIStatusError",
    "APITimeoutError",
    "AuthCodePKCE",
    "AuthenticationError",
    "AuthorizationRequest",
    "BadRequestError",
    "BaseClient",
    "BearerToken",
    "Client",
    "ClientCredentials",
    "ConflictError",
    "FileStore",
    "InternalServerError",
    "MemoryStore",
    "NotFoundError",
    "Omit",
    "Page",
    "PermissionDeniedError",
    "RateLimitError",
    "RedisStore",
    "RequestOptions",
    "ResponseValidationError",
    "RetryPolicy",
    "ShijingError",
    "SignatureVerificationError",
    "StreamedResponse",
    "Timeout",
    "Token",
    "TokenProvider",
    "TokenStore",
    "UnprocessableEntityError",
    "__version__",
]
