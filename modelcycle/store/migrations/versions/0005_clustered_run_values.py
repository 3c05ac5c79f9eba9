"""params, tags and latest_metrics clustered on (run_id, key) on SQLite

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 09:20:00.000000

Every search looks these tables up by (run_id, key). As SQLite rowid tables, each lookup
probed the primary-key index, then the table; WITHOUT ROWID tables are stored in that key's
order, so it is one probe. PostgreSQL has no such option and is left as it is.
"""

from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

TABLES = ('params', 'tags', 'latest_metrics')


def _rebuild(with_rowid: bool) -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    for table in TABLES:
        # The table is created anew with the option, its rows copied and its indexes rebuilt.
        with op.batch_alter_table(table, recreate='always',
                                  table_kwargs={'sqlite_with_rowid': with_rowid}):
            pass


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)
