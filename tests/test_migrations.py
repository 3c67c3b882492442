"""The models and the migrations describe the same schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

import secrets
import warnings
from contextlib import contextmanager

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from gateway.config import normalise_database_url
from gateway.db import make_engine
from gateway.migrate import alembic_config, include_object, upgrade_engine
from gateway.models import metadata
from tests.conftest import DATABASE_URL


def _diff(engine) -> list:
    with engine.connect() as connection, warnings.catch_warnings():
        # SQLite: SQLAlchemy cannot reflect expression indexes (the migration-only spatial index)
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "compare_server_default": True, "include_object": include_object},
        )
        return compare_metadata(context, metadata)


def _round_trip(engine) -> None:
    upgrade_engine(engine)
    assert _diff(engine) == []
    tables = set(inspect(engine).get_table_names())
    assert {t.name for t in metadata.sorted_tables} <= tables
    # and back down, and up again: the downgrade is real too
    cfg = alembic_config(str(engine.url))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade_engine(engine)
    assert _diff(engine) == []


def test_one_head():
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1


def test_sqlite_migrations_match_the_models(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        _round_trip(engine)
    finally:
        engine.dispose()


@contextmanager
def _scratch_schema(url: str):
    """A schema of our own in the test database: the session's ``public`` schema is left alone."""
    name = "migrations_" + secrets.token_hex(4)
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{name}"'))
    engine = create_engine(url, connect_args={"options": f"-c search_path={name}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


@pytest.mark.skipif(
    not DATABASE_URL.startswith("postgres"), reason="SHIJING_DATABASE_URL is not PostgreSQL"
)
def test_postgresql_migrations_match_the_models():
    with _scratch_schema(normalise_database_url(DATABASE_URL)) as engine:
        with engine.connect() as connection:
            assert (
                connection.execute(text("select current_schema()"))
                .scalar()
                .startswith("migrations_")
            )
        _round_trip(engine)
