"""Raw and streaming access to responses.

``client.<resource>.with_raw_response.<method>(...)`` returns an :class:`APIResponse` (status,
headers, request id, elapsed time, ``.parse()`` for the usual result).
``client.<resource>.with_streaming_response.<method>(...)`` returns a :class:`StreamedResponse`:
the body is not read until asked, so large exports stream to disk with a progress callback::

    with client.exports.with_streaming_response.download(export_id) as response:
        response.stream_to("export.jsonl.gz", progress=lambda done, total: ...)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, Self

Progress = Callable[[int, "int | None"], None]


class APIResponse:
    """A response whose status was 2xx; ``parse()`` gives what the method normally returns."""

    __slots__ = ("_parse", "_parsed", "http_response", "operation_id", "retries_taken")

    def __init__(self, http_response: Any, operation_id: str, parse: Callable[[Any], Any],
                 retries_taken: int = 0) -> None:
        self.http_response = http_response
        self.operation_id = operation_id
        self.retries_taken = retries_taken
        self._parse = parse
        self._parsed: Any = _UNSET

    @property
    def status_code(self) -> int:
        return int(self.http_response.status_code)

    @property
    def headers(self) -> Any:
        return self.http_response.headers

    @property
    def request_id(self) -> str | None:
        value: str | None = self.http_response.headers.get("X-Request-Id")
        return value

    @property
    def elapsed(self) -> timedelta:
        value: timedelta = self.http_response.elapsed
        return value

    @property
    def content(self) -> bytes:
        value: bytes = self.http_response.content
        return value

    @property
    def text(self) -> str:
        value: str = self.http_response.text
        return value

    def json(self) -> Any:
        return self.http_response.json()

    def parse(self) -> Any:
        if self._parsed is _UNSET:
            self._parsed = self._parse(self.http_response)
        return self._parsed

    def __repr__(self) -> str:
        return f"<APIResponse {self.operation_id} {self.status_code} {self.request_id}>"


class StreamedResponse(APIResponse):
    """A 2xx response whose body has not been read; use it as a context manager."""

    __slots__ = ()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http_response.close()

    @property
    def content_length(self) -> int | None:
        value = self.http_response.headers.get("Content-Length")
        return int(value) if value and value.isdigit() else None

    def iter_bytes(self, chunk_size: int = 64 * 1024, progress: Progress | None = None) -> Iterator[bytes]:
        done = 0
        total = self.content_length
        for chunk in self.http_response.iter_content(chunk_size=chunk_size):
            if not chunk:
                continue
            done += len(chunk)
            if progress is not None:
                progress(done, total)
            yield chunk

    def stream_to(self, path: str | os.PathLike[str], *, chunk_size: int = 64 * 1024,
                  progress: Progress | None = None) -> int:
        """Write the body to ``path`` (atomically: a temporary file, then a rename); return bytes."""
        target = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(target))
        fd, tmp = tempfile.mkstemp(prefix=".download-", dir=directory)
        written = 0
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in self.iter_bytes(chunk_size, progress):
                    handle.write(chunk)
                    written += len(chunk)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        finally:
            self.close()
        return written


class _Unset:
    __slots__ = ()


_UNSET = _Unset()
