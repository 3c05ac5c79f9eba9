"""metric summaries on latest_metrics; saved views of the web UI

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 09:00:00.000000

Each (run, key) of latest_metrics gains the least and greatest value of its whole history (NaN
left out; NULL when every value is NaN) and its number of points, filled in from metric_chunks.
saved_views keeps the UI's views too long for a URL, by a short id made from their query.
"""

from alembic import op
import numpy as np
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# Frozen copy of store/points.py's format: values are little-endian float64.
VALUES = np.dtype('<f8')
BATCH = 1000


def upgrade() -> None:
    op.add_column('latest_metrics', sa.Column('min_value', sa.Float(precision=53), nullable=True))
    op.add_column('latest_metrics', sa.Column('max_value', sa.Float(precision=53), nullable=True))
    op.add_column('latest_metrics', sa.Column('num_points', sa.BigInteger(), nullable=False, server_default='0'))
    op.create_table(
        'saved_views',
        sa.Column('id', sa.String(length=16), nullable=False),
        sa.Column('query', sa.Text(), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_views')),
    )

    conn = op.get_bind()
    chunks = sa.table('metric_chunks', sa.column('id'), sa.column('run_id'), sa.column('key'),
                      sa.column('num_points'), sa.column('value_data'))
    latest = sa.table('latest_metrics', sa.column('run_id'), sa.column('key'), sa.column('min_value'),
                      sa.column('max_value'), sa.column('num_points'))
    update = (sa.update(latest)
              .where(latest.c.run_id == sa.bindparam('r'), latest.c.key == sa.bindparam('k'))
              .values(min_value=sa.bindparam('lo'), max_value=sa.bindparam('hi'), num_points=sa.bindparam('n')))
    # Streamed (a server-side cursor on PostgreSQL): a history is held one (run, key) at a time.
    rows = conn.execute(
        sa.select(chunks.c.run_id, chunks.c.key, chunks.c.num_points, chunks.c.value_data)
        .order_by(chunks.c.run_id, chunks.c.key, chunks.c.id)
        .execution_options(stream_results=True, yield_per=BATCH))
    pending, current, count, lo, hi = [], None, 0, np.nan, np.nan

    def summary() -> dict:
        return {'r': current[0], 'k': current[1], 'n': count,
                'lo': None if np.isnan(lo) else float(lo), 'hi': None if np.isnan(hi) else float(hi)}

    for run_id, key, num_points, data in rows:
        if (run_id, key) != current:
            if current is not None:
                pending.append(summary())
            current, count, lo, hi = (run_id, key), 0, np.nan, np.nan
        values = np.frombuffer(data, VALUES)
        count += num_points
        if values.size:
            # fmin/fmax leave NaN out unless every value is NaN
            lo, hi = np.fmin(lo, np.fmin.reduce(values)), np.fmax(hi, np.fmax.reduce(values))
        if len(pending) >= BATCH:
            conn.execute(update, pending)
            pending.clear()
    rows.close()
    if current is not None:
        pending.append(summary())
    if pending:
        conn.execute(update, pending)


def downgrade() -> None:
    op.drop_table('saved_views')
    # Plain ALTER TABLE, as in 0006: a rebuild on SQLite would lose the WITHOUT ROWID layout.
    for column in ('num_points', 'max_value', 'min_value'):
        op.drop_column('latest_metrics', column)
