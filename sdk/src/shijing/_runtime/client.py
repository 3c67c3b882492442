"""The transport every generated method goes through: one ``requests.Session``, auth, retries,
idempotency keys, error mapping, parsing, pagination, raw and streaming responses."""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, Self
from urllib.parse import quote

import requests
from requests.exceptions import ConnectionError as _ConnectionError
from requests.exceptions import ConnectTimeout, ReadTimeout
from requests.exceptions import Timeout as _Timeout

from .._version import __version__
from . import errors
from .auth import BearerToken, ClientCredentials, TokenProvider
from .logging import logger, redact, setup_from_env
from .models import to_jsonable
from .operation import Operation
from .pagination import Page
from .response import APIResponse, StreamedResponse
from .retry import RetryPolicy, parse_retry_after
from .store import TokenStore
from .types import OMIT, RequestOptions, Timeout

USER_AGENT = "shijing-python/{} python/{} requests/{}".format(
    __version__, ".".join(map(str, sys.version_info[:3])), requests.__version__
)
DEFAULT_TIMEOUT = Timeout()  # 5 s to connect, 60 s to read
_INFO = 20
_DEBUG = 10


def _is_connect_error(exc: BaseException) -> bool:
    """True when the request surely never reached the server (so any method may be retried)."""
    if isinstance(exc, ConnectTimeout):
        return True
    if isinstance(exc, _ConnectionError) and not isinstance(exc, _Timeout):
        reason = exc.args[0] if exc.args else None
        inner = getattr(reason, "reason", None)  # urllib3 MaxRetryError wraps the cause
        name = type(inner).__name__ if inner is not None else ""
        return name in ("NewConnectionError", "NameResolutionError", "ConnectTimeoutError")
    return False


def _query_value(value: Any) -> Any:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (list, tuple)):
        return [_query_value(v) for v in value]
    if isinstance(value, (str, int, float)):
        return value
    return to_jsonable(value)


def _basic(client_id: str, client_secret: str) -> str:
    # RFC 6749 §2.3.1: form-urlencode both parts before Basic encoding
    raw = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


class BaseClient:
    """Connection settings and credentials; the generated ``Client`` adds one attribute per tag.

    - ``base_url``: the gateway (default ``SHIJING_BASE_URL`` or the contract's first server);
    - ``client_id`` / ``client_secret`` (default ``SHIJING_CLIENT_ID`` / ``SHIJING_CLIENT_SECRET``):
      with no ``auth``, calls use a :class:`ClientCredentials` token (``scope``, ``token_store``);
    - ``access_token``: a fixed token instead; ``auth``: any token provider;
    - ``timeout``: seconds, ``(connect, read)`` or :class:`Timeout` (default 5 s / 60 s; never None);
    - ``max_retries`` (default 2) or a full :class:`RetryPolicy` as ``retry``;
    - ``session``: your ``requests.Session`` (keep-alive, proxies, adapters); closed only if ours;
    - ``on_response``: called with ``(operation_id, requests.Response)`` after every call.
    """

    _default_base_url = "http://127.0.0.1:8000"
    _token_path = "/oauth2/token"
    _authorization_path = "/oauth2/authorize"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        scope: str | None = None,
        access_token: str | None = None,
        auth: TokenProvider | None = None,
        token_store: TokenStore | None = None,
        timeout: Timeout | float | tuple[float, float] = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        default_headers: Mapping[str, str] | None = None,
        on_response: Callable[[str, requests.Response], None] | None = None,
    ) -> None:
        setup_from_env()
        self.base_url = (base_url or os.environ.get("SHIJING_BASE_URL") or self._default_base_url).rstrip("/")
        self.client_id = client_id or os.environ.get("SHIJING_CLIENT_ID") or None
        self.client_secret = client_secret or os.environ.get("SHIJING_CLIENT_SECRET") or None
        self.timeout = Timeout.coerce(timeout)
        self.retry = retry if retry is not None else RetryPolicy(max_retries)
        self._owns_session = session is None
        self.session = session if session is not None else requests.Session()
        if self._owns_session:
            # our own retries only: urllib3 must not retry underneath (nothing retries twice)
            self.session.mount("http://", requests.adapters.HTTPAdapter(max_retries=0))
            self.session.mount("https://", requests.adapters.HTTPAdapter(max_retries=0))
        self.headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        self.headers.update(default_headers or {})
        self.on_response = on_response
        if auth is None:
            if access_token:
                auth = BearerToken(access_token)
            elif self.client_id and self.client_secret:
                auth = ClientCredentials(scope=scope, store=token_store)
        self.auth = auth
        if auth is not None:
            auth.bind(self)
            # an OAuth helper given the app's credentials lends them to the Basic-auth operations
            if self.client_id is None and getattr(auth, "client_id", None):
                self.client_id = auth.client_id  # type: ignore[attr-defined]
            if self.client_secret is None and self.client_id == getattr(auth, "client_id", None):
                self.client_secret = getattr(auth, "client_secret", None)

    # -- URLs from the contract's OAuth flows
    def _absolute(self, path: str) -> str:
        return path if "://" in path else self.base_url + path

    @property
    def token_url(self) -> str:
        return self._absolute(self._token_path)

    @property
    def authorization_url(self) -> str:
        return self._absolute(self._authorization_path)

    # -- lifecycle
    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def with_options(self, *, timeout: Timeout | float | tuple[float, float] | None = None,
                     max_retries: int | None = None, retry: RetryPolicy | None = None) -> BaseClient:
        """A copy sharing session and credentials, with other timeouts or retries."""
        clone = object.__new__(type(self))
        clone.__dict__.update({k: v for k, v in self.__dict__.items() if not isinstance(v, Resource)})
        clone._owns_session = False
        if timeout is not None:
            clone.timeout = Timeout.coerce(timeout)
        if retry is not None:
            clone.retry = retry
        elif max_retries is not None:
            policy = self.retry
            clone.retry = RetryPolicy(max_retries, initial_delay=policy.initial_delay, max_delay=policy.max_delay,
                                      max_retry_after=policy.max_retry_after, sleep=policy.sleep,
                                      clock=policy.clock, random=policy.random)
        return clone

    # -- the one entry point of generated code
    def _call(self, op: Operation, path: Mapping[str, Any] | None, query: Mapping[str, Any] | None,
              headers: Mapping[str, Any] | None, body: Mapping[str, Any] | None,
              options: RequestOptions | None, mode: str | None) -> Any:
        route = op.path
        if path:
            route = route.format_map({k: quote(str(v), safe="") for k, v in path.items()})
        url = route if "://" in route else self.base_url + route
        params: dict[str, Any] | None = None
        if query:
            params = {k: _query_value(v) for k, v in query.items() if v is not OMIT and v is not None}
        send_headers = dict(self.headers)
        if headers:
            for name, value in headers.items():
                if value is not OMIT and value is not None:
                    send_headers[name] = str(value)
        timeout = self.timeout
        max_retries = self.retry.max_retries
        extra_body = None
        if options is not None:
            if options.timeout is not None:
                timeout = options.timeout
            if options.max_retries is not None:
                max_retries = options.max_retries
            if options.idempotency_key is not None:
                send_headers["Idempotency-Key"] = options.idempotency_key
            send_headers.update(options.extra_headers)
            if options.extra_query:
                params = {**(params or {}), **options.extra_query}
            extra_body = options.extra_body
        if op.idempotent and "Idempotency-Key" not in send_headers:
            import uuid  # only creating POSTs need it (keeps `import shijing` light)

            send_headers["Idempotency-Key"] = str(uuid.uuid4())  # one key for every retry of this call
        data: Any = None
        if body is not None or extra_body:
            payload = {k: to_jsonable(v) for k, v in (body or {}).items() if v is not OMIT}
            if extra_body:
                payload.update(extra_body)
            if op.body == "form":
                data = {k: v for k, v in payload.items() if v is not None}
            else:
                data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
                send_headers["Content-Type"] = "application/json"
        stream = mode == "stream" or (op.streaming and mode != "raw")
        response, retries = self._send(op, url, params, send_headers, data, timeout, max_retries, stream)

        def parse(http_response: requests.Response) -> Any:
            return self._parse(op, http_response, path, query, headers, body, options)

        if stream:
            return StreamedResponse(response, op.id, parse, retries)
        if mode == "raw":
            return APIResponse(response, op.id, parse, retries)
        return parse(response)

    def _authorize(self, op: Operation, headers: dict[str, str]) -> str | None:
        security = op.security
        if "bearer" in security and self.auth is not None:
            token = self.auth.token()
            headers["Authorization"] = "Bearer " + token
            return token
        if "basic" in security and self.client_id and self.client_secret:
            headers["Authorization"] = _basic(self.client_id, self.client_secret)
        return None

    def _send(self, op: Operation, url: str, params: Any, headers: dict[str, str], data: Any,
              timeout: Timeout, max_retries: int, stream: bool) -> tuple[requests.Response, int]:
        policy = self.retry
        attempt = 0
        replayed = False
        caller_auth = "Authorization" in headers
        request_timeout = timeout.as_requests()
        while True:
            token = None
            if op.security and not caller_auth:
                token = self._authorize(op, headers)
            started = time.perf_counter()
            try:
                response = self.session.request(op.method, url, params=params, data=data, headers=headers,
                                                timeout=request_timeout, stream=stream, allow_redirects=False)
            except (_ConnectionError, _Timeout) as exc:
                before_sending = _is_connect_error(exc)
                if (before_sending or op.retry_safe) and attempt < max_retries:
                    wait = policy.backoff(attempt)
                    self._log_failure(op, exc, attempt, wait)
                    policy.sleep(wait)
                    attempt += 1
                    continue
                self._log_failure(op, exc, attempt, None)
                if isinstance(exc, (ReadTimeout, ConnectTimeout)):
                    raise errors.APITimeoutError(f"{op.method} {op.path} timed out: {type(exc).__name__}",
                                                 request=exc.request) from None
                raise errors.APIConnectionError(f"{op.method} {op.path} failed: {type(exc).__name__}",
                                                request=exc.request) from None
            status = response.status_code
            if logger.isEnabledFor(_INFO):
                self._log_attempt(op, response, started, attempt, params, headers)
            if status < 400:
                if self.on_response is not None:
                    self.on_response(op.id, response)
                return response, attempt
            if (status == 401 and token is not None and not replayed and self._invalid_token(response)
                    and self.auth is not None and self.auth.invalidate(token)):
                replayed = True  # one forced refresh, one replay
                response.close()
                continue
            retry_after = parse_retry_after(response.headers, policy.clock())
            if attempt < max_retries and policy.should_retry_status(status, op.retry_safe, response.headers):
                if retry_after is None or retry_after <= policy.max_retry_after:
                    wait = retry_after if retry_after is not None else policy.backoff(attempt)
                    response.close()
                    policy.sleep(wait)
                    attempt += 1
                    continue
            if self.on_response is not None:
                self.on_response(op.id, response)
            raise errors.from_response(response, retry_after)

    @staticmethod
    def _invalid_token(response: requests.Response) -> bool:
        if 'error="invalid_token"' in response.headers.get("WWW-Authenticate", ""):
            return True
        try:
            body = json.loads(response.content)
        except ValueError:
            return False
        return isinstance(body, dict) and (body.get("code") == "INVALID_TOKEN" or body.get("error") == "invalid_token")

    def _parse(self, op: Operation, response: requests.Response, path: Any, query: Any, headers: Any,
               body: Any, options: Any) -> Any:
        result = op.result
        if result == "none":
            response.close()
            return None
        if result == "text":
            return response.text
        if result == "binary":
            return response.content
        request_id = response.headers.get("X-Request-Id")
        try:
            data = json.loads(response.content)
        except ValueError as exc:
            raise errors.ResponseValidationError(f"the body is not JSON ({exc})", body=response.text,
                                                 operation_id=op.id, request_id=request_id) from None
        model = data
        if op.decode is not None:
            try:
                model = op.decode(data)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise errors.ResponseValidationError(f"the body does not fit the model: {type(exc).__name__} {exc}",
                                                     body=data, operation_id=op.id, request_id=request_id) from None
        pagination = op.pagination
        if pagination is None:
            return model
        cursor_param = pagination.cursor_param

        def fetch(cursor: str) -> Page[Any]:
            page: Page[Any] = self._call(op, path, {**(query or {}), cursor_param: cursor}, headers, body, options,
                                         None)
            return page

        return Page(model, items=pagination.items, next=pagination.next, has_more=pagination.has_more,
                    fetch=fetch, response=response)

    # -- token endpoint (used by the OAuth helpers)
    def _token_request(self, form: dict[str, str], *, client_id: str | None, client_secret: str | None,
                       retry_safe: bool) -> dict[str, Any]:
        op = Operation("oauth_token", "POST", self._token_path, result="json", body="form", retry_safe=retry_safe)
        headers: dict[str, str] = {"Cache-Control": "no-store"}
        if client_secret:
            headers["Authorization"] = _basic(client_id or "", client_secret)
        elif client_id:
            form = {**form, "client_id": client_id}
        body = self._call(op, None, None, headers, form, None, None)
        if not isinstance(body, dict) or "access_token" not in body:
            raise errors.ResponseValidationError("the token response has no access_token", operation_id=op.id)
        return body

    # -- logging (route templates only; values redacted)
    def _log_attempt(self, op: Operation, response: requests.Response, started: float, attempt: int,
                     params: Any, headers: Mapping[str, str]) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        logger.info("%s %s -> %s in %.1f ms request_id=%s attempt=%d", op.method, op.path, response.status_code,
                    elapsed, response.headers.get("X-Request-Id"), attempt + 1)
        if logger.isEnabledFor(_DEBUG):
            logger.debug("%s %s request headers=%s query=%s", op.method, op.path, redact(dict(headers)),
                         redact(params or {}))

    def _log_failure(self, op: Operation, exc: BaseException, attempt: int, wait: float | None) -> None:
        if logger.isEnabledFor(_INFO):
            then = f"retrying in {wait:.2f} s" if wait is not None else "giving up"
            logger.info("%s %s failed: %s attempt=%d, %s", op.method, op.path, type(exc).__name__, attempt + 1, then)


class Resource:
    """Base of the generated resource classes (one per tag)."""

    __slots__ = ("_client", "_mode")

    def __init__(self, client: BaseClient, mode: str | None = None) -> None:
        self._client = client
        self._mode = mode

    @property
    def with_raw_response(self) -> Any:
        """The same methods, returning :class:`APIResponse` (headers, request id, ``parse()``)."""
        return type(self)(self._client, "raw")

    @property
    def with_streaming_response(self) -> Any:
        """The same methods, returning an unread :class:`StreamedResponse` (a context manager)."""
        return type(self)(self._client, "stream")

    def _request(self, op: Operation, *, path: Mapping[str, Any] | None = None,
                 query: Mapping[str, Any] | None = None, headers: Mapping[str, Any] | None = None,
                 body: Mapping[str, Any] | None = None, options: RequestOptions | None = None) -> Any:
        return self._client._call(op, path, query, headers, body, options, self._mode)
