"""params and tags of a run as JSON objects on the run's row

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 09:40:00.000000

Loading a page of runs aggregated every run's params and tags rows; the run's row now
carries them as JSON objects, kept in step by the writes. Existing runs are filled in from
their rows.
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE: rebuilding runs on SQLite would cascade its deletion to every child.
    op.add_column('runs', sa.Column('params_json', sa.Text(), nullable=False, server_default='{}'))
    op.add_column('runs', sa.Column('tags_json', sa.Text(), nullable=False, server_default='{}'))
    aggregate = ('json_group_object(key, value)' if op.get_bind().dialect.name == 'sqlite'
                 else 'CAST(json_object_agg(key, value) AS TEXT)')
    for table in ('params', 'tags'):
        op.execute(f"UPDATE runs SET {table}_json = COALESCE((SELECT {aggregate} FROM {table} "
                   f"WHERE {table}.run_id = runs.id), '{{}}')")


def downgrade() -> None:
    op.drop_column('runs', 'tags_json')
    op.drop_column('runs', 'params_json')
