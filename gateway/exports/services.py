"""Export jobs, download links, stats and incremental sync: the rules, over an explicit session."""

from __future__ import annotations

import base64
import gzip as gzip_module
import hashlib
import hmac
import itertools
import logging
import os
import re
import time
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from flask import current_app
from sqlalchemy import Column as SAColumn
from sqlalchemy import MetaData, Table, Text, and_, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateTable

from gateway.clock import isoformat, utcnow
from gateway.db import owned
from gateway.errors import Conflict, NotFound, Problem, ValidationFailed
from gateway.exports.datasets import DATASETS, Dataset
from gateway.exports.models import ExportJob
from gateway.oauth.identity import open_id_function
from gateway.security import derived_key
from gateway.service_accounts.services import remember_open_ids

log = logging.getLogger("shijing.exports")

CHUNK_ROWS = 5000  # rows fetched (and written) at a time: the whole result is never in memory
PROGRESS_EVERY = 50000  # rows between progress updates (and cancel checks)
MAX_RANGE_DAYS = 366
MEDIA_TYPES = {"csv": "text/csv", "jsonl": "application/x-ndjson"}


def _config(name: str):
    return current_app.config["SHIJING"][name]


def get_dataset(name: str) -> Dataset:
    dataset = DATASETS.get(name) if isinstance(name, str) else None
    if dataset is None:
        raise NotFound(f"There is no dataset {name!r}; GET /v1/datasets lists them.", code="DATASET_NOT_FOUND")
    return dataset


def parse_day(name: str, value) -> date:
    try:
        return date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None


def day_range(date_from: str, date_to: str, *, max_days: int = MAX_RANGE_DAYS) -> tuple[datetime, datetime]:
    """The UTC instants [from 00:00, day after to 00:00) of an inclusive range of calendar days."""
    first, last = parse_day("date_from", date_from), parse_day("date_to", date_to)
    errors = {}
    if first is None:
        errors["date_from"] = ["Must be a calendar day, YYYY-MM-DD."]
    if last is None:
        errors["date_to"] = ["Must be a calendar day, YYYY-MM-DD."]
    if errors:
        raise ValidationFailed("The date range is not valid.", code="INVALID_DATE_RANGE", errors=errors)
    if last < first:
        raise ValidationFailed("date_to is before date_from.", code="INVALID_DATE_RANGE",
                               errors={"date_to": ["Must be on or after date_from."]})
    if (last - first).days + 1 > max_days:
        raise ValidationFailed(f"The range may span at most {max_days} days.", code="INVALID_DATE_RANGE",
                               errors={"date_to": [f"At most {max_days} days after date_from."]})
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    until = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    return since, until


def check_filters(dataset: Dataset, filters: dict) -> dict:
    unknown = sorted(name for name in filters if name not in dataset.filters)
    if unknown:
        allowed = ", ".join(sorted(dataset.filters)) or "none"
        raise ValidationFailed(f"{dataset.name} cannot be filtered by {', '.join(unknown)}; it takes: {allowed}.",
                               code="INVALID_FILTER", errors={name: ["Not a filter of this dataset."] for name in unknown})
    return filters


# --- export jobs ------------------------------------------------------------------------------------


def create_job(session: Session, merchant_id: str, app_id: str, data: dict) -> ExportJob:
    dataset = get_dataset(data["dataset"])
    filters = check_filters(dataset, {name: data[name] for name in
                                      ("poi_id", "mount_id", "product_id", "source", "status") if name in data})
    day_range(data["date_from"], data["date_to"])
    now = utcnow()
    job = ExportJob(merchant_id=merchant_id, app_id=app_id, dataset=dataset.name, format=data.get("format", "csv"),
                    gzip=bool(data.get("gzip", False)), date_from=data["date_from"], date_to=data["date_to"],
                    filters=filters, status="queued", rows_done=0, created_at=now,
                    expires_at=now + timedelta(seconds=_config("EXPORT_RETENTION")))
    session.add(job)
    session.flush()
    session.info.setdefault("export_jobs", []).append(job.id)
    return job


def get_job(session: Session, merchant_id: str, app_id: str, job_id: str) -> ExportJob:
    """The job, if this app created it for this merchant: another app's job is a 404 like a missing one."""
    return owned(session, ExportJob, job_id, NotFound("No such export job.", code="EXPORT_NOT_FOUND"),
                 merchant_id=merchant_id, app_id=app_id)


def export_folder() -> Path:
    folder = Path(_config("INSTANCE_PATH")) / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def file_path(job: ExportJob) -> Path | None:
    return export_folder() / job.file_name if job.file_name else None


def _remove_file(job: ExportJob) -> None:
    for path in (file_path(job), export_folder() / f"{job.id}.part"):
        if path is not None:
            try:
                path.unlink()
            except FileNotFoundError:
                pass


def cancel(session: Session, job: ExportJob) -> ExportJob:
    """Stop a queued or running job (the worker sees it at its next progress check) or withdraw a
    finished file; either way no file is left."""
    if job.status in ("failed", "cancelled", "expired"):
        raise Conflict(f"The export job is {job.status}; there is nothing to cancel.", code="EXPORT_NOT_CANCELLABLE")
    job.status, job.finished_at = "cancelled", job.finished_at or utcnow()
    _remove_file(job)
    job.file_name, job.file_size = None, None
    return job


class Cancelled(Exception):
    pass


def fetch_chunks(connection, statement, size: int):
    """The statement's rows, ``size`` at a time, straight from the driver: a server-side (named)
    cursor on PostgreSQL, ``fetchmany`` on SQLite's cursor. Never ``fetchall()`` and never an
    unsized ``partitions()``: either holds the whole result in memory (PERFORMANCE.md §2.5).
    Values are the driver's (no SQLAlchemy result processing: the dataset converts them)."""

    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    values = compiled.construct_params()
    for name, bind in compiled.binds.items():
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None and name in values:
            values[name] = processor(values[name])
    if compiled.positiontup is not None:
        values = tuple(values[name] for name in compiled.positiontup)
    dbapi_connection = connection.connection.dbapi_connection
    if dialect.name == "postgresql":
        cursor = dbapi_connection.cursor(name=f"export_{next(_cursor_names)}")
        cursor.itersize = size
    else:
        cursor = dbapi_connection.cursor()
    try:
        cursor.execute(compiled.string, values)
        while True:
            chunk = cursor.fetchmany(size)
            if not chunk:
                return
            yield chunk
    finally:
        cursor.close()


_cursor_names = itertools.count()

# the calling app's open_ids on PostgreSQL: the export's distinct users, one HMAC each in Python,
# copied into a temporary table the export joins (dropped with the reader's transaction)
_open_ids_table = Table("export_open_ids", MetaData(), SAColumn("user_id", Text, primary_key=True),
                        SAColumn("open_id", Text, nullable=False), prefixes=["TEMPORARY"],
                        postgresql_on_commit="DROP")


class OpenIdSql:
    """How an export's SELECT gets the calling app's open_id for its user column, computed once per
    user rather than once per row; each user shown is remembered (``remember``, outside the
    export's transaction) so that the app can name them back, e.g. to tag a follower.

    SQLite: an application-defined SQL function on the connection, with a bounded cache.
    PostgreSQL: a temporary table of the export's distinct users and their open_ids, filled chunk
    by chunk (never the whole list in memory) and joined."""

    def __init__(self, connection, dataset: Dataset, app_id: str, narrowed, remember=None):
        self.connection, self.dataset, self.narrowed = connection, dataset, narrowed
        self.derive, self.remember = open_id_function(app_id), remember
        self.shown: dict[str, str] = {}  # computed since the last flush: at most a chunk's users

    def __enter__(self):
        dbapi_connection = self.connection.connection.dbapi_connection
        if self.connection.dialect.name == "sqlite":
            @lru_cache(maxsize=65536)
            def open_id_of(user_id):
                if user_id is None:
                    return None
                self.shown[user_id] = value = self.derive(user_id)
                return value

            dbapi_connection.create_function("shijing_open_id", 1, open_id_of, deterministic=True)
        elif self.dataset.user_column is not None:
            self._fill_table(dbapi_connection)
        return self

    def _fill_table(self, dbapi_connection) -> None:
        user_column = self.dataset.user_column
        self.connection.execute(CreateTable(_open_ids_table))
        users = self.narrowed.add_columns(user_column).where(user_column.is_not(None)).distinct()
        with dbapi_connection.cursor() as cursor:
            for chunk in fetch_chunks(self.connection, users, CHUNK_ROWS):
                with cursor.copy("COPY export_open_ids (user_id, open_id) FROM STDIN") as copy:
                    for (user_id,) in chunk:
                        self.shown[user_id] = open_id = self.derive(user_id)
                        copy.write_row((user_id, open_id))
                self.flush()
            cursor.execute("ANALYZE export_open_ids")

    def sql(self, statement, user_column):
        """(the statement, with what the expression needs joined; the open_id's SQL expression)"""
        if self.connection.dialect.name == "sqlite":
            return statement, func.shijing_open_id(user_column)
        table = _open_ids_table
        return statement.outerjoin(table, table.c.user_id == user_column), table.c.open_id

    def flush(self) -> None:
        if self.shown and self.remember is not None:
            self.remember(self.shown)
        self.shown = {}

    def __exit__(self, *exc) -> None:
        if self.connection.dialect.name == "sqlite":
            self.connection.connection.dbapi_connection.create_function("shijing_open_id", 1, None)


def write_export(connection, dataset: Dataset, merchant_id: str, app_id: str, filters: dict, since, until,
                 fmt: str, out, on_progress=None, remember=None) -> int:
    """Stream the dataset's rows into the binary file ``out``, CHUNK_ROWS lines at a time from a
    server-side cursor; each line is built by the database (Dataset.export_select). ``remember``
    gets the users shown (user id -> open_id). Returns the row count."""
    import io

    dialect = connection.dialect.name
    narrowed = dataset.narrowed(merchant_id, filters, since, until)
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=False)
    rows = 0
    try:
        with OpenIdSql(connection, dataset, app_id, narrowed, remember) as open_ids:
            statement = dataset.export_select(merchant_id, filters, since, until, dialect, fmt, open_ids.sql)
            if fmt == "csv":
                text.write(dataset.csv_header() + "\r\n")
            newline = "\r\n" if fmt == "csv" else "\n"  # CSV's line break is RFC 4180's, as csv.writer's
            for chunk in fetch_chunks(connection, statement, CHUNK_ROWS):
                text.write(newline.join([line for (line,) in chunk]))
                text.write(newline)
                open_ids.flush()
                before = rows
                rows += len(chunk)
                if on_progress is not None and rows // PROGRESS_EVERY != before // PROGRESS_EVERY:
                    on_progress(rows)
        text.flush()
    finally:
        text.detach()
    return rows


def run_job(session_factory, job_id: str) -> None:
    """The worker's part: write the file, with progress, until done or cancelled."""
    with session_factory() as s:
        job = s.get(ExportJob, job_id)
        if job is None or job.status != "queued":
            return
        job.status, job.started_at = "running", utcnow()
        dataset = DATASETS[job.dataset]
        since, until = day_range(job.date_from, job.date_to)
        merchant_id, app_id, filters, fmt, gz = job.merchant_id, job.app_id, dict(job.filters), job.format, job.gzip
        job.rows_estimated = s.scalar(select(func.count()).select_from(
            dataset.select(merchant_id, filters, since, until).subquery()))
        s.commit()
    part = export_folder() / f"{job_id}.part"
    name = f"{job_id}.{fmt}" + (".gz" if gz else "")

    def progress(rows: int) -> None:
        with session_factory() as p:
            status = p.scalar(select(ExportJob.status).where(ExportJob.id == job_id))
            if status != "running":
                raise Cancelled()
            p.execute(update(ExportJob).where(ExportJob.id == job_id).values(rows_done=rows))
            p.commit()

    def remember(open_ids: dict) -> None:
        with session_factory() as r:
            remember_open_ids(r, app_id, open_ids)
            r.commit()

    try:
        with session_factory() as reader, open(part, "wb") as raw:
            out = gzip_module.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) if gz else raw
            try:
                rows = write_export(reader.connection(), dataset, merchant_id, app_id, filters, since, until, fmt, out,
                                    on_progress=progress, remember=remember)
            finally:
                if gz:
                    out.close()
            reader.rollback()
    except Cancelled:
        part.unlink(missing_ok=True)
        return
    except Exception:
        part.unlink(missing_ok=True)
        log.exception("export %s failed", job_id)
        with session_factory() as s:
            s.execute(update(ExportJob).where(ExportJob.id == job_id, ExportJob.status == "running")
                      .values(status="failed", error="The export could not be written; create it again.",
                              finished_at=utcnow()))
            s.commit()
        raise
    with session_factory() as s:
        job = s.get(ExportJob, job_id, with_for_update=True)
        if job is None or job.status != "running":  # cancelled while the last rows were written
            part.unlink(missing_ok=True)
            return
        os.replace(part, export_folder() / name)
        job.status, job.rows_done, job.finished_at = "completed", rows, utcnow()
        job.rows_estimated = rows
        job.file_name, job.file_size = name, (export_folder() / name).stat().st_size
        from gateway.events.services import emit

        emit(s, "export.completed", app_id=job.app_id, merchant_id=job.merchant_id, data=dump(job))
        s.commit()


def expire_jobs(session: Session) -> int:
    """Delete the files of jobs past their expiry (and any file no job owns)."""
    now = utcnow()
    jobs = session.scalars(select(ExportJob).where(ExportJob.status.in_(("queued", "running", "completed")),
                                                  ExportJob.expires_at <= now)).all()
    for job in jobs:
        _remove_file(job)
        job.status, job.file_name, job.file_size = "expired", None, None
    folder = export_folder()
    known = set(session.scalars(select(ExportJob.file_name).where(ExportJob.file_name.is_not(None))))
    for path in folder.iterdir():
        stem = path.name.split(".")[0]
        if path.name not in known and not (path.suffix == ".part" and _running(session, stem)) \
                and path.stat().st_mtime < time.time() - 3600:
            path.unlink(missing_ok=True)
    return len(jobs)


def _running(session: Session, job_id: str) -> bool:
    return session.scalar(select(ExportJob.status).where(ExportJob.id == job_id)) in ("queued", "running")


# --- download links ---------------------------------------------------------------------------------


def _link_key() -> bytes:
    return derived_key(_config("SECRET_KEY"), b"shijing export download links")


def _signature(job_id: str, app_id: str, expires: int) -> str:
    mac = hmac.new(_link_key(), f"{job_id}\n{app_id}\n{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def download_token(job: ExportJob, ttl: int | None = None) -> tuple[str, datetime]:
    now = utcnow()
    expires = int(now.timestamp()) + int(_config("EXPORT_LINK_TTL") if ttl is None else ttl)
    return f"{expires}.{_signature(job.id, job.app_id, expires)}", datetime.fromtimestamp(expires, UTC)


def file_for_download(session: Session, merchant_id: str, app_id: str, job_id: str, token: str) -> tuple[Path, ExportJob]:
    """The file behind a link, only for the app it was signed for, before it expires: any other
    case is the same 404."""
    missing = NotFound("No such export file, or the link has expired.", code="EXPORT_NOT_FOUND")
    expires_raw, _, signature = token.partition(".")
    if not (expires_raw.isascii() and expires_raw.isdigit() and len(expires_raw) <= 12) or len(signature) > 64:
        raise missing
    expires = int(expires_raw)
    if expires < utcnow().timestamp():
        raise missing
    if not hmac.compare_digest(signature, _signature(job_id, app_id, expires)):
        raise missing
    job = get_job(session, merchant_id, app_id, job_id) if len(job_id) <= 64 else None
    if job is None or job.status != "completed" or job.expires_at <= utcnow():
        raise missing
    path = file_path(job)
    if path is None or not path.exists():
        raise missing
    return path, job


def download_name(job: ExportJob) -> str:
    return f"{job.dataset}_{job.date_from}_{job.date_to}.{job.format}" + (".gz" if job.gzip else "")


def media_type(job: ExportJob) -> str:
    return "application/gzip" if job.gzip else MEDIA_TYPES[job.format]


def dump(job: ExportJob, *, with_link: bool = False) -> dict:
    body = {
        "id": job.id, "merchant_id": job.merchant_id, "dataset": job.dataset, "format": job.format,
        "gzip": job.gzip, "date_from": job.date_from, "date_to": job.date_to, "filters": dict(job.filters or {}),
        "status": job.status, "rows_done": job.rows_done, "rows_estimated": job.rows_estimated,
        "file_size": job.file_size, "error": job.error, "created_at": isoformat(job.created_at),
        "started_at": isoformat(job.started_at), "finished_at": isoformat(job.finished_at),
        "expires_at": isoformat(job.expires_at), "download_url": None, "download_url_expires_at": None,
    }
    if with_link and job.status == "completed":
        token, expires = download_token(job)
        body["download_url"] = f"/v1/merchants/{job.merchant_id}/exports/{job.id}/download/{token}"
        body["download_url_expires_at"] = isoformat(expires)
    return body


# --- stats ------------------------------------------------------------------------------------------

METRICS = {
    # name -> (dataset, aggregate over its rows, extra condition, description)
    "page_views": ("poi_page_views", None, None, "Views of the merchant's POI pages."),
    "mount_exposures": ("mount_events", None, ("kind", "exposure"), "Exposures of cards leading to its POIs."),
    "mount_clicks": ("mount_events", None, ("kind", "click"), "Clicks on those cards."),
    "orders": ("orders", None, None, "Orders placed."),
    "paid_amount": ("orders", "total_amount", ("paid", None), "Amount of the orders placed that were paid, in fen."),
    "verifications": ("verifications", None, None, "Verifications."),
    "verified_amount": ("verifications", "amount", None, "Amount verified, in fen."),
    "new_followers": ("followers", None, None, "New followers of the service account."),
}
STAT_FILTERS = {"poi_id", "mount_id", "product_id", "source"}


def _bucket(session: Session, column, granularity: str):
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(column, "YYYY-MM-DD" if granularity == "day" else "YYYY-MM-DD\"T\"HH24")
    return func.substr(func.replace(column, " ", "T"), 1, 10 if granularity == "day" else 13)


def stats(session: Session, merchant_id: str, metric: str, granularity: str, date_from: str | None,
          date_to: str | None, filters: dict) -> dict:
    """One metric per bucket; without a range, the last 7 UTC days (today included)."""
    if date_to is None:
        date_to = utcnow().date().isoformat()
    if date_from is None:
        last = parse_day("date_to", date_to)
        date_from = (last - timedelta(days=6)).isoformat() if last else date_to
    if metric not in METRICS:
        raise Problem(f"metric must be one of {', '.join(METRICS)}.", code="INVALID_FILTER")
    if granularity not in ("day", "hour"):
        raise Problem("granularity must be one of day, hour.", code="INVALID_FILTER")
    since, until = day_range(date_from, date_to, max_days=MAX_RANGE_DAYS if granularity == "day" else 7)
    dataset_name, amount, condition, _ = METRICS[metric]
    dataset = DATASETS[dataset_name]
    unknown = sorted(name for name in filters if name not in dataset.filters)
    if unknown:
        raise Problem(f"{metric} cannot be filtered by {', '.join(unknown)}; it takes: "
                      f"{', '.join(sorted(set(dataset.filters) & STAT_FILTERS)) or 'none'}.", code="INVALID_FILTER")
    statement = dataset.base(merchant_id)
    for name, value in filters.items():
        statement = dataset.filters[name](statement, value)
    time_column = dataset.time_column
    statement = statement.where(time_column >= since, time_column < until)
    if condition is not None:
        from gateway.miniprograms.models import MountEvent
        from gateway.orders.models import Order

        if condition[0] == "kind":
            statement = statement.where(MountEvent.kind == condition[1])
        else:
            statement = statement.where(Order.paid_at.is_not(None))
    bucket = _bucket(session, time_column, granularity).label("bucket")
    value = (func.coalesce(func.sum(getattr(dataset.time_column.class_, amount)), 0) if amount
             else func.count()).label("value")
    rows = dict(session.execute(statement.add_columns(bucket, value).group_by(bucket)).all())
    points, step = [], timedelta(days=1) if granularity == "day" else timedelta(hours=1)
    moment = since
    while moment < until:
        key = moment.strftime("%Y-%m-%d" if granularity == "day" else "%Y-%m-%dT%H")
        points.append({"at": isoformat(moment), "value": int(rows.get(key, 0) or 0)})
        moment += step
    return {"metric": metric, "granularity": granularity, "date_from": date_from, "date_to": date_to,
            "filters": filters, "freshness_seconds": dataset.freshness_seconds, "as_of": isoformat(utcnow()),
            "total": sum(point["value"] for point in points), "points": points}


# --- incremental sync ---------------------------------------------------------------------------------

# microseconds since 1970 (16 digits reach past 2250: a larger number could not be a datetime)
_CHANGE_CURSOR = re.compile(r"c1:([0-9]{1,16}):([a-z]{3}_[0-9a-z]{26})")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _encode_change_cursor(changed_at: datetime, row_id: str) -> str:
    return base64.urlsafe_b64encode(f"c1:{(changed_at - _EPOCH) // _MICROSECOND}:{row_id}".encode()).decode().rstrip("=")


def _decode_change_cursor(cursor: str, dataset: Dataset) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode("ascii")).decode("utf-8")
    except (ValueError, UnicodeError):
        raw = ""
    match = _CHANGE_CURSOR.fullmatch(raw)
    if match is None:
        raise _not_this_datasets()
    return _EPOCH + int(match[1]) * _MICROSECOND, _row_id(match[2], dataset)


def _not_this_datasets() -> Problem:
    return Problem("The cursor is not one this API returned for this dataset.", code="INVALID_CURSOR")


def _row_id(row_id: str, dataset: Dataset) -> str:
    """A cursor's position names a row of the dataset it was returned for (its ids' type prefix)."""
    if not row_id.startswith(dataset.id_prefix + "_"):
        raise _not_this_datasets()
    return row_id


def changes(session: Session, dataset: Dataset, merchant_id: str, app_id: str, cursor: str | None,
            limit: int) -> dict:
    """The dataset's rows after the cursor, oldest first. Rows that never change come once each, by
    their time-sortable id; rows that change (``changed_column``) come again after each change, by
    (time of the change, id), so a mirror that upserts by id stays equal to the dataset."""
    from gateway.http.pagination import decode_cursor, encode_cursor
    from gateway.ids import _encode

    # rows younger than EXPORT_SYNC_SETTLE wait for the next call: a transaction still open may yet
    # commit a row with a slightly smaller id (or time of change), which a cursor past it would skip
    settled_at = utcnow() - timedelta(seconds=_config("EXPORT_SYNC_SETTLE"))
    statement = dataset.select(merchant_id, {}, None, None)
    row_id, changed = dataset.id_column, dataset.changed_column
    if changed is None:
        settled = int(settled_at.timestamp() * 1000) + 1
        statement = statement.where(row_id < f"{dataset.id_prefix}_{_encode(settled << 80, 26)}")
        if cursor is not None:
            statement = statement.where(row_id > _row_id(decode_cursor(cursor), dataset))
        statement = statement.add_columns(row_id).order_by(row_id)
    else:
        statement = statement.where(changed < settled_at)
        if cursor is not None:
            at, after = _decode_change_cursor(cursor, dataset)
            statement = statement.where(or_(changed > at, and_(changed == at, row_id > after)))
        statement = statement.add_columns(row_id, changed).order_by(changed, row_id)
    rows = session.execute(statement.limit(limit + 1)).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    shown: dict[str, str] = {}
    convert = dataset.row_converter(app_id, shown)
    names = [column.name for column in dataset.columns]  # the position columns after them are left out
    data = [dict(zip(names, convert(row))) for row in rows]
    remember_open_ids(session, app_id, shown)  # so the app can name these users back
    if not rows:
        next_cursor = cursor
    elif changed is None:
        next_cursor = encode_cursor(rows[-1][len(names)])
    else:
        next_cursor = _encode_change_cursor(rows[-1][len(names) + 1], rows[-1][len(names)])
    return {"data": data, "has_more": has_more, "next_cursor": next_cursor}
