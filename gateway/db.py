"""Database engine, sessions and the declarative base shared by every capability."""

from __future__ import annotations

import threading
import weakref
from collections import namedtuple
from datetime import datetime, timezone

from flask import current_app, g
from flask.globals import app_ctx
from sqlalchemy import DateTime, MetaData, any_, bindparam, create_engine, event, insert
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker
from sqlalchemy.types import TypeDecorator

from gateway import jsontext

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator):
    """Stores naive UTC (SQLite has no time zones) and always hands back aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


def _sqlite_pragmas(dbapi_connection, connection_record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(
    url: str, pool_size: int = 5, statement_timeout_ms: int = 15000, autocommit: bool = False
) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10},
                               json_serializer=jsontext.compact)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        # A runaway query is cut off instead of holding a worker (OWASP API4).
        connect_args={"options": f"-c statement_timeout={statement_timeout_ms}"},
        json_serializer=jsontext.compact,
        **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}),
    )


_READER = "_shijing_db_reader"
_MAIN_THREAD = threading.main_thread()


def driver_execute(connection: Connection, sql: str, params, fetch: str | None = None):
    """Run ``sql`` on the DB-API cursor under ``connection`` (in its transaction, if any).

    The hot statements (``PrebuiltSelect``, the POI page view, nearby search) skip Core's
    ``execute`` machinery but not its connection care: a disconnect invalidates the pooled
    connection as Core would. ``fetch``: ``"one"`` (a row or None), ``"all"`` (a list), or None.
    """
    dialect = connection.dialect
    dbapi_connection = connection.connection
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(sql, params)
        if fetch == "one":
            return cursor.fetchone()
        if fetch == "all":
            return cursor.fetchall()
        return None
    except dialect.loaded_dbapi.Error as error:
        if dialect.is_disconnect(error, dbapi_connection, cursor):
            connection.invalidate(error)
        raise
    finally:
        cursor.close()


class PrebuiltSelect:
    """A SELECT built once with SQLAlchemy and run on the connection's DBAPI cursor directly.

    For the statements every authenticated request runs (token lookup, authorization check,
    merchant read). Core's ``Connection.execute`` spends ~60 µs of Python per statement on
    machinery these statements do not need (compiled-cache lookup, execution context, result
    metadata, Row objects) against ~12 µs for the driver call itself (bench/README.md).
    Everything that decides *what* runs and what comes back is still SQLAlchemy's: the SQL text
    and parameter order come from compiling the statement for the connection's dialect (once
    per dialect), parameters and results pass through each column type's own bind and result
    processors (``TypeEngine.bind_processor`` / ``result_processor``), a disconnect invalidates
    the pooled connection as Core would. Rows are named tuples with the statement's column keys.

    ``first(connection, params)`` takes a SQLAlchemy ``Connection`` (``reader()`` or the
    session's): it runs in that connection's transaction, if any. SELECT only.
    """

    def __init__(self, statement) -> None:
        self.statement = statement
        self.row = namedtuple("Row", [column.key for column in statement.selected_columns])
        self._by_dialect: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # dialect -> prepared

    def _prepare(self, dialect) -> tuple:
        compiled = self.statement.compile(dialect=dialect)
        binds = {
            name: processor
            for name, bind in compiled.binds.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        results = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in self.statement.selected_columns
        )
        prepared = (compiled, compiled.string, compiled.positiontup, binds, results if any(results) else None)
        self._by_dialect[dialect] = prepared
        return prepared

    def first(self, connection: Connection, params: dict):
        dialect = connection.dialect
        prepared = self._by_dialect.get(dialect) or self._prepare(dialect)
        compiled, sql, positions, binds, results = prepared
        values = compiled.construct_params(params)
        for name, processor in binds.items():
            values[name] = processor(values[name])
        if positions is not None:
            values = tuple(values[name] for name in positions)
        raw = driver_execute(connection, sql, values, "one")
        if raw is None:
            return None
        if results is not None:
            raw = [value if processor is None else processor(value) for processor, value in zip(results, raw)]
        return self.row._make(raw)


class PrebuiltInsert:
    """An INSERT of whole rows of ``table``, compiled once per dialect and run as the driver's
    ``executemany`` on the connection's DBAPI cursor (in its transaction).

    For the batch writes (``gateway.poi.services``): Core's ``execute(insert(table), rows)`` spent
    more Python per row on building parameters (``construct_params``, per-row dicts and lists)
    than the driver spent storing it (bench/README.md, "POI: batch upsert"). As in
    :class:`PrebuiltSelect`, the SQL and the parameter order are SQLAlchemy's compilation for the
    dialect, and every value goes through its column type's own bind processor (JSON, UTC
    datetimes, booleans). Each row must hold every column of the table. A driver error is raised
    as SQLAlchemy's ``DBAPIError`` (``IntegrityError``…), as Core would raise it.

    On PostgreSQL, ``COPY … FROM STDIN`` from :data:`COPY_FROM_ROWS` rows on: the same rows, the
    same constraints, triggers and indexes, but one statement streamed instead of a pipelined
    INSERT per row; measured for 500 POIs and their review submissions: ~1.5× less wall time and
    ~30 % less client CPU than executemany.
    """

    COPY_FROM_ROWS = 8

    def __init__(self, table) -> None:
        self.table = table
        self._by_dialect: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # dialect -> prepared

    def _prepare(self, dialect) -> tuple:
        keys = [column.key for column in self.table.columns]
        compiled = insert(self.table).compile(dialect=dialect, column_keys=keys)
        processors = {
            column.key: processor for column in self.table.columns
            if (processor := column.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        # the driver's parameter order: positional (sqlite3's qmark) or by name (psycopg)
        named = compiled.positiontup is None
        order = tuple((key, processors.get(key)) for key in (keys if named else compiled.positiontup))
        copy = None
        if dialect.name == "postgresql":  # COPY takes the values in the table's column order
            preparer = dialect.identifier_preparer
            columns = ", ".join(preparer.format_column(column) for column in self.table.columns)
            copy = (f"COPY {preparer.format_table(self.table)} ({columns}) FROM STDIN",
                    tuple((key, processors.get(key)) for key in keys))
        prepared = (compiled.string, order, named, copy)
        self._by_dialect[dialect] = prepared
        return prepared

    def execute(self, connection: Connection, rows: list[dict]) -> None:
        if not rows:
            return
        dialect = connection.dialect
        sql, order, named, copy = self._by_dialect.get(dialect) or self._prepare(dialect)
        use_copy = copy is not None and len(rows) >= self.COPY_FROM_ROWS
        if use_copy:
            (sql, order), named = copy, False
        if named:
            params = [{key: row[key] if process is None else process(row[key]) for key, process in order}
                      for row in rows]
        else:
            params = [tuple([row[key] if process is None else process(row[key]) for key, process in order])
                      for row in rows]
        dbapi_connection = connection.connection
        cursor = dbapi_connection.cursor()
        try:
            if use_copy:
                with cursor.copy(sql) as stream:
                    for values in params:
                        stream.write_row(values)
            else:
                cursor.executemany(sql, params)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, cursor):
                connection.invalidate(error)
            raise DBAPIError.instance(sql, None, error, dialect.loaded_dbapi.Error,
                                      dialect=dialect) from error
        finally:
            cursor.close()


def one_of(column, values, dialect: Dialect):
    """``column IN values``; on PostgreSQL ``column = ANY(%s)`` with the values as one array.

    An IN list is a placeholder per value, so its statement's text changes with the count: for a
    500-item batch SQLAlchemy rendered 500 placeholders and psycopg parsed the query again on
    every call (too long for its cache), ~6 % of a created item's instructions. With one array
    parameter the statement is the same text whatever the count, and both caches hold it.
    """
    if dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


ID_MAX_LENGTH = 32  # gateway.ids: a prefix, "_" and 26 characters


def by_id(session: Session, model, object_id: str):
    """The row of ``model`` with this id, or None; a string longer than any id is none without a
    query (no junk reaches the primary-key index)."""
    return session.get(model, object_id) if len(object_id) <= ID_MAX_LENGTH else None


def owned(session: Session, model, object_id: str, missing: Exception, **owner):
    """The row of ``model`` with this id whose ``owner`` attributes have these values; otherwise
    raise ``missing``. Someone else's object is as absent as one that does not exist: a 404,
    never a 403 that would confirm it exists."""
    row = by_id(session, model, object_id)
    if row is None or any(getattr(row, name) != value for name, value in owner.items()):
        raise missing
    return row


def _app_context_id() -> int:
    return id(app_ctx._get_current_object())


def get_db() -> "Database":
    return current_app.extensions["shijing.db"]


def session() -> Session:
    """The current request's session."""
    return current_app.extensions["shijing.db"].session()


def reader() -> Connection:
    """The current request's connection for SELECTs (see ``Database.reader``)."""
    # ``proxy._get_current_object().name``, not ``proxy.name``, on per-request paths (here and
    # elsewhere): on Python 3.11 an attribute read through a werkzeug proxy first fails on the
    # proxy itself (an AttributeError, its message formatted, then discarded) before the proxy's
    # __getattr__ forwards it: ~5 k instructions instead of ~1 k (bench/README.md, "POI nearby,
    # round 4").
    return current_app._get_current_object().extensions["shijing.db"].reader()


class Database:
    """One engine per app, one session per app context (kept in ``app.extensions``).

    Two ways to reach the database inside a request:

    - ``session()``: the ORM session and its transaction, the unit of work. Everything that
      writes goes through it; ``create_app``'s ``_unit_of_work`` commits it after a successful
      response and rolls it back after an error, so a request's change, its events and its
      idempotency record land together or not at all.
    - ``reader()``: a Core connection for SELECTs on hot read paths (token lookup, the
      authorization check, small GETs). While the request has no session it is a connection of
      its own, checked out on first use and returned at teardown, that never opens a
      transaction: SQLite runs a SELECT outside one anyway (pysqlite begins only before DML),
      and PostgreSQL runs it in autocommit, so a read costs one round trip instead of
      ``BEGIN`` + query + ``COMMIT``. Under READ COMMITTED every statement sees the latest
      committed data either way, so what a read returns is unchanged. As soon as the request
      has a session (a view that writes, like the public POI page recording a view on GET),
      ``reader()`` hands out the session's connection instead: later reads see the request's
      own uncommitted writes, and the write still commits with the unit of work.

    Measured (bench/README.md): the session's lifecycle (create, autobegin, commit, close,
    remove) cost ~350 µs of CPU per request against ~40 µs for the read itself; a request that
    only reads through ``reader()`` never pays it.

    On the process's main thread — where gunicorn's sync workers serve every request — the
    reader's connection is kept from one request to the next instead of being checked out of the
    pool and back in each time (the checkout, the check-in's reset and the Core ``Connection``
    around them were ~10 % of an authenticated GET's instructions: bench/README.md). At each
    teardown it is put back in the state a check-in would leave it in (any transaction rolled
    back), and it is replaced once invalidated (a disconnect) and closed when the engine is
    disposed or the app goes away. Other threads (the dev server's thread per request,
    gthread workers) check out per request as before, so no connection outlives its thread.
    """

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self._reader_engine: Engine | None = None
        self._factory: sessionmaker | None = None
        self.session: scoped_session | None = None

    def init_app(self, app) -> None:
        config = app.config["SHIJING"]
        self.engine = make_engine(
            config["DATABASE_URL"], config["DB_POOL_SIZE"], config["DB_STATEMENT_TIMEOUT_MS"]
        )
        self._factory = sessionmaker(bind=self.engine, expire_on_commit=False)
        # Scoped to the app context, not the thread (as Flask-SQLAlchemy does): a context pushed
        # inside a request on the same thread — a job run inline, ``with app.app_context()`` in a
        # service — gets a session of its own, and its teardown removes that one, never the
        # request's (which would close it under the request: a 500 when the request goes on).
        self.session = scoped_session(self._factory, scopefunc=_app_context_id)
        if self.is_sqlite:
            self._reader_engine = self.engine
        else:
            # PostgreSQL: the reader's connections live in autocommit, in a pool of their own.
            # Switching a shared pool's connection per checkout (engine.execution_options(
            # isolation_level="AUTOCOMMIT")) cost ~200 µs of CPU per request in SQLAlchemy's
            # characteristic set/reset and joined event dispatch (bench/README.md); a second
            # pool costs one more idle connection per busy worker thread. Disposed together.
            self._reader_engine = make_engine(
                config["DATABASE_URL"], config["DB_POOL_SIZE"], config["DB_STATEMENT_TIMEOUT_MS"],
                autocommit=True,
            )
            event.listen(self.engine, "engine_disposed", lambda engine: self._reader_engine.dispose())
        app.extensions["shijing.db"] = self
        self._pinned: Connection | None = None  # the main thread's reader, kept between requests
        self._pinned_finalizer = None
        # its pool is being replaced: close the kept connection for good rather than hand it
        # back to the discarded pool, which would drop it open
        event.listen(self._reader_engine, "engine_disposed", lambda engine: self._unpin(discard=True))

        @app.teardown_appcontext
        def _remove_session(exc):
            connection = g._get_current_object().pop(_READER, None)
            if connection is not None:
                if connection is self._pinned:
                    self._reset_pinned(connection)
                else:
                    connection.close()
            if self.session.registry.has():
                self.session.remove()

    def reader(self) -> Connection:
        """A connection for SELECTs only, in the current app context (see the class docstring).

        A write belongs to ``session()`` and its unit of work. The one exception is a lone
        append-only record that is the request's only write and commits itself at once (the POI
        page view, ``gateway.poi.web._record_view``): nothing else of the request depends on it."""
        if self.session.registry.has():
            return self.session().connection()
        request_globals = g._get_current_object()  # one proxy lookup for the get and the set
        connection = request_globals.get(_READER)
        if connection is None:
            connection = self._reader_connection()
            setattr(request_globals, _READER, connection)
        return connection

    def _reader_connection(self) -> Connection:
        if threading.current_thread() is not _MAIN_THREAD:
            return self._reader_engine.connect()
        pinned = self._pinned
        if pinned is None or pinned.closed or pinned.invalidated:
            self._unpin()
            pinned = self._pinned = self._reader_engine.connect()
            # closed (back to its pool) when this Database goes away, never dropped checked out
            self._pinned_finalizer = weakref.finalize(self, pinned.close)
        return pinned

    def _reset_pinned(self, connection: Connection) -> None:
        """What the pool's check-in would do (``reset_on_return``): no transaction left open —
        neither one Core began for an ``execute`` nor one the driver began for a write made
        below Core (the POI page view), e.g. when that write failed before its commit."""
        try:
            if connection.in_transaction():
                connection.rollback()
            if getattr(connection.connection.dbapi_connection, "in_transaction", False):  # sqlite3
                connection.connection.rollback()
        except Exception:  # noqa: BLE001  (a connection that cannot be reset is not kept)
            self._unpin()

    def _unpin(self, discard: bool = False) -> None:
        pinned, self._pinned = self._pinned, None
        if self._pinned_finalizer is not None:
            self._pinned_finalizer.detach()
            self._pinned_finalizer = None
        if pinned is not None:
            try:
                if discard and not pinned.closed:
                    pinned.invalidate()  # closes the DB-API connection itself
                pinned.close()
            except Exception:  # noqa: BLE001  (already unusable: nothing to give back)
                pass

    def new_session(self) -> Session:
        """A session outside the request scope (CLI, workers, concurrent work)."""
        return self._factory()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"
