"""Alembic environment: the gateway's metadata, the URL from the app's configuration."""

from alembic import context

from gateway import models
from gateway.migrate import include_object

config = context.config
target_metadata = models.metadata


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    from gateway.db import make_engine

    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copy
        compare_type=True,
        include_object=include_object,  # leaves migration-only indexes (e.g. the spatial one) alone
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
