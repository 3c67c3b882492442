"""poi nearby: spatial index on pois (latitude strips x longitude)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 03:40:00

Why this shape (measured on 1,000,000 POIs, bench/README.md "POI"): a composite (lat, lng) B-tree
scans a whole latitude band (every POI of China between two parallels) to find one small box; the
SQLite R*Tree stores 32-bit coordinates (so every candidate is read again from the table) and is
keyed by the table's rowid, which VACUUM may renumber on a table without an INTEGER PRIMARY KEY.
This index cuts latitude into 0.01° strips (about 1.1 km): the query asks for the few strips that
cover its circle (``strip IN (...)``) and, within each, a longitude range, so it reads little more
than the bounding box, from the index alone (lat, lng, live, status and category are all in it).
The strip key is an expression, so the index lives only in migrations (gateway.migrate.
MIGRATION_ONLY_INDEXES keeps autogenerate and the schema test from proposing to drop it); the
expression must stay identical to the one in gateway.poi.search.
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

SQLITE = (
    "CREATE INDEX ix_pois_nearby ON pois "
    "(CAST(lat * 100 AS INTEGER), lng, lat, live, status, category)"
)
# PostgreSQL: INCLUDE makes it covering (index-only scans: the visibility map does the rest)
POSTGRESQL = (
    "CREATE INDEX ix_pois_nearby ON pois "
    "(floor(lat * 100), lng, lat) INCLUDE (id, live, status, category)"
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute(POSTGRESQL if dialect == "postgresql" else SQLITE)


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_pois_nearby")
