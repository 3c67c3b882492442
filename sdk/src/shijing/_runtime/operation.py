"""The description of one API operation that generated methods hand to the runtime."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Pagination:
    """``x-sdk-pagination`` of a list operation: where the items, cursor and flags live."""

    __slots__ = ("cursor_param", "has_more", "items", "next", "style")

    def __init__(self, *, style: str = "cursor", items: str = "data", cursor_param: str = "cursor",
                 next: str = "next_cursor", has_more: str | None = "has_more") -> None:
        if style != "cursor":
            raise ValueError(f"unsupported pagination style {style!r}")
        self.style = style
        self.items = items
        self.cursor_param = cursor_param
        self.next = next
        self.has_more = has_more


class Operation:
    """One operation of the contract.

    ``security`` lists what may authenticate it: ``"bearer"`` (OAuth access token) and/or
    ``"basic"`` (the app's client id and secret); ``auth_optional`` when the contract also allows
    none. ``result`` is ``"json"``, ``"none"`` (no body), ``"text"`` or ``"binary"``; ``decode``
    turns the JSON body into the model. ``body`` is the request media type (``"json"``,
    ``"form"`` or None).
    """

    __slots__ = (
        "auth_optional",
        "body",
        "decode",
        "id",
        "idempotent",
        "method",
        "pagination",
        "path",
        "result",
        "retry_safe",
        "security",
        "streaming",
    )

    def __init__(
        self,
        id: str,
        method: str,
        path: str,
        *,
        security: tuple[str, ...] = (),
        auth_optional: bool = True,
        idempotent: bool = False,
        result: str = "json",
        decode: Callable[[Any], Any] | None = None,
        pagination: Pagination | None = None,
        streaming: bool = False,
        body: str | None = None,
        retry_safe: bool | None = None,
    ) -> None:
        self.id = id
        self.method = method
        self.path = path
        self.security = security
        self.auth_optional = auth_optional
        self.idempotent = idempotent
        self.result = result
        self.decode = decode
        self.pagination = pagination
        self.streaming = streaming
        self.body = body
        # retried after the request may have reached the server only if repeating it is harmless
        if retry_safe is None:
            retry_safe = idempotent or method in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")
        self.retry_safe = retry_safe

    def __repr__(self) -> str:
        return f"Operation({self.id!r}, {self.method} {self.path})"
