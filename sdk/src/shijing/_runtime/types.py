"""Small value types shared by the runtime and the generated code."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Omit:
    """The type of :data:`OMIT`: "leave this out of the request" (``None`` sends a JSON null)."""

    __slots__ = ()
    _instance: Omit | None = None

    def __new__(cls) -> Omit:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "OMIT"

    def __reduce__(self) -> str:
        return "OMIT"


OMIT = Omit()


class Timeout:
    """Connect and read timeouts in seconds. Never infinite: ``None`` is refused."""

    __slots__ = ("connect", "read")

    def __init__(self, connect: float = 5.0, read: float = 60.0) -> None:
        for name, value in (("connect", connect), ("read", read)):
            if value is None or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"Timeout.{name} must be a positive number of seconds, not {value!r}")
        self.connect = float(connect)
        self.read = float(read)

    @classmethod
    def coerce(cls, value: Timeout | float | tuple[float, float]) -> Timeout:
        if isinstance(value, Timeout):
            return value
        if isinstance(value, tuple):
            return cls(*value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return cls(value, value)
        raise ValueError(f"timeout must be seconds, (connect, read) or Timeout, not {value!r}")

    def as_requests(self) -> tuple[float, float]:
        return (self.connect, self.read)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Timeout) and (self.connect, self.read) == (other.connect, other.read)

    def __hash__(self) -> int:
        return hash((self.connect, self.read))

    def __repr__(self) -> str:
        return f"Timeout(connect={self.connect}, read={self.read})"


class RequestOptions:
    """Per-call overrides, passed as ``options=`` to any generated method.

    - ``timeout``: seconds, ``(connect, read)`` or :class:`Timeout`;
    - ``max_retries``: retries after the first attempt (0 disables);
    - ``idempotency_key``: the ``Idempotency-Key`` to send (default: a new uuid4 per logical call
      for operations marked ``x-sdk-idempotent``);
    - ``extra_headers`` / ``extra_query`` / ``extra_body``: sent as well, for fields the SDK does
      not know yet.
    """

    __slots__ = ("extra_body", "extra_headers", "extra_query", "idempotency_key", "max_retries", "timeout")

    def __init__(
        self,
        *,
        timeout: Timeout | float | tuple[float, float] | None = None,
        max_retries: int | None = None,
        idempotency_key: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> None:
        self.timeout = Timeout.coerce(timeout) if timeout is not None else None
        if max_retries is not None and max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.max_retries = max_retries
        self.idempotency_key = idempotency_key
        self.extra_headers = dict(extra_headers or {})
        self.extra_query = dict(extra_query or {})
        self.extra_body = dict(extra_body or {})
