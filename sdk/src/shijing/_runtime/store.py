"""Token stores: where tokens live between calls, threads and processes, with a lock per key.

A store maps a key to a JSON-able dict and can lock a key. The OAuth helpers refresh a token
single-flight: read; on a miss take ``store.lock(key)``; read again; fetch; write. So one process
(and one thread in it) refreshes while the others wait and then read the new token.

- :class:`MemoryStore`: one process (threads share it).
- :class:`FileStore`: processes on one machine; one JSON file per key (mode 0600, atomic
  rename) and an ``fcntl.flock`` lock file beside it.
- :class:`RedisStore`: processes on many machines; any client with ``get``/``set``/``delete``
  (redis-py's ``Redis`` works) — a ``SET NX PX`` lock released by compare-and-delete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any, Protocol


class TokenStore(Protocol):
    def get(self, key: str) -> dict[str, Any] | None: ...

    def set(self, key: str, value: dict[str, Any]) -> None: ...

    def delete(self, key: str) -> None: ...

    def lock(self, key: str) -> contextlib.AbstractContextManager[Any]: ...


class _KeyLocks:
    """One ``threading.Lock`` per key, created on demand."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def __call__(self, key: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = threading.Lock()
            return lock


class MemoryStore:
    """Tokens in a dict; enough for one process."""

    def __init__(self) -> None:
        self._data: dict[str, str] = {}
        self._locks = _KeyLocks()

    def get(self, key: str) -> dict[str, Any] | None:
        raw = self._data.get(key)
        return json.loads(raw) if raw is not None else None

    def set(self, key: str, value: dict[str, Any]) -> None:
        self._data[key] = json.dumps(value)

    def delete(self, key: str) -> None:
        self._data.pop(key, None)

    def lock(self, key: str) -> contextlib.AbstractContextManager[Any]:
        return self._locks(key)


# file locks are per process; threads of one process first queue on a thread lock
_FILE_THREAD_LOCKS = _KeyLocks()


class FileStore:
    """Tokens in files under ``directory`` (created 0700), locked with ``fcntl.flock``."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = os.fspath(directory)
        os.makedirs(self.directory, mode=0o700, exist_ok=True)

    def _path(self, key: str, suffix: str) -> str:
        name = hashlib.sha256(key.encode()).hexdigest()[:40]
        return os.path.join(self.directory, name + suffix)

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            with open(self._path(key, ".json"), encoding="utf-8") as handle:
                data: dict[str, Any] = json.load(handle)
                return data
        except FileNotFoundError:
            return None
        except ValueError:
            return None  # a torn file cannot happen (atomic rename), but never trust a bad one

    def set(self, key: str, value: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".tok-", dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(value, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self._path(key, ".json"))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(key, ".json"))

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        import fcntl

        with _FILE_THREAD_LOCKS(self._path(key, "")):
            fd = os.open(self._path(key, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)


_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""


class RedisStore:
    """Tokens in Redis under ``prefix``; works with any client offering redis-py's methods."""

    def __init__(self, redis: Any, *, prefix: str = "shijing:sdk:", lock_timeout: float = 30.0,
                 wait_timeout: float = 30.0, poll: float = 0.02) -> None:
        self.redis = redis
        self.prefix = prefix
        self.lock_timeout = lock_timeout
        self.wait_timeout = wait_timeout
        self.poll = poll
        self._threads = _KeyLocks()

    def get(self, key: str) -> dict[str, Any] | None:
        raw = self.redis.get(self.prefix + key)
        if raw is None:
            return None
        data: dict[str, Any] = json.loads(raw)
        return data

    def set(self, key: str, value: dict[str, Any]) -> None:
        ttl = None
        expires_at = value.get("refresh_expires_at") or value.get("expires_at")
        if isinstance(expires_at, (int, float)):
            ttl = max(1, int(expires_at - time.time()) + 3600)
        self.redis.set(self.prefix + key, json.dumps(value), ex=ttl)

    def delete(self, key: str) -> None:
        self.redis.delete(self.prefix + key)

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        name = self.prefix + "lock:" + key
        owner = os.urandom(16).hex()
        with self._threads(key):
            deadline = time.monotonic() + self.wait_timeout
            while not self.redis.set(name, owner, nx=True, px=int(self.lock_timeout * 1000)):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"could not lock {key!r} in Redis within {self.wait_timeout} s")
                time.sleep(self.poll)
            try:
                yield
            finally:
                if hasattr(self.redis, "eval"):
                    self.redis.eval(_RELEASE, 1, name, owner)
                else:
                    current = self.redis.get(name)
                    if current is not None and (current.decode() if isinstance(current, bytes) else current) == owner:
                        self.redis.delete(name)
