"""Database engine, sessions and the declarative base shared by every capability."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker
from sqlalchemy.types import TypeDecorator

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


def make_engine(url: str, pool_size: int = 5, statement_timeout_ms: int = 15000) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        # A runaway query is cut off instead of holding a worker (OWASP API4).
        connect_args={"options": f"-c statement_timeout={statement_timeout_ms}"},
    )


def get_db() -> "Database":
    from flask import current_app

    return current_app.extensions["shijing.db"]


def session() -> Session:
    """The current request's session."""
    from flask import current_app

    return current_app.extensions["shijing.db"].session()


class Database:
    """One engine per app, one session per app context (kept in ``app.extensions``)."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self._factory: sessionmaker | None = None
        self.session: scoped_session | None = None

    def init_app(self, app) -> None:
        config = app.config["SHIJING"]
        self.engine = make_engine(
            config["DATABASE_URL"], config["DB_POOL_SIZE"], config["DB_STATEMENT_TIMEOUT_MS"]
        )
        self._factory = sessionmaker(bind=self.engine, expire_on_commit=False)
        self.session = scoped_session(self._factory)
        app.extensions["shijing.db"] = self

        @app.teardown_appcontext
        def _remove_session(exc):
            self.session.remove()

    def new_session(self) -> Session:
        """A session outside the request scope (CLI, workers, concurrent work)."""
        return self._factory()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"
