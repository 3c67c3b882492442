"""Running Alembic migrations from code (``shijing db upgrade``, tests, the demo)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Indexes that exist only in migrations, not in the models: expression indexes that SQLAlchemy
# cannot reflect on SQLite (it skips them with a warning) and reflects as text on PostgreSQL.
# Autogenerate and the schema test leave them alone instead of proposing to drop them.
MIGRATION_ONLY_INDEXES = frozenset({"ix_pois_nearby"})  # gateway.poi.search's spatial index (0003, re-cut by 0010)


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic ``include_object`` hook: everything but :data:`MIGRATION_ONLY_INDEXES`."""
    return not (type_ == "index" and name in MIGRATION_ONLY_INDEXES)


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def upgrade_engine(engine, revision: str = "head") -> None:
    cfg = alembic_config(str(engine.url))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
