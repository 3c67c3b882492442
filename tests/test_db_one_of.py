"""gateway.db.one_of: ``IN`` on SQLite, ``= ANY(array)`` on PostgreSQL, the same rows either way."""

from __future__ import annotations

from sqlalchemy import select

from gateway.accounts.models import Merchant
from gateway.db import one_of


def test_one_of_finds_the_rows_in_finds_whatever_the_count(app, factory):
    engine = app.extensions["shijing.db"].engine
    mine = sorted(factory.merchant().id for _ in range(3))
    with engine.connect() as connection:
        dialect = connection.dialect

        def found(values):
            statement = select(Merchant.id).where(one_of(Merchant.id, values, dialect))
            return sorted(connection.execute(statement).scalars())

        assert found(mine) == mine
        assert found(mine[:1] + ["mch_missing"] * 499) == mine[:1]
        assert found(iter(mine[1:])) == mine[1:]
        assert found([]) == []


def test_on_postgresql_the_statement_text_does_not_depend_on_the_count(app):
    engine = app.extensions["shijing.db"].engine
    texts = set()
    for count in (1, 3, 500):
        statement = select(Merchant.id).where(one_of(Merchant.id, [f"mch_{n}" for n in range(count)], engine.dialect))
        compiled = statement.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
        texts.add(str(compiled))
        if engine.dialect.name == "postgresql":
            assert len(compiled.params) == 1
            assert list(compiled.params.values())[0] == [f"mch_{n}" for n in range(count)]
    assert len(texts) == (1 if engine.dialect.name == "postgresql" else 3)
