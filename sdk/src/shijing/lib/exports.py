"""Export jobs from the client side: wait for one, then stream its file to disk, resuming with
HTTP Range after a dropped connection, in constant memory whatever its size."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import requests

from .._runtime import errors

if TYPE_CHECKING:
    from .._generated.client import Client

CHUNK_SIZE = 1 << 20
FINAL = ("completed", "failed", "cancelled", "expired")


class ExportFailed(errors.ShijingError):
    """The job ended without a file (failed, cancelled or expired); ``job`` is its last state."""

    def __init__(self, job: Any) -> None:
        super().__init__(f"export {job.id} is {job.status}" + (f": {job.error}" if job.error else ""))
        self.job = job


class ProgressBar:
    """A one-line text progress bar on a stream (stderr by default); no dependency."""

    def __init__(self, label: str, total: int | None = None, stream: IO[str] | None = None, width: int = 30) -> None:
        self.label, self.total, self.stream, self.width = label, total, stream or sys.stderr, width
        self._last = 0.0

    def update(self, done: int, total: int | None = None, *, unit: str = "", force: bool = False) -> None:
        if total is not None:
            self.total = total
        now = time.monotonic()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        if self.total:
            share = min(done / self.total, 1.0)
            bar = "#" * int(share * self.width)
            text = f"\r{self.label} [{bar:<{self.width}}] {share:6.1%} {done:,}/{self.total:,}{unit}"
        else:
            text = f"\r{self.label} {done:,}{unit}"
        self.stream.write(text)
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def wait_for_export(client: Client, merchant_id: str, export_id: str, *, timeout: float = 3600,
                    poll_interval: float = 1.0, progress: bool | Callable[[Any], None] = False) -> Any:
    """Poll the job until it is completed (returned, with a fresh ``download_url``); raise
    :class:`ExportFailed` if it failed, was cancelled or expired, ``TimeoutError`` after ``timeout``
    seconds. ``progress``: True for a bar on stderr, or a function called with each state."""
    deadline = time.monotonic() + timeout
    bar = ProgressBar(f"export {export_id}") if progress is True else None
    interval = min(poll_interval, 0.2)
    try:
        while True:
            job = client.exports.get(merchant_id, export_id)
            if bar is not None:
                bar.update(job.rows_done, job.rows_estimated, unit=" rows", force=job.status in FINAL)
            elif callable(progress):
                progress(job)
            if job.status == "completed":
                return job
            if job.status in FINAL:
                raise ExportFailed(job)
            if time.monotonic() >= deadline:
                raise TimeoutError(f"export {export_id} still {job.status} after {timeout} s")
            time.sleep(interval)
            interval = min(interval * 1.5, poll_interval)  # quick for small exports, then every poll_interval
    finally:
        if bar is not None:
            bar.close()


def download_export(client: Client, merchant_id: str, export_id: str, destination: str | os.PathLike[str], *,
                    progress: bool | Callable[[int, int | None], None] = False, max_attempts: int = 5,
                    chunk_size: int = CHUNK_SIZE) -> Path:
    """Stream the completed job's file to ``destination`` chunk by chunk. A dropped connection is
    resumed where it stopped (``Range: bytes=N-`` with ``If-Range`` on the file's ETag; the link
    is fetched again, as links are short-lived). Written to ``destination + ".part"``, renamed
    when complete. ``progress``: True for a bar on stderr, or a function of (bytes, total)."""
    target = Path(destination)
    part = target.with_name(target.name + ".part")
    bar = ProgressBar(f"download {target.name}") if progress is True else None
    etag: str | None = None
    attempt = 0
    try:
        while True:
            job = client.exports.get(merchant_id, export_id)
            if job.status != "completed" or not job.download_url:
                raise ExportFailed(job)
            done = part.stat().st_size if part.exists() else 0
            headers = {"Accept": "*/*"}
            if client.auth is not None:
                headers["Authorization"] = "Bearer " + client.auth.token()
            if done and etag:
                headers.update({"Range": f"bytes={done}-", "If-Range": etag})
            try:
                with client.session.get(client._absolute(job.download_url), headers=headers, stream=True,
                                        timeout=client.timeout.as_requests(), allow_redirects=False) as response:
                    if response.status_code >= 400:
                        raise errors.from_response(response, None)
                    if response.status_code == 200:
                        done = 0  # a full body: the file changed, or no resume was asked
                    etag = response.headers.get("ETag", etag)
                    total = job.file_size
                    with open(part, "ab" if done else "wb") as out:
                        for chunk in response.iter_content(chunk_size):
                            out.write(chunk)
                            done += len(chunk)
                            if bar is not None:
                                bar.update(done, total, unit=" bytes")
                            elif callable(progress):
                                progress(done, total)
                if job.file_size is None or done >= job.file_size:
                    break
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError):
                pass
            attempt += 1
            if attempt >= max_attempts:
                raise errors.APIConnectionError(f"download of export {export_id} kept failing at byte {done}",
                                                request=None)
            time.sleep(min(2 ** attempt * 0.25, 5))
        if bar is not None:
            bar.update(done, job.file_size, unit=" bytes", force=True)
        os.replace(part, target)
        return target
    finally:
        if bar is not None:
            bar.close()


def export_to_file(client: Client, merchant_id: str, dataset: str, date_from: str, date_to: str,
                   destination: str | os.PathLike[str], *, format: str = "csv", gzip: bool = False,
                   filters: dict[str, str] | None = None, progress: bool = False, timeout: float = 3600) -> Path:
    """Create an export job, wait for it and download its file: the whole round in one call."""
    create: Any = client.exports.create  # dataset, format and filters are checked by the gateway
    job = create(merchant_id, dataset=dataset, date_from=date_from, date_to=date_to, format=format, gzip=gzip,
                 **(filters or {}))
    wait_for_export(client, merchant_id, job.id, timeout=timeout, progress=progress)
    return download_export(client, merchant_id, job.id, destination, progress=progress)
